"""教务 data for one chunk: exam scores, weekly unit tests and daily attendance."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from .latent import ANXIETY_EXAM_DROP, Latent
from .learning import LearningResult
from .people import People
from .term import ENGLISH, EXAMS, FULL_MARK, MATH, N_SUBJ, SUBJECTS, Term, rng_for

ATTENDANCE = ["出勤", "迟到", "缺勤", "请假"]


def _fmt_score(x: np.ndarray) -> np.ndarray:
    """Scores as text: integers without a decimal point, halves as '97.5'."""
    whole = np.floor(x).astype(np.int64).astype("U4")
    return np.where(x % 1 == 0, whole, np.strings.add(whole, ".5"))


def _slash(days: np.ndarray) -> np.ndarray:
    return np.strings.replace(days.astype("U10"), "-", "/")


def exam_scores(seed: int, chunk: int, lo: int, hi: int, people: People, lat: Latent, term: Term,
                learn: LearningResult) -> tuple[pa.Table, np.ndarray]:
    """Returns the table and the latent performance array (S x exams x subjects) for tests."""
    rng = rng_for(seed, "school", chunk, 1)
    E = len(EXAMS)
    subj = lat.subj[lo:hi]
    exam_week = np.array([term.day_week[term.day_index(d[0])] for d in term.exam_days])
    # the same exam paper for a whole grade: per (grade, exam, subject) difficulty
    diff = rng_for(seed, "school", 10**6).normal(0, 0.15, (3, E, N_SUBJ))
    perf = np.repeat(subj[:, None, :], E, axis=1).copy()
    m = learn.exam_mastery[:, np.maximum(exam_week - 1, 0)]  # S x E, mastery before the exam
    perf[:, :, MATH] = 0.6 * perf[:, :, MATH] + 0.4 * (m - 0.63) / 0.15
    perf += diff[people.grade[lo:hi] - 7]
    perf += 0.12 * lat.eng_week[lo:hi][:, exam_week][:, :, None]
    perf += rng.normal(0, 0.4, perf.shape)
    hit = lat.anx_exam[lo:hi][:, None] == np.arange(E)[None, :]
    perf -= ANXIETY_EXAM_DROP * hit[:, :, None]
    pct = np.clip(0.70 + 0.15 * perf, 0.03, 1.0)
    full = FULL_MARK[None, None, :]
    raw = pct * full
    halves = (np.isin(np.arange(N_SUBJ), [0, ENGLISH])[None, None, :]) & (rng.random(perf.shape) < 0.4)
    score = np.where(halves, np.round(raw * 2) / 2, np.round(raw))
    s, e, j = np.nonzero(lat.studies[lo:hi][:, None, :] & np.ones((1, E, 1), dtype=bool))
    dates = np.array([[term.exam_date(x, y) for y in range(N_SUBJ)] for x in range(E)])
    sg = lo + s
    table = pa.table({
        "学号": pa.array(people.school_no[sg]),
        "姓名": pa.array(people.name[sg]),
        "科目": pa.array(np.array(SUBJECTS)[j]),
        "考试": pa.array(np.array(EXAMS)[e]),
        "考试日期": pa.array(_slash(dates[e, j])),
        "成绩": pa.array(_fmt_score(score[s, e, j])),
        "满分": pa.array(FULL_MARK[j]),
    })
    return table, perf


def unit_tests(seed: int, chunk: int, lo: int, hi: int, people: People, lat: Latent, term: Term,
               learn: LearningResult) -> pa.Table:
    """Weekly 周测: 数学 (满分 100, on the chapter being taught) and 英语 (满分 50)."""
    rng = rng_for(seed, "school", chunk, 2)
    S = hi - lo
    exam_weeks = {int(term.day_week[term.day_index(d[0])]) for d in term.exam_days}
    grade = people.grade[lo:hi]
    cols = {k: [] for k in ("学号", "科目", "单元", "测验日期", "得分", "满分")}
    for w in range(term.weeks):
        if w in exam_weeks:
            continue
        for subj, weekday, full in ((MATH, 4, 100), (ENGLISH, 3, 50)):
            day = term._weekday_in_week(w, weekday)
            if subj == MATH:
                unit = learn.unit_chapter[grade - 7, w].astype(str)
                pct = 0.25 + 0.7 * learn.unit_mastery[:, w] + rng.normal(0, 0.08, S)
            else:
                k = 1 + (w * 8) // term.weeks
                unit = np.full(S, f"Unit {k}")
                pct = 0.72 + 0.13 * (lat.subj[lo:hi, ENGLISH] + 0.2 * lat.eng_week[lo:hi, w]) + rng.normal(0, 0.08, S)
            took = (unit != "") & (rng.random(S) < 0.97)
            sc = np.clip(np.round(np.clip(pct, 0.05, 1.0) * full), 0, full).astype(np.int64)
            cols["学号"].append(people.school_no[lo:hi][took])
            cols["科目"].append(np.full(took.sum(), SUBJECTS[subj]))
            cols["单元"].append(unit[took])
            cols["测验日期"].append(np.full(took.sum(), day))
            cols["得分"].append(sc[took])
            cols["满分"].append(np.full(took.sum(), full))
    out = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((out["学号"], out["科目"], out["测验日期"]))
    return pa.table({k: pa.array(v[order]) for k, v in out.items()})


def attendance(seed: int, chunk: int, lo: int, hi: int, people: People, lat: Latent, term: Term,
               mult: np.ndarray) -> pa.Table:
    rng = rng_for(seed, "school", chunk, 3)
    S = hi - lo
    sdi = term.school_day_index()
    D = len(sdi)
    eng = lat.eng_week[lo:hi][:, term.sd_week]
    anx = lat.in_anxiety(np.arange(lo, hi)[:, None], sdi[None, :])
    low = mult[:, sdi] < 0.9
    p_late = 0.02 * np.exp(-0.4 * eng) * np.where(low, 3.0, 1.0)
    p_abs = 0.006 * np.where(anx, 2.5, 1.0)
    p_leave = 0.018 * np.where(anx, 3.0, 1.0)
    u = rng.random((S, D))
    status = np.where(u < p_abs, 2, np.where(u < p_abs + p_leave, 3, np.where(u < p_abs + p_leave + p_late, 1, 0)))
    minutes = np.minimum(1 + rng.geometric(0.12, (S, D)), 45)
    status, minutes = status.T.ravel(), minutes.T.ravel()  # day-major: one block per school day
    s = np.tile(np.arange(S), D)
    day = np.repeat(term.school_days, S)
    late = status == 1
    return pa.table({
        "学号": pa.array(people.school_no[lo + s]),
        "日期": pa.array(day),
        "状态": pa.array(np.array(ATTENDANCE)[status]),
        "迟到分钟": pa.array(minutes, mask=~late),
    })
