"""The ground-truth causal model behind the demo school (one value per student).

* general ability ``g`` ~ N(0, 1); subject ability = 0.75 g + 0.55 e_j, and for the ~30% of
  students with planted strong subjects (1 or 2) = 0.75 g + 0.55 |e_j| + 1.25;
* interest per subject follows ability deviations and strong subjects;
* engagement: a baseline z, a weekly slope and AR(1) week noise -> ``eng_week`` (students x weeks);
* an anxiety trait; ~6% of students (more likely the anxious ones) get an anxiety episode of
  7-21 days ending 1-4 days before an exam, which lowers that exam's scores (``grade_drop``);
* ~5% get an engagement drop: three consecutive school days of falling activity;
* friendship groups of 3-5 inside each class and a club (or none).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .people import People
from .term import N_SUBJ, PHYSICS, Term, rng_for, subject_mask

CLUBS = [("机器人社", "科技"), ("科技创新社", "科技"), ("编程社", "科技"), ("合唱团", "艺术"),
         ("美术社", "艺术"), ("舞蹈社", "艺术"), ("篮球社", "体育"), ("足球社", "体育"),
         ("羽毛球社", "体育"), ("文学社", "文学"), ("书法社", "文学"), ("英语角", "文学"),
         ("志愿者协会", "志愿")]
CLUB_KINDS = ["科技", "艺术", "体育", "文学", "志愿"]
DROP_MULT = np.array([0.55, 0.3, 0.1, 0.5])  # the three falling days, then partial recovery
ANXIETY_EXAM_DROP = 1.0                       # in subject-ability SD units


@dataclass
class Latent:
    ability: np.ndarray
    subj: np.ndarray          # n x 8
    strong: np.ndarray        # n x 8 bool
    interest: np.ndarray      # n x 8 (z scale)
    studies: np.ndarray       # n x 8 bool (物理 only grades 8-9)
    eng_base: np.ndarray
    eng_slope: np.ndarray
    eng_week: np.ndarray      # n x weeks
    anxiety: np.ndarray
    anx_start: np.ndarray     # calendar-day index, -1 if none
    anx_end: np.ndarray
    anx_exam: np.ndarray      # exam index, -1 if none
    drop_sd: np.ndarray       # school-day index of the first falling day, -1 if none
    friend: np.ndarray        # global friendship-group id
    club: np.ndarray          # index into CLUBS, -1 if none
    learn: np.ndarray         # maths learning-rate factor (0..1)

    def day_multiplier(self, term: Term, idx: slice) -> np.ndarray:
        """Activity multiplier per (student, calendar day) from drops and anxiety episodes."""
        n = idx.stop - idx.start
        mult = np.ones((n, len(term.days)))
        sdi = term.school_day_index()
        drop = self.drop_sd[idx]
        rows = np.nonzero(drop >= 0)[0]
        for k, m in enumerate(DROP_MULT):
            mult[rows, sdi[drop[rows] + k]] *= m
        day = np.arange(len(term.days))
        a0, a1 = self.anx_start[idx][:, None], self.anx_end[idx][:, None]
        mult *= np.where((day >= a0) & (day <= a1) & (a0 >= 0), 0.8, 1.0)
        return mult

    def in_anxiety(self, rows: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Whether student ``rows`` (global indexes) is in an anxiety episode on calendar ``day``."""
        a0, a1 = self.anx_start[rows], self.anx_end[rows]
        return (a0 >= 0) & (day >= a0) & (day <= a1)


def _strong(rng, n, studies):
    strong = np.zeros((n, N_SUBJ), dtype=bool)
    has = rng.random(n) < 0.30
    two = rng.random(n) < 0.30
    key = np.where(studies, rng.random((n, N_SUBJ)), 2.0)
    order = np.argsort(key, axis=1)
    rows = np.nonzero(has)[0]
    strong[rows, order[rows, 0]] = True
    rows2 = np.nonzero(has & two)[0]
    strong[rows2, order[rows2, 1]] = True
    return strong


def _friends(rng, people: People) -> np.ndarray:
    n = people.n
    cls = people.cls
    rank = np.empty(n, dtype=np.int64)
    order = np.lexsort((rng.random(n), cls))
    rank[order] = np.arange(n) - people.class_start[cls[order]]
    gsize = rng.integers(3, 6, len(people.class_grade))
    per_class = (np.diff(people.class_start) + gsize - 1) // gsize
    first = np.r_[0, np.cumsum(per_class)[:-1]]
    return first[cls] + rank // gsize[cls]


def _anxiety_episodes(rng, term: Term, anxiety: np.ndarray):
    n = len(anxiety)
    k = max(1, round(0.06 * n))
    p = np.exp(0.8 * anxiety)
    who = rng.choice(n, k, replace=False, p=p / p.sum())
    start = np.full(n, -1)
    end = np.full(n, -1)
    exam = np.full(n, -1)
    firsts = np.array([term.day_index(d[0]) for d in term.exam_days])
    lasts = np.array([term.day_index(d[-1]) for d in term.exam_days])
    prev_last = np.r_[-1, lasts[:-1]]
    ok = np.nonzero(firsts >= 10)[0]
    e = ok[rng.integers(0, len(ok), k)]
    e_end = firsts[e] - rng.integers(1, 5, k)
    e_start = e_end - rng.integers(7, 22, k) + 1
    e_start = np.maximum(e_start, np.maximum(prev_last[e] + 1, 2))
    e_end = np.maximum(e_end, e_start + 3)
    start[who], end[who], exam[who] = e_start, np.minimum(e_end, firsts[e] - 1), e
    return start, end, exam


def build_latent(seed: int, people: People, term: Term) -> Latent:
    rng = rng_for(seed, "latent")
    n, weeks = people.n, term.weeks
    studies = subject_mask(people.grade)
    g = rng.standard_normal(n)
    e = rng.standard_normal((n, N_SUBJ))
    strong = _strong(rng, n, studies)
    subj = np.where(strong, 0.75 * g[:, None] + 0.55 * np.abs(e) + 1.25, 0.75 * g[:, None] + 0.55 * e)
    dev = subj - subj.mean(axis=1, keepdims=True)
    interest = 0.45 * dev + 1.0 * strong + 0.8 * rng.standard_normal((n, N_SUBJ))
    eng_base = rng.standard_normal(n)
    eng_slope = rng.normal(0.0, 0.02, n) - 0.06 * (rng.random(n) < 0.15)
    noise = np.zeros((n, weeks))
    shocks = rng.normal(0, 0.25, (n, weeks))
    for w in range(weeks):
        noise[:, w] = (0.5 * noise[:, w - 1] if w else 0) + shocks[:, w]
    eng_week = eng_base[:, None] + eng_slope[:, None] * (np.arange(weeks) - weeks / 2) + noise
    anxiety = rng.standard_normal(n)
    erng = rng_for(seed, "episodes")
    anx_start, anx_end, anx_exam = _anxiety_episodes(erng, term, anxiety)
    drop_sd = np.full(n, -1)
    kd = max(1, round(0.05 * n))
    who = erng.choice(n, kd, replace=False)
    nsd = len(term.school_days)
    drop_sd[who] = erng.integers(min(10, nsd // 3), nsd - len(DROP_MULT), kd)
    club_score = np.stack([
        subj[:, 1] + interest[:, 1] + interest[:, PHYSICS] * (people.grade >= 8),  # 科技
        rng.normal(0, 1.2, n), rng.normal(0.3, 1.2, n) + 0.4 * people.male,        # 艺术, 体育
        interest[:, 0] + interest[:, 2], rng.normal(-0.5, 1.0, n)], axis=1)         # 文学, 志愿
    kind = np.argmax(club_score + rng.gumbel(0, 1, (n, 5)), axis=1)
    kinds = np.array([CLUB_KINDS.index(k) for _, k in CLUBS])
    pick = rng.random((n, len(CLUBS))) * (kinds[None, :] == kind[:, None])
    club = np.where(rng.random(n) < 0.65, np.argmax(pick, axis=1), -1)
    learn = 1 / (1 + np.exp(-1.2 * subj[:, 1]))
    return Latent(ability=g, subj=subj, strong=strong, interest=interest, studies=studies,
                  eng_base=eng_base, eng_slope=eng_slope, eng_week=eng_week, anxiety=anxiety,
                  anx_start=anx_start, anx_end=anx_end, anx_exam=anx_exam, drop_sd=drop_sd,
                  friend=_friends(rng, people), club=club, learn=learn)
