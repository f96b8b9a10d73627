"""Recommendations where people see them: the scoped views of the apps, the Papermill reports' data, the CLI."""
from __future__ import annotations

import shutil

import duckdb
import pytest

from workbench.privacy import ScopeError, Viewer
from workbench.recommend.service import class_partners, student_recommendations
from workbench.reports.common import display_code
from workbench.reports.scoped import ScopedViews

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def g8c2(demo_con):
    return [k for (k,) in demo_con.execute("SELECT DISTINCT student_key FROM enrolments WHERE term_id = $t AND "
                                           "class_id = 'G8C2' ORDER BY 1", {"t": TERM}).fetchall()]


def test_class_dashboard_has_partners_resources_and_subjects_for_the_whole_class(demo_con, g8c2):
    views = ScopedViews(demo_con, Viewer("li_t", "head_teacher", classes=("G8C2",)), TERM)
    d = views.class_dashboard("G8C2")
    names = views.names(g8c2, what="test")
    members = [m for row in d["partners"]["table"]["members"] for m in row.split("、")]
    assert sorted(members) == sorted(names[k] for k in g8c2)             # every student once, by display name
    plan = d["partners"]["plan"]
    assert plan.pair_mean > 1.3 * plan.random_mean and "随机分组" in d["partners"]["message"]
    assert set(d["resources"]["display"]) <= set(names.values()) and len(d["resources"]) >= len(g8c2) // 2
    assert len(d["subjects"]) == len(g8c2) and d["subjects"]["top1"].str.contains("+", regex=False).all()
    assert not any(k in str(d["partners"]["table"].to_dict()) for k in g8c2)   # keys never leave the view


def test_student_and_parent_views_carry_the_recommendations(demo_con, g8c2):
    key = g8c2[3]
    teacher = ScopedViews(demo_con, Viewer("li_t", "head_teacher", classes=("G8C2",)), TERM)
    rep = teacher.student_profile(display_code(key))
    rec = rep["recommend"]
    assert set(rec) == {"resources", "wrong_questions", "subjects"}
    assert rec["wrong_questions"]["wrong_total"] >= rec["wrong_questions"]["wrong_open"] > 0
    assert rec["subjects"]["ok"] and rec["subjects"]["combinations"][0]["low"] < rec["subjects"]["combinations"][0]["score"]
    parent = ScopedViews(demo_con, Viewer("mum", "parent", student=key), TERM).parent_report()
    assert parent["recommend"]["resources"]["message"] == rec["resources"]["message"]
    assert "segment" not in parent


def test_out_of_scope_student_gets_no_recommendations(demo_con, g8c2):
    views = ScopedViews(demo_con, Viewer("li_t", "head_teacher", classes=("G7C1",)), TERM)
    with pytest.raises(ScopeError):
        views.student_profile(display_code(g8c2[0]))
    with pytest.raises(ScopeError):
        views.class_dashboard("G8C2")


def test_english_texts(demo_con, g8c2):
    rec = student_recommendations(demo_con, TERM, g8c2[5], lang="en")
    assert all(not any("\u4e00" <= ch <= "\u9fff" for ch in r) for r in rec["resources"]["table"]["reason"])
    out = class_partners(demo_con, TERM, g8c2, {k: display_code(k) for k in g8c2}, lang="en")
    assert "random grouping" in out["message"] and out["table"]["help"].str.contains("can help").any()


def test_cli_catalogue_check_and_partners_saved(run_cli, prepared_demo, tmp_path):
    ok = run_cli("recommend", "catalogue", "--lang", "en")
    assert ok.returncode == 0, ok.stderr
    assert "335 rows read, 335 accepted, 0 rejected" in ok.stdout and "learning and understanding 81/81" in ok.stdout
    assert "transfer and innovation 61/81" in ok.stdout and "without any resource" not in ok.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("resource_id,title_zh,kind,level,knowledge_points\nR1,数轴,video,understand,M7-NUM-02\n"
                   "R2,x,video,hard,M7-NUM-02\n", encoding="utf-8-sig")
    res = run_cli("recommend", "catalogue", "--catalogue", str(bad), "--lang", "en")
    assert res.returncode == 1 and f"{bad}: row 3: column level" in res.stderr and "1 rejected" in res.stdout
    assert "points without any resource" in res.stdout
    store = tmp_path / "store.duckdb"
    shutil.copy(prepared_demo["store"], store)
    out = run_cli("recommend", "partners", "--term", TERM, "--store", str(store), "--save", "--lang", "en")
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln[:2] in ("G7", "G8", "G9")]
    assert len(lines) == 12 and all(float(ln.split()[-1]) > 1.3 for ln in lines)
    con = duckdb.connect(str(store), read_only=True)
    n, classes = con.execute("SELECT count(*), count(DISTINCT class_id) FROM partner_groups").fetchone()
    enrolled = con.execute("SELECT count(DISTINCT student_key) FROM enrolments WHERE term_id = $t", {"t": TERM}).fetchone()[0]
    con.close()
    assert (n, classes) == (enrolled, 12)
    one = run_cli("recommend", "partners", "--term", TERM, "--store", str(store), "--class", "G9C1")
    assert one.returncode == 0 and " 1. S-" in one.stdout
    missing = run_cli("recommend", "partners", "--term", TERM, "--store", str(store), "--class", "G1C9")
    assert missing.returncode != 0 and "G1C9" in missing.stderr
