"""Import the Junyi Academy exercise table (837 exercises with prerequisite edges) as a knowledge graph.

The table is not a DAG as published: two exercises list themselves as prerequisite and three form a
cycle. :func:`import_junyi` reports exactly those problems and drops only the edges a person names
(``drop_edges``, each ``"prerequisite>exercise"``); it never fixes anything on its own. Two exercise
names appear twice (re-created exercises): the later row is kept and both are listed in ``notes``.

>>> imp = import_junyi()
>>> [p.en.split(":")[0] for p in imp.problems]
['prerequisite self-loop', 'prerequisite self-loop', 'prerequisite 3-cycle']
>>> imp.suggested_drops()[0]
'number_sense_length_l1>number_sense_length_l1'
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.knowledge.graph import GraphIssue, validate_graph

JUNYI_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "junyi_exercise_graph" / "junyi_Exercise_table.csv"


@dataclass
class JunyiImport:
    doc: dict[str, Any]
    problems: list[GraphIssue]                  # cycles still in the graph (self-loops and longer)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def suggested_drops(self) -> list[str]:
        """One ``--drop-edge`` per problem: the self-loop itself, or the cycle's closing edge."""
        out = []
        for p in self.problems:
            ring = p.en.split(": ", 1)[1].split(" → ")
            out.append(f"{ring[-2]}>{ring[-1]}")
        return out


def import_junyi(path: str | Path = JUNYI_CSV, drop_edges: list[str] | tuple[str, ...] = ()) -> JunyiImport:
    """Read the exercise table; ``drop_edges`` names edges to remove (``"prerequisite>exercise"``)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    by_name: dict[str, dict[str, str]] = {}
    notes = []
    for r in rows:
        name = r["name"].strip()
        if name in by_name:
            older, newer = sorted([by_name[name], r], key=lambda x: x["creation_date"])
            notes.append(f"{name}: two rows (created {older['creation_date'][:10]} and {newer['creation_date'][:10]}); "
                         f"the later one is kept / 该练习出现两次，保留较新的一行")
            by_name[name] = newer
        else:
            by_name[name] = r
    prereq = {n: [p.strip() for p in (r["prerequisites"] or "").split(",") if p.strip()] for n, r in by_name.items()}
    dropped = []
    for spec in drop_edges:
        a, sep, b = spec.partition(">")
        a, b = a.strip(), b.strip()
        if not sep or b not in prereq or a not in prereq[b]:
            raise ValueError(f"--drop-edge {spec!r}: no such edge (write it as prerequisite>exercise) / 没有这条先修边")
        prereq[b] = [p for p in prereq[b] if p != a]
        dropped.append((a, b))
    kps = []
    for n, r in by_name.items():
        kp = {"id": n,
              "name": {"zh": r["pretty_display_name"].strip() or n, "en": n.replace("_", " ")},
              "chapter": {"zh": r["topic"], "en": r["topic"]},
              "strand": r["area"],
              "prerequisites": list(dict.fromkeys(prereq[n]))}
        kps.append(kp)
    doc = {"version": 1, "subject": "math",
           "name": {"zh": "均一教育平台数学练习图谱", "en": "Junyi Academy mathematics exercises"},
           "standard": "Junyi Academy exercise table (Chang, Hsu & Chen, EDM 2015)",
           "knowledge_points": kps}
    issues = validate_graph(doc)
    dangling = [i for i in issues if i.kind == "dangling_prerequisite"]
    if dangling:
        notes += [i.text(path.name) for i in dangling]
    problems = [i for i in issues if i.kind == "cycle"]
    return JunyiImport(doc, problems, dropped, notes, len(rows))
