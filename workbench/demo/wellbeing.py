"""Wellbeing and extracurricular data for one chunk: GAD-7, mood check-ins (xAPI), the interest
inventory and activities (clubs, volunteering, competitions)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .latent import CLUB_KINDS, CLUBS, Latent
from .people import People
from .term import ENGLISH, MATH, N_SUBJ, PHYSICS, SUBJECTS, Term, rng_for

MOOD_WORDS = [["难过", "焦虑", "烦躁"], ["焦虑", "疲惫", "低落"], ["一般", "平静", "还行"],
              ["开心", "不错", "轻松"], ["很开心", "兴奋", "超棒"]]
VOLUNTEER = ["社区图书馆整理", "敬老院探访", "校园垃圾分类宣传", "交通文明劝导", "公园环保清洁"]
# name, subject index, position in term (0..1), lowest grade
COMPETITIONS = [("数学竞赛（区级）", MATH, 0.35, 7), ("英语演讲比赛", ENGLISH, 0.45, 7),
                ("作文大赛", 0, 0.55, 7), ("物理竞赛", PHYSICS, 0.62, 8), ("历史知识竞赛", 5, 0.8, 7)]
XAPI_HEAD = '{"id":"'
XAPI_ACTOR = '","actor":{"account":{"homePage":"https://lms.demo.school","name":"'
XAPI_MID = ('"},"objectType":"Agent"},"verb":{"id":"http://adlnet.gov/expapi/verbs/answered",'
            '"display":{"zh-CN":"打卡","en-US":"answered"}},"object":{"id":"https://mood.demo.school/checkin",'
            '"objectType":"Activity"},"result":{"score":{"raw":')
XAPI_TAIL = '"}\n'


def uuids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Deterministic version-4 UUID strings."""
    b = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    hx = np.frombuffer(b.tobytes().hex().encode(), dtype=np.uint8).reshape(n, 32)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for a, z, o in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        out[:, o:o + z - a] = hx[:, a:z]
    return out.view("S36").ravel().astype("U36")


def psych_scale(seed, chunk, lo, hi, people: People, lat: Latent, term: Term) -> pa.Table:
    """GAD-7 in the survey waves; students in an anxiety episode with no wave inside it get an
    extra (counsellor follow-up) administration during the episode."""
    rng = rng_for(seed, "wellbeing", chunk, 1)
    S = hi - lo
    waves = np.array([term.day_index(d) for d in term.psych_days])
    s = np.tile(np.arange(S), len(waves))
    day = np.repeat(waves, S)
    a0, a1 = lat.anx_start[lo:hi], lat.anx_end[lo:hi]
    covered = ((waves[None, :] >= a0[:, None]) & (waves[None, :] <= a1[:, None])).any(axis=1)
    extra = np.nonzero((a0 >= 0) & ~covered)[0]
    sdi = term.school_day_index()
    pick = np.searchsorted(sdi, a0[extra] + (rng.random(len(extra)) * (a1[extra] - a0[extra] + 1)).astype(int))
    s = np.r_[s, extra]
    day = np.r_[day, sdi[np.minimum(pick, len(sdi) - 1)]]
    took = rng.random(len(s)) < 0.96
    took[len(s) - len(extra):] = True
    s, day = s[took], day[took]
    level = 0.55 + 0.45 * lat.anxiety[lo + s] + rng.normal(0, 0.3, len(s))
    level += 1.7 * lat.in_anxiety(lo + s, day)
    q = np.clip(np.round(level[:, None] + rng.normal(0, 0.6, (len(s), 7))), 0, 3).astype(np.int64)
    order = np.lexsort((s, day))
    cols = {"学号": pa.array(people.school_no[lo + s[order]]), "scale": pa.array(np.full(len(s), "GAD-7")),
            "date": pa.array(term.days[day[order]])}
    for i in range(7):
        cols[f"q{i + 1}"] = pa.array(q[order, i])
    cols["total"] = pa.array(q[order].sum(axis=1))
    return pa.table(cols)


def mood_checkins(seed, chunk, lo, hi, people: People, lat: Latent, term: Term, mult) -> pa.Array:
    """One xAPI statement (a JSON line) per check-in, on ~85% of school days per student."""
    rng = rng_for(seed, "wellbeing", chunk, 2)
    S = hi - lo
    sdi = term.school_day_index()
    p = 0.85 * np.clip(1 + 0.05 * lat.eng_week[lo:hi][:, term.sd_week], 0.8, 1.15)
    day_i, s = np.nonzero((rng.random((len(sdi), S)) < p.T))
    day = sdi[day_i]
    n = len(s)
    base = 3.7 - 0.35 * lat.anxiety[lo + s] + rng.normal(0, 0.3, n)
    mood = base + rng.normal(0, 0.7, n) - 1.7 * lat.in_anxiety(lo + s, day) - 0.5 * (mult[s, day] < 0.9)
    raw = np.clip(np.round(mood), 1, 5).astype(np.int64)
    morning = rng.random(n) < 0.65
    tod = np.where(morning, rng.integers(7 * 3600 + 600, 7 * 3600 + 3000, n), rng.integers(20 * 3600 + 1800, 22 * 3600, n))
    ts = term.seconds(day) + tod
    order = np.argsort((ts - ts.min(initial=0)) * (1 << 20) + s, kind="stable")
    s, raw, ts = s[order], raw[order], ts[order]
    words = np.array(MOOD_WORDS)[raw - 1, rng.integers(0, 3, n)]
    has = rng.random(n) < 0.6
    resp = np.where(has, np.strings.add(np.strings.add('},"response":"', words), '"}'), "}}")
    stamp = pc.strftime(pa.array(ts.astype("datetime64[s]")), format="%Y-%m-%dT%H:%M:%S")
    return pc.binary_join_element_wise(
        XAPI_HEAD, pa.array(uuids(rng, n)), XAPI_ACTOR, pa.array(people.account[lo + s]), XAPI_MID,
        pa.array(raw.astype("U1")), ',"min":1,"max":5', pa.array(resp), ',"timestamp":"', stamp,
        "+08:00", XAPI_TAIL, "")


def interest_inventory(seed, chunk, lo, hi, people: People, lat: Latent, term: Term) -> pa.Table:
    rng = rng_for(seed, "wellbeing", chunk, 3)
    S = hi - lo
    interest = lat.interest[lo:hi]
    drift = 0.3 * lat.strong[lo:hi] + 0.15 * (lat.eng_week[lo:hi, -1] - lat.eng_week[lo:hi, 0])[:, None]
    cols = {"学号": [], "填写日期": []} | {f"兴趣_{x}": [] for x in SUBJECTS} | {"社团偏好": []}
    club = lat.club[lo:hi]
    kind_of_club = np.array([CLUB_KINDS.index(k) for _, k in CLUBS])
    pref = np.where(club >= 0, kind_of_club[np.maximum(club, 0)], rng.integers(0, len(CLUB_KINDS), S))
    for when, shift in ((term.inventory_days[0], 0.0), (term.inventory_days[1], 1.0)):
        took = rng.random(S) < 0.97
        rating = np.clip(np.round(3 + 0.9 * (interest + shift * drift) + rng.normal(0, 0.5, (S, N_SUBJ))), 1, 5)
        cols["学号"].append(people.school_no[lo:hi][took])
        cols["填写日期"].append(np.full(took.sum(), when))
        for j, x in enumerate(SUBJECTS):
            v = np.where(lat.studies[lo:hi, j], rating[:, j], np.nan)[took]
            cols[f"兴趣_{x}"].append(v)
        cols["社团偏好"].append(np.array(CLUB_KINDS)[pref][took])
    out = {}
    for k, v in cols.items():
        a = np.concatenate(v)
        out[k] = pa.array(np.nan_to_num(a).astype(np.int64), mask=np.isnan(a)) if a.dtype == float else pa.array(a)
    return pa.table(out)


def activities(seed, chunk, lo, hi, people: People, lat: Latent, term: Term) -> pa.Table:
    rng = rng_for(seed, "wellbeing", chunk, 4)
    S = hi - lo
    rows = []  # (student, kind, name, day, hours, award) as arrays
    club = lat.club[lo:hi]
    meet = np.array([term.day_index(term._weekday_in_week(w, 2)) for w in range(1, term.weeks - 1)])
    s, k = np.nonzero((club[:, None] >= 0) & np.ones((1, len(meet)), bool))
    go = rng.random(len(s)) < 0.88 * np.where(lat.in_anxiety(lo + s, meet[k]), 0.6, 1.0)
    s, k = s[go], k[go]
    rows.append((s, np.full(len(s), "社团"), np.array([c for c, _ in CLUBS])[club[s]], meet[k],
                 np.full(len(s), 1.5), np.full(len(s), "")))
    nv = rng.poisson(0.8 + 0.8 * (club == len(CLUBS) - 1))
    s = np.repeat(np.arange(S), nv)
    weekend = np.nonzero(~term.school & (term.weekday >= 5))[0]
    rows.append((s, np.full(len(s), "志愿服务"), np.array(VOLUNTEER)[rng.integers(0, len(VOLUNTEER), len(s))],
                 weekend[rng.integers(0, len(weekend), len(s))], rng.choice([2.0, 2.5, 3.0, 4.0], len(s)),
                 np.full(len(s), "")))
    sd = term.school_days
    for name, j, frac, g0 in COMPETITIONS:
        day = term.day_index(sd[int(frac * (len(sd) - 1))])
        z = lat.subj[lo:hi, j]
        p = 1 / (1 + np.exp(-(-2.8 + 0.8 * lat.interest[lo:hi, j] + 0.6 * z + 1.5 * lat.strong[lo:hi, j])))
        s = np.nonzero((rng.random(S) < p) & (people.grade[lo:hi] >= g0))[0]
        q = z[s] + rng.normal(0, 0.5, len(s)) + 1.0 * lat.strong[lo + s, j]
        rank = np.argsort(np.argsort(-q)) / max(1, len(q))  # awards go to the best ~half of entrants
        award = np.select([rank < 0.08, rank < 0.2, rank < 0.35, rank < 0.5],
                          ["区级一等奖", "区级二等奖", "区级三等奖", "校级优秀奖"], "")
        rows.append((s, np.full(len(s), "竞赛"), np.full(len(s), name), np.full(len(s), day),
                     np.full(len(s), 3.0), award))
    s, kind, name, day, hours, award = (np.concatenate(x) for x in zip(*rows))
    order = np.lexsort((s, day))
    return pa.table({"学号": pa.array(people.school_no[lo + s[order]]), "类型": pa.array(kind[order]),
                     "名称": pa.array(name[order]), "日期": pa.array(term.days[day[order]]),
                     "时长小时": pa.array(hours[order]), "获奖": pa.array(award[order], mask=award[order] == "")})


CONSENT_REFUSED = 0.08     # share of families who do not consent to psychology data being shown


def consents(seed, people: People, term: Term) -> pa.Table:
    """The families' consent forms (家长知情同意书) of the term: psychology data (心理数据) shown to the
    psychology teacher and in reports; about 8 % refuse. Signed in the first two weeks."""
    rng = rng_for(seed, "consent", 0)
    n = people.n
    granted = rng.random(n) >= CONSENT_REFUSED
    day = np.datetime64(term.start) + rng.integers(0, 14, n).astype("timedelta64[D]")
    return pa.table({"学号": pa.array(people.school_no), "用途": pa.array(np.full(n, "心理数据")),
                     "是否同意": pa.array(np.where(granted, "是", "否")),
                     "签署日期": pa.array(day.astype(str))})
