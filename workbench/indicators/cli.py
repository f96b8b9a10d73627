"""Command-line pieces of the indicator engines: ``--engine``/``--spark-master`` on the commands that compute
indicators, and ``workbench parquet`` (the store's Parquet export for a district engine).

>>> EngineChoice().name, EngineChoice("spark", "spark://head:7077").master
('duckdb', 'spark://head:7077')
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
import duckdb

from workbench.indicators.engines import ENGINES, Engine, open_engine


@dataclass(frozen=True)
class EngineChoice:
    """The engine asked for on the command line; :meth:`open` starts it over a store."""
    name: str = "duckdb"
    master: str | None = None
    parquet_dir: str | None = None

    def open(self, con: duckdb.DuckDBPyConnection) -> Engine:
        """The engine over the store behind ``con`` (Spark: after exporting it to Parquet)."""
        return open_engine(self.name, con, spark_master=self.master, parquet_dir=self.parquet_dir)


def engine_options(command: Callable) -> Callable:
    """Add ``--engine``, ``--spark-master`` and ``--parquet-dir`` to a click command; it receives them as one
    ``engine`` argument, an :class:`EngineChoice`."""
    @click.option("--engine", "engine_name", type=click.Choice(ENGINES), default="duckdb", show_default=True,
                  help="Where the indicator SQL runs: the store's DuckDB, or Apache Spark (a district).")
    @click.option("--spark-master", default=None,
                  help="Spark master URL with --engine spark (default local[*]; e.g. spark://host:7077, yarn).")
    @click.option("--parquet-dir", default=None, type=click.Path(file_okay=False),
                  help="Folder for the store's Parquet export read by Spark (default: a temporary folder; "
                       "on a cluster, a path every worker reads, e.g. hdfs:// or a shared mount).")
    @functools.wraps(command)
    def wrapper(*args, engine_name: str, spark_master: str | None, parquet_dir: str | None, **kwargs):
        if spark_master and engine_name != "spark":
            raise click.UsageError("--spark-master needs --engine spark")
        return command(*args, engine=EngineChoice(engine_name, spark_master, parquet_dir), **kwargs)
    return wrapper


@click.command("parquet")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder of the export.")
@click.option("--table", "tables", multiple=True,
              help="Only this table (repeatable; default: every table an indicator reads).")
@click.option("--store", "store_path", type=click.Path(dir_okay=False), default=None,
              help="DuckDB store file (default $WORKBENCH_STORE or data/workbench.duckdb).")
def parquet(out_dir: str, tables: tuple[str, ...], store_path: str | None) -> None:
    """Export the store to Parquet partitioned by term and school (导出 Parquet，供 Spark 读取)."""
    from workbench.store import default_store_path, open_store
    from workbench.store.parquet import export_parquet, partition_columns
    with open_store(default_store_path(store_path), read_only=True) as store:
        try:
            paths = export_parquet(store.con, Path(out_dir), list(tables) or None)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    for table, folder in paths.items():
        parts = partition_columns(table)
        click.echo(f"{table:14} → {folder}" + (f"  (partitioned by {', '.join(parts)})" if parts else ""))


@click.command("district-indicators")
@click.option("--from", "export_dir", required=True, type=click.Path(file_okay=False, exists=True),
              help="A Parquet export (`workbench parquet`, or a district's): no local store is opened.")
@click.option("--term", required=True, help="Term id, e.g. 2026-2027-1.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Where the indicator values go, as Parquet partitioned by term and school.")
@click.option("--engine", "engine_name", type=click.Choice(ENGINES), default="duckdb", show_default=True,
              help="DuckDB over the export's files, or Apache Spark.")
@click.option("--spark-master", default=None, help="Spark master URL with --engine spark (default local[*]).")
def district_indicators(export_dir: str, term: str, out_dir: str, engine_name: str, spark_master: str | None) -> None:
    """Every indicator of a term from a Parquet export, written back to Parquet (区域：从 Parquet 计算指标)."""
    from workbench.indicators.compute import compute_indicators, population
    from workbench.indicators.engines import DuckDBEngine
    from workbench.store.parquet import export_indicator_values, open_export
    if spark_master and engine_name != "spark":
        raise click.UsageError("--spark-master needs --engine spark")
    con = open_export(export_dir)
    if not con.execute("SELECT count(*) FROM enrolments WHERE term_id = ?", [term]).fetchone()[0]:
        raise click.ClickException(f"no enrolments for term {term} in {export_dir} / 导出中没有该学期的选课记录")
    if engine_name == "spark":
        from workbench.indicators.spark import SparkEngine, spark_session
        engine = SparkEngine(spark_session(spark_master), export_dir)
    else:
        engine = DuckDBEngine(con)
    try:
        frame = compute_indicators(con, term, engine=engine)
    finally:
        if engine_name == "spark":
            engine.stop()
    folder = export_indicator_values(frame, population(con, term), out_dir)
    n = con.execute(f"SELECT count(*) FROM read_parquet('{folder}/**/*.parquet')").fetchone()[0]
    click.echo(f"{term}: {len(frame.values):,} students, {len(frame.available)} of {frame.values.shape[1]} indicators "
               f"on {engine_name}, {n:,} values → {folder}")
    for i, why in frame.missing.items():
        click.echo(f"  {i}: {why}")
