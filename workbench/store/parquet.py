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


def open_export(export_dir: str | Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB over a Parquet export (a district's, without any local store).

    Each table folder of ``export_dir`` becomes a view with the store's columns and types (partition
    columns come back from the folder names, read as text and cast); a store table the export does not
    have is an empty table, so what reads the store (the indicator population, a school check) also reads
    an export. Nothing is copied: DuckDB reads only the files a query needs.

    >>> import tempfile, os
    >>> from workbench.store import open_store
    >>> d = tempfile.mkdtemp()
    >>> with open_store(os.path.join(d, "s.duckdb")) as s:
    ...     _ = export_parquet(s.con, os.path.join(d, "pq"), ["terms", "events"])
    >>> con = open_export(os.path.join(d, "pq"))
    >>> con.execute("SELECT count(*) FROM events").fetchone(), con.execute("SELECT count(*) FROM enrolments").fetchone()
    ((0,), (0,))
    """
    from workbench.store.schema import ddl
    root = Path(export_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"no Parquet export at {root} / 找不到 Parquet 导出目录")
    con = duckdb.connect()
    for name, table in TABLES.items():
        folder = root / name
        files = sorted(folder.rglob("*.parquet")) if folder.is_dir() else []
        if table.vault or not files:
            con.execute(ddl(table))
            continue
        cols = ", ".join(f"CAST({q(c.name)} AS {c.type}) AS {q(c.name)}" for c in table.columns)
        con.execute(f"CREATE VIEW {q(name)} AS SELECT {cols} FROM read_parquet({lit(str(folder) + '/**/*.parquet')}, "
                    f"hive_partitioning = true, hive_types_autocast = false, union_by_name = true)")
    return con


def export_indicator_values(frame, population, out_dir: str | Path) -> Path:
    """Write an :class:`~workbench.indicators.compute.IndicatorFrame`'s term values as the store's
    ``indicator_values`` rows, partitioned by term and school: ``<out>/indicator_values/term_id=…/school_id=…``.
    ``population`` gives each student's ``school_id`` (:func:`workbench.indicators.compute.population`)."""
    import numpy as np
    long = frame.values.reset_index().melt(id_vars="student_key", var_name="indicator_id", value_name="value")
    long = long[long["value"].notna() & np.isfinite(long["value"])]
    long["school_id"] = long["student_key"].map(population["school_id"]).fillna("unknown")
    long.insert(0, "term_id", frame.term)
    folder = Path(out_dir) / "indicator_values"
    shutil.rmtree(folder / f"term_id={frame.term}", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("wb_values", long[["term_id", "student_key", "indicator_id", "value", "school_id"]])
    con.execute(f"COPY (SELECT term_id, student_key, indicator_id, CAST(NULL AS INTEGER) AS week, value, school_id "
                f"FROM wb_values) TO {lit(str(folder))} (FORMAT parquet, PARTITION_BY (term_id, school_id), "
                f"OVERWRITE_OR_IGNORE)")
    con.close()
    return folder
