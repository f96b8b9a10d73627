"""Term-run benchmark: 100 class reports through our runner vs plain sequential Papermill.

The store is a generated demo school of ``--students`` (default 4,000 = 100 classes of 40), ingested
and prepared once (profile + mastery), cached in ``benchmarks/_work/``. Then, on the same prepared
store and the same ``notebooks/class_report.ipynb``:

- plain: ``papermill.execute_notebook`` once per class, one after the other, each starting its own
  kernel (what a coordinator would script by hand);
- ours: ``run_term(..., force=True, jobs=J)``: worker processes each reusing one kernel, with the HTML
  export of every report included. Its term preparation (recomputed because of ``force``) is
  timed apart and left out of the comparison, since the plain loop does not prepare anything.

Prints amortised seconds per class for both and their ratio (goal: ≤ 0.5), and the time of a second
run with nothing changed (every class skipped; acceptance: under 5 s). Never asserts a timing.
Run: ``make bench`` or ``.venv/bin/python benchmarks/term_run.py [--students N] [--classes K] [--jobs J]``.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.demo import generate_demo_school  # noqa: E402
from workbench.ingest import ingest_paths  # noqa: E402
from workbench.runs import prepare_term, term_classes  # noqa: E402
from workbench.runs.runner import CLASS_NB, NOTEBOOKS, run_term  # noqa: E402
from workbench.store import open_store  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"
KEY = bytes.fromhex("5a" * 32)
TERM = "2026-2027-1"
GOAL = 0.5


def build_store(students: int, events_per_week: float) -> Path:
    path = WORK / f"term_run_{students}_{events_per_week:g}.duckdb"
    if path.exists():
        return path
    demo = WORK / f"term_run_demo_{students}"
    shutil.rmtree(demo, ignore_errors=True)
    t0 = time.perf_counter()
    generate_demo_school(demo / "exports", demo / "ground_truth", students=students, events_per_week=events_per_week)
    tmp = path.with_name(path.name + ".building")
    tmp.unlink(missing_ok=True)
    with open_store(tmp) as store:
        reports = ingest_paths(store, sorted(p for p in (demo / "exports").iterdir() if p.is_file()), KEY,
                               rejects_dir=demo / "rejects")
    failed = [r.file for r in reports if r.status == "failed"]
    if failed:
        raise SystemExit(f"ingest failed for {', '.join(failed)}")
    prepare_term(tmp, TERM)
    tmp.rename(path)
    shutil.rmtree(demo, ignore_errors=True)
    print(f"built {path.name}: {students:,} students ({time.perf_counter() - t0:.0f} s)", flush=True)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=4000, help="demo students (40 per class)")
    ap.add_argument("--events-per-week", type=float, default=15)
    ap.add_argument("--classes", type=int, default=100, help="classes to report (the first K of the term)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    store = build_store(args.students, args.events_per_week)
    with open_store(store, read_only=True) as s:
        classes = [c["class_id"] for c in term_classes(s.con, TERM)][: args.classes]
    print(f"store {store.name}: {len(classes)} classes, notebook {CLASS_NB}", flush=True)

    import papermill as pm
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for c in classes:
            pm.execute_notebook(str(NOTEBOOKS / CLASS_NB), str(Path(tmp) / f"{c}.ipynb"), progress_bar=False,
                                parameters={"term": TERM, "class_id": c, "store": str(store)}, kernel_name="python3")
        plain = time.perf_counter() - t0
    print(f"plain papermill, sequential: {plain:8.1f} s  = {plain / len(classes):.2f} s per class", flush=True)

    out = WORK / "term_run_out"
    shutil.rmtree(out, ignore_errors=True)
    run = run_term(store, TERM, classes=classes, jobs=args.jobs, force=True, out_dir=out)
    if run.failed:
        raise SystemExit(f"{len(run.failed)} classes failed: {run.failed[0].class_id}: {run.failed[0].error}")
    ours = run.seconds - run.prepare_seconds
    print(f"run_term, {args.jobs} jobs:         {ours:8.1f} s  = {ours / len(classes):.2f} s per class "
          f"(+ term preparation {run.prepare_seconds:.1f} s, once per term, not compared)")
    ratio = ours / plain
    print(f"ratio ours / plain: {ratio:.2f} (goal <= {GOAL}) {'OK' if ratio <= GOAL else 'ABOVE GOAL'}")
    again = run_term(store, TERM, classes=classes, jobs=args.jobs, out_dir=out)
    skipped = sum(c.status == "skipped" for c in again.classes)
    print(f"second run, nothing changed: {again.seconds:.2f} s, {skipped}/{len(classes)} classes skipped "
          f"(acceptance: all skipped, under 5 s)")


if __name__ == "__main__":
    main()
