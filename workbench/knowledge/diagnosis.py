"""Diagnosis on a knowledge graph from mastery: weak points, root causes, learning paths, the class
teaching map and the chapter radar. Plain functions, the graph first (networkx's habit).

``mastery`` is one student's mastery as a mapping kp → probability (NaN / missing = insufficient
evidence), or, for the class map, the frame of :func:`workbench.knowledge.mastery.compute_mastery`.

>>> from workbench.knowledge import load_graph
>>> kg = load_graph("math_junior")
>>> m = {"M7-NUM-01": 0.9, "M7-NUM-02": 0.85, "M7-NUM-03": 0.3, "M7-NUM-04": 0.2, "M7-NUM-05": 0.25}
>>> [c["kp"] for c in root_causes(kg, m, "M7-NUM-05")]
['M7-NUM-03']
>>> print(root_cause_text(kg, m, "M7-NUM-05"))
有理数的乘除法薄弱，根源可能是相反数与绝对值未掌握
>>> learning_path(kg, m, "M7-NUM-05")
['M7-NUM-03', 'M7-NUM-04', 'M7-NUM-05']
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import networkx as nx
import pandas as pd

from workbench.knowledge.graph import KnowledgeGraph
from workbench.knowledge.mastery import MASTERED, WEAK


def _p(mastery: Mapping[str, float], kp: str) -> float | None:
    v = mastery.get(kp)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def weak_points(kg: KnowledgeGraph, mastery: Mapping[str, float], threshold: float = WEAK) -> list[str]:
    """Points with evidence and mastery below ``threshold``, weakest first."""
    weak = [(p, k) for k in kg.points if (p := _p(mastery, k)) is not None and p < threshold]
    return [k for _, k in sorted(weak)]


def root_causes(kg: KnowledgeGraph, mastery: Mapping[str, float], kp: str, limit: int = 2,
                threshold: float = WEAK) -> list[dict]:
    """The weakest unmastered prerequisites among ``kp``'s ancestors that are themselves the start of
    the gap (none of *their* prerequisites is also unmastered), nearest first on ties."""
    unmastered = {a for a in kg.ancestors(kp) if (p := _p(mastery, a)) is not None and p < threshold}
    roots = [a for a in unmastered if not (kg.ancestors(a) & unmastered)]
    dist = nx.single_source_shortest_path_length(kg.graph.reverse(copy=False), kp)
    ranked = sorted(roots, key=lambda a: (_p(mastery, a), dist.get(a, 99), a))[:limit]
    return [{"kp": a, "p_mastery": _p(mastery, a), "distance": dist.get(a)} for a in ranked]


def root_cause_text(kg: KnowledgeGraph, mastery: Mapping[str, float], kp: str, lang: str = "zh") -> str:
    causes = root_causes(kg, mastery, kp)
    if not causes:
        return (f"{kg.name(kp)}薄弱，先修知识点均已掌握或证据不足" if lang == "zh" else
                f"{kg.name(kp, 'en')} is weak; its prerequisites are mastered or lack evidence")
    names = [kg.name(c["kp"], lang) for c in causes]
    if lang == "zh":
        return f"{kg.name(kp)}薄弱，根源可能是{'、'.join(names)}未掌握"
    return f"{kg.name(kp, 'en')} is weak; the root may be {' and '.join(names)}, not yet mastered"


def root_gaps(kg: KnowledgeGraph, mastery: Mapping[str, float], threshold: float = WEAK) -> list[dict]:
    """Where a student's gaps start: the weak points none of whose ancestors is weak (with evidence),
    each with the weak points it explains (itself and its weak descendants), most explained first.

    This is the student-level answer to "what should be fixed first": every weak point is either a
    root gap or has one among its ancestors (then :func:`root_causes` names it)."""
    weak = set(weak_points(kg, mastery, threshold))
    out = []
    for k in weak:
        if kg.ancestors(k) & weak:
            continue
        explains = sorted((w for w in weak if w == k or k in kg.ancestors(w)), key=lambda w: (_p(mastery, w), w))
        out.append({"kp": k, "p_mastery": _p(mastery, k), "explains": explains})
    return sorted(out, key=lambda g: (-len(g["explains"]), g["p_mastery"], g["kp"]))


def root_gap_text(kg: KnowledgeGraph, gap: dict, lang: str = "zh") -> str:
    """One sentence for a teacher or parent: the root gap and what it holds back."""
    others = [w for w in gap["explains"] if w != gap["kp"]]
    name = kg.name(gap["kp"], lang)
    if lang == "zh":
        tail = f"，它影响{'、'.join(kg.name(w) for w in others)}" if others else ""
        return f"{name}未掌握，其先修知识点未见薄弱：建议从这里补起{tail}"
    tail = f"; it holds back {', '.join(kg.name(w, 'en') for w in others)}" if others else ""
    return f"{name} is not mastered while none of its prerequisites shows a weakness: start here{tail}"


def learning_path(kg: KnowledgeGraph, mastery: Mapping[str, float], target: str,
                  mastered: float = MASTERED) -> list[str]:
    """Points to study, prerequisites first, to reach ``target``: the target and every ancestor that is
    not mastered (insufficient evidence counts as not mastered)."""
    need = {a for a in kg.ancestors(target) | {target} if (_p(mastery, a) or 0.0) < mastered}
    return [k for k in kg.topological_order() if k in need]


def class_teaching_map(kg: KnowledgeGraph, mastery: pd.DataFrame, students: list[str] | None = None,
                       threshold: float = WEAK) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Knowledge point × student mastery, and per point the share of students lacking it (with
    evidence), most-lacking first: the points to reteach to the whole class."""
    m = mastery if students is None else mastery[mastery["student_key"].isin(students)]
    grid = m.pivot_table(index="kp_id", columns="student_key", values="p_mastery", aggfunc="first")
    order = [k for k in kg.topological_order() if k in grid.index]
    grid = grid.reindex(order)
    with_evidence = grid.notna().sum(axis=1)
    lacking = (grid < threshold).sum(axis=1)
    summary = pd.DataFrame({"name": [kg.name(k) for k in grid.index], "chapter": [kg.chapter(k) for k in grid.index],
                            "students_with_evidence": with_evidence, "lacking": lacking,
                            "share_lacking": (lacking / with_evidence.where(with_evidence > 0)).round(3)})
    return grid, summary.sort_values(["share_lacking", "lacking"], ascending=False, na_position="last")


def chapter_radar(kg: KnowledgeGraph, mastery: Mapping[str, float], lang: str = "zh") -> pd.Series:
    """Mean mastery per chapter over the points with evidence (chapters with none are left out)."""
    rows = [(kg.chapter(k, lang), p) for k in kg.points if (p := _p(mastery, k)) is not None]
    if not rows:
        return pd.Series(dtype=float)
    df = pd.DataFrame(rows, columns=["chapter", "p"])
    order = list(dict.fromkeys(kg.chapter(k, lang) for k in kg.topological_order()))
    return df.groupby("chapter")["p"].mean().reindex([c for c in order if c in set(df["chapter"])])
