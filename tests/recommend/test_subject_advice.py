"""Subject-choice advice on the demo school: the planted strong subjects come first, the advice says how sure it is,
schemes are checked documents, and a student without exams gets a message instead of a ranking."""
from __future__ import annotations

import shutil
import time

import duckdb
import numpy as np
import pandas as pd
import pytest

from workbench.model.spec import SpecError
from workbench.recommend.subject_schemes import list_schemes, load_scheme
from workbench.recommend.subjects import MIN_EXAMS, class_subject_advice, subject_advice, subject_strengths

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def demo(demo_school):
    """Strengths of every student, their advice under the gaokao scheme and the ground truth keyed by student_key."""
    con = duckdb.connect(str(demo_school["store"]), read_only=True)
    t0 = time.perf_counter()
    st = subject_strengths(con, TERM)
    seconds = time.perf_counter() - t0
    ids = con.execute("SELECT source_id AS school_no, student_key FROM identity_vault_ids WHERE system = 'school_no'").df()
    truth = demo_school["students"].merge(ids, on="school_no")
    truth = truth[truth["student_key"].isin(st["student_key"])].reset_index(drop=True)
    truth["strong"] = [set(s.split(";")) - {""} for s in truth["strong_subjects"]]
    advice = {k: subject_advice(con, TERM, k, strengths=st) for k in truth["student_key"]}
    classes = [c for (c,) in con.execute("SELECT DISTINCT class_id FROM enrolments WHERE term_id = $t ORDER BY 1",
                                         {"t": TERM}).fetchall()]
    by_class = pd.concat([class_subject_advice(con, TERM, c) for c in classes], ignore_index=True)
    yield {"con": con, "st": st, "seconds": seconds, "truth": truth, "advice": advice, "by_class": by_class}
    con.close()


def test_strengths_are_within_grade_z_scores_one_row_per_student_and_subject(demo):
    st, truth = demo["st"], demo["truth"]
    print(f"subject_strengths: {demo['seconds']:.3f} s for {st['student_key'].nunique()} students")
    assert demo["seconds"] < 1.0
    assert not st.duplicated(["student_key", "subject"]).any() and len(truth) >= 470
    assert set(st["subject"]) == {"语文", "数学", "英语", "物理", "道德与法治", "历史", "地理", "生物"}
    assert set(st.loc[st["subject"] == "物理", "grade"]) == {8, 9}           # physics starts in grade 8
    assert st.groupby(["grade", "subject"])["strength"].mean().abs().max() < 0.05
    assert st.groupby("student_key")["relative"].sum().abs().max() < 1e-9   # ipsative: sums to 0 per student
    assert (st["se"] > 0).all() and st["interest"].notna().mean() > 0.95 and st["n_exams"].max() == 4
    # the latent subject ability is what the strength measures
    latent = truth.melt(id_vars="student_key", value_vars=[c for c in truth if c.startswith("ability_")
                                                           and c != "ability"], var_name="en", value_name="latent")
    en = {"chinese": "语文", "math": "数学", "english": "英语", "physics": "物理", "morality": "道德与法治",
          "history": "历史", "geography": "地理", "biology": "生物"}
    latent["subject"] = latent["en"].str.removeprefix("ability_").map(en)
    both = st.merge(latent, on=["student_key", "subject"])
    assert both["strength"].corr(both["latent"].astype(float)) > 0.8


def test_planted_strong_subjects_rank_first(demo):
    """(a) top-k of the directly observed subjects (k = number of planted strong subjects) equals the planted set."""
    scheme, hits = load_scheme("gaokao_3_1_2"), []
    for r in demo["truth"][demo["truth"]["strong"].map(len) > 0].itertuples():
        direct = [scheme.subjects[s["subject"]]["evidence"] for s in demo["advice"][r.student_key]["subjects"]
                  if s["evidence"] == "direct"]
        hits.append(set(direct[:len(r.strong)]) == r.strong)
    share = float(np.mean(hits))
    print(f"(a) planted top-k share: {share:.3f} of {len(hits)} planted students")   # measured 0.936
    assert len(hits) > 100 and share >= 0.85


def test_top_combination_contains_a_choosable_planted_subject(demo):
    """(b) the top gaokao combination holds as many planted subjects as any combination can."""
    scheme = load_scheme("gaokao_3_1_2")
    stands_for = {s: spec["evidence"] for s, spec in scheme.subjects.items() if s in scheme.choosable()}
    hits = []
    for r in demo["truth"].itertuples():
        planted = {s for s, ev in stands_for.items() if ev in r.strong}
        if planted:
            most = max(len(planted & set(c)) for c in scheme.combinations())
            hits.append(len(planted & set(demo["advice"][r.student_key]["combinations"][0]["subjects"])) == most)
    share = float(np.mean(hits))
    print(f"(b) top combination holds the planted choosable subjects: {share:.3f} of {len(hits)}")   # measured 0.991
    assert len(hits) > 80 and share >= 0.9


def test_unplanted_students_get_more_indistinguishable_combinations(demo):
    """(c) without a planted strength the evidence separates combinations less often: the uncertainty is honest."""
    df = demo["by_class"].merge(demo["truth"][["student_key", "strong"]], on="student_key")
    assert len(df) == len(demo["truth"]) and df["ok"].all()
    df["planted"] = df["strong"].map(len) > 0
    df["top3_tied"] = df["n_indistinct"] >= 3
    share = df.groupby("planted")["top3_tied"].mean()
    size = df.groupby("planted")["n_indistinct"].mean()
    print(f"(c) top 3 cannot be told apart: unplanted {share[False]:.3f}, planted {share[True]:.3f}; mean size of "
          f"the best group: unplanted {size[False]:.2f}, planted {size[True]:.2f}")   # measured 0.925 / 0.682
    assert share[False] >= share[True] + 0.15 and size[False] > size[True] + 1
    assert share[False] > 0.8                               # mostly "cannot be told apart", never a verdict
    assert (df["distinguishable"] == (df["n_indistinct"] == 1)).all()
    # the class table agrees with the per-student advice
    one = df.iloc[0]
    a = demo["advice"][one["student_key"]]
    assert [one["top1"], one["top2"], one["top3"]] == [c["label"] for c in a["combinations"][:3]]
    assert one["n_indistinct"] == a["groups"][0]["n"] == sum(c["group"] == 1 for c in a["combinations"])


def test_advice_shape_and_words(demo):
    key = demo["truth"]["student_key"].iloc[0]
    zh, en = demo["advice"][key], subject_advice(demo["con"], TERM, key, lang="en")
    assert {"student_key", "term", "scheme", "ok", "message", "n_exams", "weights", "subjects", "combinations",
            "groups", "distinguishable", "summary"} <= set(zh)
    assert zh["ok"] and zh["message"] is None and len(zh["combinations"]) == 12 and len(zh["subjects"]) == 9
    scores = [c["score"] for c in zh["combinations"]]
    assert scores == sorted(scores, reverse=True)
    assert all(c["low"] < c["score"] < c["high"] and len(c["reasons"]) == 3 for c in zh["combinations"])
    assert sum(g["n"] for g in zh["groups"]) == 12 and zh["groups"][0]["combinations"][0] == zh["combinations"][0]["label"]
    assert "不是结论" in zh["summary"] and "not a verdict" in en["summary"]
    assert en["combinations"][0]["label"] == " + ".join(scheme_en(s) for s in zh["combinations"][0]["subjects"])
    # weights are configurable: interest alone ranks the subjects by the interest answer
    only = subject_advice(demo["con"], TERM, key, weights={"strength": 0, "relative": 0, "trend": 0, "interest": 1})
    interest = [np.nan_to_num(s["interest"]) for s in only["subjects"] if s["evidence"] == "direct"]
    assert interest == sorted(interest, reverse=True)
    # the illustrative zhongkao scheme: 2 of 6 = 15 combinations
    assert len(subject_advice(demo["con"], TERM, key, "zhongkao_example", strengths=demo["st"])["combinations"]) == 15


def scheme_en(subject: str) -> str:
    return load_scheme("gaokao_3_1_2").subject_name(subject, "en")


def test_proxy_subject_has_a_wider_interval(demo):
    """(f) 化学 has no exam in the demo: estimated from 物理/数学/生物 with a wider interval than observed subjects."""
    wider, n = 0, 0
    for a in demo["advice"].values():
        s = {r["subject"]: r for r in a["subjects"]}
        chem, direct = s["化学"], [r for r in a["subjects"] if r["evidence"] == "direct"]
        assert chem["evidence"] == "proxy" and "没有直接证据" in chem["reason"]
        assert chem["high"] - chem["low"] > np.median([r["high"] - r["low"] for r in direct])
        wider += chem["high"] - chem["low"] > max(r["high"] - r["low"] for r in direct)
        n += 1
    print(f"(f) 化学 wider than every observed subject for {wider / n:.3f} of students")
    assert wider / n > 0.95


def test_scheme_validation_names_file_and_field(tmp_path):
    """(d) problems name the file, the path inside it and the reason in English and Chinese."""
    assert {"gaokao_3_1_2", "zhongkao_example"} <= set(list_schemes())
    assert len(load_scheme("gaokao_3_1_2").combinations()) == 12
    bad = tmp_path / "my_region.yaml"
    bad.write_text(load_scheme("gaokao_3_1_2").dump().replace("pick: 2", "pick: 5").replace("evidence: 地理",
                   "evidense: 地理").replace("evidence: 道德与法治", "evidence: 道德和法治"), encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_scheme(bad)
    msg = str(err.value)
    print(msg)
    assert all(line.startswith(f"{bad}: ") for line in msg.splitlines()) and len(err.value.issues) == 4
    assert "choose[1].pick: pick must be a whole number from 1 to 4, got 5 / 选科数应为 1 到 4 的整数" in msg
    assert "subjects.地理.evidense: unknown key; did you mean evidence? / 未知的键" in msg
    assert "subjects.地理: a subject needs evidence (a junior-school subject) or a proxy list" in msg
    assert "subjects.思想政治.evidence: unknown junior-school subject '道德和法治'; did you mean 道德与法治?" in msg
    with pytest.raises(SpecError, match="no such file or shipped scheme"):
        load_scheme("no_such_scheme")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nid: [oops\n", encoding="utf-8")
    with pytest.raises(SpecError, match=r"broken\.yaml: line \d+: not valid YAML"):
        load_scheme(broken)


def test_student_without_exams_gets_a_message(demo_school, tmp_path):
    """(e) no exams (or a single one): a clear message instead of a ranking, in the class table too."""
    path = tmp_path / "store.duckdb"
    shutil.copy(demo_school["store"], path)
    con = duckdb.connect(str(path))
    none, one, cls = con.execute("SELECT student_key, lead(student_key) OVER (ORDER BY student_key), class_id "
                                 "FROM enrolments WHERE class_id = 'G8C1' ORDER BY student_key LIMIT 1").fetchone()
    exams = "SELECT assessment_id FROM assessments WHERE kind = 'exam'"
    con.execute(f"DELETE FROM scores WHERE student_key = $k AND assessment_id IN ({exams})", {"k": none})
    con.execute(f"DELETE FROM scores WHERE student_key = $k AND assessment_id IN ({exams} AND name <> '月考一')",
                {"k": one})
    for key, n in ((none, 0), (one, 1)):
        a = subject_advice(con, TERM, key)
        assert not a["ok"] and a["n_exams"] == n < MIN_EXAMS and a["combinations"] == [] and a["subjects"] == []
        assert "考试成绩不足" in a["message"] and a["summary"] == a["message"]
        assert "Too little evidence" in subject_advice(con, TERM, key, lang="en")["message"]
    table = class_subject_advice(con, TERM, cls).set_index("student_key")
    assert not table.loc[[none, one], "ok"].any() and table.loc[[none, one], "top1"].isna().all()
    assert table.drop([none, one])["ok"].all()
    con.close()
