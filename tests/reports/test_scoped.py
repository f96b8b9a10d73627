"""Scoped views on the demo school: each role sees its scope only, emotion detail only for the psychology teacher
and only with consent, masked names where allowed (audited), and overviews suppress small and complementary cells."""
from __future__ import annotations

import json
import shutil

import duckdb
import pytest

from workbench.privacy import ScopeError, Viewer, mask_name
from workbench.privacy.audit import AuditLog
from workbench.privacy.suppress import COMPLEMENTARY, SUPPRESSED
from workbench.reports.common import display_code
from workbench.reports.overview import overview
from workbench.reports.scoped import ScopedViews

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def con(prepared_demo):
    c = duckdb.connect(str(prepared_demo["store"]), read_only=True)
    yield c
    c.close()


def _keys(con, class_id):
    return [k for (k,) in con.execute("SELECT DISTINCT student_key FROM enrolments WHERE term_id = $t AND class_id = $c "
                                      "ORDER BY 1", {"t": TERM, "c": class_id}).fetchall()]


def test_demo_consents_were_ingested_and_balance(con, demo_school):
    rows = con.execute("SELECT purpose, granted, count(*) FROM consents GROUP BY ALL ORDER BY ALL").fetchall()
    assert {r[0] for r in rows} == {"psychology"}
    refused = sum(n for _, g, n in rows if not g)
    total = sum(n for *_, n in rows)
    assert total >= 470 and 0.03 < refused / total < 0.15
    exported = (demo_school["dir"] / "exports" / "consents.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(exported) - 1 == 480            # every row of the export is accepted or quarantined (2 unknown ids)
    quarantined = con.execute("""SELECT count(*) FROM quarantine q JOIN ingest_log l USING (file_id)
                                 WHERE l.path LIKE '%consents%'""").fetchone()[0]
    assert total + quarantined == 480


def test_head_teacher_sees_own_class_with_masked_names_and_no_emotion(con, tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    views = ScopedViews(con, Viewer("li_t", "head_teacher", classes=("G7C1",)), TERM, audit=audit, app="class_dashboard")
    assert [c["class_id"] for c in views.classes()] == ["G7C1"]
    d = views.class_dashboard("G7C1")
    keys = _keys(con, "G7C1")
    names = dict(con.execute("SELECT student_key, name FROM identity_vault WHERE list_contains($k, student_key)",
                             {"k": keys}).fetchall())
    assert sorted(d["students"]["display"]) == sorted(mask_name(names[k]) for k in keys)
    assert not set(names.values()) & set(d["students"]["display"])
    assert "emotion" not in d["dimensions"].index and "emotion" not in d["students"].columns
    assert "student_key" not in d["students"].columns
    assert not {"学业困难伴焦虑", "全面发展优秀"} & set(d["tags"]["label"])
    assert all("情绪" not in t for t in d["segments"]["description"])
    with pytest.raises(ScopeError):
        views.class_dashboard("G7C2")
    other = display_code(_keys(con, "G7C2")[0])
    with pytest.raises(ScopeError):
        views.student_profile(other)
    mine = views.student_profile(display_code(keys[0]))
    assert mine["student"]["display"] == mask_name(names[keys[0]])
    assert "emotion" not in mine["dimensions"].index and not mine["psychology_shown"]
    assert "GAD-7" not in mine["explanation"] and all("情绪" not in s for s in mine["strengths"] + mine["work_on"])
    log = [(e["action"], e["target"]) for e in audit.entries()]
    assert ("view_identity", "class G7C1") in log and ("view_student", display_code(keys[0])) in log
    assert not [a for a, _ in log if a == "view_psychology"]


def test_parent_sees_own_child_only(con):
    child = _keys(con, "G7C1")[3]
    views = ScopedViews(con, Viewer("p", "parent", student=child), TERM, app="parent_report")
    r = views.parent_report()
    assert r["student"]["code"] == display_code(child) and "segment" not in r
    assert "emotion" not in r["dimensions"].index
    for other in (_keys(con, "G7C1")[4], _keys(con, "G8C1")[0]):
        with pytest.raises(ScopeError):
            views.student_profile(display_code(other))
    with pytest.raises(ScopeError):
        views.class_dashboard("G7C1")
    with pytest.raises(ScopeError):
        ScopedViews(con, Viewer("p", "parent", student=child), TERM, app="class_dashboard")


def test_psychology_teacher_sees_consenting_students_only(con, tmp_path):
    audit = AuditLog(tmp_path / "audit.jsonl")
    views = ScopedViews(con, Viewer("psy", "psychology_teacher"), TERM, audit=audit, app="psychology_dashboard")
    keys = _keys(con, "G8C1")
    consent = dict(con.execute("""SELECT student_key, arg_max(granted, recorded_at) FROM consents
                                  WHERE purpose = 'psychology' GROUP BY 1""").fetchall())
    d = views.psychology("G8C1")
    yes = [k for k in keys if consent.get(k)]
    assert len(d["students"]) == len(yes) and d["withheld"] == len(keys) - len(yes) and d["total"] == len(keys)
    assert d["students"]["psy_gad7_max"].notna().sum() >= 0.9 * len(yes)
    psych = [e["target"] for e in audit.entries() if e["action"] == "view_psychology"]
    assert sorted(psych) == sorted(display_code(k) for k in yes)
    no = next(k for k in keys if not consent.get(k, False))
    r = views.student_profile(display_code(no))
    assert not r["psychology_shown"] and r["psychology_withheld"] and "emotion" not in r["dimensions"].index
    r = views.student_profile(display_code(yes[0]))
    assert r["psychology_shown"] and "emotion" in r["dimensions"].index
    with pytest.raises(ScopeError):
        ScopedViews(con, Viewer("t", "subject_teacher", classes=("G8C1",)), TERM).psychology("G8C1")


@pytest.fixture(scope="module")
def district(prepared_demo, tmp_path_factory):
    """The demo school split into a district of three schools: G9C3 becomes 二中 (DEMO02) keeping 7 of its girls,
    G9C4 becomes 三中 (DEMO03)."""
    path = tmp_path_factory.mktemp("district") / "store.duckdb"
    shutil.copy(prepared_demo["store"], path)
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schools BY NAME SELECT * REPLACE ('DEMO02' AS school_id, '第二中学' AS name) FROM schools")
    con.execute("INSERT INTO schools BY NAME SELECT * REPLACE ('DEMO03' AS school_id, '第三中学' AS name) "
                "FROM schools WHERE school_id = 'DEMO01'")
    con.execute("UPDATE classes SET school_id = 'DEMO02' WHERE class_id = 'G9C3'")
    con.execute("UPDATE classes SET school_id = 'DEMO03' WHERE class_id = 'G9C4'")
    girls = [k for (k,) in con.execute("""SELECT e.student_key FROM enrolments e JOIN students s USING (student_key)
        WHERE e.term_id = $t AND e.class_id = 'G9C3' AND s.gender = 'female' ORDER BY 1""", {"t": TERM}).fetchall()]
    drop = girls[7:]
    con.execute("DELETE FROM enrolments WHERE list_contains($d, student_key)", {"d": drop})
    con.execute("DELETE FROM profile_students WHERE list_contains($d, student_key)", {"d": drop})
    con.close()
    return path


def test_district_overview_suppresses_a_7_student_subgroup(district):
    con = duckdb.connect(str(district), read_only=True)
    o = overview(con, TERM, level="district", hide={"emotion"})
    con.close()
    counts = o["gender"]["counts"]
    assert list(counts.index) == ["示范中学", "第二中学", "第三中学"]
    assert counts.loc["第二中学", "女"] == SUPPRESSED                       # the 7 girls
    assert 7 not in set(counts.to_numpy().ravel())
    # no line (school or gender) has exactly one hidden cell: the 7 cannot be recomputed from the totals
    hidden = counts.isin([SUPPRESSED, COMPLEMENTARY])
    assert (hidden.sum(axis=1) != 1).all() and (hidden.sum(axis=0) != 1).all()
    assert (counts == COMPLEMENTARY).to_numpy().sum() >= 1
    means = o["gender"]["composite"]
    assert (means.isin([SUPPRESSED, COMPLEMENTARY]) == hidden).all().all()
    text = json.dumps({k: str(v) for k, v in o.items()}, ensure_ascii=False)
    assert "第二中学" in text and o["students"] >= 380
