"""A district without a local store: indicators computed from a Parquet export (DuckDB over the files, or
Spark) equal the store's, and go back to Parquet partitioned by term and school."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from tests.scale.conftest import TERM
from workbench.cli import main
from workbench.indicators import compute_indicators
from workbench.indicators.engines import DuckDBEngine
from workbench.store import open_store
from workbench.store.parquet import export_parquet, open_export


@pytest.fixture(scope="module")
def store_frame(small_store):
    with open_store(small_store, read_only=True) as store:
        return compute_indicators(store.con, TERM)


def _same(a, b) -> dict[str, int]:
    assert a.values.index.equals(b.values.index) and list(a.values.columns) == list(b.values.columns)
    close = {c: np.isclose(a.values[c].to_numpy(float), b.values[c].to_numpy(float), rtol=1e-9, atol=1e-12,
                           equal_nan=True) for c in a.values.columns}
    return {c: int((~ok).sum()) for c, ok in close.items() if not ok.all()}


def test_duckdb_over_the_export_equals_the_store(small_store, store_frame, tmp_path):
    with open_store(small_store, read_only=True) as store:
        export_parquet(store.con, tmp_path / "pq")
    con = open_export(tmp_path / "pq")
    frame = compute_indicators(con, TERM, engine=DuckDBEngine(con))
    assert _same(store_frame, frame) == {} and len(frame.values) > 100
    assert frame.missing == store_frame.missing and frame.scope.equals(store_frame.scope)
    with pytest.raises(FileNotFoundError, match="no Parquet export"):
        open_export(tmp_path / "nowhere")


def test_spark_over_the_export_without_a_store(spark_engine, store_frame):
    """The session's Spark engine reads its own export folder; the population comes from the same files."""
    con = open_export(spark_engine.parquet_dir)
    frame = compute_indicators(con, TERM, engine=spark_engine)
    assert _same(store_frame, frame) == {} and frame.unsupported == {}


def test_district_indicators_command_writes_values_by_term_and_school(small_store, store_frame, tmp_path):
    with open_store(small_store, read_only=True) as store:
        export_parquet(store.con, tmp_path / "pq")
        expected = sum(int(store_frame.values[c].notna().sum()) for c in store_frame.values.columns)
        schools = {s for (s,) in store.con.execute("SELECT DISTINCT school_id FROM classes").fetchall()}
    res = CliRunner().invoke(main, ["district-indicators", "--from", str(tmp_path / "pq"), "--term", TERM,
                                    "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    folder = tmp_path / "out" / "indicator_values" / f"term_id={TERM}"
    assert {p.name for p in folder.iterdir()} == {f"school_id={s}" for s in schools}
    import duckdb
    n, students = duckdb.connect().execute(
        f"SELECT count(*), count(DISTINCT student_key) FROM read_parquet('{tmp_path / 'out'}/**/*.parquet')").fetchone()
    assert n == expected and students == len(store_frame.values) and f"{n:,} values" in res.output
    again = CliRunner().invoke(main, ["district-indicators", "--from", str(tmp_path / "pq"), "--term", TERM,
                                      "--out", str(tmp_path / "out")])
    assert again.exit_code == 0                                   # the term's folder is replaced, not appended to
    assert duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{tmp_path / 'out'}/**/*.parquet')").fetchone()[0] == n
    none = CliRunner().invoke(main, ["district-indicators", "--from", str(tmp_path / "pq"), "--term", "1999-2000-1",
                                     "--out", str(tmp_path / "out")])
    assert none.exit_code != 0 and "1999-2000-1" in none.output
