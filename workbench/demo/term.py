"""The school calendar of the demo term: subjects, school days, exam and survey dates.

The term 2026-2027-1 starts on Tuesday 2026-09-01 and lasts ``weeks`` weeks
(week ``w`` is the 7 days from ``start + 7 * (w - 1)``).  School days are
Monday–Friday minus the National Day holiday (2026-10-01..07) and New Year's
Day (2027-01-01).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

SCHOOL_ID = "DEMO01"
SCHOOL_NAME = "示范中学"
TERM_ID = "2026-2027-1"
TERM_NAME = "2026-2027学年第一学期"
TERM_START = date(2026, 9, 1)
HOLIDAYS = [date(2026, 10, d) for d in range(1, 8)] + [date(2027, 1, 1)]

SUBJECTS = ["语文", "数学", "英语", "物理", "道德与法治", "历史", "地理", "生物"]
SUBJECT_EN = ["chinese", "math", "english", "physics", "morality", "history", "geography", "biology"]
SUBJECT_CODE = ["CHN", "MATH", "ENG", "PHY", "MOR", "HIS", "GEO", "BIO"]
FULL_MARK = np.array([120, 120, 120, 100, 100, 100, 100, 100])
PHYSICS = 3
MATH = 1
ENGLISH = 2
N_SUBJ = len(SUBJECTS)
EXAMS = ["月考一", "期中考试", "月考二", "期末考试"]
GRADE_ZH = {7: "七年级", 8: "八年级", 9: "九年级"}
# which exam day (0 or 1) a subject is written on, for two-day exams
EXAM_DAY_OF_SUBJECT = np.array([0, 0, 1, 1, 0, 0, 1, 1])


def subject_mask(grades: np.ndarray) -> np.ndarray:
    """Students x subjects: True where the grade studies the subject (物理 from grade 8)."""
    mask = np.ones((len(grades), N_SUBJ), dtype=bool)
    mask[:, PHYSICS] = np.asarray(grades) >= 8
    return mask


def to_day(d: date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


@dataclass
class Term:
    weeks: int
    start: date = TERM_START
    days: np.ndarray = field(init=False)          # every calendar day, datetime64[D]
    school: np.ndarray = field(init=False)        # bool per day
    school_days: np.ndarray = field(init=False)   # datetime64[D] of school days
    sd_week: np.ndarray = field(init=False)       # 0-based week of each school day
    day_week: np.ndarray = field(init=False)      # 0-based week of every day
    exam_days: list = field(init=False)           # per exam: array of 1 or 2 dates
    psych_days: np.ndarray = field(init=False)    # one date per GAD-7 wave
    inventory_days: np.ndarray = field(init=False)  # interest survey: term start, term end

    def __post_init__(self) -> None:
        if self.weeks < 4:
            raise ValueError("the demo term needs at least 4 weeks")
        self.end = self.start + timedelta(days=7 * self.weeks - 1)
        first = to_day(self.start)
        self.days = first + np.arange(7 * self.weeks)
        weekday = (self.days.astype("int64") - 4) % 7  # 1970-01-01 was a Thursday; Monday = 0
        hol = np.isin(self.days, np.array([to_day(h) for h in HOLIDAYS]))
        self.school = (weekday < 5) & ~hol
        self.weekday = weekday
        self.day_week = np.arange(len(self.days)) // 7
        self.school_days = self.days[self.school]
        self.sd_week = self.day_week[self.school]
        self._plan_exams()
        waves = sorted({int(np.clip(round(w * self.weeks / 18), 1, self.weeks)) for w in (2, 8, 15)})
        self.psych_days = np.array([self._weekday_in_week(w - 1, 2) for w in waves])
        self.inventory_days = np.array([self.school_days[2], self.school_days[-3]])

    # -- helpers -------------------------------------------------------
    def _weekday_in_week(self, week0: int, prefer: int) -> np.datetime64:
        """First school day of 0-based week ``week0`` falling on or after weekday ``prefer``."""
        cand = self.school_days[self.sd_week == week0]
        wd = (cand.astype("int64") - 4) % 7
        later = cand[wd >= prefer]
        if len(later):
            return later[0]
        if len(cand):
            return cand[-1]
        return self.school_days[np.searchsorted(self.school_days, self.days[7 * week0])]

    def _pair_at(self, i: int) -> np.ndarray:
        """Two consecutive school days (same Mon-Fri week) at or before school-day index i."""
        sd = self.school_days
        i = min(i, len(sd) - 2)
        while i > 0 and (sd[i + 1] - sd[i]).astype(int) != 1:
            i -= 1
        return sd[i:i + 2]

    def _plan_exams(self) -> None:
        sd = self.school_days
        n = len(sd)
        m1 = sd[int(round(0.27 * (n - 1)))]
        mid = self._pair_at(int(round(0.5 * (n - 1))))
        m2 = sd[int(round(0.74 * (n - 1)))]
        final = self._pair_at(n - 2)
        self.exam_days = [np.array([m1]), mid, np.array([m2]), final]
        firsts = [d[0] for d in self.exam_days]
        if any(b <= a for a, b in zip(firsts, firsts[1:])):
            raise ValueError("term too short to place four exams")

    def exam_date(self, exam: int, subject: int) -> np.datetime64:
        d = self.exam_days[exam]
        return d[min(len(d) - 1, int(EXAM_DAY_OF_SUBJECT[subject]))]

    def day_index(self, d) -> int:
        return int((np.datetime64(d, "D") - self.days[0]).astype(int))

    def seconds(self, day_idx: np.ndarray) -> np.ndarray:
        """Local (Asia/Shanghai) midnight of calendar-day indexes, as epoch-like seconds."""
        base = self.days[0].astype("datetime64[s]").astype("int64")
        return base + np.asarray(day_idx, dtype=np.int64) * 86400

    def day_weights(self) -> np.ndarray:
        """Relative LMS activity per calendar day: school days 1, weekends/holidays lower."""
        w = np.where(self.school, 1.0, 0.55)
        w[(self.weekday == 5) & ~self.school] = 0.45
        return w

    def school_day_index(self) -> np.ndarray:
        """Calendar-day index of every school day."""
        return np.nonzero(self.school)[0]


STREAMS = {"people": 1, "latent": 2, "episodes": 3, "mess": 4, "events": 5, "learning": 6,
           "school": 7, "wellbeing": 8, "identity": 9, "items": 10, "gaps": 11,
           "consent": 12}


def rng_for(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """An independent generator per (seed, stream, chunk...) so output does not depend on order."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), STREAMS[stream], *map(int, keys)]))
