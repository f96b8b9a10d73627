"""A small generated school in a store, and one local Spark engine over it, shared by the scale tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import KEY
from workbench.demo import generate_demo_school
from workbench.ingest import ingest_paths
from workbench.store import open_store

SMALL = dict(students=120, weeks=6, events_per_week=20)
TERM = "2026-2027-1"


@pytest.fixture(scope="session")
def small_store(tmp_path_factory) -> Path:
    """The store of a 120-student, 6-week demo school, ingested as ``workbench demo`` does it."""
    d = tmp_path_factory.mktemp("scale_school")
    generate_demo_school(d / "exports", d / "ground_truth", seed=7, **SMALL)
    with open_store(d / "s.duckdb") as store:
        reports = ingest_paths(store, sorted(p for p in (d / "exports").iterdir() if p.is_file()), KEY,
                               rejects_dir=d / "rejects")
    assert all(r.status != "failed" for r in reports), [r.file for r in reports]
    return d / "s.duckdb"


@pytest.fixture(scope="session")
def spark_engine(small_store, tmp_path_factory):
    """Spark in local mode (two threads) over the small school's Parquet export."""
    from workbench.indicators.spark import SparkEngine
    with open_store(small_store, read_only=True) as store:
        engine = SparkEngine.from_store(store.con, parquet_dir=tmp_path_factory.mktemp("parquet"), master="local[2]")
    yield engine
    engine.stop()
