"""Subject-choice advice (选科建议): per-subject strengths from a term's exams and interest inventory, and the ranked
combinations of a scheme (see :mod:`workbench.recommend.subject_schemes`), each with a 90% interval, its reasons in
words and the combinations this term's evidence cannot tell apart — advice to talk over, never a single verdict.

Per (student, subject), from the term's exams (``assessments.kind = 'exam'``):

* ``strength`` — mean over the exams of the within-grade z-score of the percentage score;
* ``relative`` — strength minus the student's own mean over the subjects (ipsative: better at this than the rest);
* ``trend`` — slope of the exam z-scores across the exams in date order (z per exam; NaN under 3 exams);
* ``interest`` — within-grade z-score of the student's mean interest-inventory answer (1–5); NaN if not answered;
* ``se`` — sd of the exam z-scores / √n, the sd floored at :data:`SD_FLOOR` (a single exam: 1.0, nothing known).

A subject's score is ``Σ weight × component`` (:data:`DEFAULT_WEIGHTS`: strength 0.5, relative 0.5, trend 0.25 —
with four exams a slope is mostly noise —, interest 0.4; a missing trend or interest counts as the grade average,
0). For one student strength and relative differ by a constant, so the ranking follows their sum; the split only
sets how scores compare across students. The score's standard error adds the exam ``se``, the trend's and the
interest answer's (measured from students who answered the inventory twice). A scheme subject without exams of its
own is estimated from its ``proxy`` subjects, its uncertainty widened by the scheme's ``proxy_sd``. A combination
scores the mean of its chosen subjects, with a 90% interval; it cannot be told apart from a better one when the 90%
interval of their difference (the subjects they share cancel) contains 0.

>>> rows = pd.DataFrame({"student_key": "s1", "subject": ["语文", "数学", "英语", "道德与法治", "历史", "地理", "生物"],
...     "n_exams": 4, "strength": [0.1, 0.0, 0.2, 0.1, 1.4, 0.0, 1.3], "trend": 0.0, "interest": [0, 0, 0, 0, 1, 0, 1],
...     "se": 0.15, "trend_se": 0.1, "interest_se": 0.45}).assign(relative=lambda d: d.strength - d.strength.mean())
>>> a = subject_advice(None, "2026-2027-1", "s1", strengths=rows, lang="en")    # con: subject_strengths' connection
>>> a["groups"][0]["text"], a["groups"][0]["combinations"][1:]
("these 3 combinations cannot be told apart on this term's evidence", ['History + Biology + Politics', \
'History + Biology + Geography'])
>>> a["subjects"][0]["reason"]
"History (4 exams): 1.4 SD above the grade mean, 1.0 above the student's own average, steady, high interest"
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from workbench.recommend.subject_schemes import JUNIOR_SUBJECTS, PROXY_SD, SubjectScheme, list_schemes, load_scheme

__all__ = ["DEFAULT_WEIGHTS", "MIN_EXAMS", "class_subject_advice", "list_schemes", "load_scheme", "subject_advice",
           "subject_strengths"]

DEFAULT_WEIGHTS: dict[str, float] = {"strength": 0.5, "relative": 0.5, "trend": 0.25, "interest": 0.4}
MIN_EXAMS = 2          # fewer exams in every subject: a message instead of a ranking
SD_FLOOR = 0.25        # no student is measured more precisely than this per exam (grade SDs)
NO_EVIDENCE_SE = 1.0   # a subject with neither exams nor proxies: the grade average ± the whole grade spread
INTEREST_SE = 0.5      # noise of an interest answer when nobody in the grade answered twice (grade SDs)
Z90 = 1.645

_STRENGTHS_SQL = """
WITH grade AS (
    SELECT e.student_key, max(c.grade) AS grade FROM enrolments e JOIN classes c USING (class_id)
    WHERE e.term_id = $term GROUP BY 1
    HAVING $keys IS NULL OR max(c.grade) IN (SELECT c2.grade FROM enrolments e2 JOIN classes c2 USING (class_id)
                                             WHERE e2.term_id = $term AND list_contains($keys, e2.student_key))),
ex AS (
    SELECT s.student_key, g.grade, a.subject, a.assessment_id, a.date,
           s.score / coalesce(s.max_score, a.max_score) AS pct
    FROM scores s JOIN assessments a USING (assessment_id) JOIN grade g USING (student_key)
    WHERE a.term_id = $term AND a.kind = 'exam' AND s.score IS NOT NULL),
z AS (
    SELECT student_key, grade, subject, (pct - avg(pct) OVER w) / nullif(stddev_samp(pct) OVER w, 0) AS z,
           dense_rank() OVER (PARTITION BY grade, subject ORDER BY date, assessment_id) AS k
    FROM ex WINDOW w AS (PARTITION BY grade, assessment_id))
SELECT student_key, grade, subject, count(z) AS n_exams, avg(z) AS strength, stddev_samp(z) AS sd,
       regr_slope(z, k) AS trend, regr_sxx(z, k) AS sxx
FROM z WHERE z IS NOT NULL GROUP BY ALL
"""
_INTEREST_SQL = """
WITH grade AS (
    SELECT e.student_key, max(c.grade) AS grade FROM enrolments e JOIN classes c USING (class_id)
    WHERE e.term_id = $term GROUP BY 1
    HAVING $keys IS NULL OR max(c.grade) IN (SELECT c2.grade FROM enrolments e2 JOIN classes c2 USING (class_id)
                                             WHERE e2.term_id = $term AND list_contains($keys, e2.student_key))),
inv AS (
    SELECT v.student_key, g.grade, v.item AS subject, avg(v.value) AS answer, count(*) AS n,
           var_samp(v.value) AS within
    FROM surveys v JOIN grade g USING (student_key)
    WHERE v.instrument = 'interest_inventory' AND v.term_id = $term AND v.value IS NOT NULL GROUP BY ALL)
SELECT student_key, subject, (answer - avg(answer) OVER w) / nullif(stddev_samp(answer) OVER w, 0) AS interest,
       sqrt(avg(within) OVER w / n) / nullif(stddev_samp(answer) OVER w, 0) AS interest_se
FROM inv WINDOW w AS (PARTITION BY grade, subject)
"""


def subject_strengths(con, term: str, students: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (student_key, subject) with an exam this term: grade, n_exams, strength, relative, trend,
    interest, and the standard errors se, trend_se and interest_se (z units; see the module docstring). z-scores are taken within the whole grade,
    whatever ``students`` keeps."""
    keys = None if students is None else list(students)
    params = {"term": term, "keys": keys}
    df = con.execute(_STRENGTHS_SQL, params).df()
    df = df.merge(con.execute(_INTEREST_SQL, params).df(), on=["student_key", "subject"], how="left")
    if keys is not None:             # z-scores above are within the students' whole grades; keep the students
        df = df[df["student_key"].isin(keys)]
    df["relative"] = df["strength"] - df.groupby("student_key")["strength"].transform("mean")
    sd = df["sd"].fillna(0).clip(lower=SD_FLOOR)
    df["se"] = np.where(df["n_exams"] >= 2, sd / np.sqrt(df["n_exams"]), NO_EVIDENCE_SE)
    has_trend = df["n_exams"] >= 3
    df["trend"] = df["trend"].where(has_trend)
    df["trend_se"] = np.where(has_trend, sd / np.sqrt(df["sxx"].where(has_trend, 1.0)), 0.0)
    df["interest_se"] = np.where(df["interest"].isna(), 0.0, df["interest_se"].fillna(INTEREST_SE))
    cols = ["student_key", "grade", "subject", "n_exams", "strength", "relative", "trend", "interest", "se", "trend_se",
            "interest_se"]
    return df[cols].sort_values(["student_key", "subject"]).reset_index(drop=True)


def _scheme_subjects(rows: pd.DataFrame, scheme: SubjectScheme, w: Mapping[str, float]) -> list[dict]:
    """Score, se and kind of evidence of every subject of ``scheme`` from one student's rows of strengths."""
    by = {r["subject"]: r for r in rows.to_dict("records")}
    ws, out = w["strength"] + w["relative"], []
    for subject, spec in scheme.subjects.items():
        ev = spec.get("evidence")
        used = [ev] if ev in by else [p for p in spec.get("proxy", []) if p in by]
        kind = "direct" if ev in by else "proxy" if used else "none"
        rs = [by[x] for x in used]
        comp = {k: float(np.nanmean([r[k] for r in rs])) if rs and not all(pd.isna(r[k]) for r in rs) else np.nan
                for k in ("strength", "relative", "trend", "interest")}
        if kind != "direct":
            comp["interest"] = np.nan       # a proxy's interest is not this subject's interest
        if kind == "none":
            comp["strength"] = comp["relative"] = 0.0
        meas = float(np.sqrt(sum(r["se"] ** 2 for r in rs)) / len(rs)) if rs else NO_EVIDENCE_SE
        trend_se = float(np.sqrt(sum(r["trend_se"] ** 2 for r in rs)) / len(rs)) if rs else 0.0
        interest_se = float(by[ev]["interest_se"]) if kind == "direct" else 0.0
        extra = float(spec.get("proxy_sd", PROXY_SD)) if kind == "proxy" else 0.0
        out.append({"subject": subject, "evidence": kind, "evidence_subjects": used,
                    "score": sum(w[k] * (0.0 if pd.isna(v) else v) for k, v in comp.items()),
                    "se": float(np.sqrt((ws * meas) ** 2 + (w["trend"] * trend_se) ** 2 + (ws * extra) ** 2
                                        + (w["interest"] * interest_se) ** 2)),
                    **comp, "n_exams": max((int(r["n_exams"]) for r in rs), default=0),
                    "choosable": subject in scheme.choosable()})
    return out


def _reason(r: Mapping, scheme: SubjectScheme, lang: str) -> str:
    """The reasons for one subject's score in words."""
    zh, name = lang == "zh", scheme.subject_name(r["subject"], lang)
    if r["evidence"] == "none":
        return (f"{name}：没有任何证据（本学期无该科及替代学科的考试），按年级平均计，区间很宽" if zh else
                f"{name}: no evidence at all (no exam in it or its proxies this term); counted as the grade average "
                f"with a very wide interval")
    parts = []
    s, rel = r["strength"], r["relative"]
    if zh:
        parts.append(f"高于年级平均 {s:.1f} 个标准差" if s >= 0.2 else f"低于年级平均 {-s:.1f} 个标准差" if s <= -0.2
                     else "与年级平均相当")
        parts.append("与本人各科平均相当" if abs(rel) < 0.1 else f"比本人各科平均{'高' if rel > 0 else '低'} {abs(rel):.1f}")
    else:
        parts.append(f"{s:.1f} SD above the grade mean" if s >= 0.2 else f"{-s:.1f} SD below the grade mean"
                     if s <= -0.2 else "about the grade mean")
        parts.append("about the student's own average" if abs(rel) < 0.1 else
                     f"{abs(rel):.1f} {'above' if rel > 0 else 'below'} the student's own average")
    t = r["trend"]
    if not pd.isna(t):
        up, down = t >= 0.1, t <= -0.1
        parts.append(("成绩上升" if up else "成绩下降" if down else "成绩平稳") if zh else
                     ("rising" if up else "falling" if down else "steady"))
    i = r["interest"]
    if r["evidence"] == "direct":
        hi, lo = not pd.isna(i) and i >= 0.5, not pd.isna(i) and i <= -0.5
        parts.append(("无兴趣调查" if pd.isna(i) else "兴趣较高" if hi else "兴趣较低" if lo else "兴趣一般") if zh else
                     ("no interest answer" if pd.isna(i) else "high interest" if hi else "low interest" if lo
                      else "average interest"))
        return (f"{name}（{r['n_exams']} 次考试）：" if zh else f"{name} ({r['n_exams']} exams): ") + \
            ("，" if zh else ", ").join(parts)
    via = "、".join(r["evidence_subjects"]) if zh else ", ".join(JUNIOR_SUBJECTS.get(x, x) for x in r["evidence_subjects"])
    return (f"{name}：初中没有直接证据，按{via}的成绩估计（" + "，".join(parts) + "），区间已放宽" if zh else
            f"{name}: no direct evidence; estimated from {via} (" + ", ".join(parts) + "), with a wider interval")


def _ahead(a: tuple[str, ...], b: tuple[str, ...], s: Mapping[str, dict]) -> bool:
    """Whether combination ``a`` is ahead of ``b`` beyond the evidence's noise: the 90% interval of the difference
    of their scores lies above 0 (the subjects they share cancel out of the difference)."""
    only_a, only_b = [x for x in a if x not in b], [x for x in b if x not in a]
    diff = (sum(s[x]["score"] for x in only_a) - sum(s[x]["score"] for x in only_b)) / len(a)
    return diff - Z90 * np.sqrt(sum(s[x]["se"] ** 2 for x in only_a + only_b)) / len(a) > 0


def _advise(rows: pd.DataFrame, scheme: SubjectScheme, w: Mapping[str, float], lang: str) -> dict:
    zh = lang == "zh"
    n_exams = int(rows["n_exams"].max()) if len(rows) else 0
    out = {"scheme": scheme.id, "scheme_name": scheme.name[lang], "lang": lang, "weights": dict(w),
           "n_exams": n_exams, "ok": n_exams >= MIN_EXAMS, "message": None, "subjects": [], "combinations": [],
           "groups": [], "distinguishable": False}
    if not out["ok"]:
        out["message"] = out["summary"] = (
            f"本学期考试成绩不足（最多 {n_exams} 次，至少需要 {MIN_EXAMS} 次），暂不给出选科排序。" if zh else
            f"Too little evidence this term ({n_exams} exams at most, {MIN_EXAMS} needed): no subject ranking is given.")
        return out
    subj = sorted(_scheme_subjects(rows, scheme, w), key=lambda r: -r["score"])
    for k, r in enumerate(subj, 1):
        r.update(rank=k, name=scheme.subject_name(r["subject"], lang), low=r["score"] - Z90 * r["se"],
                 high=r["score"] + Z90 * r["se"], reason=_reason(r, scheme, lang))
    s = {r["subject"]: r for r in subj}
    combos = []
    for c in scheme.combinations():
        score, se = float(np.mean([s[x]["score"] for x in c])), float(np.sqrt(sum(s[x]["se"] ** 2 for x in c)) / len(c))
        combos.append({"subjects": list(c), "label": scheme.label(c, lang), "score": score, "se": se,
                       "low": score - Z90 * se, "high": score + Z90 * se, "reasons": [s[x]["reason"] for x in c]})
    combos.sort(key=lambda c: -c["score"])
    left, tiers = list(range(len(combos))), []
    while left:          # each tier: the best combination left and those it is not clearly ahead of
        tiers.append([i for i in left if i == left[0] or not _ahead(combos[left[0]]["subjects"],
                                                                     combos[i]["subjects"], s)])
        left = [i for i in left if i not in tiers[-1]]
    for g, tier in enumerate(tiers, 1):
        for i in tier:
            combos[i].update(group=g)
        text = ((f"这 {len(tier)} 个组合依据本学期的证据无法区分" if len(tier) > 1 else "该组合明显领先于其后的组合")
                if zh else (f"these {len(tier)} combinations cannot be told apart on this term's evidence"
                            if len(tier) > 1 else "this combination stands clear of the ones after it"))
        out["groups"].append({"group": g, "n": len(tier), "combinations": [combos[i]["label"] for i in tier],
                              "text": text})
    out["subjects"] = subj
    out["combinations"] = [{"rank": k, **c} for k, c in enumerate(combos, 1)]
    out["distinguishable"] = len(tiers[0]) == 1
    out["summary"] = _summary(out, scheme, lang)
    return out


def _summary(out: dict, scheme: SubjectScheme, lang: str) -> str:
    first = out["groups"][0]
    shown = first["combinations"][:6]
    top = [r["name"] for r in out["subjects"] if r["choosable"] and r["evidence"] == "direct"][:2]
    proxies = [r["name"] for r in out["subjects"] if r["evidence"] != "direct"]
    if lang == "zh":
        head = (f"依据本学期 {out['n_exams']} 次考试与兴趣调查（{out['scheme_name']}）：" +
                (f"证据最支持 {shown[0]}，与其余组合可以区分" if first["n"] == 1 else
                 f"排在前面的 {first['n']} 个组合无法区分：{'、'.join(shown)}" + ("等" if first["n"] > 6 else "")))
        return head + (f"。有直接证据的可选科目中相对较强的是{'、'.join(top)}。" if top else "。") + \
            (f"{'、'.join(proxies)}没有直接证据，只是估计。" if proxies else "") + \
            "这是参考，不是结论，请结合学生意愿与学校开设情况商量决定。"
    head = (f"On this term's {out['n_exams']} exams and interest answers ({out['scheme_name']}): " +
            (f"the evidence favours {shown[0]}, clearly ahead of the others" if first["n"] == 1 else
             f"the top {first['n']} combinations cannot be told apart: {'; '.join(shown)}" +
             ("; …" if first["n"] > 6 else "")))
    return head + (f". Relatively strongest choosable subjects with direct evidence: {', '.join(top)}. " if top
                   else ". ") + \
        (f"{', '.join(proxies)}: no direct evidence, an estimate only. " if proxies else "") + \
        "This is advice to discuss with the student and family, not a verdict."


def subject_advice(con, term: str, student_key: str, scheme: str | SubjectScheme = "gaokao_3_1_2", lang: str = "zh",
                   weights: Mapping[str, float] | None = None, strengths: pd.DataFrame | None = None) -> dict:
    """Ranked combinations of ``scheme`` for one student, with intervals, reasons and indistinguishable groups.

    Returns a dict: ``student_key, term, scheme, scheme_name, lang, weights, n_exams, ok, message, subjects``
    (every scheme subject, ranked: score, se, low, high, strength, relative, trend, interest, evidence
    direct/proxy/none, reason), ``combinations`` (ranked: label, subjects, score, se, low, high, group, reasons),
    ``groups`` (tiers of combinations that cannot be told apart, first = those overlapping the best),
    ``distinguishable`` (the best stands alone) and ``summary``. With fewer than :data:`MIN_EXAMS` exams ``ok`` is
    False and ``message`` says why. ``weights`` override :data:`DEFAULT_WEIGHTS`; ``strengths`` reuses a frame of
    :func:`subject_strengths`.
    """
    sch, w = load_scheme(scheme), {**DEFAULT_WEIGHTS, **(weights or {})}
    st = subject_strengths(con, term, [student_key]) if strengths is None else strengths
    rows = st[st["student_key"] == student_key]
    return {"student_key": student_key, "term": term, **_advise(rows, sch, w, lang)}


def class_subject_advice(con, term: str, class_id: str, scheme: str | SubjectScheme = "gaokao_3_1_2",
                         lang: str = "zh", weights: Mapping[str, float] | None = None,
                         strengths: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per student of the class: ok, n_exams, top1–top3 (combination labels), n_indistinct (how many
    combinations cannot be told apart from the best), distinguishable and message (for the class dashboard).
    ``strengths``: the class's :func:`subject_strengths` when the caller has them already."""
    sch, w = load_scheme(scheme), {**DEFAULT_WEIGHTS, **(weights or {})}
    keys = [k for (k,) in con.execute("SELECT DISTINCT student_key FROM enrolments WHERE class_id = $c AND term_id = $t "
                                      "ORDER BY 1", {"c": class_id, "t": term}).fetchall()]
    st = subject_strengths(con, term, keys) if strengths is None else strengths
    rows = []
    for key, g in ((k, st[st["student_key"] == k]) for k in keys):
        a = _advise(g, sch, w, lang)
        top = [c["label"] for c in a["combinations"][:3]] + [None] * 3
        rows.append({"student_key": key, "class_id": class_id, "ok": a["ok"], "n_exams": a["n_exams"],
                     "top1": top[0], "top2": top[1], "top3": top[2],
                     "n_indistinct": a["groups"][0]["n"] if a["ok"] else None,
                     "distinguishable": a["distinguishable"], "message": a["message"]})
    return pd.DataFrame(rows)
