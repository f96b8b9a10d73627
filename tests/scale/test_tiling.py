"""The 1M-student benchmark store is tiles of a generated school: each copy behaves as its own school."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.scale import tile_id, tile_store
from tests.scale.conftest import TERM
from workbench.indicators import compute_indicators
from workbench.indicators.catalogue import slice_bounds
from workbench.store import open_store

COPIES = 3
# defined against the whole population, so a district of copies rescales them: the grade percentile (ties
# with the other copies), degree centrality (divided by the number of students - 1) and PageRank (sums to 1
# over everyone; its power iteration stops on the whole graph's error, so values move in the third digit). A copy
# must still order its students as the source does.
POPULATION_RELATIVE = {"acad_grade_percentile", "soc_degree_centrality", "soc_pagerank"}


@pytest.fixture(scope="module")
def tiled(small_store, tmp_path_factory):
    dst = tile_store(small_store, tmp_path_factory.mktemp("tiled") / "tiled.duckdb", COPIES)
    with open_store(small_store, read_only=True) as s, open_store(dst, read_only=True) as t:
        return (compute_indicators(s.con, TERM), compute_indicators(t.con, TERM),
                {name: (s.count(name), t.count(name)) for name in ("events", "responses", "surveys", "scores",
                                                                  "enrolments", "classes", "terms", "items")},
                [n for n in t.tables() if n.startswith("identity_vault")])


def test_tiles_copy_every_fact_and_share_the_district_catalogue(tiled):
    _, _, counts, vault = tiled
    for name in ("events", "responses", "surveys", "scores", "enrolments", "classes"):
        assert counts[name][1] == COPIES * counts[name][0] > 0, name
    for name in ("terms", "items"):  # the district's, not the school's
        assert counts[name][1] == counts[name][0] > 0, name
    assert vault == []  # a benchmark store carries no identifiers


def test_every_copy_of_a_student_has_the_source_students_indicators(tiled):
    src, til, _, _ = tiled
    assert len(til.values) == COPIES * len(src.values) > 100
    # a copy's keys are as short as the source's (12 characters: DuckDB keeps them inline), and all distinct
    assert til.values.index.str.len().max() == src.values.index.str.len().max() == 12
    assert til.values.index.is_unique
    # and every copy's keys spread over the whole key space, as a district's schools' are: a slice of students by key
    # range (workbench.indicators.compute) holds students of every copy, not one copy's rows
    halves = slice_bounds(til.values.index, 2)
    for k in range(COPIES):
        keys = [tile_id("student_key", s, k) for s in src.values.index]
        for lo, hi in halves:
            assert sum((lo is None or x >= lo) and (hi is None or x < hi) for x in keys) > len(keys) / 3, (k, lo, hi)
    for k in range(COPIES):
        copy = til.values.loc[[tile_id("student_key", s, k) for s in src.values.index]]
        copy.index = src.values.index
        differ = {c: int((~np.isclose(src.values[c].astype(float), copy[c].astype(float), rtol=1e-6, atol=1e-9,
                                      equal_nan=True)).sum()) for c in src.values.columns}
        assert {c for c, n in differ.items() if n} <= POPULATION_RELATIVE, f"copy {k}: {differ}"
        for c in POPULATION_RELATIVE:
            assert src.values[c].notna().sum() > 100
            assert src.values[c].corr(copy[c], method="spearman") > 0.999, c
