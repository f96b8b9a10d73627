"""Compaction: rewrite the tables of students' facts in the order of ``student_key``.

Ingest appends rows as the files come (a week of events after another), so one student's rows are spread over the
whole table and every row group holds keys from all over the key space. Rewritten in key order, a student's rows sit
together and each row group covers a narrow range of keys; DuckDB keeps the range (zone map), so a query for a slice
of students (``student_key >= lo AND student_key < hi``) reads that slice's row groups only. The indicators then run
every query of the families marked ``sliced`` in slices of 100,000 students
(:func:`workbench.indicators.compute.compute_indicators`), each slice's hash table a school's size rather than a
district's, and the others whole over rows a student at a time: measured at 1M students, 256 s against 328 s
unordered (docs/scale.md).

Nothing but the order changes: the same rows (counted and compared), the same columns, types and primary keys. Each
table is rewritten in one transaction, a slice of students at a time, so the sort never holds more than one slice.
``workbench_meta`` records the tables and their row counts; a table that grew by more than 10 % since is read as
unordered again (its new rows are at the end, outside every zone map), until the next compaction.
"""
from __future__ import annotations

import json
from collections.abc import Callable

import duckdb

from workbench.sqltext import lit, q

# the tables of students' facts the indicators read (the outputs — profiles, mastery, alerts … — are written per run)
FACT_TABLES = ("events", "responses", "surveys", "activities", "scores", "attendance", "scale_scores", "enrolments")
META_KEY = "clustered_by_student"   # workbench_meta: {table: rows when compacted}
SLICE_STUDENTS = 100_000            # students per sorted slice while rewriting
GROWTH = 1.10                       # a table this much larger than when compacted counts as unordered again

Progress = Callable[[str, int, int], None]


def clustered_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The tables in student order: compacted, and grown by at most 10 % since."""
    row = next(iter(con.execute("SELECT value FROM workbench_meta WHERE key = ?", [META_KEY]).fetchall()), None)
    if row is None:
        return set()
    out = set()
    for table, rows in json.loads(row[0]).items():
        try:
            now = con.execute(f"SELECT count(*) FROM {q(table)}").fetchone()[0]
        except duckdb.CatalogException:
            continue
        if now <= GROWTH * rows:
            out.add(table)
    return out


def compact_store(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...] = FACT_TABLES,
                  progress: Progress | None = None, slice_students: int = SLICE_STUDENTS) -> dict[str, int]:
    """Rewrite ``tables`` in ``student_key`` order; returns the rows of each. Raises (and changes nothing in that
    table) if the rewritten table would not hold exactly the rows it held."""
    from workbench.indicators.catalogue import slice_bounds
    from workbench.store.schema import TABLES, ddl
    done: dict[str, int] = {}
    present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()")
               .fetchall()}
    todo = [t for t in tables if t in present]
    for n, table in enumerate(todo):
        if progress:
            progress(table, n, len(todo))
        have = {r[0] for r in con.execute(f"DESCRIBE {q(table)}").fetchall()}
        cols = [c for c in TABLES[table].column_names() if c in have]
        names = ", ".join(q(c) for c in cols)
        keys = [r[0] for r in con.execute(f"SELECT DISTINCT student_key FROM {q(table)} WHERE student_key IS NOT NULL")
                .fetchall()]
        parts = slice_bounds(keys, max(1, -(-len(keys) // slice_students)))
        con.execute("BEGIN TRANSACTION")
        try:
            before = con.execute(f"SELECT count(*) FROM {q(table)}").fetchone()[0]
            con.execute(f"ALTER TABLE {q(table)} RENAME TO wb_compact_old")
            con.execute(ddl(TABLES[table]))
            for lo, hi in parts:
                where = " AND ".join([f"student_key >= {lit(lo)}"] * (lo is not None) + [f"student_key < {lit(hi)}"] *
                                     (hi is not None)) or "student_key IS NOT NULL"
                con.execute(f"INSERT INTO {q(table)} ({names}) SELECT {names} FROM wb_compact_old "
                            f"WHERE {where} ORDER BY student_key")
            con.execute(f"INSERT INTO {q(table)} ({names}) SELECT {names} FROM wb_compact_old WHERE student_key IS NULL")
            after = con.execute(f"SELECT count(*) FROM {q(table)}").fetchone()[0]
            if after != before:
                raise RuntimeError(f"compacting {table}: {after:,} rows rewritten of {before:,}; nothing changed")
            con.execute("DROP TABLE wb_compact_old")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        done[table] = after
    row = next(iter(con.execute("SELECT value FROM workbench_meta WHERE key = ?", [META_KEY]).fetchall()), None)
    meta = (json.loads(row[0]) if row else {}) | done
    con.execute("DELETE FROM workbench_meta WHERE key = ?", [META_KEY])
    con.execute("INSERT INTO workbench_meta VALUES (?, ?)", [META_KEY, json.dumps(meta, sort_keys=True)])
    con.execute("CHECKPOINT")
    if progress:
        progress("done", len(todo), len(todo))
    return done
