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

DuckDB never shrinks a file: the old tables' blocks stay in it as free space (reused by later writes), so a store just
compacted is about twice its size (1M students: 13.3 → 25.4 GB). :func:`rewrite_into_fresh_file` then gives that space
back the way DuckDB's manual says (``COPY FROM DATABASE`` into a new file: every table, view, sequence, macro and type,
each table's rows in their order) and puts the copy in the store's place; ``workbench compact`` does both unless told
``--keep-file``.
"""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

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


class NoRoom(RuntimeError):
    """The disk has no room for the fresh copy of the store."""


def _size(con: duckdb.DuckDBPyConnection, db: str) -> tuple[int, int]:
    """(bytes of the file, bytes in use) of attached database ``db``."""
    size, block, used = con.execute("SELECT total_blocks * block_size, block_size, used_blocks FROM pragma_database_size() "
                                    "WHERE database_name = ?", [db]).fetchone()
    return int(size), int(block * used)


def rewrite_into_fresh_file(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Copy the store at ``path`` into a fresh file and put it in the store's place; (bytes before, bytes after).

    The free blocks a compaction (or any large delete) leaves stay out of the copy. The store must not be open
    elsewhere (it is attached for writing, so DuckDB's lock refuses a second writer, and a reader open at the time
    would keep reading the old file). Raises :class:`NoRoom` before copying when the disk has less free space than the
    store's blocks in use, and raises — the store left as it was, the partial copy removed — when any table of the copy
    holds another number of rows.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".fresh")
    for f in (tmp, Path(str(tmp) + ".wal")):
        f.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"ATTACH {lit(str(path))} AS wb_old")
        con.execute("CHECKPOINT wb_old")   # everything in the file itself, nothing left in a WAL
        before, used = _size(con, "wb_old")
        free = shutil.disk_usage(path.parent).free
        if free < used * 1.1:
            raise NoRoom(f"{path}: {used / 1e9:.1f} GB in use and {free / 1e9:.1f} GB free on its disk; the fresh copy "
                         f"needs the first / 磁盘空间不足，无法写出新文件")
        con.execute(f"ATTACH {lit(str(tmp))} AS wb_new")
        con.execute("COPY FROM DATABASE wb_old TO wb_new")
        con.execute("CHECKPOINT wb_new")
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'wb_old'").fetchall():
            a = con.execute(f"SELECT count(*) FROM wb_old.{q(table)}").fetchone()[0]
            b = con.execute(f"SELECT count(*) FROM wb_new.{q(table)}").fetchone()[0]
            if a != b:
                raise RuntimeError(f"{path}: the fresh copy of {table} holds {b:,} rows of {a:,}; the store is unchanged")
        after, _ = _size(con, "wb_new")
        con.execute("DETACH wb_new")
        con.execute("DETACH wb_old")
    except BaseException:
        con.close()
        for f in (tmp, Path(str(tmp) + ".wal")):
            f.unlink(missing_ok=True)
        raise
    con.close()
    if Path(str(tmp) + ".wal").exists() or Path(str(path) + ".wal").exists():   # both checkpointed on detach
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"{path}: a write-ahead log was left beside the store or its copy; the store is unchanged")
    os.replace(tmp, path)
    return before, after
