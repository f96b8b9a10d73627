"""The maths knowledge graph (knowledge_graphs/math_junior.yaml), the demo item bank and the
teaching schedule of the autumn term."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .term import rng_for

GRAPH_PATH = Path(__file__).resolve().parents[2] / "knowledge_graphs" / "math_junior.yaml"

# chapters taught in the autumn term (上册) of each grade, in textbook order
AUTUMN_CHAPTERS = {
    7: ["有理数", "整式的加减", "一元一次方程", "几何图形初步"],
    8: ["三角形", "全等三角形", "轴对称", "整式的乘法与因式分解", "分式"],
    9: ["一元二次方程", "二次函数", "旋转", "圆", "概率初步"],
}
LEVELS = ["understand", "apply", "transfer"]
GUESS = np.array([0.25, 0.15, 0.08])
SLIP = np.array([0.08, 0.10, 0.15])
BASE_SECONDS = np.array([45.0, 120.0, 260.0])
ITEMS_PER_KP = 10


def load_graph(path: Path | str | None = None) -> dict:
    """The graph document, validated by :mod:`workbench.knowledge` (a broken graph stops the demo)."""
    from workbench.knowledge import load_graph as load_knowledge_graph
    return load_knowledge_graph(path or GRAPH_PATH).doc


@dataclass
class Curriculum:
    kp_ids: np.ndarray            # K
    kp_grade: np.ndarray          # K
    kp_chapter: np.ndarray        # K (zh chapter name)
    prereq: np.ndarray            # K x K row-normalised prerequisite weights
    has_prereq: np.ndarray        # K bool
    intro_week: np.ndarray        # K: 0-based week the KP is taught this term, -1 if not this term
    item_ids: np.ndarray          # I
    item_kp1: np.ndarray          # I primary KP index
    item_kp2: np.ndarray          # I secondary KP index or -1
    item_level: np.ndarray        # I level index (0..2)
    item_max: np.ndarray          # I max score
    items_by_kp: np.ndarray       # item indexes sorted by primary KP
    kp_item_start: np.ndarray     # K+1 offsets into items_by_kp

    def learned_before(self, grade: int) -> np.ndarray:
        """KPs a student of ``grade`` met in earlier terms (lower grades)."""
        return self.kp_grade < grade

    def relevant(self, grade: int) -> np.ndarray:
        return self.kp_grade <= grade

    def taught(self, grade: int, week: int) -> np.ndarray:
        return (self.kp_grade == grade) & (self.intro_week >= 0) & (self.intro_week <= week)


def build_curriculum(seed: int, weeks: int, graph: dict | None = None) -> Curriculum:
    graph = graph or load_graph()
    kps = graph["knowledge_points"]
    ids = np.array([k["id"] for k in kps])
    pos = {k: i for i, k in enumerate(ids)}
    K = len(kps)
    grade = np.array([int(k["grade"]) for k in kps])
    chapter = np.array([k["chapter"]["zh"] for k in kps])
    level = np.array([LEVELS.index(k["ability_level"]) for k in kps])
    prereq = np.zeros((K, K))
    for i, k in enumerate(kps):
        pre = k.get("prerequisites") or []
        for p in pre:
            prereq[i, pos[p]] = 1.0 / len(pre)
    intro = np.full(K, -1)
    teach_weeks = max(1, weeks - 1)  # the last week is revision and the final exam
    for g, chapters in AUTUMN_CHAPTERS.items():
        idx = np.nonzero((grade == g) & np.isin(chapter, chapters))[0]
        intro[idx] = (np.arange(len(idx)) * teach_weeks) // len(idx)
    rng = rng_for(seed, "items")
    n_items = K * ITEMS_PER_KP
    kp1 = np.repeat(np.arange(K), ITEMS_PER_KP)
    # item level: around the KP's own level
    shift = rng.choice([-1, 0, 0, 0, 1], n_items)
    ilevel = np.clip(level[kp1] + shift, 0, 2)
    kp2 = np.full(n_items, -1)
    two = np.nonzero(rng.random(n_items) < 0.15)[0]
    for i in two:  # a few hundred items: plain loop is fine here (not per event)
        k = kp1[i]
        cand = np.nonzero(prereq[k] > 0)[0]
        if len(cand) == 0:
            cand = np.nonzero((chapter == chapter[k]) & (np.arange(K) != k))[0]
        if len(cand):
            kp2[i] = cand[rng.integers(len(cand))]
    maxes = [np.array([3]), np.array([4, 6]), np.array([8, 10, 12])]
    imax = np.array([m[rng.integers(len(m))] for m in (maxes[lv] for lv in ilevel)])
    nums = rng.choice(900_000, n_items, replace=False) + 100_000
    item_ids = np.strings.add("MQ", nums.astype("U6"))
    order = np.argsort(kp1, kind="stable")
    start = np.searchsorted(kp1[order], np.arange(K + 1))
    return Curriculum(kp_ids=ids, kp_grade=grade, kp_chapter=chapter, prereq=prereq,
                      has_prereq=prereq.sum(axis=1) > 0, intro_week=intro, item_ids=item_ids,
                      item_kp1=kp1, item_kp2=kp2, item_level=ilevel, item_max=imax,
                      items_by_kp=order, kp_item_start=start)


def items_table(cur: Curriculum) -> dict:
    kps = cur.kp_ids[cur.item_kp1]
    both = np.strings.add(np.strings.add(kps, ";"), cur.kp_ids[np.maximum(cur.item_kp2, 0)])
    return {
        "item_id": cur.item_ids,
        "subject": np.full(len(cur.item_ids), "数学"),
        "knowledge_points": np.where(cur.item_kp2 >= 0, both, kps),
        "ability_level": np.array(LEVELS)[cur.item_level],
        "max_score": cur.item_max,
    }
