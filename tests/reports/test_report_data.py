"""Report data builders against the store: class overview, teaching map, alerts, cards, the student report and
growth. Every number is checked against a direct query; small groups must be suppressed, never shown."""
from __future__ import annotations

import re

import duckdb
import numpy as np
import pytest

from workbench.knowledge import load_graph
from workbench.model import load_spec
from workbench.reports import (SUPPRESSED, class_alerts, class_cards, class_growth, class_overview, class_teaching_map,
                               display_code, student_report)
from workbench.reports.common import MIN_CELL

TERM = "2026-2027-1"
CLASS = "G7C1"
CODE = re.compile(r"^S-[0-9a-f]{6}$")


@pytest.fixture(scope="module")
def spec():
    return load_spec("whole_person")


@pytest.fixture(scope="module")
def kg():
    return load_graph("math_junior")


def _class_keys(con, class_id: str, term: str = TERM) -> list[str]:
    return [k for (k,) in con.execute("SELECT DISTINCT student_key FROM enrolments WHERE term_id = ? AND class_id = ? "
                                      "ORDER BY 1", [term, class_id]).fetchall()]


# ------------------------------------------------------------------------------------------ class overview
def test_class_overview_numbers_match_the_store(demo_con, spec):
    v = class_overview(demo_con, TERM, CLASS, spec)
    keys = _class_keys(demo_con, CLASS)
    assert v["class"] == {"class_id": CLASS, "name": "七年级(1)班", "grade": 7, "students": len(keys)}
    assert v["spec"]["id"] == "whole_person" and v["spec"]["version"] == 1 and v["spec"]["name"] == "全面发展画像"
    students = v["students"]
    assert sorted(students["student_key"]) == keys and all(CODE.match(c) for c in students.index)
    assert list(students.index) == [display_code(k) for k in students["student_key"]]
    sql = demo_con.execute("""
        SELECT p.dimension, avg(p.score), count(*) FROM profiles p
        WHERE p.term_id = $t AND p.spec_id = 'whole_person' AND p.spec_hash = $h
          AND p.student_key IN (SELECT student_key FROM enrolments WHERE term_id = $t AND class_id = $c) GROUP BY 1""",
                           {"t": TERM, "h": spec.hash, "c": CLASS}).fetchall()
    grade = dict(demo_con.execute("""
        SELECT p.dimension, avg(p.score) FROM profiles p JOIN profile_students ps USING (term_id, spec_id, spec_hash, student_key)
        WHERE p.term_id = $t AND p.spec_id = 'whole_person' AND p.spec_hash = $h AND ps.grade = 7 GROUP BY 1""",
                                  {"t": TERM, "h": spec.hash}).fetchall())
    dims = v["dimensions"]
    assert list(dims.index) == ["academic", "behaviour", "interest", "emotion", "social", "overall"]
    for d, mean, n in sql:
        assert dims.at[d, "class_mean"] == pytest.approx(mean, abs=0.051)
        assert dims.at[d, "grade_mean"] == pytest.approx(grade[d], abs=0.051)
        assert dims.at[d, "class_n"] == n == len(keys)
        assert students[d].mean() == pytest.approx(mean)
    composite = dict(demo_con.execute("SELECT student_key, composite FROM profile_students WHERE term_id = ? AND "
                                      "spec_hash = ?", [TERM, spec.hash]).fetchall())
    assert np.allclose(students["overall"], [composite[k] for k in students["student_key"]])
    counts = dict(demo_con.execute("SELECT segment, count(*) FROM profile_students WHERE term_id = ? AND spec_hash = ? "
                                   "AND class_id = ? GROUP BY 1", [TERM, spec.hash, CLASS]).fetchall())
    seg = v["segments"].set_index("segment")
    for s, n in counts.items():
        assert seg.at[s, "students"] == (n if n >= MIN_CELL else SUPPRESSED)
    assert set(seg["description"]) >= set(students["segment_text"])
    g = v["grade_composite"]
    assert g["q25"] <= g["median"] <= g["q75"] and g["n"] == 160
    assert len(v["scatter_dims"]) == 2 and set(v["scatter_dims"]) <= set(dims.index)


def test_small_groups_are_suppressed_never_shown(demo_con):
    """academic_emotion has five segments: every class has some under 10; whole_person's tags are rare."""
    ae = load_spec("academic_emotion")
    suppressed = shown = 0
    for c in ("G7C1", "G8C2", "G9C3"):
        v = class_overview(demo_con, TERM, c, ae)
        real = dict(demo_con.execute("SELECT segment, count(*) FROM profile_students WHERE term_id = ? AND spec_id = "
                                     "'academic_emotion' AND class_id = ? GROUP BY 1", [TERM, c]).fetchall())
        for row in v["segments"].itertuples():
            n = real.get(row.segment, 0)
            if 0 < n < MIN_CELL:
                assert row.students == SUPPRESSED and row.share == SUPPRESSED
                suppressed += 1
            else:
                assert row.students == n
                shown += 1
    assert suppressed >= 3 and shown >= 1
    tags = class_overview(demo_con, TERM, CLASS, "whole_person")["tags"]
    real = dict(demo_con.execute("SELECT t, count(*) FROM (SELECT unnest(tags) AS t FROM profile_students WHERE "
                                 "term_id = ? AND spec_id = 'whole_person' AND class_id = ?) GROUP BY 1", [TERM, CLASS]).fetchall())
    assert any(0 < n < MIN_CELL for n in real.values())
    for row in tags.itertuples():
        n = real.get(row.tag, 0)
        assert row.students == (SUPPRESSED if 0 < n < MIN_CELL else n)


def test_small_class_means_are_suppressed(xapi_two_terms):
    with duckdb.connect(str(xapi_two_terms["store"]), read_only=True) as con:
        v = class_overview(con, "second", "G-02-C", "whole_person")      # one student in the second semester
        assert v["class"]["students"] == 1
        assert (v["dimensions"][["class_mean", "difference", "class_n"]] == SUPPRESSED).all().all()
        assert v["dimensions"]["grade_mean"].map(lambda x: isinstance(x, float)).all()
        s = student_report(con, "second", v["students"]["student_key"].iloc[0], "whole_person", "en")
        assert (s["dimensions"]["class_mean"] == SUPPRESSED).all()
        assert s["strengths"] and all("class average" not in t for t in s["strengths"] + s["work_on"])


def test_a_class_without_students_or_profile_fails_clearly(demo_con, tmp_path):
    with pytest.raises(ValueError, match=r"'G7C9'.*'2026-2027-1'"):
        class_overview(demo_con, TERM, "G7C9", "whole_person")
    with pytest.raises(ValueError, match=r"'G8C1'.*'2026-2027-1'.*online_engagement"):
        class_overview(demo_con, TERM, "G8C1", "online_engagement")     # never profiled in this store
    with pytest.raises(ValueError, match="no profile"):
        student_report(demo_con, TERM, "Snot-a-student", "whole_person")


# ------------------------------------------------------------------------------------------ teaching map, alerts, cards
def test_teaching_map_matches_mastery(demo_con, kg):
    t = class_teaching_map(demo_con, TERM, CLASS, kg)
    keys = _class_keys(demo_con, CLASS)
    assert not t["empty"]
    assert set(t["grid"].columns) <= {display_code(k) for k in keys} and len(t["grid"].columns) == len(keys)
    assert len(t["lacking"]) >= 1
    for row in t["lacking"].itertuples():
        assert row.students_with_evidence >= MIN_CELL
        n, lacking = demo_con.execute("""SELECT count(p_mastery), count(*) FILTER (WHERE p_mastery < 0.5) FROM mastery
                                         WHERE term_id = ? AND kp_id = ? AND list_contains(?, student_key)""",
                                      [TERM, row.kp, keys]).fetchone()
        assert row.students_with_evidence == n and row.lacking == (lacking if lacking >= MIN_CELL else SUPPRESSED)
        assert lacking / n >= 0.5
        if lacking >= MIN_CELL:
            assert row.share_lacking == pytest.approx(lacking / n, abs=0.001)
        else:                                   # 7 of 12 would show as 58 %: the share is suppressed too
            assert row.share_lacking == SUPPRESSED
    m = demo_con.execute("SELECT kp_id, student_key, p_mastery FROM mastery WHERE term_id = ? AND p_mastery IS NOT NULL "
                         "AND list_contains(?, student_key)", [TERM, keys]).df()
    m["chapter"] = m["kp_id"].map(lambda k: kg.chapter(k))
    expected = m.groupby("chapter")["p_mastery"].mean()
    for row in t["chapters"].itertuples():
        assert row.mean == pytest.approx(expected[row.chapter], abs=0.0006)


def test_teaching_map_without_mastery_is_empty_with_a_message(xapi_two_terms):
    with duckdb.connect(str(xapi_two_terms["store"]), read_only=True) as con:
        t = class_teaching_map(con, "second", "G-08-A")
        assert t["empty"] and t["grid"] is None and "没有知识点掌握数据" in t["message"]
        assert "No knowledge-point mastery" in class_teaching_map(con, "second", "G-08-A", lang="en")["message"]


def test_alerts_of_the_class(demo_con, two_term_demo):
    assert class_alerts(demo_con, TERM, CLASS).empty
    with duckdb.connect(str(two_term_demo["store"]), read_only=True) as con:
        a = class_alerts(con, TERM, CLASS)
        assert list(a["code"]) == [display_code(two_term_demo["alerted"])] and a["rule_id"].iloc[0] == "academic_drop"
        assert class_alerts(con, TERM, "G7C2").empty
        assert class_alerts(con, TERM, CLASS, role="subject_teacher").empty      # routed to head teachers only
        assert class_alerts(con, TERM, CLASS, lang="en")["text"].iloc[0] == "scores fell three weeks in a row"


def test_cards_one_per_student_with_strengths_above_the_class_mean(demo_con, spec):
    cards = class_cards(demo_con, TERM, CLASS, spec)
    v = class_overview(demo_con, TERM, CLASS, spec)
    assert list(cards.index) == list(v["students"].index)
    labels = {lbl: d for d, lbl in v["dimension_labels"].items()}
    means = v["dimensions"]["class_mean"]
    above_checked = 0
    for code, card in cards.iterrows():
        row = v["students"].loc[code]
        named = [labels[x] for x in card["strengths"].split("、") if x]
        assert named, code
        if any(row[d] > means[d] for d in means.index if d != "overall"):
            assert all(row[d] > means[d] for d in named)
            above_checked += 1
        for x in card["work_on"].split("、"):
            if x in labels:
                assert row[labels[x]] < means[labels[x]]
    assert above_checked > 30


# ------------------------------------------------------------------------------------------ student report
def test_student_report_contents(demo_con, spec, kg):
    keys = _class_keys(demo_con, CLASS)
    for key in keys[:6]:
        r = student_report(demo_con, TERM, key, spec)
        assert r["student"] == {"code": display_code(key), "class_id": CLASS, "class_name": "七年级(1)班", "grade": 7}
        dims = r["dimensions"]
        scores = dict(demo_con.execute("SELECT dimension, score FROM profiles WHERE term_id = ? AND spec_hash = ? AND "
                                       "student_key = ?", [TERM, spec.hash, key]).fetchall())
        assert np.allclose(dims["score"].astype(float), [scores[d] for d in dims.index])
        label_of = dict(zip(dims["label"], dims.index))
        # strengths first: each named dimension is above the class mean; what to work on is below it
        for sentence in r["strengths"]:
            d = label_of[re.split("[：是]", sentence)[0]]
            if "高于班级平均" in sentence:
                assert dims.at[d, "score"] > dims.at[d, "class_mean"]
            else:
                assert "相对最好" in sentence and (dims["score"] - dims["class_mean"].astype(float)).drop("overall").max() <= 0
        for sentence in r["work_on"]:
            d = label_of[sentence.split("：")[0]]
            assert "低于班级平均" in sentence and dims.at[d, "score"] < dims.at[d, "class_mean"]
        # chapter radar = the mean of the student's mastery rows with evidence, per chapter
        m = demo_con.execute("SELECT kp_id, p_mastery FROM mastery WHERE term_id = ? AND student_key = ? AND "
                             "p_mastery IS NOT NULL", [TERM, key]).df()
        m["chapter"] = m["kp_id"].map(lambda k: kg.chapter(k))
        expected = m.groupby("chapter")["p_mastery"].mean()
        chapters = r["knowledge"]["chapters"]
        assert set(chapters.index) == set(expected.index)
        assert np.allclose(chapters["student"], expected.reindex(chapters.index))
        assert len(r["knowledge"]["root_gaps"]) == len(r["knowledge"]["root_gap_points"]) <= 3
        # weekly series are this student's stored weekly values of the spec's indicators
        t = r["trends"]
        assert set(t["indicator"]) <= set(spec.indicator_ids()) | {"beh_actions", "acad_score_z"}
        stored = demo_con.execute("SELECT indicator_id, week, value FROM indicator_values WHERE term_id = ? AND "
                                  "student_key = ? AND week IS NOT NULL", [TERM, key]).df()
        merged = t.dropna(subset=["value"]).merge(stored, left_on=["indicator", "week"], right_on=["indicator_id", "week"])
        assert len(merged) == t["value"].notna().sum() > 0 and np.allclose(merged["value_x"], merged["value_y"])
        assert r["explanation"] and r["segment"]
        assert not r["growth"]["compared"] and "暂无成长轨迹" in r["growth"]["message"]
    en = student_report(demo_con, TERM, keys[0], spec, "en")
    assert en["spec"]["name"] == "Whole-person development profile" and "Academic performance" in set(en["dimensions"]["label"])
    assert all(re.search(r"[\u4e00-\u9fff]", s) is None for s in en["strengths"] + en["work_on"])


def test_a_strong_and_a_weak_student(demo_con, spec):
    best, worst = demo_con.execute("SELECT arg_max(student_key, composite), arg_min(student_key, composite) FROM "
                                   "profile_students WHERE term_id = ? AND spec_hash = ? AND class_id = ?",
                                   [TERM, spec.hash, CLASS]).fetchone()
    top = student_report(demo_con, TERM, best, spec)
    assert len(top["strengths"]) >= 2 and all("高于班级平均" in s for s in top["strengths"])
    low = student_report(demo_con, TERM, worst, spec)
    assert len(low["strengths"]) == 1 and len(low["work_on"]) >= 2          # still one strength, said first


# ------------------------------------------------------------------------------------------ growth
def test_student_growth_is_now_minus_then(two_term_demo, spec):
    with duckdb.connect(str(two_term_demo["store"]), read_only=True) as con:
        for key in _class_keys(con, CLASS)[:5]:
            g = student_report(con, TERM, key, spec)["growth"]
            assert g["compared"] and g["previous_term"] == two_term_demo["previous"]
            rows = con.execute("""SELECT n.dimension, p.score, n.score FROM profiles n JOIN profiles p
                                  ON p.student_key = n.student_key AND p.dimension = n.dimension AND p.term_id = ?
                                  AND p.spec_hash = n.spec_hash WHERE n.term_id = ? AND n.student_key = ? AND n.spec_hash = ?""",
                               [two_term_demo["previous"], TERM, key, spec.hash]).fetchall()
            t = g["table"]
            assert len(rows) == len(t) == 6
            for d, then, now in rows:
                assert t.at[d, "then"] == pytest.approx(then) and t.at[d, "now"] == pytest.approx(now)
                assert t.at[d, "change"] == pytest.approx(now - then)
            assert "相对位置" in g["note"]
            assert all(("高" in s or "低" in s) for s in g["sentences"])


def test_class_growth_over_students_in_both_terms(two_term_demo, spec):
    with duckdb.connect(str(two_term_demo["store"]), read_only=True) as con:
        g = class_growth(con, TERM, CLASS, spec)
        assert g["previous_term"] == two_term_demo["previous"] and g["students"] == 40
        expected = con.execute("""SELECT n.dimension, avg(p.score), avg(n.score) FROM profiles n JOIN profiles p
                                  ON p.student_key = n.student_key AND p.dimension = n.dimension AND p.term_id = $p
                                  AND p.spec_hash = n.spec_hash
                                  WHERE n.term_id = $t AND n.spec_hash = $h
                                    AND n.student_key IN (SELECT student_key FROM enrolments WHERE term_id = $t AND class_id = $c)
                                  GROUP BY 1""", {"p": two_term_demo["previous"], "t": TERM, "h": spec.hash, "c": CLASS}).fetchall()
        for d, then, now in expected:
            assert g["table"].at[d, "then"] == pytest.approx(then, abs=0.051)
            assert g["table"].at[d, "now"] == pytest.approx(now, abs=0.051)
            assert g["table"].at[d, "change"] == pytest.approx(now - then, abs=0.051)
        few = class_growth(con, TERM, "G7C2", spec)            # 5 of its 40 students were there last term
        assert few["students"] == SUPPRESSED and few["table"] is None and "少于 10" in few["message"]
        dropped = two_term_demo["dropped"][0]
        assert student_report(con, TERM, dropped, spec)["growth"]["table"] is None


def test_growth_on_two_real_semesters(xapi_two_terms):
    """xAPI-Edu-Data: the second semester's previous term is profiled, but no student is in both."""
    assert xapi_two_terms["prepared"].previous_term == "first"
    with duckdb.connect(str(xapi_two_terms["store"]), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM profile_runs WHERE term_id = 'first' "
                           "AND spec_id = 'whole_person'").fetchone()[0] == 1   # other tests profile it with other specs
        g = class_growth(con, "second", "G-08-A", "whole_person")
        assert g["compared"] and g["students"] == 0 and g["table"] is None and "first" in g["message"]
        key = con.execute("SELECT min(student_key) FROM enrolments WHERE term_id = 'second'").fetchone()[0]
        s = student_report(con, "second", key, "whole_person", "en")["growth"]
        assert s["compared"] and s["table"] is None and "no profile in the previous term (first)" in s["message"]
        assert "emotion" not in student_report(con, "second", key, "whole_person")["dimensions"].index
