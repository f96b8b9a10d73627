"""Signals the alert rules watch: one dated series per student, read from the store.

A signal is one SQL query (parameter ``$term``) giving ``student_key, day, value, label`` — daily platform
actions on school days (zeros included), mood check-ins, GAD-7 totals, assessment z-scores, missed homework,
absences … Every weekly indicator of the catalogue (``weekly: true``, e.g. ``beh_actions``) is a signal too, dated at
the end of its week. ``emotion`` marks the signals whose values only psychology roles may read.

>>> sorted(SIGNALS)[:3]
['absences', 'daily_actions', 'exam_shortfall']
>>> "beh_actions" in known_signals(), "basic_grade" in known_signals()
(True, False)
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pandas as pd

from workbench.indicators.catalogue import load_catalogue

# school days of the term: dates on which most of the school has an attendance record; else weekdays
_SCHOOL_DAYS = """
school_days AS (
  SELECT d AS day FROM (SELECT date AS d, count(*) AS n FROM attendance WHERE term_id = $term GROUP BY ALL)
  WHERE n >= 0.3 * (SELECT max(n) FROM (SELECT count(*) AS n FROM attendance WHERE term_id = $term GROUP BY date))
  UNION ALL
  SELECT CAST(g.d AS DATE) FROM terms t, generate_series(t.start_date, t.end_date, INTERVAL 1 DAY) AS g(d)
  WHERE t.term_id = $term AND isodow(g.d) <= 5 AND NOT EXISTS (SELECT 1 FROM attendance WHERE term_id = $term))"""


@dataclass(frozen=True)
class Signal:
    id: str
    zh: str
    en: str
    sql: str
    emotion: bool = False

    def label(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


SIGNALS: dict[str, Signal] = {s.id: s for s in [
    Signal("daily_actions", "每个上课日的平台操作次数", "platform actions per school day", f"""
      WITH {_SCHOOL_DAYS},
      st AS (SELECT DISTINCT student_key FROM enrolments WHERE term_id = $term),
      ev AS (SELECT student_key, CAST(ts AS DATE) AS day, count(*) AS n FROM events
             WHERE term_id = $term AND ts IS NOT NULL GROUP BY ALL),
      active AS (SELECT DISTINCT student_key FROM ev)
      SELECT st.student_key, sd.day, CAST(coalesce(ev.n, 0) AS DOUBLE) AS value, NULL AS label
      FROM st JOIN active USING (student_key) CROSS JOIN school_days sd
      LEFT JOIN ev ON ev.student_key = st.student_key AND ev.day = sd.day"""),
    Signal("mood", "情绪打卡（1–5）", "mood check-in (1–5)", """
      SELECT student_key, CAST(ts AS DATE) AS day, avg(value) AS value, NULL AS label FROM surveys
      WHERE term_id = $term AND instrument = 'mood_checkin' AND value IS NOT NULL GROUP BY ALL""", emotion=True),
    Signal("gad7", "焦虑量表 GAD-7 总分", "GAD-7 anxiety total", """
      SELECT student_key, date AS day, score AS value, instrument AS label FROM scale_scores
      WHERE term_id = $term AND instrument = 'GAD-7' AND score IS NOT NULL""", emotion=True),
    Signal("score_z", "当天测评的年级标准分（z）", "z-score of the day's assessments within the grade", """
      WITH s AS (
        SELECT s.student_key, a.assessment_id, coalesce(a.name, a.assessment_id) AS exam, a.subject,
               coalesce(s.date, a.date) AS day,
               100.0 * s.score / nullif(coalesce(s.max_score, a.max_score, 100), 0) AS pct
        FROM scores s JOIN assessments a ON a.assessment_id = s.assessment_id
        WHERE a.term_id = $term AND s.score IS NOT NULL),
      z AS (SELECT *, (pct - avg(pct) OVER w) / nullif(stddev_samp(pct) OVER w, 0) AS z
            FROM s WINDOW w AS (PARTITION BY assessment_id))
      SELECT student_key, day, avg(z) AS value, string_agg(DISTINCT exam, '、' ORDER BY exam) AS label
      FROM z WHERE z IS NOT NULL AND day IS NOT NULL GROUP BY student_key, day"""),
    Signal("exam_shortfall", "考试标准分低于本人此前水平的幅度", "exam z-score minus the student's own level before it", """
      WITH s AS (
        SELECT s.student_key, a.assessment_id, lower(a.kind) = 'exam' AS is_exam, coalesce(a.name, a.assessment_id) AS exam,
               coalesce(s.date, a.date) AS day,
               100.0 * s.score / nullif(coalesce(s.max_score, a.max_score, 100), 0) AS pct
        FROM scores s JOIN assessments a ON a.assessment_id = s.assessment_id
        WHERE a.term_id = $term AND s.score IS NOT NULL),
      z AS (SELECT *, (pct - avg(pct) OVER w) / nullif(stddev_samp(pct) OVER w, 0) AS z
            FROM s WINDOW w AS (PARTITION BY assessment_id)),
      e AS (SELECT student_key, exam, min(day) AS day, avg(z) AS z FROM z WHERE is_exam AND z IS NOT NULL GROUP BY ALL)
      SELECT e.student_key, e.day, e.z - avg(z.z) AS value, e.exam AS label
      FROM e JOIN z ON z.student_key = e.student_key AND z.day < e.day AND z.z IS NOT NULL
      GROUP BY e.student_key, e.day, e.z, e.exam HAVING count(*) >= 2"""),
    Signal("homework_missed", "未交作业（同班过半已交）", "homework not handed in (most of the class did)", """
      WITH members AS (SELECT DISTINCT student_key, class_id FROM enrolments WHERE term_id = $term),
      hw AS (SELECT e.student_key, m.class_id, regexp_replace(e.object_id, '-[0-9]+$', '') AS hw,
                    CAST(e.ts AS DATE) AS day
             FROM events e JOIN members m USING (student_key)
             WHERE e.term_id = $term AND e.verb = 'homework_submit' AND e.object_id IS NOT NULL AND e.ts IS NOT NULL),
      per AS (SELECT class_id, hw, count(DISTINCT student_key) AS n, CAST(min(day) AS DATE) AS day FROM hw GROUP BY ALL),
      size AS (SELECT class_id, count(*) AS size FROM members GROUP BY ALL),
      due AS (SELECT per.* FROM per JOIN size USING (class_id) WHERE per.n >= 0.5 * size.size)
      SELECT m.student_key, due.day, 1.0 AS value, due.hw AS label
      FROM due JOIN members m USING (class_id)
      WHERE NOT EXISTS (SELECT 1 FROM hw WHERE hw.student_key = m.student_key AND hw.hw = due.hw)"""),
    Signal("homework_late", "迟交作业", "homework handed in late", """
      SELECT student_key, CAST(ts AS DATE) AS day, 1.0 AS value, object_id AS label FROM events
      WHERE term_id = $term AND verb = 'homework_submit' AND on_time = false"""),
    Signal("absences", "缺勤", "absences", """
      SELECT student_key, date AS day, 1.0 AS value, status AS label FROM attendance
      WHERE term_id = $term AND status = 'absent'"""),
    Signal("late_arrivals", "迟到", "late arrivals", """
      SELECT student_key, date AS day, 1.0 AS value, status AS label FROM attendance
      WHERE term_id = $term AND status = 'late'"""),
]}


def weekly_indicators() -> dict:
    """Catalogue indicators with a weekly series (usable as signals)."""
    return {i: ind for i, ind in load_catalogue().indicators.items() if getattr(ind, "weekly", False)}


def known_signals() -> set[str]:
    return set(SIGNALS) | set(weekly_indicators())


def signal_label(signal: str, lang: str = "zh") -> str:
    if signal in SIGNALS:
        return SIGNALS[signal].label(lang)
    ind = weekly_indicators().get(signal)
    return ind.name[lang] if ind is not None else signal


def is_emotion(signal: str) -> bool:
    """Whether a signal carries psychology/emotion data (values shown only to psychology roles, with consent)."""
    if signal in SIGNALS:
        return SIGNALS[signal].emotion
    ind = weekly_indicators().get(signal)
    return ind is not None and getattr(ind, "dimension", "") == "emotion"


def load_signal(con: duckdb.DuckDBPyConnection, term: str, signal: str, as_of: date | None = None,
                engine=None) -> pd.DataFrame:
    """The series ``student_key, day, value, label`` of ``signal`` in ``term``, sorted, only up to ``as_of``.
    A weekly indicator of the catalogue is computed on ``engine`` (default the store's DuckDB; Spark for a
    district, see :mod:`workbench.indicators.engines`)."""
    if signal in SIGNALS:
        df = con.execute(SIGNALS[signal].sql, {"term": term}).df()
    else:
        from workbench.indicators.compute import compute_indicators
        frame = compute_indicators(con, term, [signal], weekly=True, engine=engine)
        w = frame.weekly
        start = con.execute("SELECT start_date FROM terms WHERE term_id = $t", {"t": term}).fetchone()
        if w is None or start is None:
            return pd.DataFrame({"student_key": [], "day": [], "value": [], "label": []})
        w = w[(w["indicator_id"] == signal) & w["value"].notna()]
        df = pd.DataFrame({"student_key": w["student_key"].to_numpy(),
                           "day": pd.Timestamp(start[0]) + pd.to_timedelta(7 * w["week"].astype(int).to_numpy() - 1, unit="D"),
                           "value": w["value"].astype(float).to_numpy(), "label": None})
    df["day"] = pd.to_datetime(df["day"])
    if as_of is not None:
        df = df[df["day"] <= pd.Timestamp(as_of)]
    return df.sort_values(["student_key", "day"], kind="stable").reset_index(drop=True)
