"""The knowledge graph of one class as plain, JSON-able data: a layered layout, nodes coloured by the class's
mean mastery, and the detail of one point (who is below the threshold, and which prerequisites lie behind it).

``widgets.kgraph.KnowledgeGraphView`` draws these dicts; everything it shows is computed here.

Aggregates over fewer than :data:`~workbench.reports.common.MIN_CELL` students are never shown (the node is
grey, "insufficient evidence"). Students appear as ``names[student_key]`` when the caller passes a names
mapping (a role allowed to see names), else as display codes (``S-`` and six characters of the pseudonym).

>>> import pandas as pd
>>> from workbench.knowledge import load_graph
>>> kg = load_graph("math_junior")
>>> students = [f"S{i:06d}abcdef" for i in range(12)]
>>> m = pd.DataFrame([(s, k, p) for i, s in enumerate(students) for k, p in
...                   [("M7-NUM-02", 0.9), ("M7-NUM-03", 0.2 if i < 3 else 0.9), ("M7-NUM-04", 0.3 if i < 4 else 0.85)]],
...                  columns=["student_key", "kp_id", "p_mastery"])
>>> view = class_graph_view(kg, m, students, grades=[7], lang="en")
>>> [(n["id"], n["mean"], n["n_below"]) for n in view["nodes"]]   # M7-NUM-01: a prerequisite, no evidence
[('M7-NUM-01', None, 0), ('M7-NUM-02', 0.9, 0), ('M7-NUM-03', 0.725, '<10'), ('M7-NUM-04', 0.667, '<10')]
>>> [n["colour"] for n in view["nodes"]]
['#bdbdbd', '#42aa55', '#c8d876', '#f2de86']
>>> [(e["source"], e["target"]) for e in view["edges"]]
[('M7-NUM-01', 'M7-NUM-02'), ('M7-NUM-02', 'M7-NUM-03'), ('M7-NUM-03', 'M7-NUM-04')]
>>> d = point_detail(kg, m, students, "M7-NUM-04", lang="en")
>>> [(s["name"], s["p_mastery"], [c["kp"] for c in s["root_causes"]]) for s in d["students"]][:2]
[('S-000000', 0.3, ['M7-NUM-03']), ('S-000001', 0.3, ['M7-NUM-03'])]
>>> [p["kp"] for p in d["prerequisites"]]
['M7-NUM-03']
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import duckdb
import networkx as nx
import pandas as pd

from workbench.knowledge.diagnosis import root_causes
from workbench.knowledge.graph import KnowledgeGraph
from workbench.knowledge.mastery import MASTERED, WEAK
from workbench.reports.common import MIN_CELL, SUPPRESSED, count_cell, display_code
from workbench.reports.text import join_list, tr

__all__ = ["class_graph_view", "class_mastery", "graph_layout", "mastery_colour", "point_detail"]

GREY = "#bdbdbd"
# red–yellow–green (ColorBrewer RdYlGn, 5 classes) at these mastery values; clamped outside
COLOUR_STOPS: tuple[tuple[float, str], ...] = ((0.3, "#d73027"), (0.5, "#fc8d59"), (0.65, "#fee08b"),
                                               (0.8, "#91cf60"), (0.95, "#1a9850"))
SHORT_WIDTH = 14          # label width in half-width characters (a CJK character counts two)


# ------------------------------------------------------------------------------------------ layout
def graph_layout(kg: KnowledgeGraph, points: Collection[str] | None = None, *, with_prerequisites: bool = False,
                 sweeps: int = 4) -> dict[str, tuple[float, float]]:
    """A deterministic layered layout of ``points`` (all points by default): kp → (x, y) in [0, 1].

    ``x`` is the layer, the longest prerequisite path within the points shown (networkx's topological
    generations), so every edge runs left to right; ``y`` is the place in the layer. Layers start in the
    graph file's order (strand and chapter), then barycentre sweeps (each node moves to the mean place of
    its neighbours in the previous layer, down then up) reorder them; the order with the fewest edge
    crossings is kept. ``with_prerequisites`` adds the points' direct prerequisites.

    >>> from workbench.knowledge import load_graph
    >>> pos = graph_layout(load_graph("math_junior"), ["M7-NUM-03", "M7-NUM-04"], with_prerequisites=True)
    >>> {k: (round(x, 2), round(y, 2)) for k, (x, y) in pos.items()}
    {'M7-NUM-02': (0.0, 0.5), 'M7-NUM-03': (0.5, 0.5), 'M7-NUM-04': (1.0, 0.5)}
    """
    chosen = set(kg.points if points is None else points)
    if with_prerequisites:
        chosen |= {p for k in list(chosen) for p in kg.prerequisites(k)}
    file_pos = {k: i for i, k in enumerate(kg.points)}
    sub = kg.graph.subgraph(chosen)
    layers = [sorted(g, key=file_pos.__getitem__) for g in nx.topological_generations(sub)]
    if not layers:
        return {}
    best, best_crossings = [list(la) for la in layers], _crossings(sub, layers)
    for _ in range(sweeps):
        for i in range(1, len(layers)):                       # down: parents fix the order
            layers[i] = _by_barycentre(layers[i], _ys(layers), sub.predecessors)
        for i in range(len(layers) - 2, -1, -1):              # up: children fix the order
            layers[i] = _by_barycentre(layers[i], _ys(layers), sub.successors)
        c = _crossings(sub, layers)
        if c < best_crossings:
            best, best_crossings = [list(la) for la in layers], c
    return _positions(best)


def _positions(layers: list[list[str]]) -> dict[str, tuple[float, float]]:
    rows = max(len(la) for la in layers)
    out = {}
    for li, layer in enumerate(layers):
        x = li / (len(layers) - 1) if len(layers) > 1 else 0.5
        for i, k in enumerate(layer):
            out[k] = (x, (i + 0.5 + (rows - len(layer)) / 2) / rows)
    return out


def _ys(layers: list[list[str]]) -> dict[str, float]:
    return {k: y for k, (_x, y) in _positions(layers).items()}


def _by_barycentre(layer: list[str], ys: dict[str, float], neighbours) -> list[str]:
    def key(item: tuple[int, str]) -> tuple[float, int]:
        i, k = item
        near = [ys[n] for n in neighbours(k) if n in ys]
        return (sum(near) / len(near) if near else ys[k], i)
    return [k for _, k in sorted(enumerate(layer), key=key)]


def _crossings(sub: nx.DiGraph, layers: list[list[str]]) -> int:
    pos = _positions(layers)
    segs = [(a, b, pos[a], pos[b]) for a, b in sub.edges]
    n = 0
    for i, (a, b, p1, p2) in enumerate(segs):
        for c, d, q1, q2 in segs[i + 1:]:
            if not {a, b} & {c, d} and _cross(p1, p2, q1, q2):
                n += 1
    return n


def _cross(p1, p2, q1, q2) -> bool:
    def turn(a, b, c) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return turn(p1, p2, q1) * turn(p1, p2, q2) < 0 and turn(q1, q2, p1) * turn(q1, q2, p2) < 0


# ------------------------------------------------------------------------------------------ colours and cells
def mastery_colour(p: float | None) -> str:
    """The red–yellow–green colour of a mean mastery (grey when there is none).

    >>> mastery_colour(0.2), mastery_colour(0.65), mastery_colour(None)
    ('#d73027', '#fee08b', '#bdbdbd')
    """
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return GREY
    if p <= COLOUR_STOPS[0][0]:
        return COLOUR_STOPS[0][1]
    for (v0, c0), (v1, c1) in zip(COLOUR_STOPS, COLOUR_STOPS[1:]):
        if p <= v1:
            t = (p - v0) / (v1 - v0)
            rgb = [round(int(c0[j:j + 2], 16) + t * (int(c1[j:j + 2], 16) - int(c0[j:j + 2], 16))) for j in (1, 3, 5)]
            return "#" + "".join(f"{v:02x}" for v in rgb)
    return COLOUR_STOPS[-1][1]


def _short(text: str, width: int = SHORT_WIDTH) -> str:
    used, out = 0, ""
    for ch in text:
        used += 2 if ord(ch) > 0x2E80 else 1
        if used > width:
            return out.rstrip() + "…"
        out += ch
    return out


def _stats(kg: KnowledgeGraph, mastery: pd.DataFrame, students: Sequence[str], threshold: float) -> pd.DataFrame:
    """Per point with any class row: n_evidence, mean (None under MIN_CELL), n_below."""
    m = mastery[mastery["student_key"].isin(set(students)) & mastery["kp_id"].isin(kg.points)]
    m = m.dropna(subset=["p_mastery"])
    g = m.assign(below=m["p_mastery"] < threshold).groupby("kp_id")
    st = pd.DataFrame({"n_evidence": g["student_key"].nunique(), "mean": g["p_mastery"].mean(), "n_below": g["below"].sum()})
    st.loc[st["n_evidence"] < MIN_CELL, "mean"] = None
    return st


def _cell(kg: KnowledgeGraph, st: pd.DataFrame, kp: str, lang: str) -> dict[str, Any]:
    n = int(st["n_evidence"].get(kp, 0))
    mean = st["mean"].get(kp) if n >= MIN_CELL else None
    mean = None if mean is None or pd.isna(mean) else round(float(mean), 3)
    return {"kp": kp, "label": kg.name(kp, lang), "chapter": kg.chapter(kp, lang), "mean": mean,
            "mean_text": (SUPPRESSED if 0 < n < MIN_CELL else "—") if mean is None else f"{mean:.2f}",
            "n_evidence": count_cell(n), "n_below": count_cell(int(st["n_below"].get(kp, 0))),
            "colour": mastery_colour(mean)}


def _class_grades(kg: KnowledgeGraph, st: pd.DataFrame) -> list[int]:
    enough = st.index[st["n_evidence"] >= MIN_CELL] if (st["n_evidence"] >= MIN_CELL).any() else st.index
    grades = [kg.points[k].get("grade") for k in enough if kg.points[k].get("grade") is not None]
    return [max(grades)] if grades else []


# ------------------------------------------------------------------------------------------ the class graph
def class_graph_view(kg: KnowledgeGraph, mastery: pd.DataFrame, students: Sequence[str], *,
                     grades: Collection[int] | None = None, threshold: float = WEAK, lang: str = "zh",
                     names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The class's knowledge graph as JSON-able data: ``nodes``, ``edges``, ``legend``, ``strings``.

    Points shown: the points of the class's grade(s) on which at least one of ``students`` has evidence
    (mastery with enough attempts), plus their direct prerequisites (from any grade, with or without
    evidence: they say what the taught points build on). ``grades`` defaults to the highest grade among
    the points with evidence for MIN_CELL students or more (a class answers pre-check questions on
    earlier grades' points, but is taught its own). Each node: ``id``, ``label``, ``short``, ``chapter``,
    ``grade``, ``x``/``y`` (:func:`graph_layout`), ``layer``, ``in_grade`` (False for a prerequisite shown
    as context), ``mean`` (over the students with evidence; None under MIN_CELL), ``mean_text``,
    ``n_evidence`` and ``n_below`` (``"<10"`` under MIN_CELL), ``colour`` (:func:`mastery_colour`, grey
    without a mean), ``status`` (``ok`` / ``insufficient``) and a ``tooltip``. Edges (prerequisite →
    point, both shown) carry their ends' coordinates. ``names`` is not used (no student appears in the
    graph); it is accepted so this and :func:`point_detail` take the same keywords.
    """
    del names
    st = _stats(kg, mastery, students, threshold)
    grade_set = set(grades) if grades is not None else set(_class_grades(kg, st))
    taught = [k for k in kg.points if kg.points[k].get("grade") in grade_set and st["n_evidence"].get(k, 0) > 0]
    pos = graph_layout(kg, taught, with_prerequisites=True)
    taught_set = set(taught)
    layer_of = {x: i for i, x in enumerate(sorted({x for x, _ in pos.values()}))}
    nodes = []
    for k in (k for k in kg.points if k in pos):
        cell = _cell(kg, st, k, lang)
        ok = cell["mean"] is not None
        nodes.append({"id": k, "label": cell["label"], "short": _short(cell["label"]), "chapter": cell["chapter"],
                      "grade": kg.points[k].get("grade"), "x": round(pos[k][0], 4), "y": round(pos[k][1], 4),
                      "layer": layer_of[pos[k][0]], "in_grade": k in taught_set, "mean": cell["mean"],
                      "mean_text": cell["mean_text"], "n_evidence": cell["n_evidence"], "n_below": cell["n_below"],
                      "colour": cell["colour"], "status": "ok" if ok else "insufficient",
                      "tooltip": tr("kg_tooltip" if ok else "kg_tooltip_none", lang, name=cell["label"],
                                    chapter=cell["chapter"], mean=cell["mean_text"], n=cell["n_evidence"],
                                    below=cell["n_below"], threshold=threshold)})
    edges = [{"source": a, "target": b, "x1": pos[a][0], "y1": pos[a][1], "x2": pos[b][0], "y2": pos[b][1]}
             for a, b in sorted(kg.graph.subgraph(pos).edges, key=lambda e: (e[1], e[0]))]
    layers = [sum(1 for n in nodes if n["layer"] == i) for i in range(len(layer_of))]
    return {"lang": lang, "threshold": threshold, "grades": sorted(grade_set), "students": count_cell(len(set(students))),
            "nodes": nodes, "edges": edges, "layers": len(layers), "rows": max(layers, default=0),
            "message": None if nodes else tr("no_mastery", lang),
            "legend": {"stops": [{"value": v, "colour": c} for v, c in COLOUR_STOPS], "grey": GREY,
                       "ticks": [{"value": WEAK, "label": tr("kg_weak", lang)},
                                 {"value": MASTERED, "label": tr("kg_mastered", lang)}]},
            "strings": {k: tr(f"kg_{k}", lang, n=MIN_CELL) for k in ("title", "legend", "insufficient", "hint", "context")}}


# ------------------------------------------------------------------------------------------ one point
def point_detail(kg: KnowledgeGraph, mastery: pd.DataFrame, students: Sequence[str], kp: str, *,
                 threshold: float = WEAK, lang: str = "zh", names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Who in the class is below ``threshold`` at ``kp``, and the prerequisites behind it.

    Returns ``kp``, ``label``, ``chapter``, the class cell (``mean``, ``mean_text``, ``n_evidence``,
    ``n_below``, ``colour``; suppressed under MIN_CELL), ``students`` (those with evidence and p_mastery
    below ``threshold``, weakest first: ``name`` = ``names[key]`` or the display code, ``p_mastery``,
    ``root_causes`` from :func:`~workbench.knowledge.diagnosis.root_causes` — the unmastered ancestors
    where their gap starts), ``prerequisites`` (direct, each with the class cell),
    ``weak_ancestors`` (further ancestors whose class mean is below ``threshold`` or that are a root
    cause for a listed student, prerequisites first, with ``root_cause_of``: how many listed students),
    ``text`` (one line) and ``strings`` (panel headings).
    """
    if kp not in kg.points:
        raise KeyError(f"{kp} is not a knowledge point of {kg.source} / 知识点 {kp} 不在图谱中")
    m = mastery[mastery["student_key"].isin(set(students))].dropna(subset=["p_mastery"])
    st = _stats(kg, m[m["kp_id"].isin(kg.ancestors(kp) | {kp})], students, threshold)
    here = m[(m["kp_id"] == kp) & (m["p_mastery"] < threshold)]
    by_student: dict[str, dict[str, float]] = {s: {} for s in here["student_key"]}
    theirs = m[m["student_key"].isin(by_student)]
    for s, k, p in zip(theirs["student_key"].tolist(), theirs["kp_id"].tolist(), theirs["p_mastery"].tolist()):
        by_student[s][k] = float(p)
    shown = {s: (names or {}).get(s) or display_code(s) for s in by_student}
    rows = []
    for p, s in sorted(zip(here["p_mastery"].astype(float), here["student_key"]), key=lambda ps: (ps[0], shown[ps[1]])):
        causes = root_causes(kg, by_student[s], kp, threshold=threshold)
        rows.append({"name": shown[s], "p_mastery": round(p, 3),
                     "root_causes": [{"kp": c["kp"], "label": kg.name(c["kp"], lang), "p_mastery": round(c["p_mastery"], 3)}
                                     for c in causes]})
    direct = kg.prerequisites(kp)
    named = Counter(c["kp"] for r in rows for c in r["root_causes"])
    order = {k: i for i, k in enumerate(kg.topological_order())}
    weak = [a for a in kg.ancestors(kp) - set(direct)
            if named[a] or (a in st.index and pd.notna(st.at[a, "mean"]) and st.at[a, "mean"] < threshold)]
    cell = _cell(kg, st, kp, lang)
    return {**cell, "lang": lang, "threshold": threshold, "students": rows,
            "prerequisites": [{**_cell(kg, st, a, lang), "root_cause_of": count_cell(named[a])}
                              for a in sorted(direct, key=order.__getitem__)],
            "weak_ancestors": [{**_cell(kg, st, a, lang), "root_cause_of": count_cell(named[a])}
                               for a in sorted(weak, key=order.__getitem__)],
            "text": _detail_text(kg, cell, rows, named, threshold, lang),
            "strings": {k: tr(f"kg_{k}", lang) for k in ("below", "prerequisites", "weak_ancestors", "root_causes", "root_of",
                                                          "none_below", "no_prerequisites", "mastery", "student")}}


def _detail_text(kg: KnowledgeGraph, cell: dict, rows: list[dict], named: Counter, threshold: float, lang: str) -> str:
    if cell["n_evidence"] == 0:
        return tr("kg_line_no_evidence", lang, name=cell["label"])
    if not rows:
        return tr("kg_line_none_below", lang, name=cell["label"], n=cell["n_evidence"], threshold=threshold)
    top = sorted(named, key=lambda k: (-named[k], k))[:2]          # most named first, ties by id
    if not top:
        return tr("kg_line_no_root", lang, name=cell["label"], below=count_cell(len(rows)), threshold=threshold)
    return tr("kg_line", lang, name=cell["label"], below=count_cell(len(rows)), threshold=threshold,
              roots=join_list([tr("kg_root_count", lang, name=kg.name(k, lang), n=count_cell(named[k])) for k in top], lang))


# ------------------------------------------------------------------------------------------ store
def class_mastery(con: duckdb.DuckDBPyConnection, term: str, class_id: str) -> tuple[list[str], pd.DataFrame]:
    """The students enrolled in ``class_id`` in ``term`` (sorted keys) and their rows of ``mastery``
    (student_key, kp_id, p_mastery, attempts, status)."""
    p = {"t": term, "c": class_id}
    students = [k for (k,) in con.execute("SELECT DISTINCT student_key FROM enrolments WHERE term_id = $t AND class_id = $c "
                                          "ORDER BY 1", p).fetchall()]
    m = con.execute("""SELECT student_key, kp_id, p_mastery, attempts, status FROM mastery WHERE term_id = $t AND
                       student_key IN (SELECT student_key FROM enrolments WHERE term_id = $t AND class_id = $c)
                       ORDER BY student_key, kp_id""", p).df()
    return students, m
