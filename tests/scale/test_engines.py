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
        queries = [family.sql(), family.sql(("S4", "S8"))] + [
            _family_query(cat, fam, members, w, part) for w in (False, True) for part in (None, (None, "S8")) if members]
        for sql in queries:
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


def test_alert_rules_over_a_weekly_indicator_give_the_same_alerts_on_spark(small_store, spark_engine):
    """`alerts run --engine spark`: a rule over a catalogue indicator (weekly platform actions) fires for the same
    students on the same days whichever engine computed the series."""
    from workbench.alerts import load_signal, run_alerts
    from workbench.alerts.spec import rule_set_from_dict
    with open_store(small_store, read_only=True) as s:
        series = load_signal(s.con, TERM, "beh_actions")
        low = float(series["value"].quantile(0.3))
        rs = rule_set_from_dict({"version": 1, "id": "t", "rules": [{
            "id": "few_actions", "kind": "streak", "signal": "beh_actions", "op": "<=", "value": low, "periods": 2,
            "level": "watch", "route": ["head_teacher"]}]})
        duck = run_alerts(s.con, TERM, rs, write=False)
        spark = run_alerts(s.con, TERM, rs, write=False, engine=spark_engine)
        spark_series = load_signal(s.con, TERM, "beh_actions", engine=spark_engine)
    pd.testing.assert_frame_equal(series.reset_index(drop=True), spark_series.reset_index(drop=True), rtol=1e-9)
    cols = ["student_key", "rule_id", "fired_on", "level"]
    a = duck.alerts[cols].sort_values(cols).reset_index(drop=True)
    assert len(a) > 5
    pd.testing.assert_frame_equal(a, spark.alerts[cols].sort_values(cols).reset_index(drop=True))


def test_engine_options_on_alerts_and_the_term_run(small_store, tmp_path):
    runner = CliRunner()
    for args in (["alerts", "run", "--term", TERM], ["run-term", "--term", TERM, "--out", str(tmp_path / "o")]):
        bad = runner.invoke(main, [*args, "--store", str(small_store), "--spark-master", "local[2]"])
        assert bad.exit_code == 2 and "--engine spark" in bad.output, args
