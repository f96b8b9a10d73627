"""Indicator benchmark: every indicator for ~10M LMS events / 50k students against hand-written DuckDB.

The store is the demo school (``--students``, ``--events-per-week``) generated and ingested as
``workbench demo`` does it, built once and cached in ``benchmarks/_work/`` (then opened read-only).

Per family it times our fused GROUP BY (every indicator of the family in one query, as
``compute_indicators`` runs it) against two references over the same rows:

- **hand-written**: the one query a DuckDB user would write for the same aggregates, without the
  framework (no catalogue, no base sub-query, no population join or fill): ``HAND`` below. Its values
  are checked against ours (``values`` column). This ratio measures our overhead; the goal is ≤ 1.5×.
  It runs once untimed first, so that neither side pays for reading cold pages.
- **count(*)**: a bare ``SELECT student_key, count(*) … GROUP BY 1`` over the family's first source
  table (filtered by term where the table has ``term_id``): what the aggregates themselves cost.

The network family's hand-written reference is the edge-list GROUP BY in DuckDB plus networkx called
directly on that graph (``degree_centrality``, ``pagerank``, and ``betweenness_centrality`` /
``clustering`` on each class's subgraph): what the engine ran before it computed the same measures on
arrays. The trends row times the weekly series behind the trend indicators and their slopes against one
hand-written ``regr_slope`` query per trend. The last rows run all indicators through
``compute_indicators`` (population, fill and pivot included) against the sum of the hand-written
references, with and without the network family. Then ProfileModel fit and transform for each shipped
spec on 100k students (the indicator frame stacked with renamed copies and a little jitter).

Prints seconds and ratios; never asserts a timing.
Run: ``make bench`` or ``.venv/bin/python benchmarks/indicators.py [--students N] [--events-per-week E] [--repeat R]``.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.demo import generate_demo_school  # noqa: E402
from workbench.indicators import compute_indicators, load_catalogue, population  # noqa: E402
from workbench.indicators.compute import _family_query, _network, _weekly_and_trends  # noqa: E402
from workbench.indicators.engines import DuckDBEngine  # noqa: E402
from workbench.ingest import ingest_paths  # noqa: E402
from workbench.store import TABLES, open_store  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"
# in the cached stores' names: their student keys' form (12 characters since workbench.student_keys); a cache made
# with the older 25-character keys is not reused, its GROUP BYs are slower (100k students: 30–31 s against 25–26 s)
KEY_FORM = "k12"
KEY = bytes.fromhex("5a" * 32)
TERM = "2026-2027-1"
GOAL = 1.5
SPECS = ("academic_emotion", "whole_person", "online_engagement")
# families whose rows are the interactions (events with a target); keyed by the receiving student
TARGETED = {"interactions_received": "target_key", "peers": "student_key", "interaction_network": "student_key"}

_PCT = "100.0 * s.score / nullif(coalesce(s.max_score, a.max_score, 100), 0)"
_SCORES = "scores s JOIN assessments a ON a.assessment_id = s.assessment_id WHERE a.term_id = $term AND s.score IS NOT NULL"
_Z = "(pct - avg(pct) OVER w) / nullif(stddev_samp(pct) OVER w, 0)"
_N = "coalesce(count, 1)"
_EVENT_DAY = "coalesce(e.term_day, date_diff('day', t.start_date, CAST(e.ts AS DATE)))"
_MOOD = "FROM surveys WHERE term_id = $term AND instrument = 'mood_checkin' AND value IS NOT NULL"
_GAD = "FILTER (WHERE instrument = 'GAD-7')"
# The hand-written reference of each SQL family: the same aggregates over the same rows in one plain query,
# each column named after the indicator it computes (checked against ours).
HAND = {
    "roster": """
        SELECT e.student_key, min(c.grade) AS basic_grade,
               max(CASE WHEN st.gender = 'female' THEN 1.0 WHEN st.gender = 'male' THEN 0.0 END) AS basic_female,
               max(e.class_size) AS basic_class_size, count(DISTINCT e.class_id) AS basic_courses,
               min(e.registered_day) AS basic_registration_day
        FROM (SELECT *, count(*) OVER (PARTITION BY class_id) AS class_size FROM enrolments WHERE term_id = $term) e
        LEFT JOIN classes c ON c.class_id = e.class_id LEFT JOIN students st ON st.student_key = e.student_key
        GROUP BY 1""",
    "scores": f"""
        WITH p AS (SELECT s.student_key, s.assessment_id, lower(a.kind) AS kind, {_PCT} AS pct FROM {_SCORES}),
        z AS (SELECT *, {_Z} AS z FROM p WINDOW w AS (PARTITION BY assessment_id))
        SELECT student_key, avg(pct) AS acad_score_mean, avg(z) AS acad_score_z,
               avg(pct) FILTER (WHERE kind = 'exam') AS acad_exam_mean,
               avg(CASE WHEN pct < 60 THEN 1.0 ELSE 0.0 END) AS acad_fail_rate, stddev_samp(z) AS acad_volatility
        FROM z GROUP BY 1""",
    "score_rank": f"""
        WITH p AS (SELECT s.student_key, s.assessment_id, {_PCT} AS pct FROM {_SCORES}),
        z AS (SELECT student_key, avg(z) AS z FROM (SELECT student_key, {_Z} AS z FROM p
                                                    WINDOW w AS (PARTITION BY assessment_id)) GROUP BY 1),
        g AS (SELECT e.student_key, min(c.grade) AS grade FROM enrolments e LEFT JOIN classes c ON c.class_id = e.class_id
              WHERE e.term_id = $term GROUP BY 1)
        SELECT z.student_key, 100 * percent_rank() OVER (PARTITION BY g.grade ORDER BY z.z) AS acad_grade_percentile
        FROM z LEFT JOIN g ON g.student_key = z.student_key WHERE z.z IS NOT NULL""",
    "exam_sequence": f"""
        WITH p AS (SELECT s.student_key, s.assessment_id, lower(a.kind) = 'exam' AS is_exam,
                          coalesce(a.name, a.assessment_id) AS exam, coalesce(s.date, a.date) AS date,
                          coalesce(s.term_day, a.term_day) AS day, {_PCT} AS pct FROM {_SCORES}),
        z AS (SELECT *, {_Z} AS z FROM p WINDOW w AS (PARTITION BY assessment_id)),
        e AS (SELECT student_key, exam, min(date) AS date, min(day) AS day, avg(z) AS z FROM z WHERE is_exam GROUP BY ALL),
        u AS (SELECT student_key, avg(z) AS usual FROM z WHERE NOT is_exam GROUP BY 1),
        b AS (SELECT e.student_key, e.exam, avg(z.z) AS z FROM e JOIN z ON z.student_key = e.student_key
              AND NOT z.is_exam AND (z.date < e.date OR z.day < e.day) GROUP BY ALL),
        c AS (SELECT e.student_key, e.z - u.usual AS shortfall,
                     e.z - coalesce(lag(e.z) OVER (PARTITION BY e.student_key ORDER BY e.date, e.day, e.exam), b.z) AS change
              FROM e LEFT JOIN u ON u.student_key = e.student_key LEFT JOIN b ON b.student_key = e.student_key AND b.exam = e.exam)
        SELECT student_key, least(0, min(change)) AS acad_largest_drop, min(shortfall) AS acad_exam_shortfall
        FROM c GROUP BY 1""",
    "score_subjects": f"""
        WITH p AS (SELECT s.student_key, s.assessment_id, a.subject, {_PCT} AS pct FROM {_SCORES}),
        z AS (SELECT student_key, subject, {_Z} AS z FROM p WINDOW w AS (PARTITION BY assessment_id)),
        sz AS (SELECT student_key, subject, avg(z) AS subject_z FROM z GROUP BY ALL)
        SELECT student_key, stddev_samp(subject_z) AS acad_subject_spread FROM sz GROUP BY 1""",
    "responses": """
        SELECT r.student_key, avg(CAST(r.correct AS DOUBLE)) AS acad_item_accuracy,
               avg(CAST(r.correct AS DOUBLE)) FILTER (WHERE r.attempt IS NULL OR r.attempt <= 1) AS acad_first_try_accuracy,
               median(r.duration_s) AS acad_response_time, count(DISTINCT r.item_id) AS beh_items_practised
        FROM responses r JOIN terms t ON t.term_id = $term
        WHERE r.ts IS NOT NULL AND CAST(r.ts AS DATE) BETWEEN t.start_date AND t.end_date GROUP BY 1""",
    "events": f"""
        SELECT student_key, sum({_N}) AS beh_actions,
               avg(CASE WHEN hour(ts) >= 23 OR hour(ts) < 6 THEN 1.0 ELSE 0.0 END) FILTER (WHERE ts IS NOT NULL) AS beh_night_share,
               sum({_N}) FILTER (WHERE verb IN ('resource_click', 'vle_click', 'resource_visit')) AS beh_resource_clicks,
               sum({_N}) FILTER (WHERE verb IN ('question_asked', 'raised_hand')) AS beh_questions_asked,
               sum(duration_s) FILTER (WHERE verb = 'video_play') / 60 AS beh_video_minutes,
               least(1.0, sum({_N}) FILTER (WHERE verb = 'video_complete')
                          / nullif(sum({_N}) FILTER (WHERE verb = 'video_play'), 0)) AS beh_video_completion,
               count(DISTINCT CASE WHEN verb = 'homework_submit' THEN object_id END) AS beh_homework_submitted,
               avg(CAST(on_time AS DOUBLE)) FILTER (WHERE verb = 'homework_submit') AS beh_homework_on_time,
               sum({_N}) FILTER (WHERE verb = 'forum_post') AS soc_forum_posts,
               sum({_N}) FILTER (WHERE verb = 'forum_reply') AS soc_forum_replies,
               sum({_N}) FILTER (WHERE verb = 'like') AS soc_likes_given,
               sum({_N}) FILTER (WHERE verb = 'group_discussion') AS soc_group_discussions
        FROM events WHERE term_id = $term GROUP BY 1""",
    "activity_gaps": f"""
        WITH d AS (SELECT DISTINCT e.student_key, {_EVENT_DAY} AS day
                   FROM events e JOIN terms t ON t.term_id = e.term_id WHERE e.term_id = $term),
        g AS (SELECT student_key, day,
                     day - coalesce(lag(day) OVER (PARTITION BY student_key ORDER BY day), least(-1, day - 1)) - 1 AS gap
              FROM d WHERE day IS NOT NULL)
        SELECT student_key, count(*) AS beh_active_days,
               greatest(max(gap), (SELECT date_diff('day', start_date, end_date) FROM terms WHERE term_id = $term)
                                  - max(day)) AS beh_longest_inactive
        FROM g GROUP BY 1""",
    "homework": """
        WITH hw AS (SELECT e.student_key, en.class_id, e.object_id FROM events e
                    JOIN enrolments en ON en.student_key = e.student_key AND en.term_id = e.term_id
                    WHERE e.term_id = $term AND e.verb = 'homework_submit' AND e.object_id IS NOT NULL),
        a AS (SELECT class_id, count(DISTINCT object_id) AS n FROM hw GROUP BY 1)
        SELECT hw.student_key, count(DISTINCT hw.object_id) / max(a.n) AS beh_homework_completion
        FROM hw JOIN a ON a.class_id = hw.class_id GROUP BY 1""",
    "attendance": """
        SELECT student_key, avg(CASE WHEN status = 'absent' THEN 0.0 ELSE 1.0 END) AS beh_attendance_rate,
               count(*) FILTER (WHERE status = 'absent') AS beh_absent_days,
               count(*) FILTER (WHERE status = 'late') AS beh_late_count
        FROM attendance WHERE term_id = $term GROUP BY 1""",
    "mood": f"""
        SELECT student_key, avg(value) AS emo_mood_mean, var_samp(value) AS emo_mood_variability,
               avg(CASE WHEN value <= 2 THEN 1.0 ELSE 0.0 END) AS emo_negative_share, count(*) AS emo_checkins
        {_MOOD} GROUP BY 1""",
    "mood_runs": f"""
        WITH g AS (SELECT student_key, value <= 2 AS negative,
                          sum(CASE WHEN value <= 2 THEN 0 ELSE 1 END)
                              OVER (PARTITION BY student_key ORDER BY ts ROWS UNBOUNDED PRECEDING) AS run
                   {_MOOD}),
        r AS (SELECT student_key, run, count(*) FILTER (WHERE negative) AS n FROM g GROUP BY ALL)
        SELECT student_key, max(n) AS emo_negative_streak FROM r GROUP BY 1""",
    "scales": f"""
        SELECT student_key, arg_max(score, date) {_GAD} AS psy_gad7_latest, max(score) {_GAD} AS psy_gad7_max,
               avg(score) {_GAD} AS psy_gad7_mean, max(score) {_GAD} - arg_min(score, date) {_GAD} AS psy_gad7_rise
        FROM scale_scores WHERE term_id = $term AND score IS NOT NULL GROUP BY 1""",
    "interest_survey": """
        WITH s AS (SELECT student_key, value, ts = max(ts) OVER (PARTITION BY student_key) AS latest FROM surveys
                   WHERE term_id = $term AND instrument = 'interest_inventory' AND value IS NOT NULL)
        SELECT student_key, avg(value) FILTER (WHERE latest) AS int_stated_interest,
               count(*) FILTER (WHERE latest AND value >= 4) AS int_strong_interests,
               avg(value) FILTER (WHERE latest) - avg(value) FILTER (WHERE NOT latest) AS int_interest_change
        FROM s GROUP BY 1""",
    "subject_activity": """
        WITH a AS (SELECT student_key, subject, sum(coalesce(count, 1)) AS n FROM events
                   WHERE term_id = $term AND subject IS NOT NULL AND verb IN ('resource_click', 'video_play',
                         'video_complete', 'question_asked', 'vle_click', 'resource_visit') GROUP BY ALL),
        r AS (SELECT student_key, item AS subject, arg_max(value, ts) AS rating FROM surveys
              WHERE term_id = $term AND instrument = 'interest_inventory' GROUP BY ALL),
        s AS (SELECT a.student_key, a.n, a.n / sum(a.n) OVER (PARTITION BY a.student_key) AS share, r.rating
              FROM a LEFT JOIN r ON r.student_key = a.student_key AND r.subject = a.subject)
        SELECT student_key, max(share) AS int_top_subject_share, exp(-sum(share * ln(share))) AS int_subject_breadth,
               corr(rating, n) AS int_interest_behaviour_fit
        FROM s GROUP BY 1""",
    "activities": """
        SELECT student_key, count(*) FILTER (WHERE kind = 'club') AS int_club_sessions,
               count(*) FILTER (WHERE kind = 'competition') AS int_competitions, count(award) AS int_awards,
               count(DISTINCT kind) AS int_activity_kinds, sum(hours) FILTER (WHERE kind = 'volunteering') AS soc_volunteer_hours
        FROM activities WHERE term_id = $term GROUP BY 1""",
    "interactions_received": f"""
        SELECT target_key AS student_key, sum({_N}) FILTER (WHERE verb = 'like') AS soc_likes_received,
               sum({_N}) FILTER (WHERE verb = 'forum_reply') AS soc_replies_received
        FROM events WHERE term_id = $term AND target_key IS NOT NULL GROUP BY 1""",
    "peers": """
        SELECT student_key, count(DISTINCT peer) AS soc_distinct_peers FROM (
            SELECT student_key, target_key AS peer FROM events WHERE term_id = $term AND target_key IS NOT NULL
            UNION ALL
            SELECT target_key, student_key FROM events WHERE term_id = $term AND target_key IS NOT NULL) GROUP BY 1""",
}
_WEEK = "CAST(floor({day} / 7) AS INTEGER) + 1"
_SLOPE = "SELECT student_key, regr_slope(v, week) AS {id} FROM ({weekly}) w WHERE v IS NOT NULL GROUP BY 1 HAVING count(*) >= 3"
# the hand-written trends: the weekly series and its slope, one query per trend
HAND_TRENDS = {
    "acad_score_trend": _SLOPE.format(id="acad_score_trend", weekly=f"""
        WITH p AS (SELECT s.student_key, s.assessment_id, {_PCT} AS pct,
                          {_WEEK.format(day="coalesce(s.term_day, a.term_day, date_diff('day', t.start_date, coalesce(s.date, a.date)))")} AS week
                   FROM scores s JOIN assessments a ON a.assessment_id = s.assessment_id LEFT JOIN terms t ON t.term_id = a.term_id
                   WHERE a.term_id = $term AND s.score IS NOT NULL),
        z AS (SELECT student_key, week, {_Z} AS z FROM p WINDOW w AS (PARTITION BY assessment_id))
        SELECT student_key, week, avg(z) AS v FROM z WHERE week IS NOT NULL GROUP BY ALL"""),
    "acad_accuracy_trend": _SLOPE.format(id="acad_accuracy_trend", weekly=f"""
        SELECT r.student_key, {_WEEK.format(day="date_diff('day', t.start_date, CAST(r.ts AS DATE))")} AS week,
               avg(CAST(r.correct AS DOUBLE)) AS v
        FROM responses r JOIN terms t ON t.term_id = $term
        WHERE r.ts IS NOT NULL AND CAST(r.ts AS DATE) BETWEEN t.start_date AND t.end_date GROUP BY ALL"""),
    "beh_engagement_trend": _SLOPE.format(id="beh_engagement_trend", weekly=f"""
        SELECT e.student_key, {_WEEK.format(day=_EVENT_DAY)} AS week, sum({_N}) AS v
        FROM events e JOIN terms t ON t.term_id = e.term_id WHERE e.term_id = $term AND week IS NOT NULL GROUP BY ALL"""),
    "beh_lateness_trend": _SLOPE.format(id="beh_lateness_trend", weekly=f"""
        SELECT a.student_key, {_WEEK.format(day="date_diff('day', t.start_date, a.date)")} AS week,
               count(*) FILTER (WHERE status = 'late') AS v
        FROM attendance a JOIN terms t ON t.term_id = a.term_id WHERE a.term_id = $term AND week IS NOT NULL GROUP BY ALL"""),
    "emo_mood_trend": _SLOPE.format(id="emo_mood_trend", weekly=f"""
        SELECT s.student_key, {_WEEK.format(day="date_diff('day', t.start_date, CAST(s.ts AS DATE))")} AS week,
               avg(s.value) AS v
        FROM surveys s JOIN terms t ON t.term_id = s.term_id
        WHERE s.term_id = $term AND s.instrument = 'mood_checkin' AND s.value IS NOT NULL AND week IS NOT NULL GROUP BY ALL"""),
}


def build_store(students: int, events_per_week: float) -> Path:
    """The demo school's store for these parameters, generated and ingested once (cached)."""
    tag = f"{students}_{events_per_week:g}_{KEY_FORM}"
    store_path = WORK / f"indicators_{tag}.duckdb"
    if store_path.exists():
        return store_path
    demo = WORK / f"indicators_demo_{tag}"
    shutil.rmtree(demo, ignore_errors=True)
    t0 = time.perf_counter()
    summary = generate_demo_school(demo / "exports", demo / "ground_truth", students=students,
                                   events_per_week=events_per_week)
    print(f"generated demo school: {students:,} students, {summary['files']['lms_events.csv']:,} event rows "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    tmp = store_path.with_name(store_path.name + ".building")
    tmp.unlink(missing_ok=True)
    t1 = time.perf_counter()
    with open_store(tmp) as store:
        reports = ingest_paths(store, sorted(p for p in (demo / "exports").iterdir() if p.is_file()), KEY,
                               rejects_dir=demo / "rejects")
    failed = [r.file for r in reports if r.status == "failed"]
    if failed:
        raise SystemExit(f"ingest failed for {', '.join(failed)}; store left at {tmp}")
    print(f"ingested into {store_path.name} ({time.perf_counter() - t1:.0f} s)", flush=True)
    tmp.rename(store_path)
    shutil.rmtree(demo, ignore_errors=True)   # the store is the cache; the exports are large
    return store_path


def bare_query(family) -> str:
    """``SELECT <student>, count(*)`` over the family's first source, filtered by the term if it can be."""
    table = family.sources[0]
    key = TARGETED.get(family.id, "student_key")
    where = ["term_id = $term"] if "term_id" in TABLES[table].column_names() else []
    if family.id in TARGETED:
        where.append("target_key IS NOT NULL")
    cond = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {key} AS student_key, count(*) AS n FROM {table}{cond} GROUP BY 1"


def networkx_direct(con, family, scope: pd.DataFrame) -> pd.DataFrame:
    """The network measures as one would write them with networkx: the graph of the edge list, degree and
    PageRank on it, betweenness and clustering on each class's subgraph."""
    import networkx as nx
    directed = nx.DiGraph()
    directed.add_weighted_edges_from(con.execute(family.sql(), {"term": TERM}).fetchall())
    undirected = directed.to_undirected()
    n = max(len(scope), directed.number_of_nodes())
    klass = scope["class_id"].to_dict()
    groups: dict[object, list] = {}
    for node in undirected:
        groups.setdefault(klass.get(node), []).append(node)
    between, clustering = {}, {}
    for members in groups.values():
        sub = undirected.subgraph(members)
        clustering.update(nx.clustering(sub))
        k = None if len(members) <= 200 else 200
        between.update(nx.betweenness_centrality(sub, k=k, seed=0 if k else None))
    pr = nx.pagerank(directed, weight="weight")
    return pd.DataFrame({"soc_degree_centrality": {k: d / max(1, n - 1) for k, d in undirected.degree()},
                         "soc_pagerank": {k: v * len(pr) for k, v in pr.items()},
                         "soc_betweenness": between, "soc_clustering": clustering})


class Seconds(float):
    """Wall-clock seconds of the best run, with the process CPU seconds (all threads) of that run in ``cpu``:
    on a shared machine the CPU time moves much less than the wall time when other work takes the cores."""
    cpu: float


def timed(fn, repeat: int):
    """(best :class:`Seconds` of ``repeat`` runs, result of the last)."""
    best, out = None, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if best is None or wall < best:
            best = Seconds(wall)
            best.cpu = cpu
    return best, out


def same_values(ours: pd.DataFrame, hand: pd.DataFrame) -> str:
    """'same' when every column the hand-written query has equals ours (float rounding, NaN pattern)."""
    ours, hand = ours.astype(float), hand.astype(float)
    keys = ours.index.union(hand.index)
    bad = [c for c in hand.columns if c not in ours.columns]
    for c in hand.columns.intersection(ours.columns):
        a, b = ours[c].reindex(keys).to_numpy(), hand[c].reindex(keys).to_numpy()
        if not (np.array_equal(np.isnan(a), np.isnan(b))
                and np.allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-9, atol=1e-9)):
            bad.append(c)
    missing = [c for c in ours.columns if c not in hand.columns]
    return ("same" if not bad else "DIFFER: " + ", ".join(bad)) + (f" (not in hand-written: {', '.join(missing)})"
                                                                    if missing else "")


def bench_indicators(con, repeat: int):
    cat = load_catalogue()
    params = {"term": TERM}
    pop = population(con, TERM)
    members: dict[str, list] = {}
    for ind in cat.indicators.values():
        if ind.kind in ("sql", "network"):
            members.setdefault(ind.family, []).append(ind)
    rows = []
    for fam, inds in members.items():
        family = cat.families[fam]
        if family.kind == "network":
            ours, got = timed(lambda fam=fam, inds=inds: _network(DuckDBEngine(con).query, cat, fam, inds, TERM, pop), repeat)
            hand, ref = timed(lambda family=family: networkx_direct(con, family, pop), repeat)
        elif fam in HAND:
            sql = _family_query(cat, fam, inds, False)
            con.execute(HAND[fam], params).fetchall()   # warm-up: the first run of either would pay the cold pages
            ours, got = timed(lambda sql=sql: con.execute(sql, params).df().set_index("student_key"), repeat)
            hand, ref = timed(lambda fam=fam: con.execute(HAND[fam], params).df().set_index("student_key"), repeat)
        else:   # a family added to the catalogue after this benchmark was written
            sql = _family_query(cat, fam, inds, False)
            ours, got = timed(lambda sql=sql: con.execute(sql, params).df().set_index("student_key"), repeat)
            hand, ref = float("nan"), None
        bq = bare_query(family)
        count, _ = timed(lambda bq=bq: con.execute(bq, params if "$term" in bq else {}).df(), repeat)
        check = same_values(got, ref) if ref is not None else "no hand-written query"
        rows.append((fam, family.kind, len(inds), family.sources[0], ours, hand, count, check))

    trends = [i for i in cat.indicators.values() if i.kind == "trend"]
    weekly_of = {t.of for t in trends}
    for t in HAND_TRENDS.values():
        con.execute(t, params).fetchall()   # warm-up
    ours, (_, slopes) = timed(lambda: _weekly_and_trends(con, cat, weekly_of, trends, params, series=False), repeat)
    got = pd.concat(slopes, axis=1)
    known = [t.id for t in trends if t.id in HAND_TRENDS]
    hand, ref = timed(lambda: pd.concat([con.execute(HAND_TRENDS[t], params).df().set_index("student_key")
                                         for t in known], axis=1), repeat)
    rows.append(("weekly series + trends", "trend", len(trends), f"{len({cat[o].family for o in weekly_of})} families",
                 ours, hand, float("nan"), same_values(got, ref)))

    frame = None

    def run_all():
        nonlocal frame
        frame = compute_indicators(con, TERM)
    total, _ = timed(run_all, repeat)
    return cat, rows, total, frame


def model_input(frame, target: int, seed: int = 0) -> pd.DataFrame:
    """The indicator frame (values + scope) stacked into about ``target`` students: copies get the key and
    class suffixes _b, _c, … and Gaussian jitter of 5% of each column's spread on the indicators."""
    base = frame.values.join(frame.scope, how="left")
    cols = list(frame.values.columns)
    sd = base[cols].std().fillna(0.0).to_numpy()
    rng = np.random.default_rng(seed)
    parts = [base]
    for k in range(1, max(1, round(target / max(1, len(base))))):
        suffix = "_" + (chr(ord("a") + k) if k < 26 else f"c{k}")
        c = base.copy()
        c.index = c.index.astype(str) + suffix
        c["class_id"] = c["class_id"].astype("string") + suffix
        c[cols] = c[cols].to_numpy() + rng.normal(0.0, 1.0, (len(c), len(cols))) * (0.05 * sd)
        parts.append(c)
    x = pd.concat(parts)
    x.index.name = "student_key"
    return x


def bench_model(frame, target: int, repeat: int) -> None:
    try:
        from workbench.model import ProfileModel, load_spec
    except ImportError:
        print("ProfileModel: not available yet")
        return
    x = model_input(frame, target)
    print(f"\nProfileModel on {len(x):,} students ({x.shape[1] - 3} indicator columns), best of {repeat}:")
    print(f"{'spec':24}{'fit s':>10}{'transform s':>14}")
    for name in SPECS:
        try:
            spec = load_spec(name)
        except ValueError as exc:  # SpecError: a shipped spec not written yet
            print(f"{name:24}not available yet ({str(exc).splitlines()[0]})")
            continue
        fit = transform = float("inf")
        for _ in range(repeat):
            model = ProfileModel(spec)
            t0 = time.perf_counter()
            model.fit(x)
            t1 = time.perf_counter()
            model.transform(x)
            t2 = time.perf_counter()
            fit, transform = min(fit, t1 - t0), min(transform, t2 - t1)
        print(f"{name:24}{fit:10.2f}{transform:14.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=50_000)
    ap.add_argument("--events-per-week", type=float, default=8.5,
                    help="mean LMS events per student and week (default gives ~10M events for 50k students)")
    ap.add_argument("--model-students", type=int, default=100_000, help="students for the ProfileModel timing")
    ap.add_argument("--repeat", type=int, default=2, help="best of N runs each")
    ap.add_argument("--no-model", action="store_true", help="skip the ProfileModel timing")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    store_path = build_store(args.students, args.events_per_week)
    with open_store(store_path, read_only=True) as store:
        con = store.con
        n_events = con.execute("SELECT count(*) FROM events WHERE term_id = $t", {"t": TERM}).fetchone()[0]
        n_students = len(population(con, TERM))
        cat, rows, total, frame = bench_indicators(con, args.repeat)
    print(f"store: {store_path.name} ({n_students:,} students, {n_events:,} events in term {TERM}), "
          f"best of {args.repeat}")
    print("ours = the family's fused query as compute_indicators runs it; hand = hand-written DuckDB, same aggregates "
          "over the same rows (network: edge list + networkx); count(*) = bare count(*) group-by on the first source;\n"
          "ratios are of wall seconds (the goal) except cpu/hand, of process CPU seconds (steadier on a shared machine)")
    print(f"{'family':24}{'kind':>8}{'n':>4}  {'first source':14}{'ours s':>8}{'hand s':>8}{'/hand':>8}  "
          f"{'cpu/hand':>9}{'count s':>8}{'/count':>8}  values")
    for fam, kind, n, src, ours, hand, count, check in rows:
        ratio = ours / hand
        flag = "" if np.isnan(ratio) else (" ok" if ratio <= GOAL else " ABOVE")
        cpu_ratio = ours.cpu / getattr(hand, "cpu", float("nan"))
        print(f"{fam:24}{kind:>8}{n:4d}  {src:14}{ours:8.3f}{hand:8.3f}{ratio:7.2f}x{flag:6}{cpu_ratio:8.2f}x"
              f"{count:8.3f}{ours / count:7.1f}x  {check}")
    judged = [r for r in rows if not np.isnan(r[5])]
    above = [r[0] for r in judged if r[4] / r[5] > GOAL]
    print(f"families within {GOAL:.2f}x of the hand-written query: {len(judged) - len(above)}/{len(judged)}"
          + (f" (above: {', '.join(above)})" if above else ""))
    hand_sum = sum(r[5] for r in judged)
    hand_cpu = sum(r[5].cpu for r in judged)
    count_sum = sum(r[6] for r in rows if not np.isnan(r[6]))
    n_ind = len(cat.indicators)
    print(f"all {n_ind} indicators (compute_indicators, population/fill/pivot included): {total:.2f} s = "
          f"{total / hand_sum:.2f}x the sum of the hand-written references ({hand_sum:.2f} s; goal <= {GOAL:.2f}x "
          f"{'ok' if total / hand_sum <= GOAL else 'ABOVE'}), {total / count_sum:.1f}x the sum of count(*) group-bys "
          f"({count_sum:.2f} s)")
    print(f"  in CPU seconds (both threads): {total.cpu:.2f} s = {total.cpu / hand_cpu:.2f}x the hand-written "
          f"references' {hand_cpu:.2f} s")
    ours_sum, ours_cpu = sum(r[4] for r in judged), sum(r[4].cpu for r in judged)
    print(f"  (the families and trends timed one by one above: {ours_sum:.2f} s, {ours_cpu:.2f} s CPU; "
          f"compute_indicators runs the same queries plus the population, fill and pivot)")
    net = [r for r in rows if r[1] == "network"]
    if net:
        net_ours, net_hand = sum(r[4] for r in net), sum(r[5] for r in net)
        net_ours_cpu, net_hand_cpu = sum(r[4].cpu for r in net), sum(r[5].cpu for r in net)
        rest, rest_cpu = total - net_ours, total.cpu - net_ours_cpu
        print(f"  without the network family (its reference is networkx, {net_hand:.2f} s): {rest:.2f} s = "
              f"{rest / (hand_sum - net_hand):.2f}x the hand-written SQL ({hand_sum - net_hand:.2f} s); CPU "
              f"{rest_cpu:.2f} s = {rest_cpu / (hand_cpu - net_hand_cpu):.2f}x ({hand_cpu - net_hand_cpu:.2f} s)")
    if not args.no_model:
        bench_model(frame, args.model_students, args.repeat)


if __name__ == "__main__":
    main()
