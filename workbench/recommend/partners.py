"""Learning partners (学伴): pairs or small groups in a class whose strengths complement each other.

Every student has *skills* — the knowledge points of the graph with a mastery estimate, and the subjects with
exam evidence — each either strong, weak or neither: a point is strong at mastery ≥ 0.8 and weak below 0.5
(:mod:`workbench.knowledge.mastery`), a subject strong when the student's term exam z-score within the grade is
≥ +0.5 and weak at ≤ −0.5. ``help(a → b)`` counts the skills where ``a`` is strong and ``b`` weak ("我帮学伴"),
``help(b → a)`` the other way ("学伴帮我"). The **complementarity** of a pair is::

    help(a → b) + help(b → a) + min(help(a → b), help(b → a))

so help both ways counts extra; a group's score is the sum over its pairs. Pairs are the maximum-weight
matching of the class (networkx's blossom algorithm, optimal), groups of three or more are found by pairwise
swaps from a greedy start. Constraints: the same class (the caller passes one class), the group size, and pairs
to avoid (last term's, :func:`previous_pairs`); an odd student out joins the group it complements most.
:func:`random_baseline` draws random groupings of the same sizes, the yardstick the plan is measured against.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import duckdb
import networkx as nx
import numpy as np
import pandas as pd

from workbench.knowledge.graph import KnowledgeGraph
from workbench.knowledge.mastery import MASTERED, WEAK

SUBJECT_STRONG, SUBJECT_WEAK = 0.5, -0.5
AVOID = -1000.0  # score of a pair that must not be grouped again


@dataclass
class Skills:
    """Students × skills: ``strong`` and ``weak`` booleans and the skill's display name per language."""
    strong: pd.DataFrame
    weak: pd.DataFrame
    names: dict[str, dict[str, str]]

    @property
    def students(self) -> list[str]:
        return list(self.strong.index)

    def help_matrix(self) -> np.ndarray:
        """H[a, b] = skills where a is strong and b weak."""
        s = self.strong.to_numpy(dtype=np.int32)
        w = self.weak.to_numpy(dtype=np.int32)
        return s @ w.T

    def helps(self, a: str, b: str) -> list[str]:
        both = self.strong.loc[a] & self.weak.loc[b]
        return list(both.index[both.to_numpy()])


def complementarity(h: np.ndarray) -> np.ndarray:
    """Pair score from the help matrix: both directions plus the smaller one again."""
    return h + h.T + np.minimum(h, h.T)


def class_skills(con: duckdb.DuckDBPyConnection, term: str, students: list[str], kg: KnowledgeGraph | None = None,
                 subjects: pd.DataFrame | None = None) -> Skills:
    """Skills of ``students`` from the term's mastery (points of ``kg``) and, when given, ``subjects`` — one row
    per (student_key, subject) with a ``strength`` z-score (as :func:`workbench.recommend.subjects.subject_strengths`
    returns)."""
    m = con.execute("SELECT student_key, kp_id, p_mastery FROM mastery WHERE term_id = $t AND p_mastery IS NOT NULL "
                    "AND student_key IN (SELECT unnest($s))", {"t": term, "s": students}).df()
    if kg is not None:
        m = m[m["kp_id"].isin(list(kg.points))]
    grid = m.pivot_table(index="student_key", columns="kp_id", values="p_mastery", aggfunc="first")
    grid = grid.reindex(index=students)
    strong, weak = grid >= MASTERED, grid < WEAK
    names = {k: ({"zh": kg.name(k), "en": kg.name(k, "en")} if kg is not None and k in kg.points else {"zh": k, "en": k})
             for k in grid.columns}
    if subjects is not None and len(subjects):
        z = subjects.pivot_table(index="student_key", columns="subject", values="strength", aggfunc="first")
        z = z.reindex(index=students)
        strong = strong.join(z >= SUBJECT_STRONG)
        weak = weak.join(z <= SUBJECT_WEAK)
        names |= {s: {"zh": s, "en": s} for s in z.columns}
    return Skills(strong.fillna(False).astype(bool), weak.fillna(False).astype(bool), names)


@dataclass
class PartnerPlan:
    students: list[str]
    size: int
    groups: list[list[str]]
    scores: list[float]
    unpaired: list[str] = field(default_factory=list)
    random_mean: float = float("nan")
    random_sd: float = float("nan")
    avoided: int = 0
    message: str = ""

    @property
    def pair_mean(self) -> float:
        """Mean complementarity per pair inside the groups (comparable across group sizes)."""
        pairs = sum(len(g) * (len(g) - 1) // 2 for g in self.groups)
        return float(sum(self.scores) / pairs) if pairs else float("nan")

    @property
    def ratio(self) -> float:
        return self.pair_mean / self.random_mean if self.random_mean and self.random_mean > 0 else float("nan")


def _group_score(c: np.ndarray, idx: list[int]) -> float:
    return float(sum(c[i, j] for i, j in itertools.combinations(idx, 2)))


def _sizes(n: int, size: int) -> list[int]:
    k = max(1, n // size)
    sizes = [size] * k
    for i in range(n - size * k):
        sizes[i % k] += 1
    return sizes


def _pairs(c: np.ndarray, allowed: np.ndarray) -> tuple[list[list[int]], list[int]]:
    n = len(c)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for i, j in itertools.combinations(range(n), 2):
        if allowed[i, j]:
            g.add_edge(i, j, weight=float(c[i, j]) + 1.0)  # +1: everyone paired before any score
    match = nx.max_weight_matching(g, maxcardinality=True)
    groups = [sorted(p) for p in match]
    left = sorted(set(range(n)) - {i for p in groups for i in p})
    return groups, left


def _swap_search(c: np.ndarray, groups: list[list[int]], max_rounds: int = 50) -> list[list[int]]:
    """Improve a grouping by swapping two members of different groups while the total grows."""
    for _ in range(max_rounds):
        improved = False
        for ga, gb in itertools.combinations(range(len(groups)), 2):
            for ia in range(len(groups[ga])):
                for ib in range(len(groups[gb])):
                    a, b = groups[ga][ia], groups[gb][ib]
                    ra = [x for x in groups[ga] if x != a]
                    rb = [x for x in groups[gb] if x != b]
                    delta = (c[b, ra].sum() + c[a, rb].sum()) - (c[a, ra].sum() + c[b, rb].sum())
                    if delta > 1e-9:
                        groups[ga][ia], groups[gb][ib] = b, a
                        improved = True
        if not improved:
            break
    return [sorted(g) for g in groups]


def match_partners(skills: Skills, *, size: int = 2, avoid: set[frozenset[str]] | None = None,
                   baseline_draws: int = 200, seed: int = 0, lang: str = "zh") -> PartnerPlan:
    """Partner groups of ``size`` (2 = pairs) for the students of one class."""
    students = skills.students
    n = len(students)
    if size < 2:
        raise ValueError(f"group size must be at least 2, got {size}")
    if n < 2:
        msg = ("班级只有1名学生，无法结成学伴" if n == 1 else "班级没有学生") if lang == "zh" else \
            ("the class has one student: there is no one to pair with" if n == 1 else "the class has no students")
        return PartnerPlan(students, size, [], [], unpaired=list(students), message=msg)
    c = complementarity(skills.help_matrix()).astype(float)
    pos = {k: i for i, k in enumerate(students)}
    allowed = ~np.eye(n, dtype=bool)
    avoided = 0
    for pair in avoid or ():
        if len(pair) == 2 and all(p in pos for p in pair):
            i, j = (pos[p] for p in pair)
            allowed[i, j] = allowed[j, i] = False
            avoided += 1
    cw = np.where(allowed | np.eye(n, dtype=bool), c, AVOID)
    if size == 2:
        groups, left = _pairs(cw, allowed)
        for x in left:  # an odd student out joins the pair it complements most, where allowed
            options = [(cw[x, g].sum(), gi) for gi, g in enumerate(groups) if allowed[x, g].all()]
            if options:
                groups[max(options)[1]].append(x)
        left = [x for x in left if not any(x in g for g in groups)]
    else:
        order = np.argsort(-cw.clip(min=0).sum(axis=1), kind="stable")
        groups = [[] for _ in _sizes(n, size)]
        caps = _sizes(n, size)
        for x in order:  # greedy: each student to the open group it complements most
            open_ = [gi for gi, g in enumerate(groups) if len(g) < caps[gi]]
            gi = max(open_, key=lambda gi: (cw[x, groups[gi]].sum() if groups[gi] else 0.0, -len(groups[gi]), -gi))
            groups[gi].append(int(x))
        groups = _swap_search(cw, groups)
        left = []
    groups = sorted(groups, key=lambda g: -_group_score(c, g))
    plan = PartnerPlan(students, size, [[students[i] for i in g] for g in groups], [_group_score(c, g) for g in groups],
                       unpaired=[students[i] for i in left], avoided=avoided)
    plan.random_mean, plan.random_sd = random_baseline(c, [len(g) for g in groups], baseline_draws, seed)
    if lang == "zh":
        plan.message = (f"{len(groups)}组学伴，平均每对互补度 {plan.pair_mean:.1f}（随机分组 {plan.random_mean:.1f}）"
                        + (f"；{len(plan.unpaired)}名学生因避免重复未能分组" if plan.unpaired else ""))
    else:
        plan.message = (f"{len(groups)} partner groups, mean complementarity per pair {plan.pair_mean:.1f} "
                        f"(random grouping {plan.random_mean:.1f})"
                        + (f"; {len(plan.unpaired)} students left out to avoid repeats" if plan.unpaired else ""))
    return plan


def random_baseline(c: np.ndarray, sizes: list[int], draws: int = 200, seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of the per-pair complementarity of random groupings with ``sizes``."""
    n = len(c)
    pairs = sum(s * (s - 1) // 2 for s in sizes)
    if not pairs or sum(sizes) > n:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(sizes)[:-1]
    vals = []
    for _ in range(draws):
        perm = rng.permutation(n)[:sum(sizes)]
        vals.append(sum(_group_score(c, list(g)) for g in np.split(perm, cuts)) / pairs)
    return float(np.mean(vals)), float(np.std(vals))


def explain_group(skills: Skills, group: list[str], names: dict[str, str], lang: str = "zh",
                  limit: int = 4) -> list[dict[str, Any]]:
    """Who can help whom with what inside a group: one entry per direction with help (a → b, skills, text)."""
    out = []
    for a, b in itertools.permutations(group, 2):
        got = skills.helps(a, b)
        if not got:
            continue
        shown = [skills.names[s][lang] for s in got[:limit]]
        more = len(got) - len(shown)
        if lang == "zh":
            text = f"{names.get(a, a)}可以帮{names.get(b, b)}：{'、'.join(shown)}" + (f"等{len(got)}项" if more else "")
        else:
            text = f"{names.get(a, a)} can help {names.get(b, b)} with {', '.join(shown)}" + (f" and {more} more" if more else "")
        out.append({"from": a, "to": b, "skills": got, "text": text})
    if not out:
        out.append({"from": None, "to": None, "skills": [],
                    "text": "组内没有明显互补的强弱项，可以共同复习" if lang == "zh" else
                    "no clear complementary strengths in this group: revise together"})
    return out


# ------------------------------------------------------------------------------------------------ storage
def save_plan(con: duckdb.DuckDBPyConnection, term: str, class_id: str, plan: PartnerPlan, by_user: str = "") -> int:
    """Store the plan as the class's partner groups for ``term`` (replacing earlier ones); returns rows written."""
    rows = [(term, class_id, gi + 1, k, plan.scores[gi], by_user) for gi, g in enumerate(plan.groups) for k in g]
    con.execute("BEGIN")
    try:
        con.execute("DELETE FROM partner_groups WHERE term_id = $t AND class_id = $c", {"t": term, "c": class_id})
        if rows:
            con.executemany("INSERT INTO partner_groups (term_id, class_id, group_no, student_key, score, created_by, "
                            "created_at) VALUES (?, ?, ?, ?, ?, ?, now())", rows)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return len(rows)


def previous_pairs(con: duckdb.DuckDBPyConnection, term: str, students: list[str]) -> set[frozenset[str]]:
    """Pairs among ``students`` that were in one partner group in the latest earlier term with groups."""
    rows = con.execute("""
        WITH prev AS (SELECT g.term_id FROM partner_groups g JOIN terms t USING (term_id)
                      WHERE t.start_date < (SELECT start_date FROM terms WHERE term_id = $t)
                      ORDER BY t.start_date DESC LIMIT 1)
        SELECT a.student_key, b.student_key FROM partner_groups a JOIN partner_groups b
          ON a.term_id = b.term_id AND a.class_id = b.class_id AND a.group_no = b.group_no AND a.student_key < b.student_key
        WHERE a.term_id = (SELECT term_id FROM prev) AND a.student_key IN (SELECT unnest($s))
          AND b.student_key IN (SELECT unnest($s))""", {"t": term, "s": students}).fetchall()
    return {frozenset(r) for r in rows}
