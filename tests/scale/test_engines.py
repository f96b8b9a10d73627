"""The engine seam without Spark: the translation of every family, the per-indicator fallback, the Parquet
export, and the CLI options (the Spark run of ``workbench profile`` reuses the session's local Spark)."""
from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from tests.scale.conftest import TERM
from workbench.cli import main
from workbench.indicators import compute_indicators, load_catalogue
from workbench.indicators.compute import _family_query
from workbench.indicators.engines import DuckDBEngine, EngineUnsupported, open_engine
from workbench.indicators.spark import to_spark_sql
from workbench.store import open_store
from workbench.store.parquet import export_parquet, partition_columns


def test_every_family_translates_to_spark_sql():
    cat = load_catalogue()
    for fam, family in cat.families.items():
        members = [i for i in cat.indicators.values() if i.family == fam and i.kind == "sql"]
        for sql in [family.base] + ([_family_query(cat, fam, members, w) for w in (False, True)] if members else []):
            text = to_spark_sql(sql)
            assert "$term" not in text and ":term" in text, fam
    assert "AS DOUBLE" in to_spark_sql("SELECT avg(CASE WHEN x THEN 1.0 ELSE 0.0 END) FROM t")


class NoMedian(DuckDBEngine):
    """DuckDB that refuses ``median`` as an engine without it would."""
    name = "nomedian"

    def query(self, sql, params):
        if "median(" in sql.lower():
            raise EngineUnsupported("no median here")
        return super().query(sql, params)


def test_an_indicator_the_engine_cannot_run_is_reported_by_id(small_store):
    cat = load_catalogue()
    medians = {i.id for i in cat.indicators.values() if i.expr and "median(" in i.expr.lower()}
    assert medians
    with open_store(small_store, read_only=True) as store:
        ref = compute_indicators(store.con, TERM)
        got = compute_indicators(store.con, TERM, engine=NoMedian(store.con))
    assert set(got.unsupported) == medians and all(v == "no median here" for v in got.unsupported.values())
    assert all("not supported on nomedian" in got.missing[i] for i in medians)
    others = [c for c in ref.values.columns if c not in medians]
    pd.testing.assert_frame_equal(got.values[others], ref.values[others])   # the rest of each family still runs


def test_parquet_export_is_partitioned_by_term_and_school(small_store, tmp_path):
    with open_store(small_store, read_only=True) as store:
        paths = export_parquet(store.con, tmp_path / "pq")
        counts = {t: store.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in paths}
    assert {"events", "scores", "enrolments", "terms", "responses"} <= set(paths)
    assert (paths["events"] / f"term_id={TERM}" / "school_id=DEMO01").is_dir()
    assert (paths["scores"] / f"term_id={TERM}" / "school_id=DEMO01").is_dir()   # the assessment's term
    assert partition_columns("responses") == ("school_id",) and partition_columns("terms") == ()
    con = duckdb.connect()
    for table, folder in paths.items():
        n = con.execute(f"SELECT count(*) FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = true)").fetchone()[0]
        assert n == counts[table], table
    with pytest.raises(ValueError):
        export_parquet(duckdb.connect(), tmp_path / "x", ["identity_vault"])


def test_engine_options_on_profile(small_store, tmp_path, spark_engine):
    with pytest.raises(ValueError):
        open_engine("flink", duckdb.connect())
    store = tmp_path / "s.duckdb"
    shutil.copy(small_store, store)
    runner = CliRunner()
    bad = runner.invoke(main, ["profile", "--term", TERM, "--spec", "academic_emotion", "--store", str(store),
                               "--spark-master", "local[2]"])
    assert bad.exit_code == 2 and "--engine spark" in bad.output
    res = runner.invoke(main, ["profile", "--term", TERM, "--spec", "academic_emotion", "--store", str(store),
                               "--engine", "spark", "--spark-master", "local[2]", "--parquet-dir", str(tmp_path / "pq"),
                               "--json", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "pq" / "events").is_dir()
    with open_store(store, read_only=True) as s:
        spark_rows = s.con.execute("SELECT student_key, dimension, score FROM profiles ORDER BY 1, 2").df()
    res = runner.invoke(main, ["profile", "--term", TERM, "--spec", "academic_emotion", "--store", str(store),
                               "--json", "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    with open_store(store, read_only=True) as s:
        duck_rows = s.con.execute("SELECT student_key, dimension, score FROM profiles ORDER BY 1, 2").df()
    assert len(duck_rows) > 100
    pd.testing.assert_frame_equal(spark_rows, duck_rows, rtol=1e-9)


def test_parquet_command(small_store, tmp_path):
    res = CliRunner().invoke(main, ["parquet", "--store", str(small_store), "--out", str(tmp_path / "pq"),
                                    "--table", "events", "--table", "terms"])
    assert res.exit_code == 0, res.output
    assert "partitioned by term_id, school_id" in res.output and sorted(p.name for p in (tmp_path / "pq").iterdir()) == ["events", "terms"]
