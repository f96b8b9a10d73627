"""Risk features as of a cut-off week: only facts dated before the cut-off, one row per enrolment.

A cut-off week ``W`` means "at the end of week W", week 1 being days 0–6 of the term (the weeks of
the indicator engine): facts with ``term_day < 7 * W`` are known, later ones are not. ``W = 0`` is the
day the course starts (registration and background only).

* Behaviour: the indicator engine's weekly series (:func:`workbench.indicators.compute.compute_indicators`
  with ``weekly=True``) of ``beh_actions`` and ``beh_active_days``, summed over the weeks up to W, plus the
  last two weeks, the weeks since the last activity and the zero-filled weekly slope. A class whose
  students have no events before the cut-off is *not covered* (OULAD's click log covers 3 of 22
  presentations): its behaviour features stay unknown (NaN), not 0. The engine's series are per student
  and term, so a student in two classes of one term gets the same behaviour in both.
* Assessments (plain SQL): submissions dated before the cut-off and assessments due before it, per
  enrolment; exams are never features (the exam is part of the outcome).
* Registration and background: registration day, courses this term, earlier attempts at the module
  (counted from the store's own earlier terms), education / IMD / age bands and the module.

The population at W is every enrolment registered before the cut-off that had not withdrawn before
it (``population="active"``); ``population="started"`` keeps everyone still enrolled on day 0 (the
whole-course protocol of published OULAD results). Targets (in ``RiskFrame.info``): ``withdrawn``,
``fail_or_withdrawn`` (vs pass or distinction) and ``next_assessment`` (the first assessment due after the
cut-off not passed: failed, missed or withdrawn; undefined for a student who handed it in before the cut-off). Feature names and zh/en labels:
:mod:`workbench.alerts.risk_catalogue` (``risk_features.yaml``).

>>> from workbench.alerts.risk_catalogue import feature_catalogue
>>> len(feature_catalogue()[0]), TARGETS[:2]
(23, ('withdrawn', 'fail_or_withdrawn'))
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from workbench.alerts.risk_catalogue import feature_catalogue
from workbench.indicators.compute import compute_indicators
from workbench.sqltext import q

TARGETS = ("withdrawn", "fail_or_withdrawn", "next_assessment")
SERIES = ("beh_actions", "beh_active_days")
POPULATIONS = ("active", "started")


@dataclass
class RiskFrame:
    """Features of one cut-off week: ``X`` (index student_key, class_id) and ``info`` (same index: term_id,
    final_result, the targets of :data:`TARGETS` as 0/1 (NaN where undefined) and the fairness subgroups)."""
    week: int
    X: pd.DataFrame
    info: pd.DataFrame
    terms: tuple[str, ...] = field(default_factory=tuple)   # every term of the store, earliest first

    def target(self, name: str) -> pd.Series:
        if name not in TARGETS:
            raise KeyError(f"unknown target {name!r}; one of {', '.join(TARGETS)}")
        return self.info[name]

    def groups(self) -> pd.DataFrame:
        return self.info[[g for g in feature_catalogue()[1] if g in self.info.columns]]

    def subset(self, mask: np.ndarray | pd.Series) -> RiskFrame:
        m = np.asarray(mask, dtype=bool)
        return RiskFrame(self.week, self.X[m], self.info[m], self.terms)


def term_order(con: duckdb.DuckDBPyConnection) -> tuple[str, ...]:
    """Every term of the store, earliest first (by start date, then by id: OULAD's 2013B < 2013J < 2014B).

    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute("CREATE TABLE terms AS SELECT * FROM (VALUES ('2014J', NULL), ('2013B', NULL)) t(term_id, start_date)")
    >>> term_order(con)
    ('2013B', '2014J')
    """
    return tuple(r[0] for r in con.execute("SELECT term_id FROM terms ORDER BY start_date NULLS LAST, term_id").fetchall())


def behaviour_series(con: duckdb.DuckDBPyConnection, terms: Sequence[str]) -> pd.DataFrame:
    """Weekly ``beh_actions`` and ``beh_active_days`` of every student of ``terms`` from the indicator engine:
    one row per term, student and week with any activity (columns term_id, student_key, week, …).

    >>> import os, tempfile
    >>> from workbench.store import open_store
    >>> with open_store(os.path.join(tempfile.mkdtemp(), "s.duckdb")) as s:
    ...     behaviour_series(s.con, ["2014J"]).columns.tolist()
    ['term_id', 'student_key', 'week', 'beh_actions', 'beh_active_days']
    """
    parts = []
    for term in terms:
        weekly = compute_indicators(con, term, SERIES, weekly=True).weekly
        if weekly is None or weekly.empty:
            continue
        wide = weekly.pivot_table(index=["student_key", "week"], columns="indicator_id", values="value", aggfunc="sum")
        parts.append(wide.reindex(columns=list(SERIES)).reset_index().assign(term_id=term))
    cols = ["term_id", "student_key", "week", *SERIES]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def _behaviour(series: pd.DataFrame, week: int) -> pd.DataFrame:
    s = series[series["week"] <= week]
    keys = ["term_id", "student_key"]
    g = s.groupby(keys)
    out = pd.DataFrame({"beh_active_days": g["beh_active_days"].sum(), "beh_actions": g["beh_actions"].sum()})
    out["risk_recent_actions"] = s[s["week"] > week - 2].groupby(keys)["beh_actions"].sum()
    out["risk_weeks_inactive"] = week - s[s["beh_actions"] > 0].groupby(keys)["week"].max()
    if week >= 3:   # least-squares slope over weeks 1..W, a week without activity counting as 0
        inside = s[s["week"] >= 1]
        k = inside["week"].astype(float)
        sums = inside.assign(ka=k * inside["beh_actions"]).groupby(keys)[["ka", "beh_actions"]].sum()
        sxx = week * (week ** 2 - 1) / 12.0
        out["beh_engagement_trend"] = (sums["ka"] - (week + 1) / 2.0 * sums["beh_actions"]) / sxx
        out["beh_engagement_trend"] = out["beh_engagement_trend"].fillna(0.0)
    else:
        out["beh_engagement_trend"] = np.nan
    return out


_ENROLMENTS_SQL = """
WITH pop AS (
  SELECT e.student_key, e.class_id, e.term_id, c.subject, e.registered_day, e.final_result
  FROM enrolments e JOIN classes c ON c.class_id = e.class_id
  WHERE list_contains($terms, e.term_id) AND coalesce(e.registered_day, -100000) < $day
    AND (e.unregistered_day IS NULL OR e.unregistered_day >= $alive)),
ranked AS (SELECT term_id, row_number() OVER (ORDER BY start_date NULLS LAST, term_id) AS r FROM terms),
due AS (
  SELECT a.assessment_id, a.class_id, a.weight,
         coalesce(a.term_day, date_diff('day', t.start_date, a.date)) AS due_day,
         coalesce(a.max_score, 100) AS max_score
  FROM assessments a LEFT JOIN terms t ON t.term_id = a.term_id
  WHERE lower(coalesce(a.kind, '')) <> 'exam'),
sub AS (
  SELECT s.student_key, d.class_id, d.assessment_id, d.due_day, d.weight, coalesce(s.is_banked, FALSE) AS banked,
         coalesce(s.term_day, date_diff('day', t.start_date, s.date)) AS day,
         100.0 * s.score / nullif(coalesce(s.max_score, d.max_score), 0) AS pct
  FROM scores s JOIN due d ON d.assessment_id = s.assessment_id
  LEFT JOIN classes c ON c.class_id = d.class_id LEFT JOIN terms t ON t.term_id = c.term_id
  WHERE s.score IS NOT NULL),
known AS (SELECT * FROM sub WHERE day < $day),
per AS (
  SELECT p.student_key, p.class_id,
         count(*) FILTER (WHERE k.due_day < $day) AS submitted_due,
         avg(k.pct) AS acad_score_mean,
         avg(CASE WHEN k.pct < $pass THEN 1.0 ELSE 0.0 END) AS risk_fail_share,
         last(k.pct ORDER BY k.day, k.assessment_id) AS risk_last_score,
         avg(CASE WHEN k.day <= k.due_day THEN 1.0 ELSE 0.0 END) FILTER (WHERE NOT k.banked) AS beh_homework_on_time,
         avg(k.due_day - k.day) FILTER (WHERE NOT k.banked) AS risk_days_early,
         sum(k.pct * k.weight) FILTER (WHERE k.due_day < $day) AS weighted_sum,
         count(*) FILTER (WHERE k.banked) AS risk_banked,
         $day - max(k.day) FILTER (WHERE NOT k.banked) AS risk_days_since_submission,
         max(k.due_day) FILTER (WHERE k.due_day < $day) AS last_due_done
  FROM pop p JOIN known k ON k.student_key = p.student_key AND k.class_id = p.class_id GROUP BY ALL),
streak AS (
  SELECT p.student_key, p.class_id, count(*) AS risk_missed_streak
  FROM pop p LEFT JOIN per x ON x.student_key = p.student_key AND x.class_id = p.class_id
  JOIN due d ON d.class_id = p.class_id AND d.due_day < $day AND d.due_day > coalesce(x.last_due_done, -100000)
  GROUP BY ALL),
dues AS (SELECT class_id, count(*) AS n_due, sum(weight) AS w_due FROM due WHERE due_day < $day GROUP BY 1),
nxt AS (SELECT class_id, first(assessment_id ORDER BY due_day, assessment_id) AS next_id FROM due WHERE due_day >= $day GROUP BY 1),
courses AS (
  SELECT student_key, term_id, count(*) AS basic_courses FROM enrolments
  WHERE coalesce(registered_day, -100000) < $day AND (unregistered_day IS NULL OR unregistered_day >= $day)
  GROUP BY ALL),
attempts AS (
  SELECT p.student_key, p.class_id, count(e.class_id) AS risk_prev_attempts
  FROM pop p JOIN ranked rp ON rp.term_id = p.term_id
  LEFT JOIN (SELECT e.student_key, e.class_id, c.subject, r.r FROM enrolments e JOIN classes c ON c.class_id = e.class_id
             JOIN ranked r ON r.term_id = e.term_id) e
    ON e.student_key = p.student_key AND e.subject = p.subject AND e.r < rp.r
  GROUP BY ALL)
SELECT p.student_key, p.class_id, p.term_id, p.subject, p.final_result,
       p.registered_day AS basic_registration_day, coalesce(co.basic_courses, 1) AS basic_courses,
       a.risk_prev_attempts,
       CASE WHEN d.n_due > 0 THEN d.n_due - coalesce(x.submitted_due, 0) END AS risk_missed,
       CASE WHEN d.n_due > 0 THEN coalesce(sk.risk_missed_streak, 0) END AS risk_missed_streak,
       CASE WHEN d.n_due > 0 THEN coalesce(x.submitted_due, 0) / d.n_due END AS beh_homework_completion,
       x.risk_days_since_submission,
       x.beh_homework_on_time, x.risk_days_early, x.acad_score_mean,
       CASE WHEN d.w_due > 0 THEN coalesce(x.weighted_sum, 0) / d.w_due END AS risk_weighted_score,
       x.risk_fail_share, x.risk_last_score, coalesce(x.risk_banked, 0) AS risk_banked,
       CASE WHEN n.next_id IS NULL OR p.final_result IS NULL THEN NULL
            WHEN EXISTS (SELECT 1 FROM known k WHERE k.student_key = p.student_key AND k.assessment_id = n.next_id)
              THEN NULL   -- already handed in before the cut-off: nothing left to predict
            WHEN EXISTS (SELECT 1 FROM sub s WHERE s.student_key = p.student_key AND s.assessment_id = n.next_id
                         AND s.pct >= $pass) THEN 0 ELSE 1 END AS next_assessment,
       st.gender, st.attrs->>'age_band' AS age_band, st.attrs->>'imd_band' AS imd_band,
       st.attrs->>'disability' AS disability, st.attrs->>'highest_education' AS highest_education,
       st.attrs->>'region' AS region
FROM pop p LEFT JOIN per x ON x.student_key = p.student_key AND x.class_id = p.class_id
LEFT JOIN dues d ON d.class_id = p.class_id LEFT JOIN nxt n ON n.class_id = p.class_id
LEFT JOIN courses co ON co.student_key = p.student_key AND co.term_id = p.term_id
LEFT JOIN streak sk ON sk.student_key = p.student_key AND sk.class_id = p.class_id
LEFT JOIN attempts a ON a.student_key = p.student_key AND a.class_id = p.class_id
LEFT JOIN students st ON st.student_key = p.student_key
ORDER BY p.student_key, p.class_id
"""


def risk_features(con: duckdb.DuckDBPyConnection, terms: Sequence[str], week: int, *, population: str = "active",
                  series: pd.DataFrame | None = None, pass_mark: float = 40.0) -> RiskFrame:
    """Features of every enrolment of ``terms`` as of the end of cut-off ``week``.

    Parameters
    ----------
    con : the store's DuckDB connection.
    terms : term ids, e.g. ``["2013B", "2013J", "2014B", "2014J"]`` (OULAD presentations).
    week : cut-off week; facts with ``term_day < 7 * week`` are used, nothing later.
    population : ``"active"`` (registered before the cut-off and not withdrawn before it) or ``"started"``
        (still enrolled on day 0; withdrawals after day 0 stay in).
    series : :func:`behaviour_series` of ``terms``, to reuse across weeks (computed when omitted).
    pass_mark : percent score below which an assessment counts as failed (OULAD: 40).

    Examples
    --------
    >>> import os, tempfile
    >>> from workbench.store import open_store
    >>> with open_store(os.path.join(tempfile.mkdtemp(), "s.duckdb")) as s:
    ...     f = risk_features(s.con, ["2014J"], 8)
    >>> f.X.shape[0], list(f.X.columns[:2]), f.week
    (0, ['beh_active_days', 'beh_actions'], 8)
    """
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {POPULATIONS}, not {population!r}")
    feats, groups = feature_catalogue()
    terms = list(terms)
    day = 7 * int(week)
    rows = con.execute(_ENROLMENTS_SQL, {"terms": terms, "day": day, "alive": day if population == "active" else 0,
                                         "pass": float(pass_mark)}).df()
    rows = rows.set_index(["student_key", "class_id"])
    series = behaviour_series(con, terms) if series is None else series
    beh = _behaviour(series[series["term_id"].isin(terms)], int(week))
    keyed = pd.MultiIndex.from_arrays([rows["term_id"], rows.index.get_level_values("student_key")])
    beh = beh.reindex(keyed)
    beh.index = rows.index
    covered = beh["beh_actions"].gt(0).groupby(rows.index.get_level_values("class_id")).transform("any")
    zero_when_quiet = ["beh_active_days", "beh_actions", "risk_recent_actions"] + (["beh_engagement_trend"] if week >= 3 else [])
    for col in zero_when_quiet:
        beh[col] = beh[col].where(~covered | beh[col].notna(), 0.0)
    beh = beh.where(covered, np.nan)
    beh["risk_weeks_inactive"] = beh["risk_weeks_inactive"].where(covered)
    X = pd.DataFrame(index=rows.index)
    subjects = sorted(r[0] for r in con.execute("SELECT DISTINCT subject FROM classes WHERE subject IS NOT NULL").fetchall())
    for f in feats.values():
        if f.categorical:
            X[f.id] = pd.Categorical(rows[f.id], categories=subjects)
        elif f.levels:
            codes = {lv["value"]: float(i) for i, lv in enumerate(f.levels)}
            X[f.id] = rows[f.attribute].map(codes).astype(float)
        else:
            X[f.id] = (beh[f.id] if f.id in beh.columns else rows[f.id]).astype(float)
    outcome = rows["final_result"]
    info = pd.DataFrame({"term_id": rows["term_id"], "final_result": outcome}, index=rows.index)
    info["withdrawn"] = (outcome == "withdrawn").astype(float).where(outcome.notna())
    info["fail_or_withdrawn"] = outcome.isin(["withdrawn", "fail"]).astype(float).where(outcome.notna())
    info["next_assessment"] = rows["next_assessment"].astype(float)
    for g in groups:
        info[g] = rows[g].astype(object).where(rows[g].notna(), None)
    return RiskFrame(int(week), X, info, term_order(con))


def static_features(con: duckdb.DuckDBPyConnection, terms: Sequence[str], indicators: Sequence[str],
                    attributes: Sequence[str] = ()) -> pd.DataFrame:
    """Term-grain indicator values (the engine's) and student attributes as categories (a column of
    ``students`` such as ``gender``, else a key of ``students.attrs``), one row per student of
    ``terms``: the frame of a dataset without dates, such as xAPI-Edu-Data's behaviour counts.

    >>> import os, tempfile
    >>> from workbench.store import open_store
    >>> with open_store(os.path.join(tempfile.mkdtemp(), "s.duckdb")) as s:
    ...     static_features(s.con, ["first"], ["beh_questions_asked"], ["Relation"]).columns.tolist()
    ['beh_questions_asked', 'Relation']
    """
    parts = [compute_indicators(con, t, indicators).values for t in terms]
    values = pd.concat(parts) if parts else pd.DataFrame(columns=list(indicators))
    values = values[~values.index.duplicated()].reindex(columns=list(indicators)).astype(float)
    columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                          "WHERE table_name = 'students'").fetchall()} - {"attrs", "student_key"}
    for a in attributes:
        sql = f"SELECT student_key, CAST({q(a)} AS VARCHAR) FROM students" if a in columns else \
            "SELECT student_key, attrs->>$a FROM students"
        got = dict(con.execute(sql, {} if a in columns else {"a": a}).fetchall())
        values[a] = pd.Categorical(values.index.map(got))
    return values
