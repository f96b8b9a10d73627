"""Latent maths mastery per (student, knowledge point) and the item responses it produces.

Mastery is a probability ``p``.  When a KP is taught, ``p += (1 - p) * teach * gate``; every
practice opportunity then moves ``p`` by the learning rate ``r = learn * gate`` so that after
``j`` opportunities ``p_j = 1 - (1 - p0) (1 - r)^j``.  ``gate = 0.25 + 0.75 * mean(prerequisite
p)`` (1 without prerequisites).  A response is correct with probability
``pm (1 - slip) + (1 - pm) guess`` where ``pm`` is the product of the item's KPs' mastery, i.e.
the BKT emission model, so BKT can recover ``p`` from ``responses.csv``.

Planted prerequisite gaps: about one student in five has one knowledge point that is a
prerequisite of something taught this term and that the student never really learnt (mastery
starts at 0.03–0.15 and teaching and practice move it at a fiftieth of the usual rate), while
everything beneath it in the graph is solid (its ancestors start at 0.85 or more).  Its
dependants are then learnt slowly through the gate.  Before a new knowledge point is taught,
every student answers ``PRECHECK_ITEMS`` questions on each of its direct prerequisites
(课前诊断), the review that reveals such a gap.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kgraph import BASE_SECONDS, GUESS, SLIP, Curriculum
from .latent import Latent
from .people import People
from .term import Term, rng_for


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _rank_in_groups(keys_sorted: np.ndarray) -> np.ndarray:
    """0-based position of each element inside its run of equal (already sorted) keys."""
    n = len(keys_sorted)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.r_[True, keys_sorted[1:] != keys_sorted[:-1]]
    idx = np.arange(n)
    return idx - np.maximum.accumulate(np.where(start, idx, 0))


GAP_SHARE = 0.2          # students with one planted prerequisite gap
GAP_RATE = 0.02          # teaching and practice reach a gap at this fraction of the usual rate
PRECHECK_ITEMS = 4       # questions per direct prerequisite before a knowledge point is taught


def _closure(prereq: np.ndarray) -> np.ndarray:
    """anc[i, j]: j is an ancestor (transitive prerequisite) of i."""
    anc = prereq > 0
    while True:
        nxt = anc | ((anc.astype(np.int32) @ anc.astype(np.int32)) > 0)
        if (nxt == anc).all():
            return anc
        anc = nxt


def plant_gaps(seed: int, chunk: int, grade: np.ndarray, cur: Curriculum) -> np.ndarray:
    """Per student the index of a planted gap knowledge point, or -1: a direct prerequisite of a
    point taught to the student's grade this term, met before that point (earlier grade or earlier
    week)."""
    rng = rng_for(seed, "gaps", chunk)
    gap = np.full(len(grade), -1, dtype=np.int64)
    for g in (7, 8, 9):
        taught = np.nonzero((cur.kp_grade == g) & (cur.intro_week >= 0))[0]
        cand = sorted({int(p) for k in taught for p in np.nonzero(cur.prereq[k] > 0)[0]
                       if cur.kp_grade[p] < g or 0 <= cur.intro_week[p] < cur.intro_week[k]})
        rows = np.nonzero((grade == g) & (rng.random(len(grade)) < GAP_SHARE))[0]
        if cand and len(rows):
            gap[rows] = np.array(cand)[rng.integers(len(cand), size=len(rows))]
    return gap


@dataclass
class LearningResult:
    responses: dict            # column -> array (student-local index in "student")
    mastery_start: np.ndarray  # S x K
    mastery_end: np.ndarray    # S x K
    exam_mastery: np.ndarray   # S x weeks: mean mastery of examinable KPs at each week end
    unit_mastery: np.ndarray   # S x weeks: mean mastery of the chapter taught that week
    unit_chapter: np.ndarray   # 3 x weeks: chapter name per grade and week
    gap: np.ndarray            # S: planted gap knowledge point index, -1 for none


def _kp_weights(cur: Curriculum, grade: int, week: int) -> np.ndarray:
    taught = cur.taught(grade, week)
    w = np.where(taught, 1.0, 0.0)
    w[taught & (cur.intro_week == week)] = 4.0
    w[taught & (cur.intro_week == week - 1)] = 2.0
    before = cur.learned_before(grade)
    if w.sum() == 0:
        return before / before.sum()
    w = 0.8 * w / w.sum()
    if before.any():
        w = w + 0.2 * before / before.sum()
    return w / w.sum()


def simulate_learning(seed: int, chunk: int, lo: int, hi: int, people: People, lat: Latent,
                      cur: Curriculum, term: Term, mult: np.ndarray) -> LearningResult:
    rng = rng_for(seed, "learning", chunk)
    S, K, W = hi - lo, len(cur.kp_ids), term.weeks
    grade = people.grade[lo:hi]
    ab = lat.subj[lo:hi, 1]
    learn = 0.02 + 0.05 * lat.learn[lo:hi]
    teach = 0.12 + 0.25 * lat.learn[lo:hi]
    before = cur.kp_grade[None, :] < grade[:, None]
    noise = rng.normal(0, 0.5, (S, K))
    P = np.where(before, _sigmoid(1.1 + 1.0 * ab[:, None] + noise), _sigmoid(-2.6 + 0.4 * ab[:, None] + 0.3 * noise))
    gap = plant_gaps(seed, chunk, grade, cur)
    has_gap = np.nonzero(gap >= 0)[0]
    G = np.zeros((S, K), dtype=bool)
    G[has_gap, gap[has_gap]] = True
    anc = _closure(cur.prereq)
    grng = rng_for(seed, "gaps", chunk, 1)
    for i in has_gap:
        below = anc[gap[i]] & (cur.kp_grade <= grade[i])
        P[i, below] = np.maximum(P[i, below], 0.85 + 0.1 * grng.random(below.sum()))
        P[i, gap[i]] = 0.03 + 0.12 * grng.random()
    rate = np.where(G, GAP_RATE, 1.0)
    start = P.copy()
    attempts = np.zeros((S, len(cur.item_ids)), dtype=np.int32)
    exam_m = np.zeros((S, W))
    unit_m = np.zeros((S, W))
    unit_ch = np.full((3, W), "", dtype=object)
    days = np.arange(len(term.days))
    dayw = np.where(term.school, 1.0, 0.8)
    pre_has = cur.has_prereq[None, :]
    out = {k: [] for k in ("student", "item", "ts", "correct", "duration", "attempt")}
    for w in range(W):
        gate = np.where(pre_has, 0.25 + 0.75 * (P @ cur.prereq.T), 1.0)
        new = (cur.intro_week[None, :] == w) & (cur.kp_grade[None, :] == grade[:, None])
        P = np.where(new, P + (1 - P) * teach[:, None] * gate * rate, P)
        R = learn[:, None] * gate * rate
        wd = days[7 * w:7 * w + 7]
        m = mult[:, wd].mean(axis=1)
        n_resp = rng.poisson(25.0 * np.exp(0.3 * lat.eng_week[lo:hi, w]) * m)
        s = np.repeat(np.arange(S), n_resp)
        n = len(s)
        kp = np.empty(n, dtype=np.int64)
        for g in (7, 8, 9):
            sel = np.nonzero(grade[s] == g)[0]
            if len(sel):
                kp[sel] = rng.choice(K, len(sel), p=_kp_weights(cur, g, w))
        # 课前诊断: PRECHECK_ITEMS questions on each direct prerequisite of the points taught this week
        pre_s, pre_k = [], []
        for g in (7, 8, 9):
            studs = np.nonzero(grade == g)[0]
            intro = np.nonzero((cur.kp_grade == g) & (cur.intro_week == w))[0]
            pre = np.nonzero((cur.prereq[intro] > 0).any(axis=0))[0] if len(intro) else intro
            if len(studs) and len(pre):
                pre_s.append(np.repeat(studs, len(pre) * PRECHECK_ITEMS))
                pre_k.append(np.tile(np.repeat(pre, PRECHECK_ITEMS), len(studs)))
        if pre_s:
            s = np.r_[s, np.concatenate(pre_s)]
            kp = np.r_[kp, np.concatenate(pre_k)]
            n = len(s)
        cnt = cur.kp_item_start[kp + 1] - cur.kp_item_start[kp]
        item = cur.items_by_kp[cur.kp_item_start[kp] + (rng.random(n) * cnt).astype(np.int64)]
        pday = dayw[wd] / dayw[wd].sum()
        day = wd[rng.choice(7, n, p=pday)]
        evening = rng.random(n) < 0.85
        tod = np.where(evening, rng.integers(17 * 3600, 22 * 3600 + 1800, n), rng.integers(12 * 3600 + 600, 13 * 3600, n))
        t = term.seconds(day) + tod
        t0 = term.seconds(wd[0])
        order = np.argsort(s * (1 << 20) + (t - t0), kind="stable")  # by student, then time
        s, kp, item, t = s[order], kp[order], item[order], t[order]
        t = t + _rank_in_groups(s)  # distinct, increasing timestamps per student and week
        key = s * K + kp
        o2 = np.argsort(key * (1 << 21) + (t - t0), kind="stable")
        j = np.empty(n, dtype=np.int64)
        j[o2] = _rank_in_groups(key[o2])
        p1 = 1 - (1 - P[s, kp]) * (1 - R[s, kp]) ** j
        k2 = cur.item_kp2[item]
        p2 = np.where(k2 >= 0, P[s, np.maximum(k2, 0)], 1.0)
        pm = p1 * p2
        lv = cur.item_level[item]
        pc = pm * (1 - SLIP[lv]) + (1 - pm) * GUESS[lv]
        correct = rng.random(n) < pc
        dur = BASE_SECONDS[lv] * np.exp(rng.normal(0, 0.5, n)) * np.where(correct, 1.0, 1.3)
        ikey = s * len(cur.item_ids) + item
        o3 = np.argsort(ikey * (1 << 21) + (t - t0), kind="stable")
        att = np.empty(n, dtype=np.int64)
        att[o3] = _rank_in_groups(ikey[o3])
        att += attempts[s, item] + 1
        attempts += np.bincount(ikey, minlength=attempts.size).reshape(attempts.shape).astype(np.int32)
        for k_, v in (("student", s), ("item", item), ("ts", t), ("correct", correct.astype(np.int8)),
                      ("duration", np.clip(dur, 5, 1800).astype(np.int64)), ("attempt", att)):
            out[k_].append(v)
        sec = k2 >= 0
        opp = np.bincount(np.r_[s * K + kp, s[sec] * K + k2[sec]], minlength=S * K).reshape(S, K)
        P = 1 - (1 - P) * (1 - R) ** opp
        for gi, g in enumerate((7, 8, 9)):
            rows = grade == g
            exam_kps = cur.taught(g, w)
            if rows.any() and exam_kps.any():
                exam_m[rows, w] = P[np.ix_(rows, exam_kps)].mean(axis=1)
            this = np.nonzero((cur.kp_grade == g) & (cur.intro_week >= 0) & (cur.intro_week <= w))[0]
            if len(this):
                ch = cur.kp_chapter[this[-1]]
                unit_ch[gi, w] = ch
                chk = (cur.kp_chapter == ch) & cur.taught(g, w)
                if rows.any():
                    unit_m[rows, w] = P[np.ix_(rows, chk)].mean(axis=1)
    resp = {k: np.concatenate(v) for k, v in out.items()}
    order = np.argsort((resp["ts"] - resp["ts"].min(initial=0)) * (1 << 20) + resp["student"], kind="stable")
    resp = {k: v[order] for k, v in resp.items()}
    return LearningResult(responses=resp, mastery_start=start, mastery_end=P, exam_mastery=exam_m,
                          unit_mastery=unit_m, unit_chapter=unit_ch, gap=gap)
