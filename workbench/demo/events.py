"""LMS click-stream events for one chunk of students, fully vectorised.

Per (student, day, verb) counts are Poisson with rate ``events_per_week * exp(0.45 * eng_week)``
spread over the week's days (weekends/holidays lighter) and multiplied by drop/anxiety factors.
Every active day starts with a login; timestamps are distinct per student.  Replies and likes
go to an earlier post, mostly by a friend or classmate.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from .latent import Latent
from .people import People
from .term import N_SUBJ, SUBJECT_CODE, SUBJECTS, Term, rng_for

VERBS = ["login", "video_play", "video_complete", "homework_submit", "resource_click",
         "forum_post", "forum_reply", "like", "question_asked", "group_discussion"]
VERB_SHARE = np.array([0.14, 0.20, 0.11, 0.10, 0.20, 0.03, 0.06, 0.09, 0.03, 0.04])
VERB_ENG = np.array([0.0, 0.2, 0.5, 0.3, 0.1, 0.8, 0.8, 0.6, 0.6, 0.4])  # engagement elasticity
POST, REPLY, LIKE, QUESTION = 5, 6, 7, 8
CATALOGUE = 150  # videos/resources per subject and grade


def _rank(sorted_keys):
    n = len(sorted_keys)
    start = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]] if n else np.zeros(0, bool)
    idx = np.arange(n)
    return idx - np.maximum.accumulate(np.where(start, idx, 0))


def _catalogue(prefix: str, grades=(7, 8, 9)) -> np.ndarray:
    """IDs like VID-MATH-8-042, indexed [subject][grade][k] flattened."""
    s = np.repeat(np.array(SUBJECT_CODE), len(grades) * CATALOGUE)
    g = np.tile(np.repeat(np.array(grades).astype("U1"), CATALOGUE), N_SUBJ)
    k = np.tile(np.strings.zfill(np.arange(1, CATALOGUE + 1).astype("U3"), 3), N_SUBJ * len(grades))
    return np.strings.add(np.strings.add(np.strings.add(np.strings.add(prefix, s), "-"), np.strings.add(g, "-")), k)


VIDEOS = _catalogue("VID-")
RESOURCES = _catalogue("RES-")


def simulate_events(seed: int, chunk: int, lo: int, hi: int, people: People, lat: Latent, term: Term,
                    events_per_week: float, mult: np.ndarray, counters: dict) -> pa.Table:
    rng = rng_for(seed, "events", chunk)
    S, D, W = hi - lo, len(term.days), term.weeks
    dayw = term.day_weights()
    week_norm = dayw.reshape(W, 7).sum(axis=1)[term.day_week]
    eng = lat.eng_week[lo:hi]
    base = 0.955 * events_per_week * (dayw / week_norm)[None, :] * mult  # 0.955: forced logins  # S x D
    share = VERB_SHARE[None, :] * np.exp(np.outer(np.clip(eng.mean(axis=1), -3, 3), VERB_ENG) * 0.35)
    share = share / share.sum(axis=1, keepdims=True)
    rate = (base * np.exp(0.45 * eng[:, term.day_week]) / np.exp(0.45 ** 2 / 2))[:, :, None] * share[:, None, :]
    counts = rng.poisson(rate).astype(np.int64)  # S x D x V
    active = counts[:, :, 1:].sum(axis=2) > 0
    counts[:, :, 0] = np.maximum(counts[:, :, 0], active)
    flat = np.repeat(np.arange(S * D * len(VERBS)), counts.ravel())
    del counts
    s, rest = np.divmod(flat, D * len(VERBS))
    d, v = np.divmod(rest, len(VERBS))
    n = len(flat)
    school = term.school[d]
    r = rng.random(n)
    u = np.where(school, np.select([r < 0.86, r < 0.95], [rng.integers(16 * 3600 + 1800, 22 * 3600 + 1800, n),
                                                          rng.integers(12 * 3600, 13 * 3600 + 1800, n)],
                                   rng.integers(6 * 3600 + 1800, 7 * 3600 + 1800, n)),
                 rng.integers(8 * 3600, 22 * 3600 + 1800, n))
    group = s * D + d
    tsort = np.sort(group * 200_000 + u) - group * 200_000  # times ascending inside each group
    tsort = tsort + _rank(group)                              # and distinct
    key = rng.integers(1, 1 << 21, n)
    first = np.r_[True, group[1:] != group[:-1]]             # the group's first row is a login
    key[first] = 0
    o = np.argsort(group * (1 << 21) + key, kind="stable")
    v = v[o]
    ts = term.seconds(d) + tsort
    week = term.day_week[d]
    sg = lo + s
    # subject per event, following interest
    pref = np.exp(0.6 * lat.interest[lo:hi]) * lat.studies[lo:hi]
    cum = np.cumsum(pref / pref.sum(axis=1, keepdims=True), axis=1)
    subj = np.minimum((rng.random(n)[:, None] > cum[s]).sum(axis=1), N_SUBJ - 1)
    grade = people.grade[sg]
    vid = subj * 3 * CATALOGUE + (grade - 7) * CATALOGUE + np.minimum(week * 8 + rng.integers(0, 12, n), CATALOGUE - 1)
    length = 240 + (vid * 7919) % 660
    dur = np.full(n, -1, dtype=np.int64)
    obj = np.full(n, "", dtype=object)
    is_v = (v == 1) | (v == 2)
    obj[is_v] = VIDEOS[vid[is_v]]
    dur[v == 1] = (length[v == 1] * rng.uniform(0.1, 1.0, (v == 1).sum())).astype(np.int64)
    dur[v == 2] = length[v == 2]
    res = v == 4
    obj[res] = RESOURCES[np.minimum(vid[res] + rng.integers(0, 20, res.sum()), len(RESOURCES) - 1)]
    dur[res] = np.clip(np.exp(rng.normal(4.5, 1.0, res.sum())), 5, 1800).astype(np.int64)
    cls_code = people.class_code[people.cls[sg]]
    wk = np.strings.zfill((week + 1).astype("U2"), 2)
    hw = v == 3
    hw_id = np.strings.add(np.strings.add(np.strings.add("HW-", cls_code[hw]), "-"),
                           np.strings.add(np.array(SUBJECT_CODE)[subj[hw]], "-W"))
    obj[hw] = np.strings.add(np.strings.add(hw_id, wk[hw]), np.where(rng.random(hw.sum()) < 0.6, "-1", "-2"))
    dur[hw] = np.clip(np.exp(rng.normal(7.0, 0.6, hw.sum())), 60, 7200).astype(np.int64)
    p_on = 1 / (1 + np.exp(-(1.8 + 1.2 * eng[s, week] - 2.0 * (mult[s, d] < 0.9))))
    on_time = np.where(hw, (rng.random(n) < p_on).astype(np.int64), -1)
    gd = v == 9
    obj[gd] = np.strings.add(np.strings.add(np.strings.add("GD-", cls_code[gd]), "-"),
                             np.strings.add(np.strings.add(np.array(SUBJECT_CODE)[subj[gd]], "-W"), wk[gd]))
    dur[gd] = rng.integers(300, 2400, gd.sum())
    for verb, prefix in ((POST, "POST-"), (QUESTION, "QA-")):
        m = np.nonzero(v == verb)[0]
        m = m[np.lexsort((s[m], ts[m]))]  # ids increase with time
        ids = counters[prefix] + np.arange(len(m))
        counters[prefix] += len(m)
        obj[m] = np.strings.add(prefix, np.strings.zfill(ids.astype("U9"), 8))
    target = np.full(n, -1, dtype=np.int64)
    keep = _peer_targets(rng, people, lat, lo, hi, s, v, ts, subj, obj, target)
    subj_txt = np.where(v == 0, "", np.array(SUBJECTS)[subj])
    order = np.argsort((ts - ts.min(initial=0)) * (1 << 20) + s, kind="stable")  # by time, then student
    order = order[keep[order]]
    acc = people.account[lo:hi]
    tgt = target[order]
    return pa.table({
        "account": pa.array(acc[s[order]]),
        "ts": pa.array(ts[order].astype("datetime64[s]")),
        "verb": pa.array(np.array(VERBS)[v[order]]),
        "object_id": pa.array(obj[order].astype(str)),
        "subject": pa.array(subj_txt[order]),
        "duration_s": pa.array(dur[order], mask=dur[order] < 0),
        "on_time": pa.array(on_time[order], mask=on_time[order] < 0),
        "target_account": pa.array(acc[np.maximum(tgt, 0)], mask=tgt < 0),
    })


def _peer_targets(rng, people, lat, lo, hi, s, v, ts, subj, obj, target) -> np.ndarray:
    """Point replies/likes at an earlier post by a friend (60%), classmate (30%) or anyone in the
    chunk; returns a keep mask (interactions with no earlier post available are dropped)."""
    keep = np.ones(len(s), dtype=bool)
    posts = np.nonzero(v == POST)[0]
    acts = np.nonzero((v == REPLY) | (v == LIKE))[0]
    S = hi - lo
    if len(acts) == 0:
        return keep
    p_key = s[posts].astype(np.int64) * (1 << 40) + ts[posts]
    po = np.argsort(p_key)
    posts, p_key = posts[po], p_key[po]
    p_start = np.searchsorted(p_key, np.arange(S + 1, dtype=np.int64) * (1 << 40))
    cls = people.cls[lo:hi]
    friend = lat.friend[lo:hi]
    f_order = np.lexsort((np.arange(S), friend))
    f_sorted = friend[f_order]
    f_lo = np.searchsorted(f_sorted, friend, "left")
    f_n = np.searchsorted(f_sorted, friend, "right") - f_lo
    c_lo = people.class_start[cls] - lo
    c_n = people.class_start[cls + 1] - people.class_start[cls]
    todo = acts
    for _ in range(8):
        if len(todo) == 0:
            break
        me = s[todo]
        r = rng.random(len(todo))
        pick = np.where(r < 0.6, f_order[f_lo[me] + (rng.random(len(todo)) * f_n[me]).astype(np.int64)],
                        np.where(r < 0.9, c_lo[me] + (rng.random(len(todo)) * c_n[me]).astype(np.int64),
                                 rng.integers(0, S, len(todo))))
        hi_pos = np.searchsorted(p_key, pick.astype(np.int64) * (1 << 40) + ts[todo], "left")
        n_before = hi_pos - p_start[pick]
        ok = (n_before > 0) & (pick != me)
        chosen = hi_pos[ok] - 1 - (n_before[ok] * rng.random(ok.sum()) ** 3).astype(np.int64)
        post = posts[chosen]
        done = todo[ok]
        target[done] = pick[ok]
        obj[done] = obj[post]
        subj[done] = subj[post]
        todo = todo[~ok]
    keep[todo] = False
    return keep
