"""The student report (for the student and the parents): strengths first, then what to work on.

:func:`student_report` gathers, for one student and one spec: the dimension scores with the class
and grade means (radar), the weekly series behind the spec's weekly and trend indicators, mastery
by chapter and the root gaps in words, strengths and what to work on in plain language, tags and
the model's explanation, and growth since the previous term. Only this student's values and
aggregates over at least :data:`~workbench.reports.common.MIN_CELL` students are shown.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from workbench.indicators.catalogue import load_catalogue
from workbench.knowledge.diagnosis import chapter_radar, root_gap_text, root_gaps, weak_points
from workbench.knowledge.graph import KnowledgeGraph, graph_path, load_graph
from workbench.model.estimator import ALPHA_WARN
from workbench.model.spec import ProfileSpec
from workbench.reports.common import (MIN_CELL, OVERALL, as_spec, class_info, compare_dimensions, dimension_label,
                                      dimensions_of, display_code, fmt_score, fmt_value, group_means, indicator_direction,
                                      indicator_stats, numeric, profile_run, scope_words, spec_title, student_scores,
                                      tag_labels)
from workbench.reports.growth import student_growth
from workbench.reports.redact import hidden_tags, hidden_words, strip_explanation, strip_parts, visible_spec
from workbench.reports.text import join_list, tr

DEFAULT_GRAPH = "math_junior"
MAX_TRENDS = 6


def as_graph(graph: KnowledgeGraph | str) -> KnowledgeGraph:
    """A graph object, or a graph loaded by name or path (kept while its file is unchanged: a term run shows
    hundreds of reports in one kernel)."""
    if isinstance(graph, KnowledgeGraph):
        return graph
    path = graph_path(graph)
    return _load_graph(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load_graph(path: str, mtime_ns: int) -> KnowledgeGraph:
    return load_graph(path)


# ------------------------------------------------------------------------------------------ words
def rank_dimensions(scores: pd.Series, reference: pd.Series) -> tuple[list[str], list[str]]:
    """Dimensions above the reference (largest lead first) and below it (largest gap first)."""
    diff = (scores - reference).dropna()
    return list(diff[diff > 0].sort_values(ascending=False).index), list(diff[diff < 0].sort_values().index)


def _indicator_standing(spec: ProfileSpec, dimension: str, values: pd.DataFrame, student_key: str) -> list[tuple[float, str]]:
    """(favourable z within the class, indicator) for the dimension's indicators the student has a value
    for, over classes of at least MIN_CELL students with a value."""
    out = []
    for i in spec.dimensions.get(dimension, {}).get("indicators", []):
        iid = i["id"]
        if iid not in values.columns or student_key not in values.index:
            continue
        col = values[iid].dropna()
        x, sign = values.at[student_key, iid], indicator_direction(spec, iid)
        if sign == 0 or pd.isna(x) or len(col) < MIN_CELL or not col.std() > 0:
            continue
        out.append((sign * (x - col.mean()) / col.std(), iid))
    return sorted(out)


def strengths_and_needs(spec: ProfileSpec, scores: pd.Series, comparison: pd.DataFrame, values: pd.DataFrame,
                        student_key: str, lang: str = "zh") -> tuple[list[str], list[str]]:
    """Sentences: strengths (dimensions above the class mean, or the grade mean when the class mean is
    suppressed, each with its most favourable indicator), then what to work on (below it, with the
    least favourable indicator). There is always at least one strength: the relatively best side."""
    cat = load_catalogue()
    class_ref = comparison["class_mean"].map(numeric)
    ref = class_ref.fillna(comparison["grade_mean"].map(numeric)).drop(index=OVERALL, errors="ignore")
    above, below = rank_dimensions(scores.reindex(ref.index).astype(float), ref)

    def against(d: str) -> str:
        return "class" if np.isfinite(class_ref.get(d, np.nan)) else "grade"

    def sentence(d: str, good: bool) -> str:
        key = ("above_" if good else "below_") + against(d)
        text = tr(key, lang, dim=dimension_label(spec, d, lang), score=fmt_score(scores[d]), mean=fmt_score(ref[d]))
        standing = _indicator_standing(spec, d, values, student_key)
        pick = standing[-1] if good and standing and standing[-1][0] > 0 else \
            standing[0] if not good and standing and standing[0][0] < 0 else None
        if pick:
            ind = cat[pick[1]]
            text += tr("indicator_good" if good else "indicator_weak", lang, ind=ind.label(lang),
                       value=fmt_value(values.at[student_key, pick[1]], ind, lang),
                       mean=fmt_value(values[pick[1]].mean(), ind, lang))
        return text

    strengths = [sentence(d, True) for d in above[:3]]
    if not strengths and len(ref.dropna()):
        best = (scores.reindex(ref.index).astype(float) - ref).idxmax()
        strengths = [tr("best_relative", lang, dim=dimension_label(spec, best, lang), score=fmt_score(scores[best]),
                        ref=tr(f"ref_{against(best)}", lang), mean=fmt_score(ref[best]))]
    needs = [sentence(d, False) for d in below[:3]]
    return strengths, needs


# ------------------------------------------------------------------------------------------ parts
def weekly_indicators(spec: ProfileSpec) -> list[str]:
    """The weekly series a report draws: those behind the spec's trend indicators, then per dimension its
    heaviest weekly indicator (at most :data:`MAX_TRENDS`)."""
    cat = load_catalogue()
    ids = spec.indicator_ids()
    out = [cat[i].of for i in ids if i in cat and cat[i].kind == "trend" and cat[i].of]
    for d in spec.dimensions.values():
        weekly = [(-float(i.get("weight", 1)), n, i["id"]) for n, i in enumerate(d["indicators"])
                  if i["id"] in cat and cat[i["id"]].weekly]
        if weekly:
            out.append(min(weekly)[2])
    return list(dict.fromkeys(out))[:MAX_TRENDS]


def student_trends(con: duckdb.DuckDBPyConnection, term: str, student_key: str, class_id: str, spec: ProfileSpec,
                   lang: str = "zh") -> pd.DataFrame:
    """Long frame: indicator, label, unit, week, value (the student) and class_mean (NaN in weeks with
    fewer than MIN_CELL classmates' values)."""
    ids = weekly_indicators(spec)
    cols = ["indicator", "label", "unit", "week", "value", "class_mean"]
    if not ids:
        return pd.DataFrame(columns=cols)
    df = con.execute("""
        WITH c AS (SELECT v.indicator_id, v.week, avg(v.value) AS class_mean, count(*) AS n FROM indicator_values v
                   WHERE v.term_id = $t AND v.week IS NOT NULL AND list_contains($ids, v.indicator_id)
                     AND v.student_key IN (SELECT student_key FROM enrolments WHERE term_id = $t AND class_id = $c)
                   GROUP BY ALL)
        SELECT c.indicator_id AS indicator, c.week, s.value, CASE WHEN c.n >= $min THEN c.class_mean END AS class_mean
        FROM c LEFT JOIN indicator_values s ON s.term_id = $t AND s.student_key = $k AND s.indicator_id = c.indicator_id
             AND s.week = c.week
        ORDER BY c.indicator_id, c.week""", {"t": term, "ids": ids, "c": class_id, "k": student_key,
                                             "min": MIN_CELL}).df()
    if df.empty or df["value"].notna().sum() == 0:
        return pd.DataFrame(columns=cols)
    cat = load_catalogue()
    df = df[df["indicator"].isin(df.loc[df["value"].notna(), "indicator"].unique())]
    df["label"] = df["indicator"].map(lambda i: cat[i].label(lang))
    df["unit"] = df["indicator"].map(lambda i: cat[i].unit.get(lang) or cat[i].unit.get("en", ""))
    order = {i: n for n, i in enumerate(ids)}
    df = df.sort_values(["indicator", "week"], key=lambda s: s.map(order) if s.name == "indicator" else s)
    return df[cols].reset_index(drop=True)


def student_mastery(con: duckdb.DuckDBPyConnection, term: str, student_key: str, class_id: str, kg: KnowledgeGraph,
                    lang: str = "zh") -> dict[str, Any]:
    """Chapter means for the student (``chapter_radar``) with the class mean per chapter (suppressed under
    MIN_CELL students with evidence), root gaps in words (and their points' names), and the number of weak points."""
    m = con.execute("SELECT kp_id, p_mastery FROM mastery WHERE term_id = $t AND student_key = $k",
                    {"t": term, "k": student_key}).df()
    m = m[m["kp_id"].isin(kg.points)]
    out: dict[str, Any] = {"chapters": None, "root_gaps": [], "root_gap_points": [], "weak_points": 0, "message": None}
    if m.empty or m["p_mastery"].notna().sum() == 0:
        out["message"] = tr("no_mastery_student", lang)
        return out
    mastery = dict(zip(m["kp_id"], m["p_mastery"].astype(float)))
    radar = chapter_radar(kg, mastery, lang)
    cls = con.execute("""
        SELECT m.kp_id, m.student_key, m.p_mastery FROM mastery m WHERE m.term_id = $t AND m.p_mastery IS NOT NULL
          AND m.student_key IN (SELECT student_key FROM enrolments WHERE term_id = $t AND class_id = $c)""",
                      {"t": term, "c": class_id}).df()
    cls = cls[cls["kp_id"].isin(kg.points)]
    cls["chapter"] = cls["kp_id"].map(lambda k: kg.chapter(k, lang))
    g = cls.groupby("chapter")
    class_mean = g["p_mastery"].mean().where(g["student_key"].nunique() >= MIN_CELL)
    out["chapters"] = pd.DataFrame({"student": radar, "class_mean": class_mean.reindex(radar.index)})
    out["chapters"].index.name = "chapter"
    gaps = root_gaps(kg, mastery)
    out["root_gaps"] = [root_gap_text(kg, g, lang) for g in gaps[:3]]
    out["root_gap_points"] = [kg.name(g["kp"], lang) for g in gaps[:3]]
    out["weak_points"] = len(weak_points(kg, mastery))
    return out


# ------------------------------------------------------------------------------------------ the report
def student_report(con: duckdb.DuckDBPyConnection, term: str, student_key: str, spec: ProfileSpec | str = "whole_person",
                   lang: str = "zh", *, graph: KnowledgeGraph | str = DEFAULT_GRAPH,
                   previous: str | None = None, hide: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """Everything the student report shows, as plain data (see the module doc).

    Keys: ``student`` (code, class_id, class_name, grade), ``term``, ``spec`` (id, version, name),
    ``dimensions`` (index dimension: label, score, class_mean, grade_mean, class_n, vs_class),
    ``composite``, ``segment``, ``tags``, ``explanation``, ``strengths``, ``work_on``, ``knowledge``
    (chapters, root_gaps, weak_points, message), ``trends`` (long frame), ``growth`` and ``notes``.
    Raises ``ValueError`` when the student has no profile of ``spec`` in ``term``. ``hide``: dimensions
    left out of the view (see :mod:`workbench.reports.redact`; the psychology view is the only one with
    the emotion dimension).
    """
    spec = as_spec(spec)
    shown = visible_spec(spec, hide)
    words = hidden_words(spec, hide, lang)
    kg = as_graph(graph)
    scores = student_scores(con, term, spec, students=[student_key])
    if scores.empty:
        raise ValueError(f"student {display_code(student_key)} has no profile of spec {spec.id!r} (hash {spec.hash}) "
                         f"in term {term!r}; run prepare_term first / 该学生在学期 {term} 没有该画像模型的结果")
    row = scores.iloc[0]
    klass = con.execute("SELECT min(class_id) FROM enrolments WHERE term_id = $t AND student_key = $k",
                        {"t": term, "k": student_key}).fetchone()[0]
    info = class_info(con, term, klass) if klass else {"class_id": None, "name": "", "grade": None, "students": 0}
    grade = None if pd.isna(row["grade"]) else int(row["grade"])
    dims = [d for d in dimensions_of(con, term, spec) if d not in hide]
    classmates = student_scores(con, term, spec, class_id=klass) if klass else scores.iloc[0:0]
    comparison = compare_dimensions(classmates, group_means(con, term, spec, grade), dims, spec, lang)
    comparison.insert(1, "score", [row.get(d) for d in comparison.index])
    comparison["vs_class"] = [round(s - c, 1) if np.isfinite(c := numeric(m)) and pd.notna(s) else None
                              for s, m in zip(comparison["score"], comparison["class_mean"])]
    values = indicator_stats(con, term, spec, klass) if klass else pd.DataFrame()
    strengths, needs = strengths_and_needs(shown, row, comparison, values, student_key, lang)
    knowledge = student_mastery(con, term, student_key, klass, kg, lang) if klass else \
        {"chapters": None, "root_gaps": [], "root_gap_points": [], "weak_points": 0,
         "message": tr("no_mastery_student", lang)}
    labels = tag_labels(spec, lang)
    gone = hidden_tags(spec, hide)
    tags = [labels.get(t, t) for t in (row["tags"] if isinstance(row["tags"], list | np.ndarray) else []) if t not in gone]
    run = profile_run(con, term, spec) or {"report": {}}
    return {
        "student": {"code": display_code(student_key), "class_id": klass, "class_name": info["name"], "grade": grade},
        "term": term, "spec": {"id": spec.id, "version": spec.version, "name": spec_title(spec, lang)},
        "dimensions": comparison, "composite": row.get(OVERALL),
        "segment": strip_parts(row["segment_zh" if lang == "zh" else "segment_en"], words, lang),
        "tags": tags, "explanation": strip_explanation(row["explanation_zh" if lang == "zh" else "explanation_en"],
                                                       words, lang),
        "strengths": strengths, "work_on": needs, "knowledge": knowledge,
        "trends": student_trends(con, term, student_key, klass, shown, lang) if klass else pd.DataFrame(),
        "growth": _without(student_growth(con, term, student_key, spec, previous=previous, lang=lang), hide, words),
        "notes": model_notes(shown, run["report"], dims, lang),
    }


def _without(growth: dict[str, Any] | None, hide, words: list[str]) -> dict[str, Any] | None:
    """A growth view without the hidden dimensions' rows and sentences."""
    if not growth or not hide:
        return growth
    out = dict(growth)
    if isinstance(growth.get("table"), pd.DataFrame):
        out["table"] = growth["table"].drop(index=[d for d in hide if d in growth["table"].index])
    out["sentences"] = [x for x in growth.get("sentences") or [] if not any(w in x for w in words)]
    return out


def model_notes(spec: ProfileSpec, report: dict, dims: list[str], lang: str = "zh") -> list[str]:
    """How to read the scores: relative positions, dimensions left out, dimensions of low reliability."""
    notes = [tr("scores_relative", lang, **scope_words(spec, lang))]
    left_out = [dimension_label(spec, d, lang) for d in spec.dimensions if d not in dims]
    if left_out:
        notes.append(tr("missing_dims", lang, dims=join_list(left_out, lang)))
    for d, a in (report.get("reliability") or {}).items():
        if a is not None and a < ALPHA_WARN:
            notes.append(tr("reliability_low", lang, dim=dimension_label(spec, d, lang), alpha=f"{a:.2f}"))
    return notes
