"""Learning partners on the demo school: complementary pairs beat random pairing; constraints hold."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from workbench.knowledge import load_graph
from workbench.knowledge.mastery import MASTERED, WEAK
from workbench.recommend.partners import (Skills, class_skills, complementarity, explain_group, match_partners,
                                          previous_pairs, save_plan)
from workbench.store import open_store

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def kg():
    return load_graph("math_junior")


@pytest.fixture(scope="module")
def classes(demo_con, kg):
    rows = demo_con.execute("SELECT class_id, list(student_key ORDER BY student_key) FROM enrolments WHERE term_id = $t "
                            "GROUP BY 1 ORDER BY 1", {"t": TERM}).fetchall()
    return {c: class_skills(demo_con, TERM, keys, kg) for c, keys in rows}


def _pairs(groups):
    return {frozenset((a, b)) for g in groups for a in g for b in g if a < b}


def test_complementary_pairs_beat_random_pairing_in_every_class(classes):
    print("\nclass  students  matched/pair  random/pair (sd)  ratio")
    ratios = []
    for c, sk in classes.items():
        plan = match_partners(sk)
        members = [k for g in plan.groups for k in g]
        assert sorted(members) == sorted(sk.students) and not plan.unpaired        # everyone exactly once
        sizes = sorted(len(g) for g in plan.groups)
        assert sizes[:-1] == [2] * (len(sizes) - 1) and sizes[-1] == 2 + len(sk.students) % 2
        print(f"{c:6} {len(sk.students):8}  {plan.pair_mean:12.2f}  {plan.random_mean:8.2f} ({plan.random_sd:.2f})"
              f"  {plan.ratio:5.2f}")
        assert plan.pair_mean > plan.random_mean + 3 * plan.random_sd
        ratios.append(plan.ratio)
    print(f"mean ratio {np.mean(ratios):.2f}")
    assert min(ratios) >= 1.3 and np.mean(ratios) >= 1.45


def test_pairs_are_a_maximum_matching(classes):
    """No swap of partners between two pairs raises the total (a necessary condition of optimality)."""
    sk = classes["G8C1"]
    plan = match_partners(sk)
    pos = {k: i for i, k in enumerate(sk.students)}
    c = complementarity(sk.help_matrix())
    pairs = [[pos[k] for k in g] for g in plan.groups if len(g) == 2]
    for i, (a, b) in enumerate(pairs):
        for x, y in pairs[i + 1:]:
            assert c[a, b] + c[x, y] >= max(c[a, x] + c[b, y], c[a, y] + c[b, x])


def test_groups_of_three_and_explanations(classes, kg):
    sk = classes["G9C2"]
    plan = match_partners(sk, size=3)
    assert sorted(k for g in plan.groups for k in g) == sorted(sk.students)
    assert {len(g) for g in plan.groups} <= {3, 4} and plan.ratio > 1.2
    group = plan.groups[0]
    lines = explain_group(sk, group, {k: k[:7] for k in group})
    assert lines and all(ln["from"] in group and ln["to"] in group for ln in lines)
    m = sk.strong.loc[group[0]]
    for ln in lines:
        for s in ln["skills"]:   # the helper is strong where the partner is weak
            assert sk.strong.at[ln["from"], s] and sk.weak.at[ln["to"], s]
        assert ln["text"].startswith(ln["from"][:7]) and "可以帮" in ln["text"]
    assert m.dtype == bool


def test_skills_follow_the_mastery_thresholds(demo_con, classes):
    sk = classes["G7C2"]
    m = demo_con.execute("SELECT student_key, kp_id, p_mastery FROM mastery WHERE term_id = $t AND p_mastery IS NOT NULL "
                         "AND student_key IN (SELECT unnest($s))", {"t": TERM, "s": sk.students}).df()
    row = m.iloc[len(m) // 2]
    assert sk.strong.at[row.student_key, row.kp_id] == (row.p_mastery >= MASTERED)
    assert sk.weak.at[row.student_key, row.kp_id] == (row.p_mastery < WEAK)
    h = sk.help_matrix()
    a, b = sk.students[0], sk.students[1]
    assert h[0, 1] == len(sk.helps(a, b))


def test_a_class_of_one_gets_no_pair_and_a_clear_message(classes):
    sk = classes["G7C1"]
    one = Skills(sk.strong.iloc[:1], sk.weak.iloc[:1], sk.names)
    plan = match_partners(one)
    assert plan.groups == [] and plan.unpaired == one.students and "只有1名学生" in plan.message
    assert "one student" in match_partners(one, lang="en").message
    five = Skills(sk.strong.iloc[:5], sk.weak.iloc[:5], sk.names)
    assert sorted(len(g) for g in match_partners(five).groups) == [2, 3]
    with pytest.raises(ValueError, match="at least 2"):
        match_partners(sk, size=1)


def test_last_terms_pairs_are_not_repeated(prepared_demo, tmp_path, kg):
    path = tmp_path / "store.duckdb"
    shutil.copy(prepared_demo["store"], path)
    with open_store(path) as store:
        con = store.con
        keys = [k for (k,) in con.execute("SELECT student_key FROM enrolments WHERE class_id = 'G8C3' ORDER BY 1").fetchall()]
        sk = class_skills(con, TERM, keys, kg)
        first = match_partners(sk)
        con.execute("INSERT INTO terms VALUES ('2026-2027-2', '第二学期', DATE '2027-02-20', DATE '2027-07-05', 19, NULL)")
        assert save_plan(con, TERM, "G8C3", first, by_user="t1") == len(keys)
        assert save_plan(con, TERM, "G8C3", first, by_user="t1") == len(keys)             # replaced, not doubled
        assert con.execute("SELECT count(*) FROM partner_groups").fetchone()[0] == len(keys)
        avoid = previous_pairs(con, "2026-2027-2", keys)
        assert avoid == _pairs(first.groups)
        assert previous_pairs(con, TERM, keys) == set()                                   # nothing before the first term
        second = match_partners(sk, avoid=avoid)
    assert not (_pairs(second.groups) & avoid) and second.avoided == len(avoid)
    assert sorted(k for g in second.groups for k in g) == sorted(keys)
    assert second.pair_mean > second.random_mean
