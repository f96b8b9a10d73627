"""Where the indicator SQL runs: DuckDB (the store itself, the default) or Spark (a district).

The catalogue's SQL is written once, in DuckDB's dialect (``workbench/indicators/catalogue/*.yaml``).
An engine takes that text and the query parameters (``{"term": ...}``) and returns a pandas frame;
:func:`workbench.indicators.compute_indicators` does everything else (population, fill, network measures,
rounding) the same way for every engine. The Spark engine (:mod:`workbench.indicators.spark`) translates
the text with sqlglot; a query it cannot translate or Spark cannot run raises :class:`EngineUnsupported`,
and the indicators behind it are reported by id in ``IndicatorFrame.missing`` — never dropped silently.

>>> import duckdb
>>> eng = DuckDBEngine(duckdb.connect())
>>> eng.query("SELECT $term AS term, 1 + 1 AS two", {"term": "2026-2027-1"}).to_dict("records")
[{'term': '2026-2027-1', 'two': 2}]
"""
from __future__ import annotations

from typing import Protocol

import duckdb
import pandas as pd

ENGINES = ("duckdb", "spark")


class EngineUnsupported(RuntimeError):
    """This engine cannot run this query (translation or analysis failed); the reason is the message."""


class Engine(Protocol):
    """Runs one catalogue query (DuckDB dialect, ``$name`` parameters) and returns its rows."""

    name: str

    def query(self, sql: str, params: dict[str, str]) -> pd.DataFrame:
        ...


class DuckDBEngine:
    """The store's own DuckDB connection: the catalogue's SQL as written.

    Parameters
    ----------
    con : a DuckDB connection to the store.
    """

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def query(self, sql: str, params: dict[str, str]) -> pd.DataFrame:
        """Rows of ``sql`` with ``params`` bound."""
        return self.con.execute(sql, params).df()


def open_engine(name: str, con: duckdb.DuckDBPyConnection, *, spark_master: str | None = None,
                parquet_dir: str | None = None) -> Engine:
    """The engine called ``name`` (``duckdb`` or ``spark``) over the store behind ``con``.

    For ``spark`` the store's tables are exported to Parquet (partitioned by term and school) under
    ``parquet_dir`` (default: a temporary folder) and a Spark session is started on ``spark_master``
    (default ``local[*]``); see :class:`workbench.indicators.spark.SparkEngine`.

    >>> import duckdb
    >>> open_engine("duckdb", duckdb.connect()).name
    'duckdb'
    """
    if name == "duckdb":
        return DuckDBEngine(con)
    if name == "spark":
        from workbench.indicators.spark import SparkEngine
        return SparkEngine.from_store(con, parquet_dir=parquet_dir, master=spark_master)
    raise ValueError(f"unknown engine {name!r}; one of {', '.join(ENGINES)} / 未知引擎")
