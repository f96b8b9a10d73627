"""ModelBuilder driven headless by setting traits, as a browser would: the spec and the preview follow."""
from __future__ import annotations

import json

import pytest
import yaml

from widgets.builder import ModelBuilder
from workbench.model.editor import ModelLibrary, SpecEditor
from workbench.model.preview import PreviewEngine
from workbench.model.spec import load_spec
from workbench.store import open_store

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def engine(demo_school):
    with open_store(demo_school["store"], read_only=True) as s:
        return PreviewEngine.from_store(s.con, TERM)


@pytest.fixture
def builder(engine, tmp_path):
    # chart_delay=0: charts redrawn at once (a session-wide playwright loop would otherwise look like a kernel's)
    return ModelBuilder(SpecEditor(load_spec("whole_person")), engine, library=ModelLibrary(tmp_path / "models"),
                        chart_delay=0)


def _overall(b):
    return b.panel.preview.dimensions["overall"]


def test_controls_show_the_spec(builder):
    b, spec = builder, load_spec("whole_person")
    ticked = {(d, i["id"]) for d, ds in spec.dimensions.items() for i in ds["indicators"]}
    assert {k for k, row in b.rows.items() if row.checkbox.v_model} == ticked
    row = b.rows[("academic", "acad_score_z")]
    assert row.slider.v_model == 3 and row.share.children == ["25%"] and not row.slider.disabled
    assert b.rows[("academic", "acad_score_mean")].slider.disabled
    assert b.options["normaliser"].v_model == "percentile" and b.options["scope"].v_model == "grade"
    assert b.dirty_chip.style_ == "display:none" and b.undo_btn.disabled
    assert set(b.tag_fields) == {t["id"] for t in spec.tags}
    assert "478 名学生" in b.panel.summary.value
    assert "<svg" in b.panel.histogram.value and "<svg" in b.panel.correlation.value and "<svg" in b.panel.radar.value
    assert "interest α = 0.35" not in b.panel.reliability.value and "兴趣 α = 0.35" in b.panel.reliability.value


def test_tick_weight_rule_undo(builder):
    b = builder
    before = _overall(b).copy()
    # tick an indicator: it joins the spec at weight 1, shares renormalise, the preview changes
    row = b.rows[("academic", "acad_score_mean")]
    row.checkbox.v_model = True
    assert b.editor.selected("academic", "acad_score_mean") and b.editor.dirty
    assert b.dirty_chip.style_ == "" and not b.undo_btn.disabled
    assert row.share.children == ["8%"] and b.rows[("academic", "acad_score_z")].share.children == ["23%"]
    assert not _overall(b).equals(before)
    # move a weight
    after_tick = _overall(b).copy()
    drawn, draw = [], b.panel.draw_charts
    b.panel.draw_charts = lambda: (drawn.append(b.panel.preview), draw())[-1]
    b.rows[("emotion", "psy_gad7_max")].slider.v_model = 5
    assert b.editor.weight("emotion", "psy_gad7_max") == 5
    assert not _overall(b).equals(after_tick)
    assert drawn and drawn[-1] is b.panel.preview                 # the charts were redrawn from the new scores
    # a rule with a syntax error: shown under the field, the spec keeps the old rule
    field = b.tag_fields["socially_isolated"]
    old_rule = b.editor.spec.tags[1]["rule"]
    counts = dict(b.panel.preview.tag_counts)
    field.v_model = "social < 25 and"
    assert field.error_messages and "无法解析" in field.error_messages[0]
    assert b.editor.spec.tags[1]["rule"] == old_rule and b.panel.preview.tag_counts == counts
    # fixed: applied, the field shows how many students it selects, the tag count follows
    field.v_model = "social < 25"
    n = int((b.panel.preview.dimensions["social"] < 25).sum())
    assert b.editor.spec.tags[1]["rule"] == "social < 25" and not field.error_messages
    assert field.messages == [f"选中 {n} 名学生"] and b.panel.preview.tag_counts["socially_isolated"] == n
    assert n > counts["socially_isolated"]
    # undo the rule, the weight and the tick: controls, spec and preview go back
    b.undo_btn.fire_event("click", None)
    assert b.editor.spec.tags[1]["rule"] == old_rule and b.tag_fields["socially_isolated"].v_model == old_rule
    assert b.panel.preview.tag_counts == counts
    b.undo_btn.fire_event("click", None)
    assert b.rows[("emotion", "psy_gad7_max")].slider.v_model == 2
    b.undo_btn.fire_event("click", None)
    assert not row.checkbox.v_model and row.slider.disabled
    assert not b.editor.dirty and b.dirty_chip.style_ == "display:none"
    assert _overall(b).equals(before)
    b.redo_btn.fire_event("click", None)
    assert row.checkbox.v_model and b.editor.dirty


def test_refused_edit_puts_the_control_back_and_says_why(builder):
    b = builder
    social = [i for (d, i) in b.rows if d == "social" and b.rows[(d, i)].checkbox.v_model]
    for iid in social[:-1]:
        b.rows[("social", iid)].checkbox.v_model = False
    last = b.rows[("social", social[-1])]
    last.checkbox.v_model = False                     # two tag rules use the social dimension
    assert last.checkbox.v_model is True and b.editor.selected("social", social[-1])
    assert "未应用" in b.message and "tags[1].rule" in b.message
    assert "wb-message" in b.status.value


def test_direction_options_segments_and_language(builder):
    b = builder
    b.rows[("academic", "acad_score_z")].direction.fire_event("click", None)
    assert b.editor.direction("academic", "acad_score_z") == "lower_better"
    assert b.rows[("academic", "acad_score_z")].direction.children == ["↓"]
    b.options["scope"].v_model = "class"
    assert b.editor.spec.scope == "class"
    b.seg["k"].v_model = 3
    assert b.editor.spec.segments["k"] == 3
    b.seg["seed"].v_model = "x"
    assert b.seg["seed"].error_messages and b.editor.spec.segments["seed"] == 0
    table = b.run_segments()
    assert len(table) == 3 and "wb-seg-table" in b.seg_table.value
    b.rows[("emotion", "psy_gad7_max")].slider.v_model = 4
    assert "预览分群" in b.seg_table.value                     # stale: the model changed since
    b.lang_toggle.v_model = "en"
    assert b.lang == "en" and "478 students" in b.panel.summary.value
    assert b.rows[("academic", "acad_score_z")].checkbox.label == "Score z (class-normalised)" or \
        b.rows[("academic", "acad_score_z")].checkbox.label == b.catalogue["acad_score_z"].label("en")
    assert b.title.children == ["Whole-person development profile"]


def test_add_a_tag_save_and_load(builder, tmp_path):
    b = builder
    f = b.new_tag
    f["label_zh"].v_model, f["label_en"].v_model = "高焦虑", "High anxiety"
    f["rule"].v_model = "psy_gad7_max >= 15 and"
    assert f["rule"].error_messages
    f["rule"].v_model = "psy_gad7_max >= 15"
    assert f["rule"].messages and f["rule"].messages[0].startswith("选中")
    b._guard(b._add_tag)
    assert b.editor.spec.tags[-1]["id"] == "high_anxiety" and "high_anxiety" in b.tag_fields
    b.rows[("emotion", "psy_gad7_max")].slider.v_model = 4.5
    b.save_btn.fire_event("click", None)
    saved = tmp_path / "models" / "whole_person.yaml"
    doc = yaml.safe_load(saved.read_text(encoding="utf-8"))
    assert doc["tags"][-1]["rule"] == "psy_gad7_max >= 15"
    assert [i for i in doc["dimensions"]["emotion"]["indicators"] if i["id"] == "psy_gad7_max"][0]["weight"] == 4.5
    assert not b.editor.dirty and "第 1 版" in b.message
    # open the shipped spec again: with no unsaved changes it loads at once, history cleared
    b.load_select.v_model = "academic_emotion"
    b.load_btn.fire_event("click", None)
    assert b.editor.spec.id == "academic_emotion" and not b.editor.can_undo
    assert set(b.tag_fields) == {t["id"] for t in load_spec("academic_emotion").tags}
    # unsaved changes: the first Open warns, the second discards
    b.rows[("academic", "acad_score_z")].slider.v_model = 1
    b.load_select.v_model = "whole_person"
    b.load_btn.fire_event("click", None)
    assert b.editor.spec.id == "academic_emotion" and "未保存" in b.message
    b.load_btn.fire_event("click", None)
    assert b.editor.spec == load_spec(saved)
    # a value the browser could forge is never read as a path, even a valid spec file
    elsewhere = load_spec("academic_emotion").save(tmp_path / "elsewhere.yaml")
    b.load_select.v_model = str(elsewhere)
    b.load_btn.fire_event("click", None)
    assert "未应用" in b.message and b.editor.spec.id == "whole_person"


def test_widget_state_carries_no_identifier(builder, demo_con):
    b = builder
    state = json.dumps({k: w.get_state() for k, w in _tree(b).items()}, ensure_ascii=False, default=str)
    names = [n for (n,) in demo_con.execute("SELECT name FROM identity_vault").fetchall()]
    ids = [i for (i,) in demo_con.execute("SELECT national_id FROM identity_vault WHERE national_id IS NOT NULL").fetchall()]
    assert not [n for n in names if n and n in state]
    assert not [i for i in ids if i in state]
    assert not [k for k in b.engine.X.index if k in state]


def _tree(widget, out=None):
    import ipywidgets
    out = {} if out is None else out
    out[widget.model_id] = widget
    for c in getattr(widget, "children", None) or []:
        if isinstance(c, ipywidgets.Widget) and c.model_id not in out:
            _tree(c, out)
    return out
