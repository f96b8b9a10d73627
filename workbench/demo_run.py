"""``workbench demo``: write the demo school's exports, then ingest them like a school would.

The demo keeps everything under one folder (default ``data/demo``): ``exports/`` (what the
school's systems hand over), ``ground_truth/`` (the planted truth, for tests — never ingested),
``rejects/`` (rejects reports), ``identity_review.csv`` (matches a person must confirm) and its
own pseudonym key ``pseudonym.key`` (mode 0600), outside the store and the repository.
"""
from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.store import open_store


@dataclass
class DemoResult:
    exit_code: int
    summary: dict
    reports: list = field(default_factory=list)
    key_file: Path | None = None


def run_demo(*, students: int, seed: int, weeks: int, store_path: Path, demo_dir: Path, fresh: bool,
             ingest: bool, lang: str = "zh", echo: Callable[[str], None] = print) -> DemoResult:
    """Generate (and ingest) the demo school; ``exit_code`` is 2 when a file was refused."""
    from tqdm import tqdm

    from workbench.demo import generate_demo_school
    from workbench.identity import init_key, load_key, write_review_file
    from workbench.ingest import accounting_table, ingest_paths

    exports, truth = demo_dir / "exports", demo_dir / "ground_truth"
    if fresh:
        for p in (exports, truth, demo_dir / "rejects"):
            shutil.rmtree(p, ignore_errors=True)
        for p in (store_path, Path(str(store_path) + ".wal")):
            p.unlink(missing_ok=True)
    t0 = time.perf_counter()
    bars: dict[str, tqdm] = {}

    def progress(step: str, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        bar = bars.get(step)
        if bar is None:
            bar = bars[step] = tqdm(total=total, desc=step, file=sys.stderr, leave=False)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
    summary = generate_demo_school(exports, truth, students=students, seed=seed, weeks=weeks, progress=progress)
    for bar in bars.values():
        bar.close()
    n_files = len(summary.get("files", {}))
    echo(f"demo school: {summary.get('students', students)} students, {n_files} export files in {exports} "
         f"({time.perf_counter() - t0:.1f} s); ground truth in {truth}")
    if not ingest:
        return DemoResult(0, summary)
    key_file = init_key(demo_dir / "pseudonym.key")
    key = load_key(key_file)
    paths = sorted(p for p in exports.iterdir() if p.is_file())
    t1 = time.perf_counter()
    with open_store(store_path) as store:
        reports = ingest_paths(store, paths, key, rejects_dir=demo_dir / "rejects")
        review_file = demo_dir / "identity_review.csv"
        pending = write_review_file(store.con, review_file)
    echo(accounting_table(reports, lang))
    echo(f"ingested into {store_path} in {time.perf_counter() - t1:.1f} s; every file balances: "
         f"{all(r.balanced for r in reports)}")
    if pending:
        echo(f"{pending} identity match(es) need a person: fill the decision column of {review_file}, then run "
             f"`workbench identity resolve {review_file} --store {store_path} --key-file {key_file}`")
    return DemoResult(2 if any(r.status == "failed" for r in reports) else 0, summary, reports, key_file)
