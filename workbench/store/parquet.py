"""Parquet export of the store: the exchange format between DuckDB and a distributed engine (Spark).

Each table becomes a folder ``<out>/<table>/``. Facts (rows of a student) are Hive-partitioned by
``term_id`` and ``school_id`` — ``<out>/events/term_id=2026-2027-1/school_id=S01/data_0.parquet`` — so a
district engine reads one term of one school without touching the rest, and schools append their
terms independently. The partition columns come from the row itself where it has them (``term_id`` of
events, attendance …), from the assessment (``scores``), and from the student's class of that term, or
else the student's school (``school_id``). Small reference tables (terms, classes, assessments …) are
one file each. Readers select the store's own columns (:func:`store_columns`), so a partition column
that the table does not have is never seen by a query.

>>> import tempfile, os
>>> from workbench.store import open_store
>>> d = tempfile.mkdtemp()
>>> with open_store(os.path.join(d, "s.duckdb")) as s:
...     paths = export_parquet(s.con, os.path.join(d, "pq"), ["terms", "events"])
>>> sorted(paths), partition_columns("events"), partition_columns("terms")
(['events', 'terms'], ('term_id', 'school_id'), ())
"""
from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

import duckdb

from workbench.sqltext import lit, q
from workbench.store.schema import TABLES

# the school of a student in a term: the school of the student's class, else the student's own school
_SCHOOL = """WITH wb_school AS (
    SELECT e.student_key, e.term_id, min(c.school_id) AS school_id FROM enrolments e
    JOIN classes c ON c.class_id = e.class_id GROUP BY ALL)
"""


def store_columns(table: str) -> list[str]:
    """The store's columns of ``table`` (what a reader of the Parquet export should select)."""
    return list(TABLES[table].column_names())


def partition_columns(table: str) -> tuple[str, ...]:
    """Hive partition columns of ``table`` in the export: ``(term_id, school_id)`` for a student's facts
    (``(school_id,)`` for responses, which carry no term), none for reference tables."""
    cols = set(store_columns(table))
    if "student_key" not in cols or table in ("students", "identity_vault"):
        return ()
    has_term = "term_id" in cols or table == "scores"   # scores: the term of the assessment
    return ("term_id", "school_id") if has_term else ("school_id",)


def _select(table: str) -> str:
    cols = store_columns(table)
    parts = partition_columns(table)
    if not parts:
        return f"SELECT * FROM {q(table)}"
    joins, term = [], "t.term_id"
    if "term_id" in parts and "term_id" not in cols:   # scores: the term of the assessment
        joins.append("LEFT JOIN assessments a ON a.assessment_id = t.assessment_id")
        term = "a.term_id"
    extra = f", {term} AS term_id" if "term_id" in parts and "term_id" not in cols else ""
    on = f" AND ws.term_id = {term}" if "term_id" in parts else ""
    joins.append(f"LEFT JOIN (SELECT student_key, {'term_id, ' if on else ''}min(school_id) AS school_id "
                 f"FROM wb_school GROUP BY ALL) ws ON ws.student_key = t.student_key{on}")
    joins.append("LEFT JOIN students st ON st.student_key = t.student_key")
    school = ", coalesce(ws.school_id, st.school_id) AS school_id"
    return f"{_SCHOOL}SELECT t.*{extra}{school} FROM {q(table)} t {' '.join(joins)}"


def export_parquet(con: duckdb.DuckDBPyConnection, out_dir: str | Path, tables: Iterable[str] | None = None,
                   *, fresh: bool = True) -> dict[str, Path]:
    """Write ``tables`` (default: every table an indicator family reads) to Parquet under ``out_dir``.

    Parameters
    ----------
    con : the store's connection (read-only is enough).
    out_dir : folder of the export; with ``fresh`` each table's folder is replaced.
    tables : table names of the store.

    Returns
    -------
    dict mapping each table to its folder (read it with ``spark.read.parquet(folder)`` or DuckDB's
    ``read_parquet(folder || '/**/*.parquet', hive_partitioning = true)``).
    """
    if tables is None:
        from workbench.indicators import load_catalogue
        tables = sorted({s for f in load_catalogue().families.values() for s in f.sources})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for table in tables:
        if table not in TABLES or TABLES[table].vault:
            raise ValueError(f"{table!r} is not an exportable store table / 不能导出的表")
        folder = out / table
        if fresh:
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        parts = partition_columns(table)
        rows = con.execute(f"SELECT count(*) FROM {q(table)}").fetchone()[0]
        if parts and rows:
            con.execute(f"COPY ({_select(table)}) TO {lit(str(folder))} "
                        f"(FORMAT parquet, PARTITION_BY ({', '.join(parts)}), OVERWRITE_OR_IGNORE)")
        else:   # one file; an empty table still gives its schema to the reader
            con.execute(f"COPY ({_select(table)}) TO {lit(str(folder / 'data_0.parquet'))} (FORMAT parquet)")
        paths[table] = folder
    return paths
