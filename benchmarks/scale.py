"""Scale benchmark: every indicator of a term from one school to a district, on DuckDB and on Spark (local).

For each size (default 10k, 100k and 1M students) the demo generator writes a school of that many
students (``--events-per-week`` per student, default 20: the curve is about the growth, not the
absolute level) and ingests it as ``workbench demo`` does — :func:`benchmarks.indicators.build_store`,
cached in ``benchmarks/_work/``. Then, each in a fresh child process so that the peak memory is its own:

- **duckdb**: ``compute_indicators(con, term)`` (all indicators, the store opened read-only);
- **spark**: the Parquet export (partitioned by term and school), the local Spark session (``local[*]``)
  and ``compute_indicators(..., engine=SparkEngine)``; the indicator time excludes the session start
  and the export, reported apart.

Peak memory is the largest resident set of the child and its descendants (the JVM for Spark), sampled
every 0.1 s. The table gives, per 10× students, the growth factor of time and memory (goal: ≤ 12×,
near-linear). Prints; never asserts a timing.
Run: ``make bench`` or ``.venv/bin/python benchmarks/scale.py [--sizes 10000,100000,1000000]
[--spark-sizes 10000,100000] [--events-per-week 20]``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TERM = "2026-2027-1"
GOAL = 12.0


def measure(engine: str, store: str, master: str) -> dict:
    """Run in the child: the indicators of the term on ``engine``; seconds of each step."""
    from workbench.indicators import compute_indicators
    from workbench.store import open_store
    out: dict = {}
    with open_store(store, read_only=True) as s:
        if engine == "spark":
            from workbench.indicators.spark import SparkEngine, spark_session
            t0 = time.perf_counter()
            session = spark_session(master, conf={"spark.driver.memory": "3g"})
            out["start_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            eng = SparkEngine.from_store(s.con, parquet_dir=Path(store).with_suffix(".parquet"), spark=session)
            out["export_s"] = time.perf_counter() - t0
        else:
            eng = None
        t0 = time.perf_counter()
        frame = compute_indicators(s.con, TERM, engine=eng)
        out["seconds"] = time.perf_counter() - t0
        out["students"] = len(frame.values)
        out["unsupported"] = sorted(frame.unsupported)
        out["events"] = s.con.execute("SELECT count(*) FROM events").fetchone()[0]
    if eng is not None:
        eng.stop()
    return out


def run_child(engine: str, store: Path, master: str) -> dict:
    """The child's result and its peak resident memory (MB, child and descendants)."""
    import psutil
    proc = subprocess.Popen([sys.executable, __file__, "--measure", engine, "--store", str(store), "--master", master],
                            stdout=subprocess.PIPE, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    out = proc.stdout.read()
    if proc.returncode:
        return {"error": f"exit {proc.returncode}"}
    res = json.loads(out.strip().splitlines()[-1])
    res["peak_mb"] = peak / 2**20
    return res


def growth(rows: list[dict], key: str) -> list[str]:
    """Growth factor per 10× students of ``key`` against the previous row (scaled to exactly 10×)."""
    out = [""]
    for a, b in zip(rows, rows[1:]):
        if key in a and key in b and a[key] > 0:
            per10 = (b[key] / a[key]) ** (1 / max(1e-9, __import__("math").log10(b["size"] / a["size"])))
            out.append(f"{per10:.1f}×" + (" !" if per10 > GOAL else ""))
        else:
            out.append("–")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--spark-sizes", default="10000,100000")
    ap.add_argument("--events-per-week", type=float, default=20)
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--store", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.store, args.master)))
        return
    from benchmarks.indicators import build_store
    sizes = [int(s) for s in args.sizes.split(",") if s]
    spark_sizes = {int(s) for s in args.spark_sizes.split(",") if s}
    rows: dict[str, list[dict]] = {"duckdb": [], "spark": []}
    for n in sizes:
        store = build_store(n, args.events_per_week)
        for engine in ("duckdb", "spark"):
            if engine == "spark" and n not in spark_sizes:
                continue
            res = run_child(engine, store, args.master) | {"size": n}
            rows[engine].append(res)
            print(f"  {engine:6} {n:>9,} students: {json.dumps(res)}", flush=True)
    print(f"\nindicators of one term, all {len(__import__('workbench').indicators.load_catalogue().indicators)} "
          f"catalogue indicators; {args.events_per_week:g} events per student-week; growth per 10× students "
          f"(goal ≤ {GOAL:g}×)")
    print(f"{'engine':7} {'students':>10} {'events':>12} {'seconds':>9} {'×/10×':>7} {'peak MB':>9} {'×/10×':>7}  notes")
    for engine, rs in rows.items():
        ok = [r for r in rs if "error" not in r]
        gt, gm = growth(ok, "seconds"), growth(ok, "peak_mb")
        for r, a, b in zip(ok, gt, gm):
            notes = (f"session {r['start_s']:.0f} s, export {r['export_s']:.0f} s" if "start_s" in r else "")
            if r.get("unsupported"):
                notes += f"; not on {engine}: {', '.join(r['unsupported'])}"
            print(f"{engine:7} {r['size']:>10,} {r['events']:>12,} {r['seconds']:>9.1f} {a:>7} {r['peak_mb']:>9.0f} "
                  f"{b:>7}  {notes}")
        for r in rs:
            if "error" in r:
                print(f"{engine:7} {r['size']:>10,} failed: {r['error']}")


if __name__ == "__main__":
    main()
