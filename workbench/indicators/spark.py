"""The indicator catalogue on Apache Spark: the same SQL text, translated by sqlglot (DuckDB → Spark).

The store's tables reach Spark as Parquet partitioned by term and school
(:func:`workbench.store.parquet.export_parquet`); each becomes a temporary view of the same name with the
store's columns, so a catalogue query reads exactly as it does in DuckDB. ``$term`` becomes Spark's named
parameter ``:term``. Spark runs the GROUP BYs; what follows (network measures on the edge list, fill,
rounding) stays in :func:`workbench.indicators.compute_indicators`, on the small per-student result.

>>> to_spark_sql("SELECT student_key, arg_max(value, ts) AS v FROM surveys WHERE term_id = $term GROUP BY ALL")
'SELECT student_key, MAX_BY(value, ts) AS v FROM surveys WHERE term_id = :term GROUP BY ALL'
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import duckdb
import pandas as pd

from workbench.indicators.engines import EngineUnsupported
from workbench.store.parquet import export_parquet, store_columns

# settings that make Spark read and compute as the store does: partition values are text (a term "2026"
# stays a string), timestamps are the wall-clock times written by DuckDB (no time-zone shift)
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


def to_spark_sql(sql: str) -> str:
    """Translate one catalogue query from DuckDB's dialect to Spark SQL (``$name`` → ``:name``).

    Raises :class:`EngineUnsupported` when sqlglot cannot read or write it.
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
        # DuckDB averages a decimal literal's CASE (avg(CASE … THEN 1.0 …)) as DOUBLE; Spark would keep
        # DECIMAL(6,5) and round to 5 digits: the literal is a double in Spark too
        tree = tree.transform(lambda n: exp.cast(n.copy(), "DOUBLE") if isinstance(n, exp.Literal) and n.is_number
                              and not n.is_int and "e" not in n.this.lower() else n)
        return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise EngineUnsupported(f"sqlglot cannot translate it to Spark SQL: {exc}") from None


def spark_session(master: str | None = None, *, app: str = "profile-workbench", conf: dict[str, str] | None = None):
    """A Spark session on ``master`` (default ``local[*]``; ``spark://host:7077``, ``yarn`` or ``k8s://…``
    for a cluster) with :data:`SPARK_CONF`."""
    from pyspark.sql import SparkSession
    master = master or "local[*]"
    builder = SparkSession.builder.master(master).appName(app)
    # one machine: a few shuffle partitions (Spark's 200 cost seconds per GROUP BY on a school's rows)
    local = {"spark.sql.shuffle.partitions": "4"} if master.startswith("local") else {}
    for k, v in {**SPARK_CONF, **local, **(conf or {})}.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkEngine:
    """Runs catalogue queries on Spark over a Parquet export of the store.

    Parameters
    ----------
    spark : a ``pyspark.sql.SparkSession``.
    parquet_dir : folder written by :func:`workbench.store.parquet.export_parquet` (one sub-folder per table).

    Examples
    --------
    >>> SparkEngine.name
    'spark'
    """

    name = "spark"

    def __init__(self, spark, parquet_dir: str | Path) -> None:
        self.spark = spark
        self.parquet_dir = Path(parquet_dir)
        for folder in sorted(p for p in self.parquet_dir.iterdir() if p.is_dir()):
            cols = ", ".join(f"`{c}`" for c in store_columns(folder.name))
            spark.read.parquet(str(folder)).selectExpr(*cols.split(", ")).createOrReplaceTempView(folder.name)

    @classmethod
    def from_store(cls, con: duckdb.DuckDBPyConnection, *, parquet_dir: str | Path | None = None,
                   master: str | None = None, spark=None) -> SparkEngine:
        """Export the store behind ``con`` to ``parquet_dir`` (default: a new temporary folder) and open
        Spark on ``master`` over it."""
        folder = Path(parquet_dir) if parquet_dir else Path(tempfile.mkdtemp(prefix="workbench-parquet-"))
        export_parquet(con, folder)
        return cls(spark or spark_session(master), folder)

    def query(self, sql: str, params: dict[str, str]) -> pd.DataFrame:
        """Rows of ``sql`` (DuckDB dialect) run on Spark with ``params`` bound."""
        from pyspark.errors import PySparkException
        from py4j.protocol import Py4JJavaError
        text = to_spark_sql(sql)
        try:
            df = self.spark.sql(text, args=dict(params))
        except (PySparkException, Py4JJavaError) as exc:
            raise EngineUnsupported(f"Spark cannot run it: {_first_line(exc)}") from None
        with warnings.catch_warnings():   # pyspark 3.5 passes copy= to pandas 3's astype
            warnings.simplefilter("ignore")
            out = df.toPandas()
        # decimals (100.0 * score …) come back as Python Decimal objects; DuckDB's frame has floats
        for c in out.columns:
            if out[c].dtype == object and len(out[c].dropna()) and type(out[c].dropna().iloc[0]).__name__ == "Decimal":
                out[c] = out[c].astype(float)
        return out

    def stop(self) -> None:
        """Stop the Spark session."""
        self.spark.stop()


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
