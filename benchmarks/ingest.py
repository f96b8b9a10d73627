"""Ingest benchmark: 10M LMS event rows through the full pipeline vs DuckDB's bare ``read_csv``.

The event file is the demo school's real ``lms_events.csv`` (480 students, with its planted
duplicates and unknown accounts), repeated with timestamps shifted by one second per copy until it
has ``--rows`` rows, so every row stays inside the term and refers to real LMS accounts. The store
is first given the demo's terms, classes, roster and LMS accounts, as a school's would be.

``--unknown-share 0.1`` replaces the account of that share of rows by one the store does not know, as an LMS
export with teachers' and administrators' accounts has: those rows are quarantined (``unknown_student``).

``--district-accounts 100000`` gives the store that many more students' LMS accounts (none of them in the file),
as a district's store has: the lookups then hold 100k ids.

Prints rows/s for both, the ratio (goal: ingest ≤ 2× bare read_csv) and the time of each phase of
the ingest. The event preset takes the fused CSV path, where one scan reads and checks every row: its
first phase is then "read + check" (the reasons of the rows that failed are built there too), and
"validate" has nothing left to do.
Run: ``make bench`` or ``.venv/bin/python benchmarks/ingest.py [--rows N]``.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.demo import generate_demo_school  # noqa: E402
from workbench.ingest import ingest_paths, load_preset  # noqa: E402
from workbench.ingest.pipeline import ingest_file  # noqa: E402
from workbench.store import open_store  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"
KEY = bytes.fromhex("5a" * 32)


def build_inputs(rows: int, unknown_share: float = 0.0, district_accounts: int = 0) -> tuple[Path, Path]:
    demo = WORK / "demo"
    if not (demo / "exports" / "lms_events.csv").exists():
        generate_demo_school(demo / "exports", demo / "ground_truth", students=480, seed=20260901)
    exports = demo / "exports"
    base = WORK / "base.duckdb"
    if not base.exists():
        with open_store(base) as store:
            files = [exports / n for n in ("terms.csv", "roster.xlsx", "lms_users.csv")]
            ingest_paths(store, files, KEY)
    big = WORK / f"events_{rows}.csv"
    if not big.exists():
        con = duckdb.connect()
        n = con.execute(f"SELECT count(*) FROM read_csv('{exports / 'lms_events.csv'}', all_varchar=true)").fetchall()[0][0]
        copies = -(-rows // n)
        con.execute(f"""COPY (SELECT * EXCLUDE (ts, k), strftime(CAST(ts AS TIMESTAMP) + to_seconds(k), '%Y-%m-%d %H:%M:%S') AS ts
                        FROM read_csv('{exports / 'lms_events.csv'}', all_varchar=true), range({copies}) r(k)
                        LIMIT {rows}) TO '{big}' (HEADER, DELIMITER ',')""")
        con.close()
    if unknown_share:
        mixed = WORK / f"events_{rows}_unknown{round(unknown_share * 100)}.csv"
        if not mixed.exists():  # the same rows, a deterministic share of them under accounts nobody enrolled
            con = duckdb.connect()
            con.execute(f"""COPY (SELECT * REPLACE (CASE WHEN hash(account, ts, object_id) % 1000 < {round(unknown_share * 1000)}
                            THEN 'staff_' || account ELSE account END AS account)
                            FROM read_csv('{big}', all_varchar=true)) TO '{mixed}' (HEADER, DELIMITER ',')""")
            con.close()
        big = mixed
    if district_accounts:
        district = WORK / f"base_district{district_accounts}.duckdb"
        if not district.exists():  # other schools' students: ids and keys only, as ingesting their rosters leaves them
            shutil.copy(base, district)
            with open_store(district) as store:
                store.con.execute(f"""INSERT INTO identity_vault_ids SELECT 'lms', 'd' || lpad(CAST(i AS VARCHAR), 8, '0'),
                    'D' || lpad(CAST(i AS VARCHAR), 11, '0'), 'bench', now(), NULL FROM range({district_accounts}) t(i)""")
        base = district
    return big, base


def bare_read_csv(path: Path) -> float:
    db = WORK / "bare.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    t0 = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}')")
    elapsed = time.perf_counter() - t0
    con.close()
    db.unlink(missing_ok=True)
    return elapsed


def full_ingest(path: Path, base: Path) -> tuple[float, object, dict[str, float]]:
    store_path = WORK / "bench.duckdb"
    shutil.copy(base, store_path)
    marks: dict[str, float] = {}
    with open_store(store_path) as store:
        t0 = time.perf_counter()
        report = ingest_file(store, path, load_preset("demo_lms_events"), KEY,
                             progress=lambda step, done, total: marks.setdefault(step, time.perf_counter()))
        elapsed = time.perf_counter() - t0
    store_path.unlink(missing_ok=True)
    steps = list(marks)
    phases = {steps[i]: marks[steps[i + 1]] - marks[steps[i]] for i in range(len(steps) - 1)}
    phases["hash + commit"] = elapsed - sum(phases.values())
    return elapsed, report, phases


class _PartitionProbe:
    """Stands in for the store's connection to time a design not built: a partitioned event store.

    The checked scan (read + type + check, one pass) is written once as a persistent table, the file's own
    partition, whose ``_bad`` flag would hide failing rows and later copies behind an ``events`` view; the
    INSERT into ``events`` is skipped (the rows it would write are counted instead). Everything else —
    duplicates, quarantine, vault, log, commit — runs as in the real ingest, so the time is end to end."""

    def __init__(self, con):
        self._con, self._result, self.part = con, None, None

    def execute(self, sql, *args, **kwargs):
        self._result = None
        if sql.startswith("CREATE OR REPLACE TEMP TABLE wb_chk_") and " hash(" in sql:
            sql = sql.replace("CREATE OR REPLACE TEMP TABLE", "CREATE OR REPLACE TABLE", 1)
            self.part = sql.split()[4]
        elif sql.startswith("INSERT INTO events"):
            self._result = self._con.execute(f"SELECT count(*) FROM {self.part} WHERE NOT _bad").fetchall()
            return self
        self._con.execute(sql, *args, **kwargs)
        return self

    def fetchall(self):
        return self._result if self._result is not None else self._con.fetchall()

    def __getattr__(self, name):
        return getattr(self._con, name)


def partition_probe(path: Path, base: Path) -> float:
    store_path = WORK / "probe.duckdb"
    shutil.copy(base, store_path)
    with open_store(store_path) as store:
        store.con = _PartitionProbe(store.con)
        t0 = time.perf_counter()
        report = ingest_file(store, path, load_preset("demo_lms_events"), KEY)
        elapsed = time.perf_counter() - t0
        assert report.balanced and store.con.part, "the probe did not take the fused path"
        store.con = store.con._con
    store_path.unlink(missing_ok=True)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs each, interleaved")
    ap.add_argument("--probe-partitioned", action="store_true",
                    help="also time, end to end, a partitioned event store (not built; see _PartitionProbe)")
    ap.add_argument("--district-accounts", type=int, default=0,
                    help="LMS accounts of other students in the store (a district's), none of them in the file")
    ap.add_argument("--unknown-share", type=float, default=0.0,
                    help="share of rows under accounts the store does not know (staff accounts in an LMS export)")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    big, base = build_inputs(args.rows, args.unknown_share, args.district_accounts)
    size_mb = big.stat().st_size / 1e6
    # interleaved (bare, ours, bare, ours, …), best of each: this 2-core VM's speed drifts by ±30 % over
    # minutes, and a drift between all bare runs and all of ours would show up as a false ratio
    bares, runs, probes = [], [], []
    for _ in range(args.repeat):
        bares.append(bare_read_csv(big))
        runs.append(full_ingest(big, base))
        if args.probe_partitioned:
            probes.append(partition_probe(big, base))
    bare = min(bares)
    ours, report, phases = min(runs, key=lambda r: r[0])
    print(f"file: {big.name} ({args.rows:,} rows, {size_mb:,.0f} MB)")
    print(f"{'':28}{'seconds':>10}{'rows/s':>14}")
    print(f"{'DuckDB bare read_csv':28}{bare:10.2f}{args.rows / bare:14,.0f}")
    print(f"{'workbench ingest (full)':28}{ours:10.2f}{args.rows / ours:14,.0f}")
    print(f"accounting: read {report.rows_read:,} = accepted {report.accepted:,} + quarantined "
          f"{report.quarantined:,} + merged {report.merged:,} (balanced: {report.balanced})")
    print("phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in phases.items()))
    ratio = ours / bare
    print(f"ratio ingest / bare read_csv: {ratio:.2f}x (goal <= 2.00x) {'OK' if ratio <= 2 else 'ABOVE GOAL'}")
    if probes:
        print(f"probe, partitioned event store (not built): {min(probes):.2f} s, {min(probes) / bare:.2f}x bare")


if __name__ == "__main__":
    main()
