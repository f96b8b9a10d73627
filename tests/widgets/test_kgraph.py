"""KnowledgeGraphView driven headless on the prepared demo school: traits, a click, the language switch, and
nothing identifying in the synced state."""
from __future__ import annotations

import json
import re

import pytest

from widgets.kgraph import KnowledgeGraphView
from workbench.knowledge import load_graph
from workbench.knowledge.view import GREY, class_graph_view, class_mastery, mastery_colour
from workbench.reports.common import MIN_CELL, display_code

TERM, CLASS, POINT = "2026-2027-1", "G7C1", "M7-GEO-04"


@pytest.fixture(scope="module")
def kg():
    return load_graph("math_junior")


@pytest.fixture
def view(demo_con):
    return KnowledgeGraphView.from_store(demo_con, TERM, CLASS)


def below(con, kp: str, threshold: float = 0.5) -> set[str]:
    return {display_code(k) for (k,) in con.execute("""
        SELECT m.student_key FROM mastery m JOIN enrolments e ON e.student_key = m.student_key AND e.term_id = m.term_id
        WHERE m.term_id = $t AND e.class_id = $c AND m.kp_id = $k AND m.p_mastery < $th""",
                                                    {"t": TERM, "c": CLASS, "k": kp, "th": threshold}).fetchall()}


def test_nodes_are_the_class_graph_coloured_by_mastery(view, demo_con, kg):
    students, m = class_mastery(demo_con, TERM, CLASS)
    want = class_graph_view(kg, m, students, grades=[7])
    assert view.view == want and len(view.view["nodes"]) == 17 and len(view.view["edges"]) == 17
    for n in view.view["nodes"]:
        assert re.fullmatch(r"#[0-9a-f]{6}", n["colour"])
        assert n["colour"] == (mastery_colour(n["mean"]) if n["mean"] is not None else GREY)
    assert len({n["colour"] for n in view.view["nodes"]}) >= 10          # a real spread from red to green
    assert view.selected is None and view.detail is None
    assert view.width > 2 * view.pad_x and view.height >= view.plot_h >= 58 * view.view["rows"]


def test_from_a_store_path_gives_the_same_view(view, prepared_demo):
    again = KnowledgeGraphView.from_store(prepared_demo["store"], TERM, CLASS)
    assert again.view == view.view


def test_a_click_fills_the_detail_with_students_and_prerequisites(view, demo_con, kg):
    view.vue_select(POINT)
    assert view.selected == POINT
    d = view.detail
    assert d["kp"] == POINT and {s["name"] for s in d["students"]} == below(demo_con, POINT)
    assert len(d["students"]) >= MIN_CELL
    assert [p["kp"] for p in d["prerequisites"]] == kg.prerequisites(POINT)
    view.vue_select("M7-NUM-01")                         # another point replaces it
    assert view.detail["kp"] == "M7-NUM-01" and view.detail["prerequisites"] == []
    view.vue_select("NOT-A-POINT")                       # from the browser: ignored, not raised
    assert view.selected == "M7-NUM-01"
    view.vue_select("M7-ALG-05")
    assert {s["name"] for s in view.detail["students"]} == below(demo_con, "M7-ALG-05")
    view.threshold = 0.8                                 # the detail follows the threshold
    assert {s["name"] for s in view.detail["students"]} == below(demo_con, "M7-ALG-05", 0.8) > below(demo_con, "M7-ALG-05")


def test_language_switch_relabels_graph_and_detail(view, kg):
    view.vue_select(POINT)
    zh_text = view.detail["text"]
    view.lang = "en"
    assert [n["label"] for n in view.view["nodes"]] == [kg.name(n["id"], "en") for n in view.view["nodes"]]
    assert view.view["strings"]["title"].startswith("Knowledge graph")
    assert view.detail["label"] == kg.name(POINT, "en") and view.detail["text"] != zh_text
    assert "students below" in view.detail["text"]
    view.lang = "zh"
    assert view.detail["text"] == zh_text and view.view["nodes"][0]["label"] == kg.name(view.view["nodes"][0]["id"])


def test_synced_state_holds_no_key_or_name(view, demo_con):
    view.vue_select(POINT)
    state = json.dumps(view.get_state(), ensure_ascii=False)
    keys = [k for (k,) in demo_con.execute("SELECT student_key FROM enrolments WHERE term_id = ?", [TERM]).fetchall()]
    names = [n for (n,) in demo_con.execute(
        "SELECT v.name FROM identity_vault v JOIN enrolments e USING (student_key) WHERE e.term_id = ? AND e.class_id = ?",
        [TERM, CLASS]).fetchall() if n]
    assert len(names) == 40 and not [k for k in keys if k in state] and not [n for n in names if n in state]
    assert all(s["name"] in state for s in view.detail["students"])      # the display codes are there
    # Voila-safe template: no script, no eval, no external resource, no inline DOM handler (only Vue's @ bindings)
    assert not re.search(r"<script|eval\(|https?://|\son[a-z]+\s*=", view.template)


def test_names_when_the_role_allows_them(demo_con):
    students, _ = class_mastery(demo_con, TERM, CLASS)
    names = {k: f"同学{i:02d}" for i, k in enumerate(students)}
    view = KnowledgeGraphView.from_store(demo_con, TERM, CLASS, names=names)
    view.vue_select(POINT)
    assert {s["name"] for s in view.detail["students"]} <= set(names.values())
    assert not any(k in json.dumps(view.get_state(), ensure_ascii=False) for k in students)
