"""Mastery written to the store per term, and the diagnosis functions on the shipped mathematics graph."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from workbench.knowledge import load_graph
from workbench.knowledge.diagnosis import (chapter_radar, class_teaching_map, learning_path, root_cause_text,
                                           root_causes, root_gap_text, root_gaps, weak_points)
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
        raw = store.con.execute("SELECT r.student_key, unnest(i.knowledge_points) AS kp, r.correct, "
                                "len(i.knowledge_points) AS n_kp FROM responses r JOIN items i USING (item_id)").df()
        school_no = dict(store.con.execute("SELECT student_key, source_id FROM identity_vault_ids "
                                           "WHERE system = 'school_no'").fetchall())
    return m, (n, again, stored), raw, school_no


def test_mastery_per_student_and_point_with_insufficient_evidence(demo_mastery):
    m, (n, again, stored), raw, _ = demo_mastery
    assert n == again == stored[0] == len(m)                 # replaced, not doubled
    got = m.set_index(["student_key", "kp_id"])["attempts"]
    single_or_right = raw[(raw["n_kp"] == 1) | raw["correct"]].groupby(["student_key", "kp"]).size()
    every = raw.groupby(["student_key", "kp"]).size()
    # a right answer to a two-point question is evidence for both points, a wrong one for one of them
    assert (got >= single_or_right.reindex(got.index).fillna(0)).all() and (got <= every.reindex(got.index)).all()
    wrong_multi = raw[(raw["n_kp"] > 1) & ~raw["correct"]]
    assert wrong_multi["n_kp"].eq(2).all()
    assert got.sum() == len(raw) - len(wrong_multi) // 2
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
    m = demo_mastery[0]
    keys = m["student_key"].unique()[:40]
    grid, summary = class_teaching_map(kg, m, list(keys))
    assert grid.shape[1] == 40 and set(grid.index) <= set(kg.points)
    top = summary.iloc[0]
    assert top["share_lacking"] == summary["share_lacking"].max()
    k = summary.index[0]
    assert top["lacking"] == int((grid.loc[k] < 0.5).sum()) and top["name"] == kg.name(k)
    assert isinstance(summary, pd.DataFrame) and summary["students_with_evidence"].max() <= 40


def test_root_gaps_are_where_the_weak_points_start(kg):
    m = {"M7-NUM-01": 0.95, "M7-NUM-02": 0.2, "M7-NUM-03": 0.3, "M7-NUM-04": 0.1, "M7-NUM-05": 0.2,
         "M7-GEO-01": 0.3, "M7-GEO-02": 0.9}
    gaps = root_gaps(kg, m)
    assert [g["kp"] for g in gaps] == ["M7-NUM-02", "M7-GEO-01"]           # most explained first
    assert gaps[0]["explains"] == ["M7-NUM-04", "M7-NUM-02", "M7-NUM-05", "M7-NUM-03"]
    assert gaps[1]["explains"] == ["M7-GEO-01"]                             # weak itself, nothing beneath it
    text = root_gap_text(kg, gaps[0])
    assert text.startswith("数轴未掌握") and "建议从这里补起" in text and "有理数的乘除法" in text
    assert "start here" in root_gap_text(kg, gaps[0], "en")
    assert root_gaps(kg, dict.fromkeys(kg.points, 0.9)) == []


def test_planted_prerequisite_gaps_are_named_as_root_causes(kg, demo_mastery, demo_school):
    """The demo plants one prerequisite gap in about one student in five (ground_truth/
    prerequisite_gaps.csv). From the estimated mastery alone, the diagnosis must name it: among the
    student's root gaps, and as the root cause of the weak points built on it."""
    m, _, _, school_no = demo_mastery
    gaps = pd.read_csv(demo_school["dir"] / "ground_truth" / "prerequisite_gaps.csv", dtype={"school_no": str})
    assert 60 <= len(gaps) <= 140 and gaps["mastery_end"].max() < 0.5
    by = {school_no[s]: dict(zip(g["kp_id"], g["p_mastery"])) for s, g in m.groupby("student_key")}
    found = with_dependants = named = 0
    for r in gaps.itertuples():
        ms = by[r.school_no]
        found += r.kp_id in [g["kp"] for g in root_gaps(kg, ms)]
        dependants = [w for w in weak_points(kg, ms) if r.kp_id in kg.ancestors(w)]
        if dependants:
            with_dependants += 1
            named += any(r.kp_id in [c["kp"] for c in root_causes(kg, ms, w)] for w in dependants)
    assert found / len(gaps) >= 0.8
    assert with_dependants >= 0.6 * len(gaps) and named / with_dependants >= 0.8


def test_cli_mastery_writes_and_summarises_without_small_groups(demo_school, tmp_path, run_cli, kg):
    path = tmp_path / "store.duckdb"
    shutil.copy(demo_school["store"], path)
    js = run_cli("mastery", "--term", TERM, "--store", path, "--json")
    assert js.returncode == 0, js.stderr
    rep = json.loads(js.stdout)
    with open_store(path) as store:
        stored = store.con.execute("SELECT count(*), count(DISTINCT student_key) FROM mastery WHERE term_id = ?",
                                   [TERM]).fetchall()[0]
    assert rep["rows_written"] == stored[0] == sum(rep["status"].values()) and rep["students"] == stored[1]
    assert [g["grade"] for g in rep["grades"]] == [7, 8, 9] and all(g["students"] >= 10 for g in rep["grades"])
    assert rep["root_gaps"] and all(r["students"] >= 10 for r in rep["root_gaps"])
    shares = [k["share_lacking"] for k in rep["grades"][0]["most_lacking"]]
    assert shares == sorted(shares, reverse=True)
    text = run_cli("mastery", "--term", TERM, "--store", path)
    assert text.returncode == 0 and "最多学生未掌握" in text.stdout and kg.name(rep["root_gaps"][0]["kp"]) in text.stdout
    none = run_cli("mastery", "--term", "1999-2000-1", "--store", path)
    assert none.returncode != 0 and "1999-2000-1" in none.stderr
