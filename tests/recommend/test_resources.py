"""Resource catalogue and per-student recommendations on the demo school (mastery from prepare_term)."""
from __future__ import annotations

import csv

import pandas as pd
import pytest

from workbench.knowledge import load_graph, root_gaps
from workbench.knowledge.mastery import MASTERED
from workbench.recommend.resources import (LEVELS, READY_UNDERSTAND, CatalogueError, catalogue_path, class_recommendations,
                                           load_catalogue, ready_level, recommend_resources, wrong_question_set)

TERM = "2026-2027-1"
HEADER = ["resource_id", "title_zh", "title_en", "kind", "level", "knowledge_points", "minutes", "url"]


@pytest.fixture(scope="module")
def kg():
    return load_graph("math_junior")


@pytest.fixture(scope="module")
def cat(kg):
    return load_catalogue("math_junior", kg)


@pytest.fixture(scope="module")
def mastery(demo_con):
    m = demo_con.execute("SELECT student_key, kp_id, p_mastery FROM mastery WHERE term_id = $t AND p_mastery IS NOT NULL",
                         {"t": TERM}).df()
    return {k: dict(zip(g["kp_id"], g["p_mastery"])) for k, g in m.groupby("student_key")}


def _write(path, rows, encoding="utf-8-sig"):
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def test_shipped_catalogue_covers_every_point_of_the_graph(kg, cat):
    assert cat.rows_read == len(cat.resources) > len(kg.points) and not cat.rejected
    cov = cat.coverage(kg)
    assert len(cov) == len(kg.points) and cat.missing_points(kg) == []
    assert (cov["understand"] > 0).all() and (cov["apply"] > 0).all()
    assert set(cat.resources["level"]) == set(LEVELS) and set(cat.resources["kind"]) == {"video", "reading", "exercise"}


def test_bad_rows_are_rejected_with_file_row_column_and_reason(kg, tmp_path):
    path = _write(tmp_path / "school.csv", [
        ["R1", "微课：数轴", "", "video", "学习理解", "M7-NUM-02", "8", ""],          # row 2 fine (zh level)
        ["R2", "练习", "", "exercise", "apply", "M7-NUM-99", "10", ""],             # row 3 unknown point
        ["R1", "重复", "", "video", "apply", "M7-NUM-02", "5", ""],                  # row 4 duplicate id
        ["R4", "", "", "podcast", "hard", "M7-NUM-02", "-3", ""],                   # row 5 four problems
        ["R5", "复习", "", "exercise", "apply", "M7-NUM-01；M7-NUM-02", "", ""],     # row 6 fine (full-width ;)
    ], encoding="gb18030")
    cat = load_catalogue(path, kg)
    assert cat.rows_read == 5 == len(cat.resources) + cat.rejected_rows
    assert list(cat.resources["resource_id"]) == ["R1", "R5"]
    assert cat.resources.set_index("resource_id").at["R5", "knowledge_points"] == ("M7-NUM-01", "M7-NUM-02")
    by_row = {}
    for i in cat.rejected:
        by_row.setdefault(i.row, set()).add(i.column)
    assert by_row == {3: {"knowledge_points"}, 4: {"resource_id"}, 5: {"title_zh", "kind", "level", "minutes"}}
    unknown = next(i for i in cat.rejected if i.row == 3).text(cat.source)
    assert str(path) in unknown and "row 3" in unknown and "M7-NUM-99" in unknown and "did you mean M7-NUM-" in unknown
    with pytest.raises(CatalogueError) as err:
        load_catalogue(path, kg, strict=True)
    assert "row 4: column resource_id: duplicate of row 2" in str(err.value) and "第5行" in str(err.value)


def test_missing_column_and_missing_file_are_named(kg, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("resource_id,title_zh,kind\nR1,a,video\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"x\.csv: row 1: column level: required column is missing"):
        load_catalogue(path, kg)
    with pytest.raises(CatalogueError, match="no such catalogue"):
        load_catalogue(tmp_path / "none.csv", kg)


def test_excel_catalogue_reads_like_the_csv(kg, cat, tmp_path):
    df = pd.read_csv(catalogue_path("math_junior"), dtype=str, keep_default_na=False, encoding="utf-8-sig").head(30)
    df.to_excel(tmp_path / "cat.xlsx", index=False)
    x = load_catalogue(tmp_path / "cat.xlsx", kg)
    assert x.rows_read == 30 and not x.rejected
    assert list(x.resources["resource_id"]) == list(cat.resources["resource_id"].head(30))


def test_a_point_without_resources_is_reported(kg, cat, tmp_path):
    """A gap whose point the school's catalogue lacks is named in the coverage report and in the student's
    recommendations, not silently skipped."""
    src = pd.read_csv(catalogue_path("math_junior"), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    keep = src[~src["knowledge_points"].str.contains("M7-NUM-03")]
    keep.to_csv(tmp_path / "partial.csv", index=False, encoding="utf-8-sig")
    part = load_catalogue(tmp_path / "partial.csv", kg)
    assert part.missing_points(kg) == ["M7-NUM-03"]
    m = {"M7-NUM-01": 0.9, "M7-NUM-02": 0.85, "M7-NUM-03": 0.2, "M7-NUM-04": 0.3}
    rec = recommend_resources(kg, part, m)
    assert rec["missing"] == ["M7-NUM-03"]
    [item] = [i for i in rec["items"] if i["kp"] == "M7-NUM-03"]
    assert item["resource_id"] is None and "相反数与绝对值" in item["reason"] and "缺少资源" in rec["message"]
    assert recommend_resources(kg, cat, m)["missing"] == []


def test_recommendations_cover_each_students_top3_root_gaps_at_the_ready_level(kg, cat, mastery):
    """Every demo student: each of the top-3 root gaps has a resource, at the level the mastery says, with a
    reason that names the point."""
    assert len(mastery) > 400
    with_gaps = 0
    for key, m in mastery.items():
        rec = recommend_resources(kg, cat, m)
        top = [g["kp"] for g in root_gaps(kg, m)[:3]]
        assert [g["kp"] for g in rec["gaps"]] == top
        with_gaps += bool(top)
        for kp, g in zip(top, rec["gaps"]):
            got = [i for i in rec["items"] if i["kp"] == kp]
            assert got and all(i["resource_id"] for i in got), (key, kp)
            want = "understand" if g["p_mastery"] < READY_UNDERSTAND else "apply"
            assert all(i["level"] == want and kg.name(kp) in i["reason"] for i in got)
            assert all(kp in cat.resources.set_index("resource_id").at[i["resource_id"], "knowledge_points"] for i in got)
        if not top:
            assert all(i["level"] == "transfer" and m[i["kp"]] >= MASTERED for i in rec["items"])
    assert with_gaps > 0.5 * len(mastery)


def test_planted_prerequisite_gaps_get_their_resources(kg, cat, mastery, demo_school, demo_con):
    """Ground truth: the students with a planted prerequisite gap are recommended a resource for that point."""
    ids = dict(demo_con.execute("SELECT source_id, student_key FROM identity_vault_ids WHERE system = 'school_no'").fetchall())
    planted = pd.read_csv(demo_school["dir"] / "ground_truth" / "prerequisite_gaps.csv", dtype=str)
    hits = []
    for r in planted.itertuples():
        key = ids.get(r.school_no)
        if key in mastery:
            rec = recommend_resources(kg, cat, mastery[key])
            hits.append(any(i["kp"] == r.kp_id and i["resource_id"] for i in rec["items"]))
    share = sum(hits) / len(hits)
    print(f"planted gaps with a resource for the planted point: {sum(hits)}/{len(hits)} = {share:.2f}")
    assert len(hits) > 60 and share >= 0.8


def test_ready_level_and_stretch_tasks(kg, cat):
    assert [ready_level(p) for p in (0.1, 0.35, 0.79, 0.9)] == ["understand", "apply", "apply", "transfer"]
    done = {k: 0.95 for k in list(kg.points)[:6]}
    rec = recommend_resources(kg, cat, done, lang="en")
    assert rec["gaps"] == [] and rec["items"] and {i["level"] for i in rec["items"]} == {"transfer"}
    assert "extension" in rec["message"] and "mastered" in rec["items"][0]["reason"]
    assert recommend_resources(kg, cat, {})["items"] == []


def test_class_recommendations_name_one_resource_per_gap(kg, cat, demo_con, mastery):
    keys = [k for (k,) in demo_con.execute("SELECT student_key FROM enrolments WHERE class_id = 'G8C1'").fetchall()]
    df = class_recommendations(demo_con, TERM, keys, kg, cat)
    assert set(df["student_key"]) <= set(keys)
    per = df.groupby("student_key")["kp"].nunique()
    for k, n in per.items():
        assert n == len(root_gaps(kg, mastery.get(k, {}))[:3]) or n <= 3
    assert df.groupby(["student_key", "kp"]).size().max() == 1


def test_wrong_question_set_matches_the_responses(demo_con, kg, mastery):
    key = sorted(mastery)[7]
    wq = wrong_question_set(demo_con, TERM, key, kg)
    raw = demo_con.execute("SELECT item_id, ts, correct FROM responses WHERE student_key = $k ORDER BY ts", {"k": key}).df()
    wrong = raw[~raw["correct"]].groupby("item_id").size()
    assert set(wq["item_id"]) == set(wrong.index) and len(wq) > 5
    assert (wq.set_index("item_id")["wrong"] == wrong.reindex(wq["item_id"]).to_numpy()).all()
    last = raw.groupby("item_id")["correct"].last()
    assert (wq["status"] == wq["item_id"].map(lambda i: "corrected" if last[i] else "open")).all()
    assert list(wq["status"]) == sorted(wq["status"], key=lambda s: s != "open")   # open ones first
    assert wq["kp_names"].str.len().gt(0).all()
    assert len(wrong_question_set(demo_con, TERM, key, limit=5)) == 5
