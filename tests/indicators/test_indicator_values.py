"""Indicator values against what the demo school planted, and against the raw tables of OULAD and xAPI-Edu."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from workbench.indicators import compute_indicators, write_indicator_values
from workbench.store import open_store

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def demo_frame(demo_school):
    con = duckdb.connect(str(demo_school["store"]), read_only=True)
    frame = compute_indicators(con, TERM, weekly=True)
    keys = dict(con.execute("SELECT source_id, student_key FROM identity_vault_ids WHERE system = 'school_no'").fetchall())
    con.close()
    truth = demo_school["students"].assign(student_key=lambda d: d.school_no.map(keys)).dropna(subset=["student_key"])
    truth = truth.set_index("student_key")
    return frame, truth, keys


def _rho(frame, truth, indicator, column):
    both = frame.values[[indicator]].join(truth[[column]].astype(float), how="inner").dropna()
    return spearmanr(both[indicator], both[column]).statistic


@pytest.mark.parametrize("indicator,column,low", [
    ("acad_score_z", "ability", 0.8),                # subject ability = 0.75 g + noise
    ("acad_grade_percentile", "ability", 0.8),
    ("acad_item_accuracy", "ability_math", 0.75),   # item responses are mathematics
    ("beh_actions", "engagement_base", 0.8),
    ("beh_engagement_trend", "engagement_slope", 0.5),
    ("psy_gad7_mean", "anxiety_trait", 0.75),
])
def test_indicators_follow_the_planted_latent_traits(demo_frame, indicator, column, low):
    frame, truth, _ = demo_frame
    assert _rho(frame, truth, indicator, column) >= low


def test_mood_falls_with_anxiety(demo_frame):
    frame, truth, _ = demo_frame
    assert _rho(frame, truth, "emo_mood_mean", "anxiety_trait") <= -0.8


def test_anxiety_episodes_show_in_streaks_scales_and_exam_drops(demo_frame, demo_school):
    frame, _, keys = demo_frame
    ep = demo_school["episodes"]
    anxious = set(ep[ep.kind == "anxiety_episode"].school_no.map(keys).dropna())
    v = frame.values
    planted = v.index.isin(anxious)
    assert planted.sum() >= 25
    for ind, worse in [("emo_negative_streak", "higher"), ("psy_gad7_max", "higher"), ("acad_largest_drop", "lower")]:
        a, b = v.loc[planted, ind].median(), v.loc[~planted, ind].median()
        assert (a > b) if worse == "higher" else (a < b), (ind, a, b)
    # a GAD-7 wave (or a counsellor follow-up) falls inside every episode: peak ≥ 10 for most of them
    assert (v.loc[planted, "psy_gad7_max"] >= 10).mean() >= 0.85


def test_clubs_counts_match_who_is_in_a_club(demo_frame):
    frame, truth, _ = demo_frame
    both = frame.values[["int_club_sessions"]].join(truth["club"], how="inner")
    members = both["club"].fillna("") != ""
    assert (both.loc[~members, "int_club_sessions"] == 0).all()
    assert (both.loc[members, "int_club_sessions"] >= 5).all()


def test_counts_equal_the_raw_events(demo_frame, demo_school):
    frame, _, _ = demo_frame
    con = duckdb.connect(str(demo_school["store"]), read_only=True)
    raw = con.execute("""SELECT student_key, count(*) FILTER (WHERE verb = 'forum_post') AS posts,
                                count(*) AS actions, count(DISTINCT CAST(ts AS DATE)) AS days
                         FROM events WHERE term_id = ? GROUP BY 1""", [TERM]).df().set_index("student_key")
    received = con.execute("SELECT target_key, count(*) FROM events WHERE verb = 'like' AND term_id = ? AND target_key IS NOT NULL GROUP BY 1",
                           [TERM]).df().set_index("target_key").iloc[:, 0]
    con.close()
    v = frame.values
    assert (v.loc[raw.index, "soc_forum_posts"] == raw["posts"]).all()
    assert (v.loc[raw.index, "beh_actions"] == raw["actions"]).all()
    assert (v.loc[raw.index, "beh_active_days"] == raw["days"]).all()
    assert (v.loc[received.index, "soc_likes_received"] == received).all()
    # students with no LMS account linked yet have no events: counts are 0 in a covered class, not unknown
    silent = v.index.difference(raw.index)
    assert len(silent) > 0 and (v.loc[silent, "beh_actions"] == 0).all()
    assert v.loc[silent, "beh_video_completion"].isna().all()   # a ratio of nothing stays unknown


def test_weekly_series_add_up_to_the_term(demo_frame):
    frame, _, _ = demo_frame
    w = frame.weekly
    assert set(w["indicator_id"]) >= {"beh_actions", "acad_score_z", "emo_mood_mean", "beh_late_count"}
    assert w["week"].between(1, 19).all()
    for ind in ("beh_actions", "soc_forum_posts", "beh_late_count"):
        total = w[w.indicator_id == ind].groupby("student_key")["value"].sum()
        term = frame.values[ind]
        assert np.allclose(total.reindex(term.index).fillna(0), term), ind


def test_indicator_values_are_stored_and_replaced(demo_school, tmp_path, demo_frame):
    import shutil
    frame, _, _ = demo_frame
    path = tmp_path / "copy.duckdb"
    shutil.copy(demo_school["store"], path)
    with open_store(path) as store:
        n = write_indicator_values(store.con, frame)
        again = write_indicator_values(store.con, frame)
        assert n == again == store.count("indicator_values") > 478 * 50
        stored = store.con.execute("SELECT value FROM indicator_values WHERE indicator_id = 'beh_actions' AND week IS NULL "
                                   "AND student_key = ?", [frame.values.index[0]]).fetchall()
        assert stored == [(frame.values["beh_actions"].iloc[0],)]


def test_oulad_indicators_cover_what_oulad_has(oulad):
    store, _ = oulad
    f = compute_indicators(store.con, "2013J")
    enrolled = store.con.execute("SELECT count(DISTINCT student_key) FROM enrolments WHERE term_id = '2013J'").fetchall()[0][0]
    assert len(f.values) == enrolled
    for absent in ("emo_mood_mean", "psy_gad7_max", "beh_attendance_rate", "int_club_sessions", "acad_item_accuracy"):
        assert absent in f.missing and "no data" in f.missing[absent]
    for present in ("acad_score_mean", "acad_score_z", "beh_actions", "beh_active_days", "basic_registration_day",
                    "basic_courses", "beh_longest_inactive"):
        assert present not in f.missing
    # the VLE subset covers AAA-2013J (and two other presentations): only there is "no clicks" a fact
    cls = f.scope["class_id"]
    covered = f.values.loc[cls == "AAA-2013J", "beh_actions"]
    uncovered = f.values.loc[cls == "CCC-2014J", "beh_actions"] if (cls == "CCC-2014J").any() else \
        f.values.loc[~cls.isin(["AAA-2013J", "BBB-2013J"]) & cls.str.endswith("2013J"), "beh_actions"]
    assert covered.notna().all() and uncovered.isna().all() and len(uncovered) > 0
    clicks = store.con.execute("SELECT student_key, sum(count) FROM events WHERE class_id = 'AAA-2013J' GROUP BY 1").df()
    clicks = clicks.set_index("student_key").iloc[:, 0]
    assert (f.values.loc[clicks.index, "beh_actions"] == clicks).all()


def test_xapi_indicators_from_counts_only(xapi):
    store, _, source = xapi
    f = compute_indicators(store.con, "first")
    assert len(f.values) == sum(r["Semester"] == "F" for r in source)
    assert "beh_active_days" in f.missing       # counts without dates: no days, no weeks, no trends
    assert "beh_engagement_trend" in f.missing
    raised = pd.Series({r: int(s["raisedhands"]) for r, s in enumerate(source, start=1) if s["Semester"] == "F"})
    assert f.values["beh_questions_asked"].sum() == raised.sum()
    assert set(f.values["acad_score_mean"].round(1).unique()) <= {34.5, 79.5, 95.0}
