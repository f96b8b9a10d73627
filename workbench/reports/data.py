"""Data builders for the report views: plain functions over a (read-only) DuckDB connection that return
pandas objects and dicts, with zh/en labels by ``lang``. No IPython, no charts: ``charts`` draws
them and ``render`` shows them in a notebook.

Students appear by display code only (``S-`` and six characters of the pseudonym); every count or
aggregate over fewer than ``MIN_CELL`` (10) students is shown as ``"<10"``.

>>> from workbench.reports.data import class_overview, student_report   # doctest: +SKIP
>>> view = class_overview(con, "2026-2027-1", "G7C1", "whole_person")   # doctest: +SKIP
>>> view["dimensions"][["label", "class_mean", "grade_mean"]]           # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd

from workbench.knowledge import diagnosis
from workbench.knowledge.diagnosis import root_gaps
from workbench.knowledge.graph import KnowledgeGraph
from workbench.model.spec import ProfileSpec
from workbench.reports.common import (MIN_CELL, OVERALL, SUPPRESSED, as_spec, class_info, compare_dimensions, count_cell,
                                      dimension_label, dimensions_of, display_code, group_means, mean_cell, numeric,
                                      profile_run, spec_key, spec_title, student_scores, tag_labels)
from workbench.reports.growth import class_growth, student_growth
from workbench.reports.redact import hidden_tags, hidden_words, strip_parts, visible_spec
from workbench.reports.student import DEFAULT_GRAPH, as_graph, model_notes, rank_dimensions, student_report
from workbench.reports.text import join_list, tr

__all__ = ["class_alerts", "class_cards", "class_growth", "class_overview", "class_teaching_map", "student_growth",
           "student_report"]
MAX_MAP_POINTS = 40


def _require_class(con: duckdb.DuckDBPyConnection, term: str, class_id: str, spec: ProfileSpec) -> dict:
    info = class_info(con, term, class_id)
    if info["students"] == 0:
        raise ValueError(f"class {class_id!r} has no students in term {term!r} / 班级 {class_id} 在学期 {term} 没有学生")
    if profile_run(con, term, spec) is None:
        raise ValueError(f"class {class_id!r}, term {term!r}: the store has no profile of spec {spec.id!r} (hash "
                         f"{spec.hash}) for this term; run prepare_term first / 该学期还没有这个画像模型的结果")
    return info


def class_overview(con: duckdb.DuckDBPyConnection, term: str, class_id: str, spec: ProfileSpec | str = "whole_person",
                   lang: str = "zh", *, hide: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """A class at a glance for its teachers.

    Returns a dict: ``class`` (class_id, name, grade, students), ``term``, ``spec`` (id, version, hash,
    name), ``dimension_labels`` (id → label), ``students`` (index display code: student_key, a column per
    dimension and ``overall``, segment, segment_text, tags as labels), ``dimensions`` (index dimension:
    label, class_mean, grade_mean, difference, class_n — suppressed under 10), ``segments`` (segment,
    description, students, share), ``tags`` (tag, label, students), ``grade_composite`` (mean, q25,
    median, q75, n of the grade's composites), ``scatter_dims`` (the two dimensions that separate the
    segments most, over the term) and ``notes``.

    Raises ``ValueError`` naming the class and term when the class has no students in the term or no
    profile of ``spec`` (e.g. a class whose data was removed). ``hide``: dimensions left out of the view
    (:mod:`workbench.reports.redact`).
    """
    spec = as_spec(spec)
    shown, words, gone = visible_spec(spec, hide), hidden_words(spec, hide, lang), hidden_tags(spec, hide)
    info = _require_class(con, term, class_id, spec)
    scores = student_scores(con, term, spec, class_id=class_id)
    if scores.empty:
        raise ValueError(f"class {class_id!r} has no profile of spec {spec.id!r} in term {term!r} "
                         f"/ 班级 {class_id} 在学期 {term} 没有画像结果")
    dims = [d for d in dimensions_of(con, term, spec) if d not in hide]
    comparison = compare_dimensions(scores, group_means(con, term, spec, info["grade"]), dims, spec, lang)
    labels = tag_labels(spec, lang)
    students = scores[[*dims, OVERALL]].copy()
    students.insert(0, "student_key", students.index)
    students["segment"] = scores["segment"]
    students["segment_text"] = [strip_parts(t, words, lang) for t in scores["segment_zh" if lang == "zh" else "segment_en"]]
    students["tags"] = [[labels.get(t, t) for t in ts if t not in gone] if isinstance(ts, list | np.ndarray) else []
                        for ts in scores["tags"]]
    students.index = pd.Index([display_code(k) for k in students.index], name="code")
    students = students.sort_values(OVERALL, ascending=False)
    run = profile_run(con, term, spec)["report"]
    return {
        "class": {k: info[k] for k in ("class_id", "name", "grade", "students")},
        "term": term,
        "spec": {"id": spec.id, "version": spec.version, "hash": spec.hash, "name": spec_title(spec, lang)},
        "dimension_labels": {d: dimension_label(spec, d, lang) for d in [*dims, OVERALL]},
        "students": students,
        "dimensions": comparison,
        "segments": _segments(scores, run, lang, words),
        "tags": _tags(scores, shown, tag_labels(shown, lang)),
        "grade_composite": _grade_composite(con, term, spec, info["grade"]),
        "scatter_dims": _scatter_dims(con, term, spec, dims),
        "notes": [tr("suppressed_note", lang, n=MIN_CELL, mark=SUPPRESSED), *model_notes(shown, run, dims, lang)],
    }


def _segments(scores: pd.DataFrame, run: dict, lang: str, hidden: list[str] | None = None) -> pd.DataFrame:
    words = {int(k): v.get(lang) or v.get("en") for k, v in (run.get("segments") or {}).items()}
    text = scores["segment_zh" if lang == "zh" else "segment_en"]
    for s, t in zip(scores["segment"], text):
        words.setdefault(int(s), t)
    words = {s: strip_parts(t, hidden or [], lang) for s, t in words.items()}
    total = len(scores)
    rows = []
    for s in sorted(words):
        n = int((scores["segment"] == s).sum())
        rows.append({"segment": s, "description": words[s], "students": count_cell(n),
                     "share": round(n / total, 3) if n >= MIN_CELL or n == 0 else SUPPRESSED})
    return pd.DataFrame(rows, columns=["segment", "description", "students", "share"]).astype(
        {"students": object, "share": object})


def _tags(scores: pd.DataFrame, spec: ProfileSpec, labels: dict[str, str]) -> pd.DataFrame:
    lists = [list(ts) if isinstance(ts, list | np.ndarray) else [] for ts in scores["tags"]]
    rows = [{"tag": t["id"], "label": labels[t["id"]], "students": count_cell(sum(t["id"] in ts for ts in lists))}
            for t in spec.tags]
    return pd.DataFrame(rows, columns=["tag", "label", "students"]).astype({"students": object})


def _grade_composite(con, term: str, spec: ProfileSpec, grade: int | None) -> dict[str, Any]:
    params = spec_key(term, spec) | {"g": grade}
    row = con.execute("""
        SELECT avg(p.score), quantile_cont(p.score, 0.25), quantile_cont(p.score, 0.5), quantile_cont(p.score, 0.75),
               count(p.score)
        FROM profiles p JOIN profile_students ps USING (term_id, spec_id, spec_hash, student_key)
        WHERE p.term_id = $t AND p.spec_id = $s AND p.spec_hash = $h AND p.dimension = 'overall'
          AND ($g IS NULL OR ps.grade = $g)""", params).fetchone()
    n = int(row[4])
    return {"scope": "grade" if grade is not None else "school", "n": count_cell(n),
            **{k: mean_cell(v, n) for k, v in zip(("mean", "q25", "median", "q75"), row[:4])}}


def _scatter_dims(con, term: str, spec: ProfileSpec, dims: list[str]) -> list[str]:
    """The two dimensions whose segment means (over the whole term) lie furthest apart."""
    if len(dims) < 2:
        return []
    means = con.execute("""
        SELECT ps.segment, p.dimension, avg(p.score) AS mean
        FROM profiles p JOIN profile_students ps USING (term_id, spec_id, spec_hash, student_key)
        WHERE p.term_id = $t AND p.spec_id = $s AND p.spec_hash = $h AND p.dimension <> 'overall' GROUP BY ALL""",
                        spec_key(term, spec)).df()
    spread = means.groupby("dimension")["mean"].agg(lambda s: s.max() - s.min()).reindex(dims).fillna(0.0)
    order = sorted(dims, key=lambda d: (-spread[d], dims.index(d)))
    return order[:2]


# ------------------------------------------------------------------------------------------ teaching map
def class_teaching_map(con: duckdb.DuckDBPyConnection, term: str, class_id: str,
                       graph: KnowledgeGraph | str = DEFAULT_GRAPH, lang: str = "zh") -> dict[str, Any]:
    """Knowledge point × student mastery for the class and the points most of the class has not mastered.

    Returns ``empty`` (True when the term has no mastery for the class; ``message`` says so), ``grid``
    (index point name, columns display codes, p_mastery; NaN = insufficient evidence; points with
    evidence for at least MIN_CELL students, at most 40, in prerequisite order), ``lacking`` (points
    with evidence for MIN_CELL students or more and a share not mastered of at least one half: kp,
    name, chapter, students_with_evidence, lacking, share_lacking), ``points`` (the same columns for
    every point with evidence, most-lacking first) and ``chapters`` (chapter, mean mastery, students).
    """
    kg = as_graph(graph)
    m = con.execute("""SELECT student_key, kp_id, p_mastery FROM mastery WHERE term_id = $t
                       AND student_key IN (SELECT student_key FROM enrolments WHERE term_id = $t AND class_id = $c)""",
                    {"t": term, "c": class_id}).df()
    m = m[m["kp_id"].isin(kg.points)]
    out: dict[str, Any] = {"empty": True, "message": None, "grid": None, "lacking": None, "points": None, "chapters": None}
    if m.empty or m["p_mastery"].notna().sum() == 0:
        out["message"] = tr("no_mastery", lang)
        return out
    grid, summary = diagnosis.class_teaching_map(kg, m)
    summary = summary[summary["students_with_evidence"] > 0].copy()
    summary.insert(0, "kp", summary.index)
    summary["name"] = [kg.name(k, lang) for k in summary.index]
    summary["chapter"] = [kg.chapter(k, lang) for k in summary.index]
    enough = summary["students_with_evidence"] >= MIN_CELL
    points = summary.assign(
        students_with_evidence=summary["students_with_evidence"].map(count_cell),
        lacking=summary["lacking"].map(count_cell),
        # a share over few lacking students would give their number away: suppressed like the count
        share_lacking=[s if ok and not (0 < n < MIN_CELL) else SUPPRESSED
                       for s, ok, n in zip(summary["share_lacking"], enough, summary["lacking"])]).astype(
        {"students_with_evidence": object, "lacking": object, "share_lacking": object})
    lacking = points[enough & (summary["share_lacking"] >= 0.5)]
    shown = summary[enough].sort_values(["share_lacking", "lacking"], ascending=False).index[:MAX_MAP_POINTS]
    order = [k for k in grid.index if k in set(shown)]
    g = grid.loc[order]
    g = g[g.mean().sort_values().index]                       # weakest students first
    g.columns = [display_code(k) for k in g.columns]
    g.index = [kg.name(k, lang) for k in order]
    m = m.assign(chapter=m["kp_id"].map(lambda k: kg.chapter(k, lang))).dropna(subset=["p_mastery"])
    ch = m.groupby("chapter").agg(mean=("p_mastery", "mean"), students=("student_key", "nunique"))
    chapter_order = list(dict.fromkeys(kg.chapter(k, lang) for k in kg.topological_order()))
    ch = ch.reindex([c for c in chapter_order if c in ch.index])
    chapters = pd.DataFrame({"chapter": ch.index,
                             "mean": [mean_cell(v, n, 3) for v, n in zip(ch["mean"], ch["students"])],
                             "students": [count_cell(n) for n in ch["students"]]}).astype({"mean": object, "students": object})
    return {"empty": False, "message": None if len(lacking) else tr("no_lacking", lang), "grid": g,
            "lacking": lacking.reset_index(drop=True), "points": points.reset_index(drop=True), "chapters": chapters}


# ------------------------------------------------------------------------------------------ alerts and cards
def class_alerts(con: duckdb.DuckDBPyConnection, term: str, class_id: str, role: str = "head_teacher",
                 lang: str = "zh", consented: set[str] | None = None) -> pd.DataFrame:
    """The class's alerts of the term routed to ``role`` (often none), newest first, with a ``code`` column and the
    text the role may read (see :func:`workbench.alerts.inbox.alert_rows`)."""
    from workbench.alerts.inbox import alert_rows
    return alert_rows(con, term, role, class_ids=[class_id], consented=consented, lang=lang)


def class_cards(con: duckdb.DuckDBPyConnection, term: str, class_id: str, spec: ProfileSpec | str = "whole_person",
                lang: str = "zh", *, graph: KnowledgeGraph | str = DEFAULT_GRAPH,
                overview: dict[str, Any] | None = None) -> pd.DataFrame:
    """One compact card per student (index display code, composite order): composite, segment words,
    top strengths (up to two dimensions above the class mean, else the relatively best one), what to
    work on (up to two dimensions below it, and the first root gap in knowledge when there is mastery)
    and tags. ``overview`` is the class's :func:`class_overview` when the caller already has it."""
    view = overview or class_overview(con, term, class_id, spec, lang)
    students, comparison = view["students"], view["dimensions"]
    dims = [d for d in comparison.index if d != OVERALL]
    ref = comparison["class_mean"].map(numeric).fillna(comparison["grade_mean"].map(numeric)).reindex(dims)
    kg = as_graph(graph)
    m = con.execute("""SELECT student_key, kp_id, p_mastery FROM mastery WHERE term_id = $t AND p_mastery IS NOT NULL
                       AND student_key IN (SELECT student_key FROM enrolments WHERE term_id = $t AND class_id = $c)""",
                    {"t": term, "c": class_id}).df()
    m = m[m["kp_id"].isin(kg.points)]
    per_student = {k: dict(zip(g["kp_id"], g["p_mastery"])) for k, g in m.groupby("student_key")}
    label = view["dimension_labels"]
    rows = []
    for code, r in students.iterrows():
        s = r[dims].astype(float)
        above, below = rank_dimensions(s, ref)
        if not above and ref.notna().any():
            above = [(s - ref).idxmax()] if (s - ref).notna().any() else []
        work = [label[d] for d in below[:2]]
        gaps = root_gaps(kg, per_student.get(r["student_key"], {}))
        if gaps:
            work.append(tr("cards_gap", lang, kp=kg.name(gaps[0]["kp"], lang)))
        rows.append({"code": code, "composite": None if pd.isna(r[OVERALL]) else round(float(r[OVERALL]), 1),
                     "segment": r["segment_text"], "strengths": join_list([label[d] for d in above[:2]], lang),
                     "work_on": join_list(work, lang), "tags": join_list(list(r["tags"]), lang)})
    return pd.DataFrame(rows).set_index("code")
