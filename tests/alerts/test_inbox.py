"""The inbox and the loop: routing decides who sees an alert, emotion values need the psychology role and consent,
and every action checks the actor first."""
import shutil

import pytest

from workbench.alerts.inbox import (acknowledge, alert_rows, interventions_for, mark_feedback, record_intervention,
                                    record_outcome)
from workbench.privacy import ScopeError, Viewer
from workbench.store import open_store

TERM = "2026-2027-1"


@pytest.fixture()
def inbox(alerted_demo, tmp_path):
    path = tmp_path / "store.duckdb"
    shutil.copy(alerted_demo["store"], path)
    with open_store(path) as store:
        yield store.con


def _one(con, rule, **where):
    row = con.execute(f"SELECT alert_id, student_key, class_id FROM alerts WHERE rule_id = '{rule}' "
                      "ORDER BY alert_id LIMIT 1").fetchone()
    return dict(zip(("alert_id", "student_key", "class_id"), row))


def test_each_role_sees_only_what_was_routed_to_it(inbox):
    head = alert_rows(inbox, TERM, "head_teacher")
    psych = alert_rows(inbox, TERM, "psychology_teacher")
    subject = alert_rows(inbox, TERM, "subject_teacher")
    assert "engagement_falling_3d" in set(head["rule_id"]) and "negative_mood_streak" not in set(head["rule_id"])
    assert {"negative_mood_streak", "gad7_rise", "gad7_high"} <= set(psych["rule_id"])
    assert "engagement_falling_3d" not in set(psych["rule_id"]) and "absences" not in set(subject["rule_id"])
    one_class = alert_rows(inbox, TERM, "head_teacher", class_ids=["G7C1"])
    assert len(one_class) and set(one_class["class_id"]) == {"G7C1"}
    assert list(head["fired_on"]) == sorted(head["fired_on"], reverse=True)


def test_emotion_values_only_for_psychology_roles_with_consent(inbox):
    a = _one(inbox, "gad7_high")
    key = a["student_key"]
    with_consent = alert_rows(inbox, TERM, "psychology_teacher", student_keys=[key], consented={key})
    without = alert_rows(inbox, TERM, "psychology_teacher", student_keys=[key], consented=set())
    with_consent, without = (d[d["rule_id"] == "gad7_high"] for d in (with_consent, without))
    assert "GAD-7" in with_consent["text"].iloc[0] and "GAD-7" not in without["text"].iloc[0]
    assert "请与心理教师沟通" in without["text"].iloc[0]
    combo = alert_rows(inbox, TERM, "head_teacher", lang="en")
    combo = combo[combo["rule_id"] == "anxiety_then_grade_drop"]
    assert len(combo) and combo["text"].str.startswith("Learning and wellbeing alert").all()   # no mood for the head


def test_the_loop_acknowledge_intervene_outcome_feedback(inbox):
    a = _one(inbox, "engagement_falling_3d")
    head = Viewer("wang_t", "head_teacher", classes=(a["class_id"],))
    acknowledge(inbox, a["alert_id"], head)
    iid = record_intervention(inbox, a["alert_id"], head, "talk", "谈话：最近家里有事", visible_to=["psychology_teacher"])
    record_outcome(inbox, iid, head, "improved")
    mark_feedback(inbox, a["alert_id"], head, useful=True)
    row = inbox.execute("SELECT status, acknowledged_by, feedback, feedback_by FROM alerts WHERE alert_id = $a",
                        {"a": a["alert_id"]}).fetchone()
    assert row == ("closed", "wang_t", "useful", "wang_t")
    i = inbox.execute("SELECT kind, by_role, by_user, visible_to, outcome, term_id FROM interventions "
                      "WHERE intervention_id = $i", {"i": iid}).fetchone()
    assert i == ("talk", "head_teacher", "wang_t", "head_teacher,psychology_teacher", "improved", TERM)
    seen = interventions_for(inbox, a["alert_id"], head)
    assert seen["notes"].iloc[0] == "谈话：最近家里有事" and seen["outcome_label"].iloc[0] == "好转"


def test_actions_outside_routing_or_scope_are_refused(inbox):
    a = _one(inbox, "engagement_falling_3d")
    other = "G9C4" if a["class_id"] != "G9C4" else "G9C3"
    with pytest.raises(ScopeError, match="outside your scope"):
        acknowledge(inbox, a["alert_id"], Viewer("li_t", "head_teacher", classes=(other,)))
    with pytest.raises(ScopeError, match="not routed to your role"):
        record_intervention(inbox, a["alert_id"], Viewer("zhao_t", "subject_teacher", classes=(a["class_id"],)), "talk")
    with pytest.raises(ScopeError, match="not routed"):
        mark_feedback(inbox, a["alert_id"], Viewer("p1", "parent", student=a["student_key"]), useful=False)
    with pytest.raises(ValueError, match="unknown intervention kind"):
        record_intervention(inbox, a["alert_id"], Viewer("w", "head_teacher", classes=(a["class_id"],)), "shout")
    assert inbox.execute("SELECT status FROM alerts WHERE alert_id = $a", {"a": a["alert_id"]}).fetchone() == ("open",)


def test_notes_are_hidden_from_roles_they_were_not_shared_with(inbox):
    a = _one(inbox, "anxiety_then_grade_drop")
    psych = Viewer("xin_t", "psychology_teacher")
    record_intervention(inbox, a["alert_id"], psych, "counselling", "GAD-7 复测 14 分，约定每周面谈")
    head = Viewer("wang_t", "head_teacher", classes=(a["class_id"],))
    assert "GAD-7" not in interventions_for(inbox, a["alert_id"], head)["notes"].iloc[0]
    assert "GAD-7" in interventions_for(inbox, a["alert_id"], psych)["notes"].iloc[0]


def test_apps_journal_their_actions_and_the_store_takes_them_later(alerted_demo, tmp_path):
    """An app's kernel holds the store read-only: actions go to the journal, show at once, and are imported."""
    import duckdb
    from click.testing import CliRunner

    from workbench.alerts.journal import ActionJournal
    from workbench.cli import main
    path = tmp_path / "store.duckdb"
    shutil.copy(alerted_demo["store"], path)
    journal = ActionJournal(tmp_path / "alert_actions.jsonl")
    con = duckdb.connect(str(path), read_only=True)
    a = _one(con, "engagement_falling_3d")
    head = Viewer("wang_t", "head_teacher", classes=(a["class_id"],))
    iid = record_intervention(con, a["alert_id"], head, "parent_contact", "电话联系家长", journal=journal)
    record_outcome(con, iid, head, "resolved", journal=journal)
    mark_feedback(con, a["alert_id"], head, useful=False, journal=journal)
    row = alert_rows(con, TERM, "head_teacher", student_keys=[a["student_key"]], journal=journal)
    row = row[row["alert_id"] == a["alert_id"]].iloc[0]
    assert (row["status"], row["feedback"], row["interventions"]) == ("closed", "not_useful", 1)
    pending = interventions_for(con, a["alert_id"], head, journal=journal)
    assert list(pending["outcome_label"]) == ["已解决"] and str(iid).startswith("J-")
    con.close()
    r = CliRunner().invoke(main, ["alerts", "import", "--store", str(path)], env={"WORKBENCH_ALERT_JOURNAL": str(journal.path)})
    assert r.exit_code == 0 and "imported 3" in r.output, r.output
    assert journal.entries() == []
    with open_store(path) as store:
        got = store.con.execute("SELECT a.status, a.feedback, i.kind, i.outcome, i.by_user FROM alerts a JOIN "
                                "interventions i USING (alert_id) WHERE a.alert_id = $a", {"a": a["alert_id"]}).fetchall()
    assert got == [("closed", "not_useful", "parent_contact", "resolved", "wang_t")]
