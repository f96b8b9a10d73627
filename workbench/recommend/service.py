"""What the reports and the command line show: one call per view, over the store, the graph and the catalogue.

Students are referred to by ``student_key`` here; the callers (``reports.scoped.ScopedViews``, the CLI) turn
keys into what the viewer may see. The graph and its catalogue are read once per process.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import duckdb
import pandas as pd

from workbench.knowledge.graph import KnowledgeGraph, load_graph
from workbench.recommend.partners import (PartnerPlan, Skills, class_skills, explain_group, match_partners,
                                          previous_pairs)
from workbench.recommend.resources import (LEVELS, Catalogue, class_recommendations, load_catalogue,
                                           recommend_resources, student_mastery, wrong_question_set)
from workbench.recommend.subjects import class_subject_advice, subject_advice, subject_strengths

DEFAULT_GRAPH = "math_junior"
WRONG_SHOWN = 10


@lru_cache(maxsize=4)
def graph_and_catalogue(graph_ref: str = DEFAULT_GRAPH) -> tuple[KnowledgeGraph, Catalogue]:
    kg = load_graph(graph_ref)
    return kg, load_catalogue(graph_ref, kg)


def class_skill_frame(con: duckdb.DuckDBPyConnection, term: str, keys: list[str], kg: KnowledgeGraph,
                      strengths: pd.DataFrame | None = None) -> Skills:
    """Skills for partner matching: the graph's points and the subjects with exam evidence."""
    return class_skills(con, term, keys, kg, subject_strengths(con, term, keys) if strengths is None else strengths)


def student_recommendations(con: duckdb.DuckDBPyConnection, term: str, key: str, *, lang: str = "zh",
                            scheme: str = "gaokao_3_1_2", graph_ref: str = DEFAULT_GRAPH) -> dict[str, Any]:
    """``resources`` (see :func:`recommend_resources`, with ``table`` for display), ``wrong_questions`` (the open
    and corrected questions, at most ``WRONG_SHOWN``, with ``wrong_total`` and ``wrong_open`` counts) and
    ``subjects`` (:func:`subject_advice`)."""
    kg, cat = graph_and_catalogue(graph_ref)
    res = recommend_resources(kg, cat, student_mastery(con, term, key), lang=lang)
    table = pd.DataFrame(res["items"], columns=["kp_name", "level", "title", "kind", "minutes", "reason", "resource_id"])
    table["level"] = table["level"].map(lambda lv: LEVELS[lv][lang])
    res["table"] = table.drop(columns=["resource_id", "kind"])
    wq = wrong_question_set(con, term, key, kg, lang=lang)
    wrong = {"table": wq.head(WRONG_SHOWN)[["item_id", "kp_names", "level", "wrong", "answers", "status"]].assign(
                 level=lambda d: d["level"].map(lambda lv: LEVELS.get(lv, {}).get(lang, lv or "")),
                 status=lambda d: d["status"].map(_STATUS[lang])),
             "wrong_total": int(len(wq)), "wrong_open": int((wq["status"] == "open").sum())}
    return {"resources": res, "wrong_questions": wrong, "subjects": subject_advice(con, term, key, scheme, lang=lang)}


_STATUS = {"zh": {"open": "未订正", "corrected": "已订正"}, "en": {"open": "open", "corrected": "corrected"}}


def class_partners(con: duckdb.DuckDBPyConnection, term: str, keys: list[str], names: dict[str, str], *,
                   size: int = 2, lang: str = "zh", graph_ref: str = DEFAULT_GRAPH,
                   strengths: pd.DataFrame | None = None) -> dict[str, Any]:
    """Partner groups for a class (last term's pairs avoided): ``plan``, ``table`` (group, members as ``names``
    gives them, who helps whom with what, complementarity) and ``message`` (with the random baseline)."""
    kg, _ = graph_and_catalogue(graph_ref)
    skills = class_skill_frame(con, term, keys, kg, strengths)
    plan: PartnerPlan = match_partners(skills, size=size, avoid=previous_pairs(con, term, keys), lang=lang)
    rows = []
    for gi, (g, score) in enumerate(zip(plan.groups, plan.scores), 1):
        rows.append({"group": gi, "members": "、".join(names.get(k, k) for k in g) if lang == "zh"
                     else ", ".join(names.get(k, k) for k in g),
                     "help": "；".join(e["text"] for e in explain_group(skills, g, names, lang)) if lang == "zh"
                     else "; ".join(e["text"] for e in explain_group(skills, g, names, lang)),
                     "score": score})
    return {"plan": plan, "table": pd.DataFrame(rows, columns=["group", "members", "help", "score"]),
            "message": plan.message}


def class_resources(con: duckdb.DuckDBPyConnection, term: str, keys: list[str], names: dict[str, str], *,
                    lang: str = "zh", graph_ref: str = DEFAULT_GRAPH) -> pd.DataFrame:
    """One row per student and root gap: the resource to hand out first (display names as ``names`` gives)."""
    kg, cat = graph_and_catalogue(graph_ref)
    df = class_recommendations(con, term, keys, kg, cat, lang=lang)
    df.insert(0, "display", df["student_key"].map(lambda k: names.get(k, k)))
    df["level"] = df["level"].map(lambda lv: LEVELS[lv][lang])
    return df.drop(columns=["student_key", "kp", "kind", "url", "minutes", "resource_id"])


def class_subjects(con: duckdb.DuckDBPyConnection, term: str, class_id: str, names: dict[str, str], *,
                   scheme: str = "gaokao_3_1_2", lang: str = "zh", strengths: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each student's three leading combinations and whether the evidence tells them apart."""
    df = class_subject_advice(con, term, class_id, scheme, lang=lang, strengths=strengths)
    df.insert(0, "display", df["student_key"].map(lambda k: names.get(k, k)))
    apart = {"zh": ("可以区分", "前{n}个无法区分"), "en": ("distinguishable", "top {n} cannot be told apart")}[lang]
    df["together"] = [apart[0] if d else apart[1].format(n=n) if ok else (m or "")
                      for d, n, ok, m in zip(df["distinguishable"], df["n_indistinct"], df["ok"], df["message"])]
    return df[["display", "top1", "top2", "top3", "together"]].sort_values("display").reset_index(drop=True)


def class_recommendations_view(con: duckdb.DuckDBPyConnection, term: str, class_id: str, keys: list[str],
                               names: dict[str, str], *, lang: str = "zh") -> dict[str, Any]:
    """Partners, first resources and leading subject combinations of a class, the subject strengths read once."""
    st = subject_strengths(con, term, keys)
    return {"partners": class_partners(con, term, keys, names, lang=lang, strengths=st),
            "resources": class_resources(con, term, keys, names, lang=lang),
            "subjects": class_subjects(con, term, class_id, names, lang=lang, strengths=st)}
