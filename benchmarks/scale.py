"""Scale benchmark: every indicator of a term from one school to a district, on DuckDB and on Spark (local).

For each size (default 10k, 100k and 1M students) the demo generator writes a school of that many
students (``--events-per-week`` per student, default 20: the curve is about the growth, not the
absolute level) and ingests it as ``workbench demo`` does — :func:`benchmarks.indicators.build_store`,
cached in ``benchmarks/_work/``. A size above ``--generate-max`` (default 100k) is a district of tiles
instead: copies of the largest generated size, each with its own students, classes, school and
assessments (:func:`tile_store`). Generating and ingesting 1M students one by one would take ≈ 5–6 hours
and 86 GB of exports on this machine (docs/scale.md); tiling the 100k store takes minutes, and an indicator
costs the same work per student either way (``tests/scale/test_tiling.py``: a copy's students get the
source students' values; ``--tile-check`` also measures the largest generated size as tiles of the
smallest, to compare with the generated one). Then, each in a fresh child process so that the peak memory
is its own:

- **duckdb**: ``compute_indicators(con, term)`` (all indicators, the store opened read-only);
- **spark**: the Parquet export (partitioned by term and school), the local Spark session (``local[*]``)
  and ``compute_indicators(..., engine=SparkEngine)``; the indicator time excludes the session start
  and the export, reported apart.

Peak memory is the largest resident set of the child and its descendants (the JVM for Spark), sampled
every 0.1 s. The table gives, per 10× students, the growth factor of time and memory (goal: ≤ 12×,
near-linear). Prints; never asserts a timing.
Run: ``make bench`` or ``.venv/bin/python benchmarks/scale.py [--sizes 10000,100000,1000000]
[--spark-sizes 10000,100000] [--events-per-week 20] [--generate-max 100000] [--tile-check] [--repeat N]
[--spark-repeat 1] [--block-pool 60%] [--order student|ingest]``. With ``--order student`` (default) every store is first compacted in
student order (``workbench compact``: a district's run compacts after ingest), compaction timed apart and cached;
``--order ingest`` measures the rows as ingested. Each DuckDB child owns its one store, as a district's batch run would, and runs with DuckDB's
block pool (``$WORKBENCH_DUCKDB_BLOCK_POOL``, default 60 % of DuckDB's memory limit; ``--block-pool 0``: without).
With ``--repeat N`` every DuckDB size is measured N times (``--spark-repeat`` for Spark) and the growth is taken
between the medians. Every store is built before the first measurement.
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
from workbench.sqltext import q  # noqa: E402  (after the path)
from workbench.student_keys import KEY_ALPHABET  # noqa: E402

TERM = "2026-2027-1"
GOAL = 12.0
# Tiling: a store of N × copies students made of `copies` copies of a generated N-student store. Each copy
# gets its own students, classes, school and assessments (these ids get "~k", a 12-character student key is turned,
# below; the first copy keeps the source's ids); the subject's items, the terms and the catalogue are one district's
# and stay shared.
TILE_IDS = ("student_key", "target_key", "class_id", "school_id", "assessment_id", "resource_id")
# A copy's student keys keep the 12 characters DuckDB holds inline (a suffix would make every GROUP BY of the district
# follow pointers, which one real district's keys do not) and stay spread over the whole key space, as a district's
# schools' keys are (a copy in one range of keys would let a slice of students skip the other copies' rows): copy k
# turns the last base-62 digit by 7·k places, so a copy's keys sit next to their source's (the first digit would not
# do: 64 bits in 11 base-62 digits leave it 0–21). Two students of different copies share a key only if their keys
# agree in the first 10 digits (≈ 10⁻⁸ for 100k students); tile_store checks that every key is distinct.
STUDENT_KEY_COLUMNS = ("student_key", "target_key")
_TURN = 7


def tile_id(column: str, value: str, k: int) -> str:
    """The id ``value`` of column ``column`` in copy ``k`` (copy 0 keeps the source's), as :func:`tile_store` writes it."""
    if not k:
        return value
    if column in STUDENT_KEY_COLUMNS and len(value) == 12 and value.startswith("S"):
        return value[:-1] + KEY_ALPHABET[(KEY_ALPHABET.index(value[-1]) + _TURN * k) % 62]
    return f"{value}~{k}"


def _tile_sql(column: str, k: int) -> str:
    c = q(column)
    if column in STUDENT_KEY_COLUMNS:
        turned = f"{c}[:11] || substr('{KEY_ALPHABET}', (strpos('{KEY_ALPHABET}', {c}[12]) - 1 + {_TURN * k}) % 62 + 1, 1)"
        return f"CASE WHEN length({c}) = 12 AND starts_with({c}, 'S') THEN {turned} ELSE {c} || '~{k}' END AS {c}"
    return f"{c} || '~{k}' AS {c}"


# not tiled: the identity vault (a benchmark store needs no identifiers), the ingest bookkeeping, and what
# later steps write (profiles, mastery, alerts …): only the facts an indicator reads are copied
TILE_SKIP = ("identity_vault", "identity_vault_ids", "identity_vault_review", "identity_vault_quarantine",
             "quarantine", "ingest_log", "profiles", "profile_students", "profile_runs", "indicator_values",
             "mastery", "alerts", "interventions", "partner_groups", "audit_log")


def tile_store(src: Path, dst: Path, copies: int) -> Path:
    """Write ``dst``: ``copies`` copies of the store ``src`` as one district (see ``TILE_IDS``).

    Built with plain ``CREATE TABLE … AS`` (the same tables, columns and types as the store's, without the
    primary-key indexes: a read-only benchmark store), each copy appended in turn so every table keeps the
    source's physical order within a copy. ``workbench_meta`` is copied, so :func:`open_store` opens it.
    """
    import duckdb
    from workbench.store.schema import TABLES
    if not 0 < copies <= 62:   # 7·k mod 62 differs for k = 0 … 61 (7 and 62 have no common factor)
        raise ValueError(f"1 to 62 copies (a turn of the last digit each for their student keys), not {copies}")
    tmp = dst.with_name(dst.name + ".building")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    con.execute(f"ATTACH '{src}' AS src (READ_ONLY)")
    present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'src'").fetchall()}
    for t in TABLES.values():
        if t.name in TILE_SKIP or t.name not in present:
            continue
        cols = t.column_names()
        n = copies if any(c in TILE_IDS for c in cols) else 1
        for k in range(n):
            sel = ", ".join(_tile_sql(c, k) if k and c in TILE_IDS else q(c) for c in cols)
            head = f"CREATE TABLE {q(t.name)} AS" if k == 0 else f"INSERT INTO {q(t.name)}"
            con.execute(f"{head} SELECT {sel} FROM src.{q(t.name)}")
    students, distinct = con.execute("SELECT count(*), count(DISTINCT student_key) FROM students").fetchone()
    con.close()
    if students != distinct:
        raise RuntimeError(f"tiling gave {students - distinct} students of different copies one key; {tmp} left for a look")
    tmp.rename(dst)
    return dst


def tiled_store(students: int, copies: int, events_per_week: float, compact: bool = False) -> Path:
    """The cached store of ``copies`` tiles of the generated ``students``-student school (compacted in student order
    with ``compact``: the tiled store itself is then compacted and renamed)."""
    from benchmarks.indicators import KEY_FORM, WORK, build_store
    dst = WORK / f"tiled_{students}x{copies}_{events_per_week:g}_{KEY_FORM}.duckdb"
    final = dst.with_name(dst.stem + "_compact.duckdb") if compact else dst
    if final.exists():
        return final
    if not dst.exists():
        src = build_store(students, events_per_week)
        t0 = time.perf_counter()
        tile_store(src, dst, copies)
        print(f"tiled {copies} × {students:,} students into {dst.name} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return compacted_store(dst) if compact else dst


def compacted_store(store: Path) -> Path:
    """The cached copy of ``store`` compacted in student order (``workbench compact --keep-file``,
    :mod:`workbench.store.compact`), as a district runs it after ingest. A tiled store (itself a cache) is compacted in
    place and renamed. The fresh file ``workbench compact`` then writes by default changes the file's size, not the
    row groups the indicators read; the benchmark leaves it out (at 1M students it is another ≈ 13 GB copy)."""
    import shutil

    from workbench.store import open_store
    from workbench.store.compact import compact_store
    dst = store.with_name(store.stem + "_compact.duckdb")
    if dst.exists():
        return dst
    tmp = dst.with_name(dst.name + ".building")
    if store.name.startswith("tiled_"):
        store.rename(tmp)
    else:
        shutil.copy(store, tmp)
    t0 = time.perf_counter()
    with open_store(tmp) as s:
        rows = compact_store(s.con)
    print(f"compacted {store.name} in student order: {sum(rows.values()):,} rows ({time.perf_counter() - t0:.0f} s)",
          flush=True)
    tmp.rename(dst)
    return dst


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


def run_child(engine: str, store: Path, master: str, block_pool: str = "0") -> dict:
    """The child's result and its peak resident memory (MB, child and descendants). A DuckDB child owns its one store,
    as a district's batch run does, and gets DuckDB's block pool ``block_pool`` (see ``workbench.store.connection``)."""
    import os

    import psutil
    from workbench.store.connection import ENV_BLOCK_POOL
    env = os.environ | {ENV_BLOCK_POOL: block_pool if engine == "duckdb" else "0"}
    proc = subprocess.Popen([sys.executable, __file__, "--measure", engine, "--store", str(store), "--master", master],
                            stdout=subprocess.PIPE, text=True, env=env)
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


def _median_run(runs: list[dict]) -> dict:
    """One row for repeated measurements of a size: the run of median time, with the median peak and every run's
    time and peak (``runs``, ``peaks``); a failed run makes the row failed."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda r: r["seconds"])
    mid = dict(ordered[(len(ordered) - 1) // 2])
    peaks = sorted(r["peak_mb"] for r in runs)
    mid["peak_mb"] = peaks[(len(peaks) - 1) // 2]
    mid["runs"], mid["peaks"] = [r["seconds"] for r in runs], [r["peak_mb"] for r in runs]
    return mid


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
    ap.add_argument("--generate-max", type=int, default=100_000,
                    help="larger sizes are tiles of the largest generated size that divides them")
    ap.add_argument("--tile-check", action="store_true",
                    help="also measure the largest generated size as tiles of the smallest")
    ap.add_argument("--repeat", type=int, default=1,
                    help="measure each size this many times (each in a fresh child); the table takes the medians and "
                         "notes the range: on this VM one size varies by ±10 %% from run to run")
    ap.add_argument("--spark-repeat", type=int, default=1,
                    help="measure each Spark size this many times (Spark local at 100k students takes ≈ 15–25 min)")
    ap.add_argument("--block-pool", default="60%",
                    help="DuckDB's block pool in each DuckDB child, as $WORKBENCH_DUCKDB_BLOCK_POOL (0: none)")
    ap.add_argument("--order", choices=("student", "ingest"), default="student",
                    help="student: every store compacted in student order first (workbench compact), as a district "
                         "runs; ingest: the rows in the order they were ingested")
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--store", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.store, args.master)))
        return
    from benchmarks.indicators import build_store
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    spark_sizes = {int(s) for s in args.spark_sizes.split(",") if s}
    generated = [n for n in sizes if n <= args.generate_max]
    plan: list[tuple[int, str, int, int]] = []   # size, engine, generated size, copies
    for n in sizes:
        base = n if n <= args.generate_max else max((g for g in generated if n % g == 0), default=None)
        if base is None:
            raise SystemExit(f"{n:,} students: list a generated size (≤ {args.generate_max:,}) that divides it")
        plan += [(n, e, base, n // base) for e in ("duckdb", "spark") if e == "duckdb" or n in spark_sizes]
    if args.tile_check and len(generated) > 1 and generated[-1] % generated[0] == 0:
        plan.append((generated[-1], "duckdb", generated[0], generated[-1] // generated[0]))
    rows: dict[str, list[dict]] = {"duckdb": [], "spark": []}
    checks: list[dict] = []
    stores: dict[tuple[int, int], Path] = {}   # every store built (and compacted) before the first measurement, so
    for n, engine, base, copies in plan:       # the measurements run together on a machine left quiet
        if (base, copies) in stores:
            continue
        if copies == 1:
            store = build_store(n, args.events_per_week)
            stores[base, copies] = compacted_store(store) if args.order == "student" else store
        else:
            stores[base, copies] = tiled_store(base, copies, args.events_per_week, compact=args.order == "student")
    print(f"stores ready: {', '.join(p.name for p in stores.values())}; measuring", flush=True)
    for n, engine, base, copies in plan:
        repeat = max(1, args.repeat if engine == "duckdb" else args.spark_repeat)
        res = _median_run([run_child(engine, stores[base, copies], args.master, args.block_pool)
                           for _ in range(repeat)]) | {"size": n}
        if copies > 1:
            res["tiles"] = f"{copies} × {base:,}"
        (checks if copies > 1 and n in generated else rows[engine]).append(res)
        print(f"  {engine:6} {n:>9,} students: {json.dumps(res)}", flush=True)
    print(f"\nindicators of one term, all {len(__import__('workbench').indicators.load_catalogue().indicators)} "
          f"catalogue indicators; {args.events_per_week:g} events per student-week; growth per 10× students "
          f"(goal ≤ {GOAL:g}×); DuckDB's block pool {args.block_pool}; rows in {args.order} order")
    print(f"{'engine':7} {'students':>10} {'events':>12} {'seconds':>9} {'×/10×':>7} {'peak MB':>9} {'×/10×':>7}  notes")
    for engine, rs in rows.items():
        ok = [r for r in rs if "error" not in r]
        gt, gm = growth(ok, "seconds"), growth(ok, "peak_mb")
        for r, a, b in zip(ok, gt, gm):
            notes = (f"session {r['start_s']:.0f} s, export {r['export_s']:.0f} s" if "start_s" in r else "")
            notes += f"tiles: {r['tiles']} students" if "tiles" in r else ""
            if len(r.get("runs", [])) > 1:
                notes += (f"{'; ' if notes else ''}median of {len(r['runs'])}: {min(r['runs']):.1f}–{max(r['runs']):.1f} s, "
                          f"{min(r['peaks']):.0f}–{max(r['peaks']):.0f} MB")
            if r.get("unsupported"):
                notes += f"; not on {engine}: {', '.join(r['unsupported'])}"
            print(f"{engine:7} {r['size']:>10,} {r['events']:>12,} {r['seconds']:>9.1f} {a:>7} {r['peak_mb']:>9.0f} "
                  f"{b:>7}  {notes}")
        for r in rs:
            if "error" in r:
                print(f"{engine:7} {r['size']:>10,} failed: {r['error']}")
    for r in checks:  # the same size generated and tiled: what tiling does to the measurement
        gen = next((g for g in rows["duckdb"] if g["size"] == r["size"] and "error" not in g), None)
        if "error" in r or gen is None:
            continue
        print(f"tile check: {r['size']:,} students as {r['tiles']} tiles: {r['seconds']:.1f} s, {r['peak_mb']:.0f} MB "
              f"(generated: {gen['seconds']:.1f} s, {gen['peak_mb']:.0f} MB; tiles / generated: time "
              f"{r['seconds'] / gen['seconds']:.2f}, memory {r['peak_mb'] / gen['peak_mb']:.2f})")


if __name__ == "__main__":
    main()
