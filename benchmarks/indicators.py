"""Indicator benchmark: every indicator for ~10M LMS events / 50k students vs a bare DuckDB GROUP BY.

The store is the demo school (``--students``, ``--events-per-week``) generated and ingested as
``workbench demo`` does it, built once and cached in ``benchmarks/_work/``. Per SQL family it
times the family's fused GROUP BY (every indicator of the family in one query, as
``compute_indicators`` runs it) against a bare ``SELECT student_key, count(*) … GROUP BY 1`` over
the family's first source table, filtered by the term where the table has a ``term_id`` (goal:
≤ 1.5× per family). The network family (edge list + networkx) is timed on its own against the
same bare group-by over the interaction rows; the weekly series behind the trend indicators
are timed as part of the total. Then all indicators through ``compute_indicators`` against the
sum of the bare times, and ProfileModel fit and transform for each shipped spec on 100k
students (the indicator frame stacked with renamed copies and a little jitter).

Prints seconds and ratios; never asserts a timing.
Run: ``make bench`` or ``.venv/bin/python benchmarks/indicators.py [--students N] [--events-per-week E]``.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.demo import generate_demo_school  # noqa: E402
from workbench.indicators import compute_indicators, load_catalogue, population  # noqa: E402
from workbench.indicators.compute import _family_query, _network  # noqa: E402
from workbench.ingest import ingest_paths  # noqa: E402
from workbench.store import TABLES, open_store  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"
KEY = bytes.fromhex("5a" * 32)
TERM = "2026-2027-1"
GOAL = 1.5
SPECS = ("academic_emotion", "whole_person", "online_engagement")
# families whose rows are the interactions (events with a target); keyed by the receiving student
TARGETED = {"interactions_received": "target_key", "peers": "student_key", "interaction_network": "student_key"}


def build_store(students: int, events_per_week: float) -> Path:
    """The demo school's store for these parameters, generated and ingested once (cached)."""
    tag = f"{students}_{events_per_week:g}"
    store_path = WORK / f"indicators_{tag}.duckdb"
    if store_path.exists():
        return store_path
    demo = WORK / f"indicators_demo_{tag}"
    shutil.rmtree(demo, ignore_errors=True)
    t0 = time.perf_counter()
    summary = generate_demo_school(demo / "exports", demo / "ground_truth", students=students,
                                   events_per_week=events_per_week)
    print(f"generated demo school: {students:,} students, {summary['files']['lms_events.csv']:,} event rows "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    tmp = store_path.with_name(store_path.name + ".building")
    tmp.unlink(missing_ok=True)
    t1 = time.perf_counter()
    with open_store(tmp) as store:
        reports = ingest_paths(store, sorted(p for p in (demo / "exports").iterdir() if p.is_file()), KEY,
                               rejects_dir=demo / "rejects")
    failed = [r.file for r in reports if r.status == "failed"]
    if failed:
        raise SystemExit(f"ingest failed for {', '.join(failed)}; store left at {tmp}")
    print(f"ingested into {store_path.name} ({time.perf_counter() - t1:.0f} s)", flush=True)
    tmp.rename(store_path)
    shutil.rmtree(demo, ignore_errors=True)   # the store is the cache; the exports are large
    return store_path


def bare_query(family) -> str:
    """``SELECT <student>, count(*)`` over the family's first source, filtered by the term if it can be."""
    table = family.sources[0]
    key = TARGETED.get(family.id, "student_key")
    where = ["term_id = $term"] if "term_id" in TABLES[table].column_names() else []
    if family.id in TARGETED:
        where.append("target_key IS NOT NULL")
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {key} AS student_key, count(*) AS n FROM {table}{cond} GROUP BY 1"


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_indicators(con, repeat: int):
    cat = load_catalogue()
    params = {"term": TERM}
    pop = population(con, TERM)
    members: dict[str, list] = {}
    for ind in cat.indicators.values():
        if ind.kind in ("sql", "network"):
            members.setdefault(ind.family, []).append(ind)
    rows = []
    for fam, inds in members.items():
        family = cat.families[fam]
        if family.kind == "network":
            ours = best(lambda fam=fam, inds=inds: _network(con, cat, fam, inds, TERM, pop), repeat)
        else:
            sql = _family_query(cat, fam, inds, False)
            ours = best(lambda sql=sql: con.execute(sql, params).df(), repeat)
        bq = bare_query(family)
        bp = params if "$term" in bq else {}
        bare = best(lambda bq=bq, bp=bp: con.execute(bq, bp).df(), repeat)
        rows.append((fam, family.kind, len(inds), family.sources[0], ours, bare))

    trends = [i for i in cat.indicators.values() if i.kind == "trend"]
    weekly_fams: dict[str, list] = {}
    for t in trends:
        weekly_fams.setdefault(cat[t.of].family, []).append(cat[t.of])
    weekly_sql = [_family_query(cat, f, inds, True) for f, inds in weekly_fams.items()]
    weekly = best(lambda: [con.execute(s, params).df() for s in weekly_sql], repeat)

    frame = None

    def run_all():
        nonlocal frame
        frame = compute_indicators(con, TERM)
    total = best(run_all, repeat)
    return cat, rows, (len(trends), len(weekly_fams), weekly), total, frame


def model_input(frame, target: int, seed: int = 0) -> pd.DataFrame:
    """The indicator frame (values + scope) stacked into about ``target`` students: copies get the key and
    class suffixes _b, _c, … and Gaussian jitter of 5% of each column's spread on the indicators."""
    base = frame.values.join(frame.scope, how="left")
    cols = list(frame.values.columns)
    sd = base[cols].std().fillna(0.0).to_numpy()
    rng = np.random.default_rng(seed)
    parts = [base]
    for k in range(1, max(1, round(target / max(1, len(base))))):
        suffix = "_" + (chr(ord("a") + k) if k < 26 else f"c{k}")
        c = base.copy()
        c.index = c.index.astype(str) + suffix
        c["class_id"] = c["class_id"].astype("string") + suffix
        c[cols] = c[cols].to_numpy() + rng.normal(0.0, 1.0, (len(c), len(cols))) * (0.05 * sd)
        parts.append(c)
    x = pd.concat(parts)
    x.index.name = "student_key"
    return x


def bench_model(frame, target: int, repeat: int) -> None:
    try:
        from workbench.model import ProfileModel, load_spec
    except ImportError:
        print("ProfileModel: not available yet")
        return
    x = model_input(frame, target)
    print(f"\nProfileModel on {len(x):,} students ({x.shape[1] - 3} indicator columns), best of {repeat}:")
    print(f"{'spec':24}{'fit s':>10}{'transform s':>14}")
    for name in SPECS:
        try:
            spec = load_spec(name)
        except ValueError as exc:  # SpecError: a shipped spec not written yet
            print(f"{name:24}not available yet ({str(exc).splitlines()[0]})")
            continue
        fit = transform = float("inf")
        for _ in range(repeat):
            model = ProfileModel(spec)
            t0 = time.perf_counter()
            model.fit(x)
            t1 = time.perf_counter()
            model.transform(x)
            t2 = time.perf_counter()
            fit, transform = min(fit, t1 - t0), min(transform, t2 - t1)
        print(f"{name:24}{fit:10.2f}{transform:14.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=50_000)
    ap.add_argument("--events-per-week", type=float, default=8.5,
                    help="mean LMS events per student and week (default gives ~10M events for 50k students)")
    ap.add_argument("--model-students", type=int, default=100_000, help="students for the ProfileModel timing")
    ap.add_argument("--repeat", type=int, default=2, help="best of N runs each")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    store_path = build_store(args.students, args.events_per_week)
    with open_store(store_path) as store:
        con = store.con
        n_events = con.execute("SELECT count(*) FROM events WHERE term_id = $t", {"t": TERM}).fetchone()[0]
        n_students = len(population(con, TERM))
        cat, rows, (n_trends, n_wfams, weekly), total, frame = bench_indicators(con, args.repeat)
    print(f"store: {store_path.name} ({n_students:,} students, {n_events:,} events in term {TERM}), "
          f"best of {args.repeat}")
    print(f"{'family':24}{'kind':>8}{'indicators':>11}  {'bare source':14}{'ours s':>9}{'bare s':>9}{'ratio':>8}")
    for fam, kind, n, src, ours, bare in rows:
        flag = "" if kind == "network" else ("  OK" if ours / bare <= GOAL else "  ABOVE GOAL")
        print(f"{fam:24}{kind:>8}{n:11d}  {src:14}{ours:9.3f}{bare:9.3f}{ours / bare:7.2f}x{flag}")
    sql_rows = [r for r in rows if r[1] != "network"]
    above = [r[0] for r in sql_rows if r[4] / r[5] > GOAL]
    print(f"{'weekly series (trends)':24}{'trend':>8}{n_trends:11d}  {f'{n_wfams} families':14}{weekly:9.3f}"
          f"{'-':>9}{'-':>8}")
    bare_sum = sum(r[5] for r in rows)
    n_ind = len(cat.indicators)
    print(f"{'all (compute_indicators)':24}{'':>8}{n_ind:11d}  {'sum of bare':14}{total:9.3f}{bare_sum:9.3f}"
          f"{total / bare_sum:7.2f}x")
    print(f"SQL families within {GOAL:.2f}x of bare group-by: {len(sql_rows) - len(above)}/{len(sql_rows)}"
          + (f" (above goal: {', '.join(above)})" if above else " OK"))
    net = [r for r in rows if r[1] == "network"]
    for fam, _, n, _, ours, bare in net:
        print(f"network family {fam}: {ours:.2f} s ({n} measures, networkx) = {ours / bare:.1f}x its edge-list group-by")
    ratio = total / bare_sum
    print(f"ratio all indicators / sum of bare group-bys: {ratio:.2f}x (goal <= {GOAL:.2f}x) "
          f"{'OK' if ratio <= GOAL else 'ABOVE GOAL'}")
    bench_model(frame, args.model_students, args.repeat)


if __name__ == "__main__":
    main()
