"""Subject knowledge graphs: the YAML format, its validator, and a networkx DiGraph to reason on.

A graph file (``knowledge_graphs/<subject>.yaml``) has ``version``, ``subject``, ``name`` {zh, en}
and ``knowledge_points``: each with ``id``, ``name`` {zh, en}, ``grade``, ``chapter`` {zh, en},
``strand``, ``ability_level`` (understand | apply | transfer) and ``prerequisites`` (ids). An
optional ``items`` mapping gives question id → knowledge point ids. Edges run prerequisite →
point, so a point's ancestors are what it builds on.

:func:`validate_graph` reports every problem with the path inside the file: duplicate ids,
dangling prerequisites, cycles (printed as ``A → B → C → A``), orphan points (no prerequisite and
nothing builds on them), unknown knowledge points in the item map, missing fields.

>>> kg = load_graph("math_junior")
>>> len(kg.points) >= 80, kg.graph.number_of_edges() > 80
(True, True)
>>> kg.name("M7-NUM-04", "en")
'Addition and subtraction of rational numbers'
>>> "M7-NUM-01" in kg.ancestors("M7-NUM-04")
True
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

GRAPHS_DIR = Path(__file__).resolve().parents[2] / "knowledge_graphs"
LEVELS = ("understand", "apply", "transfer")
KP_KEYS = {"id", "name", "grade", "chapter", "strand", "ability_level", "prerequisites", "subject", "description"}


@dataclass(frozen=True)
class GraphIssue:
    kind: str            # duplicate_id | dangling_prerequisite | cycle | orphan | unknown_point | field
    path: str
    en: str
    zh: str
    error: bool = True   # orphans are warnings

    def text(self, source: str) -> str:
        return f"{source}: {self.path}: {self.en} / {self.zh}"


class GraphError(ValueError):
    def __init__(self, source: str, issues: list[GraphIssue]):
        self.source, self.issues = source, issues
        super().__init__("\n".join(i.text(source) for i in issues))


@dataclass
class KnowledgeGraph:
    doc: dict[str, Any]
    source: str
    points: dict[str, dict[str, Any]]
    graph: nx.DiGraph
    items: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[GraphIssue] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return self.doc.get("subject", "")

    def name(self, kp: str, lang: str = "zh") -> str:
        n = self.points[kp]["name"]
        return n.get(lang, n.get("en", kp)) if isinstance(n, dict) else str(n)

    def chapter(self, kp: str, lang: str = "zh") -> str:
        c = self.points[kp].get("chapter") or {}
        return c.get(lang, c.get("en", "")) if isinstance(c, dict) else str(c)

    def ancestors(self, kp: str) -> set[str]:
        return nx.ancestors(self.graph, kp)

    def prerequisites(self, kp: str) -> list[str]:
        return list(self.graph.predecessors(kp))

    def topological_order(self) -> list[str]:
        """Points in an order where every prerequisite comes first (ties: file order)."""
        pos = {k: i for i, k in enumerate(self.points)}
        return list(nx.lexicographical_topological_sort(self.graph, key=lambda k: pos[k]))


def _text_ok(v: Any) -> bool:
    return isinstance(v, dict) and bool(v.get("zh")) and bool(v.get("en"))


def validate_graph(doc: Any) -> list[GraphIssue]:
    """Every problem of a graph document (errors and orphan warnings)."""
    out: list[GraphIssue] = []
    if not isinstance(doc, dict) or not isinstance(doc.get("knowledge_points"), list):
        return [GraphIssue("field", "knowledge_points", "a graph needs a list of knowledge_points", "缺少知识点列表")]
    kps = doc["knowledge_points"]
    first: dict[str, int] = {}
    for i, kp in enumerate(kps):
        p = f"knowledge_points[{i}]"
        if not isinstance(kp, dict) or not isinstance(kp.get("id"), str) or not kp["id"].strip():
            out.append(GraphIssue("field", f"{p}.id", "every knowledge point needs an id", "知识点缺少编号"))
            continue
        kid = kp["id"]
        if kid in first:
            out.append(GraphIssue("duplicate_id", f"{p}.id", f"duplicate id {kid} (first at knowledge_points[{first[kid]}])",
                                  f"知识点编号 {kid} 重复"))
            continue
        first[kid] = i
        if not _text_ok(kp.get("name")):
            out.append(GraphIssue("field", f"{p}.name", f"{kid} needs name: {{zh: …, en: …}}", "知识点需要中英文名称"))
        if "ability_level" in kp and kp["ability_level"] not in LEVELS:
            out.append(GraphIssue("field", f"{p}.ability_level", f"{kp['ability_level']!r} is not one of {', '.join(LEVELS)}",
                                  "能力层级无效"))
        extra = set(kp) - KP_KEYS
        if extra:
            out.append(GraphIssue("field", p, f"unknown key(s) {', '.join(sorted(extra))}", "未知的键"))
    g = nx.DiGraph()
    g.add_nodes_from(first)
    for i, kp in enumerate(kps):
        if not isinstance(kp, dict) or kp.get("id") not in first or first[kp["id"]] != i:
            continue
        pres = kp.get("prerequisites") or []
        if not isinstance(pres, list):
            out.append(GraphIssue("field", f"knowledge_points[{i}].prerequisites", "expected a list of ids", "先修应为列表"))
            continue
        for j, pre in enumerate(pres):
            if pre not in first:
                out.append(GraphIssue("dangling_prerequisite", f"knowledge_points[{i}].prerequisites[{j}]",
                                      f"{pre} is not a knowledge point of this graph (needed by {kp['id']})",
                                      f"先修知识点 {pre} 不存在"))
            else:
                g.add_edge(pre, kp["id"])
    for cycle in sorted((sorted_cycle(c) for c in nx.simple_cycles(g)), key=lambda c: (len(c), c)):
        where = f"knowledge_points[{first[cycle[0]]}].prerequisites"
        ring = " → ".join([*cycle, cycle[0]])
        kind = "self-loop" if len(cycle) == 1 else f"{len(cycle)}-cycle"
        out.append(GraphIssue("cycle", where, f"prerequisite {kind}: {ring}", f"先修关系成环：{ring}"))
    if len(first) > 1:
        for k in first:
            if g.degree(k) == 0:
                out.append(GraphIssue("orphan", f"knowledge_points[{first[k]}]", f"{k} is an orphan: no prerequisite and "
                                      "nothing builds on it", f"{k} 是孤立知识点", error=False))
    items = doc.get("items") or {}
    if not isinstance(items, dict):
        out.append(GraphIssue("field", "items", "expected a mapping question id → [knowledge point ids]", "题目映射格式错误"))
    else:
        for item, kps_of in items.items():
            for j, k in enumerate(kps_of if isinstance(kps_of, list) else [kps_of]):
                if k not in first:
                    out.append(GraphIssue("unknown_point", f"items.{item}[{j}]", f"{k} is not a knowledge point of this graph",
                                          f"题目关联的知识点 {k} 不存在"))
    return out


def sorted_cycle(cycle: list[str]) -> list[str]:
    """A cycle rotated to start at its smallest id, in edge direction (prerequisite → point)."""
    i = cycle.index(min(cycle))
    return cycle[i:] + cycle[:i]


def graph_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.exists():
        return p
    shipped = GRAPHS_DIR / f"{name_or_path}.yaml"
    if shipped.exists():
        return shipped
    raise FileNotFoundError(f"{name_or_path}: no such graph file or shipped graph "
                            f"({', '.join(sorted(x.stem for x in GRAPHS_DIR.glob('*.yaml')))}) / 知识图谱不存在")


def load_graph(name_or_path: str | Path) -> KnowledgeGraph:
    """Load and validate a graph file (or a shipped graph by name); errors raise :class:`GraphError`."""
    path = graph_path(name_or_path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise GraphError(str(path), [GraphIssue("field", "", f"not valid YAML: {exc}", "YAML 格式错误")]) from None
    return graph_from_doc(doc, str(path))


def graph_from_doc(doc: Any, source: str = "<graph>") -> KnowledgeGraph:
    issues = validate_graph(doc)
    errors = [i for i in issues if i.error]
    if errors:
        raise GraphError(source, errors)
    points = {kp["id"]: kp for kp in doc["knowledge_points"]}
    g = nx.DiGraph()
    for k, kp in points.items():
        g.add_node(k, **{a: kp.get(a) for a in ("grade", "strand", "ability_level")})
    for k, kp in points.items():
        for pre in kp.get("prerequisites") or []:
            g.add_edge(pre, k)
    items = {str(i): (v if isinstance(v, list) else [v]) for i, v in (doc.get("items") or {}).items()}
    return KnowledgeGraph(doc, source, points, g, items, [i for i in issues if not i.error])
