"""Mastery written to the store per term, and the diagnosis functions on the shipped mathematics graph."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from workbench.knowledge import load_graph
from workbench.knowledge.diagnosis import (chapter_radar, class_teaching_map, learning_path, root_cause_text,
                                           root_causes, weak_points)
from workbench.knowledge.mastery import MIN_ATTEMPTS, compute_mastery, write_mastery
from workbench.store import open_store

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def kg():
    return load_graph("math_junior")


@pytest.fixture(scope="module")
def demo_mastery(demo_school, tmp_path_factory):
    path = tmp_path_factory.mktemp("mastery") / "store.duckdb"
    shutil.copy(demo_school["store"], path)
    with open_store(path) as store:
        m = compute_mastery(store.con, TERM)
        n = write_mastery(store.con, TERM, m)
        again = write_mastery(store.con, TERM, m)
        stored = store.con.execute("SELECT count(*), count(p_mastery) FROM mastery WHERE term_id = ?", [TERM]).fetchall()[0]
        raw = store.con.execute("SELECT r.student_key, unnest(i.knowledge_points) AS kp FROM responses r "
                                "JOIN items i USING (item_id)").df()
    return m, (n, again, stored), raw


def test_mastery_per_student_and_point_with_insufficient_evidence(demo_mastery):
    m, (n, again, stored), raw = demo_mastery
    assert n == again == stored[0] == len(m)                 # replaced, not doubled
    attempts = raw.groupby(["student_key", "kp"]).size()
    got = m.set_index(["student_key", "kp_id"])["attempts"]
    assert (got == attempts.reindex(got.index)).all()       # a two-point question counts for both points
    few = m["attempts"] < MIN_ATTEMPTS
    assert few.any() and m.loc[few, "p_mastery"].isna().all() and (m.loc[few, "status"] == "insufficient_evidence").all()
    assert stored[1] == (~few).sum()
    ok = m[~few]
    assert ok["p_mastery"].between(0, 1).all()
    assert set(ok["status"]) == {"mastered", "developing", "weak"}
    assert set(m["scope"]) == {"grade 7", "grade 8", "grade 9"}  # ~160 students a grade: fitted per grade


def test_root_causes_walk_up_to_the_start_of_the_gap(kg):
    chain = {"M7-NUM-01": 0.95, "M7-NUM-02": 0.2, "M7-NUM-03": 0.3, "M7-NUM-04": 0.1, "M7-NUM-05": 0.2}
    causes = root_causes(kg, chain, "M7-NUM-05")
    assert [c["kp"] for c in causes] == ["M7-NUM-02"]     # 03 and 04 are weak too, but 02 is where it starts
    assert causes[0]["distance"] == 3
    assert "数轴" in root_cause_text(kg, chain, "M7-NUM-05") and "根源可能是" in root_cause_text(kg, chain, "M7-NUM-05")
    assert "the root may be The number line" in root_cause_text(kg, chain, "M7-NUM-05", "en")
    fine = dict.fromkeys(chain, 0.9) | {"M7-NUM-05": 0.2}
    assert root_causes(kg, fine, "M7-NUM-05") == []
    assert "先修知识点均已掌握或证据不足" in root_cause_text(kg, fine, "M7-NUM-05")
    unknown = {"M7-NUM-05": 0.2, "M7-NUM-04": np.nan}
    assert root_causes(kg, unknown, "M7-NUM-05") == []     # no evidence is not called a cause


def test_learning_path_is_ordered_and_skips_what_is_mastered(kg):
    m = {"M7-NUM-01": 0.95, "M7-NUM-02": 0.9, "M7-NUM-03": 0.4}
    path = learning_path(kg, m, "M7-NUM-05")
    assert path == ["M7-NUM-03", "M7-NUM-04", "M7-NUM-05"]
    order = {k: i for i, k in enumerate(kg.topological_order())}
    assert all(order[a] < order[b] for a, b in zip(path, path[1:]))
    assert learning_path(kg, dict.fromkeys(kg.points, 0.99), "M7-NUM-05") == []


def test_weak_points_and_radar(kg):
    m = {"M7-NUM-01": 0.9, "M7-NUM-04": 0.2, "M7-ALG-01": 0.45, "M7-NUM-03": float("nan")}
    assert weak_points(kg, m) == ["M7-NUM-04", "M7-ALG-01"]   # weakest first; no evidence is not weak
    radar = chapter_radar(kg, m)
    assert radar["有理数"] == pytest.approx((0.9 + 0.2) / 2)
    assert radar.index[0] == "有理数"


def test_class_teaching_map_on_the_demo(kg, demo_mastery):
    m, _, _ = demo_mastery
    keys = m["student_key"].unique()[:40]
    grid, summary = class_teaching_map(kg, m, list(keys))
    assert grid.shape[1] == 40 and set(grid.index) <= set(kg.points)
    top = summary.iloc[0]
    assert top["share_lacking"] == summary["share_lacking"].max()
    k = summary.index[0]
    assert top["lacking"] == int((grid.loc[k] < 0.5).sum()) and top["name"] == kg.name(k)
    assert isinstance(summary, pd.DataFrame) and summary["students_with_evidence"].max() <= 40
