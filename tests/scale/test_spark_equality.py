"""One definition, two engines: every indicator computed on Spark (local mode) equals DuckDB's."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.scale.conftest import TERM
from workbench.indicators import compute_indicators, load_catalogue
from workbench.store import open_store

# indicators the Spark engine cannot run, with the reason it gives: none today. A change to the catalogue
# (a DuckDB-only function) or to sqlglot that adds one fails here, so it is a decision, not an accident.
NOT_ON_SPARK: dict[str, str] = {}


@pytest.fixture(scope="module")
def both(small_store, spark_engine):
    with open_store(small_store, read_only=True) as store:
        duck = compute_indicators(store.con, TERM, weekly=True)
        spark = compute_indicators(store.con, TERM, weekly=True, engine=spark_engine)
    return duck, spark


def _close(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> np.ndarray:
    return np.isclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-9, atol=1e-12, equal_nan=True)


def test_every_indicator_is_computed_or_reported(both):
    duck, spark = both
    assert spark.unsupported == NOT_ON_SPARK
    assert list(spark.values.columns) == list(load_catalogue().indicators)
    assert set(duck.available) - set(NOT_ON_SPARK) <= set(spark.available)
    for i, why in spark.unsupported.items():
        assert "spark" in spark.missing[i] and why in spark.missing[i]


def test_spark_values_equal_duckdb(both):
    duck, spark = both
    assert spark.values.index.equals(duck.values.index) and len(duck.values) > 100
    assert spark.scope.equals(duck.scope)
    differ = {c: int((~_close(duck.values[c], spark.values[c])).sum())
              for c in duck.values.columns if c not in NOT_ON_SPARK}
    assert not {c: n for c, n in differ.items() if n}, "indicators that differ (number of students)"
    assert sum(duck.values[c].notna().sum() for c in duck.available) > 50 * len(duck.available)


def test_spark_weekly_series_equal_duckdb(both):
    duck, spark = both
    keys = ["indicator_id", "student_key", "week"]
    d = duck.weekly.set_index(keys)["value"]
    s = spark.weekly.set_index(keys)["value"]
    assert len(d) > 1000 and d.index.sort_values().equals(s.index.sort_values())
    assert _close(d, s.reindex(d.index)).all()
