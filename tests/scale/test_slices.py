"""Families run per slice of students (a district's GROUP BY state a slice at a time) give the same values."""
from __future__ import annotations

import numpy as np
import pandas as pd

from tests.scale.conftest import TERM
from workbench.indicators import compute_indicators
from workbench.indicators import compute as compute_mod
from workbench.store import open_store


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a.index.equals(b.index) and list(a.columns) == list(b.columns) and bool(
        np.isclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-9, atol=1e-12, equal_nan=True).all())


def test_sliced_families_equal_the_whole(small_store):
    with open_store(small_store, read_only=True) as s:
        whole = compute_indicators(s.con, TERM, weekly=True, slices=1)
        sliced = compute_indicators(s.con, TERM, weekly=True, slices=4)
        trends_only = compute_indicators(s.con, TERM, ["beh_engagement_trend", "acad_accuracy_trend"], slices=3)
    assert len(whole.values) > 100 and whole.values.notna().sum().sum() > 50 * 60
    assert _same(whole.values, sliced.values)
    keys = ["indicator_id", "student_key", "week"]
    w, v = whole.weekly.set_index(keys).sort_index()["value"], sliced.weekly.set_index(keys).sort_index()["value"]
    assert len(w) > 1000 and w.index.equals(v.index) and np.allclose(w, v, equal_nan=True)
    # the slopes taken in SQL over each slice's weekly query (no series collected)
    assert _same(trends_only.values, whole.values[["beh_engagement_trend", "acad_accuracy_trend"]])


def test_every_student_is_in_exactly_one_slice(small_store):
    cat = compute_mod.load_catalogue()
    members = [i for i in cat.indicators.values() if i.family == "responses" and i.kind == "sql"]
    with open_store(small_store, read_only=True) as s:
        bounds = compute_mod.slice_bounds(compute_mod.population(s.con, TERM).index, 5)
        parts = [s.con.execute(compute_mod._family_query(cat, "responses", members, False, b),
                               {"term": TERM}).df() for b in bounds]
        whole = s.con.execute(compute_mod._family_query(cat, "responses", members, False), {"term": TERM}).df()
    keys = pd.concat([p["student_key"] for p in parts])
    assert len(bounds) == 5 and keys.is_unique and set(keys) == set(whole["student_key"])
    sizes = [len(p) for p in parts]
    assert min(sizes) >= len(whole) // 5 - 2 and max(sizes) <= len(whole) // 5 + 3, sizes   # about as many each


def test_a_district_is_sliced_by_default_and_a_school_is_not(small_store, monkeypatch):
    seen = []
    real = compute_mod._family_query
    monkeypatch.setattr(compute_mod, "_family_query", lambda *a, **k: seen.append(a[4:] or (k.get("part"),)) or real(*a, **k))
    with open_store(small_store, read_only=True) as s:
        compute_indicators(s.con, TERM, ["acad_response_time"])
        assert {p for (p,) in seen} == {None}
        seen.clear()
        monkeypatch.setattr(compute_mod, "SLICE_STUDENTS", 50)   # 118 students → 3 slices of at most ~50
        compute_indicators(s.con, TERM, ["acad_response_time"])          # a median: sliced
        assert len(seen) == 3 and seen[0][0][0] is None and seen[-1][0][1] is None   # 3 key ranges, open ends
        assert [p[0][1] for p in seen[:-1]] == [p[0][0] for p in seen[1:]]          # each starts where the last ended
        seen.clear()
        # the same family's accuracy (an average) and the trend of its weekly accuracy keep a few numbers per
        # student: one scan; the activity days' base marks a per-student DISTINCT: sliced
        compute_indicators(s.con, TERM, ["acad_item_accuracy", "acad_accuracy_trend"])
        assert {p for (p,) in seen} == {None}
        seen.clear()
        compute_indicators(s.con, TERM, ["beh_active_days"])
    assert len(seen) == 3 and seen[0][0][0] is None and seen[-1][0][1] is None   # 3 key ranges, open ends
    assert [p[0][1] for p in seen[:-1]] == [p[0][0] for p in seen[1:]]          # each starts where the last ended


def test_slices_on_spark_equal_duckdb(small_store, spark_engine):
    ids = ["acad_item_accuracy", "acad_response_time", "beh_items_practised", "acad_accuracy_trend",
           "beh_active_days", "beh_longest_inactive"]   # activity_gaps: the slice's filter inside the base
    with open_store(small_store, read_only=True) as s:
        duck = compute_indicators(s.con, TERM, ids)
        spark = compute_indicators(s.con, TERM, ids, engine=spark_engine, slices=3)
    assert spark.unsupported == {} and _same(duck.values, spark.values)


def test_families_with_a_window_across_students_are_not_sliced():
    import re
    cat = compute_mod.load_catalogue()
    for fam in cat.families.values():
        parts = [p.strip() for p in re.findall(r"PARTITION BY\s+(.*?)\s*(?:ORDER BY|\))", fam.base, re.S)]
        across = [p for p in parts if "student_key" not in p] + (["OVER ()"] if "OVER ()" in fam.base else [])
        # an aggregate keyed by something else than the student, joined back (an assessment's mean, a class's count)
        keys = re.findall(r"SELECT\s+(?:\w+\.)?(\w+)\s*,(?:(?!SELECT).)*?GROUP BY", fam.base, re.S)
        across += [k for k in keys if k != "student_key"]
        assert not (fam.sliced and across), (fam.id, parts, keys)
        if fam.id in ("scores", "score_subjects", "exam_sequence", "score_rank", "homework"):
            assert across, fam.id     # the check sees them
    # sliced: the families whose state per student is large (the others run whole: a slice rescans the table)
    assert {f.id for f in cat.families.values() if f.sliced} == {"responses", "activity_gaps", "mood_runs"}


def test_a_marked_base_takes_the_slice_inside():
    """activity_gaps marks $slice(e.student_key) below its per-student DISTINCT and window: a slice computes only
    its own students' days (at 1M students, filtering after the base made each of 5 slices compute all 400M
    events' days again: 256 s, a third of the whole run); the whole base has TRUE there."""
    cat = compute_mod.load_catalogue()
    gaps = cat.families["activity_gaps"]
    whole, part = gaps.sql(), gaps.sql(("S4", "S8"))
    assert "$slice" not in whole + part and "AND TRUE)" in whole
    assert "AND (e.student_key >= 'S4' AND e.student_key < 'S8'))" in part and not part.startswith("SELECT * FROM (")
    resp = cat.families["responses"].sql((None, "S8"))
    assert resp.startswith("SELECT * FROM (") and resp.endswith("s WHERE (s.student_key < 'S8' OR s.student_key IS NULL)")
    # no marked family has a window over everyone left that the slice would cut
    for fam in cat.families.values():
        if "$slice" in fam.base:
            assert "OVER ()" not in fam.base.replace(" ", "").replace("OVER()", "OVER ()"), fam.id


def test_a_term_without_an_end_date_ends_on_the_last_active_day(small_store, tmp_path):
    """activity_gaps' fallback: with no end date the term ends on the last day anyone was active (all students,
    whatever the slice); with an end date no event is read for it. Checked against the gaps taken in pandas."""
    import shutil
    store = tmp_path / "undated.duckdb"
    shutil.copy(small_store, store)
    with open_store(store) as s:
        s.con.execute("UPDATE terms SET end_date = NULL WHERE term_id = $t", {"t": TERM})
        days = s.con.execute("""SELECT DISTINCT e.student_key, coalesce(e.term_day, date_diff('day', t.start_date,
                                CAST(e.ts AS DATE))) AS day FROM events e LEFT JOIN terms t ON t.term_id = e.term_id
                                WHERE e.term_id = $t""", {"t": TERM}).df().dropna()
        whole = compute_indicators(s.con, TERM, ["beh_longest_inactive"], slices=1).values["beh_longest_inactive"]
        sliced = compute_indicators(s.con, TERM, ["beh_longest_inactive"], slices=3).values["beh_longest_inactive"]
    end = days["day"].max()
    expected = {}
    for key, d in days.groupby("student_key")["day"]:
        d = sorted(d)
        gaps = [d[0] - min(-1, d[0] - 1) - 1] + [b - a - 1 for a, b in zip(d, d[1:])]
        expected[key] = max(max(gaps), end - d[-1])
    expected = pd.Series(expected, dtype=float)
    assert len(expected) > 100 and (expected > 0).any()
    assert np.allclose(whole.loc[expected.index], expected) and np.allclose(sliced.loc[expected.index], expected)


def test_families_run_grouped_by_the_table_they_read_each_with_its_weekly_series(small_store):
    cat = compute_mod.load_catalogue()
    inds, weekly = compute_mod._needed(cat, list(cat.indicators))
    families: dict = {}
    for i in inds:
        if i.kind in ("sql", "network"):
            families.setdefault((i.kind, i.family), []).append(i)
    order = compute_mod._schedule(cat, families, weekly)
    assert sorted(order) == sorted({f for _, f in families} | {cat[i].family for i in weekly})
    first = [cat.families[f].sources[0] for f in order]
    assert first == sorted(first) and first.count("events") >= 5   # each table's families one after the other
    # what the progress bar shows: each family once, its weekly series and trends within its own step
    seen: list[str] = []
    with open_store(small_store, read_only=True) as s:
        frame = compute_indicators(s.con, TERM, weekly=True, progress=lambda step, n, total: seen.append(step))
    assert seen == order + ["done"]
    assert set(frame.weekly["indicator_id"]) == weekly | {i.id for i in inds if i.weekly}
    assert frame.values["beh_engagement_trend"].notna().sum() > 100
