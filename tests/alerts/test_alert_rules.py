"""Rule sets as data, the detectors on the demo school's planted episodes, cool-down and skipped rules."""
import copy
import json
import shutil

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from workbench.alerts import load_rule_set, rule_set_from_dict, run_alerts
from workbench.alerts.evaluate import match_episodes
from workbench.alerts.spec import SHIPPED_DIR
from workbench.cli import main
from workbench.model.spec import SpecError
from workbench.store import open_store

TERM = "2026-2027-1"
ANXIETY_RULES = ["negative_mood_streak", "gad7_rise"]


def _doc():
    return copy.deepcopy(load_rule_set("default").doc)


def test_default_rule_set_round_trips_and_edits_survive(tmp_path):
    rs = load_rule_set("default")
    assert rs.dump() == (SHIPPED_DIR / "default.yaml").read_text(encoding="utf-8")
    doc = _doc()
    doc["rules"][0]["share"] = 0.4
    path = rule_set_from_dict(doc).save(tmp_path / "school.yaml")
    again = load_rule_set(path)
    assert again.rule("engagement_falling_3d")["share"] == 0.4 and again.dump() == path.read_text(encoding="utf-8")


def test_validation_errors_name_the_rule():
    doc = _doc()
    doc["rules"][0]["level"] = "red"                                   # engagement_falling_3d
    doc["rules"][1].pop("periods")                                     # mood_low
    doc["rules"][2]["kind"] = "wobble"                                 # mood_below_own
    doc["rules"].append(copy.deepcopy(doc["rules"][-1]))               # anxiety_then_grade_drop twice
    doc["rules"][-1]["all_of"] = ["score_drop", "no_such_rule"]
    doc["rules"][4]["route"] = ["principal"]                           # gad7_rise
    with pytest.raises(SpecError) as err:
        rule_set_from_dict(doc, "school_rules.yaml")
    text = str(err.value)
    for where, zh in [("rules[engagement_falling_3d].level", "规则 engagement_falling_3d"),
                      ("rules[mood_low].periods", "规则 mood_low"), ("rules[mood_below_own].kind", "规则 mood_below_own"),
                      ("rules[anxiety_then_grade_drop].id", "规则编号重复"),
                      ("rules[anxiety_then_grade_drop].all_of", "no_such_rule"), ("rules[gad7_rise].route", "规则 gad7_rise")]:
        assert f"school_rules.yaml: {where}" in text and zh in text, (where, text)
    assert len(err.value.issues) == 6


def test_a_rule_over_an_unknown_indicator_is_refused_with_a_suggestion():
    doc = _doc()
    doc["rules"][0]["signal"] = "beh_actionz"
    with pytest.raises(SpecError, match=r"rules\[engagement_falling_3d\]\.signal: unknown signal or indicator "
                                        r"'beh_actionz'; did you mean beh_actions\?"):
        rule_set_from_dict(doc)


def test_a_rule_over_an_indicator_without_data_is_skipped_and_reported(demo_school, tmp_path):
    path = tmp_path / "store.duckdb"
    shutil.copy(demo_school["store"], path)
    doc = _doc()
    doc["rules"].append({"id": "weekly_actions_falling", "kind": "falling", "signal": "beh_actions", "periods": 2,
                         "share": 0.5, "level": "watch", "route": ["head_teacher"]})
    with open_store(path) as store:
        store.con.execute("DELETE FROM scale_scores")                # a school without the GAD-7 survey
        run = run_alerts(store.con, TERM, rule_set_from_dict(doc), write=False)
    assert set(run.skipped) == {"gad7_rise", "gad7_high"}
    assert "signal gad7" in run.skipped["gad7_high"] and TERM in run.skipped["gad7_high"]
    assert "跳过 gad7_high" in run.summary("zh")
    assert run.hits["anxiety_then_grade_drop"] > 0                    # its mood part still runs
    assert "weekly_actions_falling" in run.hits                      # a weekly catalogue indicator is a signal


def test_no_alert_twice_inside_its_cool_down(alerted_demo, tmp_path):
    rs = load_rule_set("default")
    full = alerted_demo["alerts"]
    path = tmp_path / "store.duckdb"
    shutil.copy(alerted_demo["store"], path)
    with open_store(path) as store:
        store.con.execute("DELETE FROM alerts")
        first = run_alerts(store.con, TERM, as_of=pd.Timestamp("2026-11-15").date())
        second = run_alerts(store.con, TERM)
        third = run_alerts(store.con, TERM)
        stored = store.con.execute("SELECT rule_id, student_key, fired_on FROM alerts").df()
    assert len(first.alerts) > 0 and (pd.to_datetime(first.alerts["fired_on"]) <= "2026-11-15").all()
    assert len(third.alerts) == 0 and sum(third.cooled.values()) == sum(third.hits.values())
    assert len(stored) == len(first.alerts) + len(second.alerts) == len(full)   # day by day = all at once
    for (rid, _), g in stored.groupby(["rule_id", "student_key"]):
        gaps = pd.to_datetime(g["fired_on"]).sort_values().diff().dropna().dt.days
        assert (gaps >= rs.rule(rid).get("cooldown_days", 14)).all(), rid


def test_planted_engagement_drops_are_alerted_to_the_head_teacher(alerted_demo):
    a, ep = alerted_demo["alerts"], alerted_demo["episodes"]
    drops = ep[ep["kind"] == "engagement_drop_3d"]
    score = match_episodes(a, drops, ["engagement_falling_3d"], after=2)
    assert score["recall"] >= 0.9 and score["precision"] >= 0.7, score
    routes = a.loc[a["rule_id"] == "engagement_falling_3d", "route_to"]
    assert (routes == "head_teacher").all()


def test_anxiety_is_alerted_to_psychology_before_the_exam_it_precedes(alerted_demo):
    a, ep = alerted_demo["alerts"], alerted_demo["episodes"]
    anx = ep[ep["kind"] == "anxiety_episode"].merge(
        ep.loc[ep["kind"] == "grade_drop", ["student_key", "start"]].rename(columns={"start": "exam"}), on="student_key")
    anx["end"] = anx["exam"] - pd.Timedelta(days=1)                    # flagged in time: before the exam
    score = match_episodes(a, anx, ANXIETY_RULES)
    assert score["recall"] >= 0.9 and score["precision"] >= 0.7, score
    for route in a.loc[a["rule_id"].isin(ANXIETY_RULES), "route_to"]:
        assert set(route.split(",")) == {"psychology_teacher", "counsellor"}
    details = [json.loads(d) for d in a.loc[a["rule_id"].isin(ANXIETY_RULES), "detail"]]
    assert all(d["emotion"] for d in details)


def test_low_mood_then_grade_drop_goes_to_psychology_head_and_subject_teachers(alerted_demo):
    a, ep = alerted_demo["alerts"], alerted_demo["episodes"]
    drops = ep[ep["kind"] == "grade_drop"]
    score = match_episodes(a, drops, ["anxiety_then_grade_drop"], after=3)
    assert score["precision"] >= 0.7 and score["recall"] >= 0.5, score
    combo = a[a["rule_id"] == "anxiety_then_grade_drop"]
    assert (combo["level"] == "severe").all()
    assert set(combo["route_to"]) == {"psychology_teacher,head_teacher,subject_teacher"}


def test_silent_rules_feed_combinations_but_raise_nothing(alerted_demo):
    silent = {r["id"] for r in load_rule_set("default").rules if r.get("silent")}
    assert silent == {"mood_low", "mood_below_own", "exam_dip"}
    assert not set(alerted_demo["alerts"]["rule_id"]) & silent
    assert set(alerted_demo["alerts"]["class_id"]) <= {f"G{g}C{c}" for g in (7, 8, 9) for c in range(1, 5)}


def test_cli_checks_a_rule_file_and_names_the_bad_rule(tmp_path):
    doc = _doc()
    doc["rules"][2]["by"] = "a lot"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    r = CliRunner().invoke(main, ["alerts", "check", str(bad), str(SHIPPED_DIR / "default.yaml")])
    assert r.exit_code == 1
    assert f"{bad}: rules[mood_below_own].by: by must be a number" in r.output
    assert "default.yaml: ok" in r.output
