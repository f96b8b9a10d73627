"""SpecEditor (edits, undo/redo, refusals, saved marker) and ModelLibrary (versioned saves) on the shipped specs."""
from __future__ import annotations

import pytest

from workbench.model.editor import ModelLibrary, SpecEditor
from workbench.model.spec import SHIPPED_DIR, SpecError, load_spec, shipped_specs


@pytest.mark.parametrize("name", shipped_specs())
def test_open_and_save_without_edits_gives_the_same_file(name, tmp_path):
    ed = SpecEditor(load_spec(name))
    assert not ed.dirty and not ed.can_undo
    path = ModelLibrary(tmp_path).save(ed.spec)
    assert path.read_bytes() == (SHIPPED_DIR / f"{name}.yaml").read_bytes()


@pytest.mark.parametrize("name", shipped_specs())
def test_untick_then_tick_every_indicator_restores_the_document(name):
    ed = SpecEditor(load_spec(name))
    original = ed.spec.dump()
    for d, dspec in load_spec(name).dimensions.items():
        for ind in dspec["indicators"]:
            try:
                ed.set_indicator(d, ind["id"], False)
            except SpecError:            # the last indicator of a dimension a tag rule needs: refused
                assert len(ed.doc["dimensions"][d]["indicators"]) == 1
                continue
            assert not ed.selected(d, ind["id"]) and ed.dirty
            ed.set_indicator(d, ind["id"], True)
            assert ed.spec.dump() == original and not ed.dirty, (d, ind["id"])
    # unticking a whole dimension and ticking it back restores its weight and place too
    last = list(load_spec(name).dimensions)[0]
    ids = [i["id"] for i in load_spec(name).dimensions[last]["indicators"]]
    try:
        for iid in ids:
            ed.set_indicator(last, iid, False)
    except SpecError:
        return
    assert last not in ed.doc["dimensions"]
    for iid in reversed(ids):
        ed.set_indicator(last, iid, True)
    assert ed.spec.dump() == original


def test_weights_renormalise_and_undo_redo():
    ed = SpecEditor(load_spec("whole_person"))
    shares = ed.shares()["academic"]
    assert shares["acad_score_z"] == pytest.approx(3 / 12)
    assert sum(shares.values()) == pytest.approx(1.0)
    ed.set_indicator_weight("academic", "acad_score_z", 9)
    assert ed.shares()["academic"]["acad_score_z"] == pytest.approx(9 / 18)
    assert ed.entry("academic", "acad_score_z")["weight"] == 9          # stays an integer in the YAML
    ed.set_indicator_weight("academic", "acad_score_z", 2.5)
    assert "weight: 2.5" in ed.spec.dump()
    ed.undo()
    assert ed.weight("academic", "acad_score_z") == 9
    ed.undo()
    assert ed.weight("academic", "acad_score_z") == 3 and not ed.dirty and not ed.can_undo
    ed.redo()
    assert ed.weight("academic", "acad_score_z") == 9 and ed.can_redo
    ed.set_dimension_weight("emotion", 3)                             # a new edit clears redo
    assert not ed.can_redo
    assert ed.dimension_shares()["emotion"] == pytest.approx(3 / 7)


def test_ticking_an_unused_indicator_inserts_it_in_catalogue_order_and_neutral_gets_a_direction():
    ed = SpecEditor(load_spec("academic_emotion"))
    before = [i["id"] for i in ed.doc["dimensions"]["academic"]["indicators"]]
    ed.set_indicator("academic", "acad_score_mean", True)
    after = [i["id"] for i in ed.doc["dimensions"]["academic"]["indicators"]]
    assert set(after) - set(before) == {"acad_score_mean"} and len(after) == len(before) + 1
    neutral = next(i for i in ed.catalogue.select("social") if i.direction == "neutral") \
        if any(i.direction == "neutral" for i in ed.catalogue.select("social")) else None
    if neutral is not None:
        ed.set_indicator("social", neutral.id, True)
        assert ed.entry("social", neutral.id)["direction"] == "higher_better"
    ed.set_indicator_direction("academic", "acad_score_mean", "lower_better")
    assert ed.entry("academic", "acad_score_mean")["direction"] == "lower_better"
    ed.set_indicator_direction("academic", "acad_score_mean", "higher_better")    # the catalogue default: key dropped
    assert "direction" not in ed.entry("academic", "acad_score_mean")


def test_a_dimension_leaves_with_its_last_indicator_unless_a_tag_rule_needs_it():
    ed = SpecEditor(load_spec("academic_emotion"))
    emotion = [i["id"] for i in ed.doc["dimensions"]["emotion"]["indicators"]]
    needs = [t for t in ed.spec.tags if "emotion" in t["rule"].split()]
    with pytest.raises(SpecError) if needs else _nothing():
        for iid in emotion:
            ed.set_indicator("emotion", iid, False)
    ed2 = SpecEditor(load_spec("whole_person"))
    social = [i["id"] for i in ed2.doc["dimensions"]["social"]["indicators"]]
    for iid in social[:-1]:
        ed2.set_indicator("social", iid, False)
    spec_before = ed2.spec
    with pytest.raises(SpecError) as err:                 # socially_isolated and all_round_strength use social
        ed2.set_indicator("social", social[-1], False)
    assert "tags[1].rule" in str(err.value) and "tags[2].rule" in str(err.value) and "'social'" in str(err.value)
    assert ed2.spec == spec_before                        # refused: nothing changed
    ed2.remove_tag("all_round_strength")
    ed2.remove_tag("socially_isolated")
    ed2.set_indicator("social", social[-1], False)
    assert "social" not in ed2.doc["dimensions"]
    ed2.set_indicator("social", "soc_forum_posts", True)   # comes back with weight 1
    assert ed2.doc["dimensions"]["social"] == {"weight": 1, "indicators": [{"id": "soc_forum_posts", "weight": 1}]}
    assert list(ed2.doc["dimensions"]) == ["academic", "behaviour", "interest", "emotion", "social"]


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_invalid_rules_are_refused_with_the_path_and_valid_ones_applied():
    ed = SpecEditor(load_spec("whole_person"))
    heard = []
    ed.on_change(lambda e, what: heard.append(what))
    with pytest.raises(SpecError) as err:
        ed.set_tag_rule("socially_isolated", "social < 15 and")
    assert "tags[1].rule" in str(err.value)
    with pytest.raises(SpecError) as err:
        ed.set_tag_rule("socially_isolated", "social < 15 and soc_distinct_peer < 20")
    assert "did you mean soc_distinct_peers" in str(err.value)
    assert not ed.dirty and heard == []
    ed.set_tag_rule("socially_isolated", "social < 20")
    assert ed.spec.tags[1]["rule"] == "social < 20" and heard == ["tag_rule"]
    tag = ed.add_tag("高焦虑", "High anxiety", "psy_gad7_max >= 15")
    assert tag == "high_anxiety" and ed.spec.tags[-1]["label"] == {"zh": "高焦虑", "en": "High anxiety"}
    assert ed.add_tag("高焦虑", "High anxiety", "psy_gad7_max >= 10") == "high_anxiety_2"
    ed.remove_tag("high_anxiety")
    assert [t["id"] for t in ed.spec.tags][-1] == "high_anxiety_2"


def test_segments_and_options_are_checked():
    ed = SpecEditor(load_spec("whole_person"))
    ed.set_segments(k=4, method="gmm")
    assert ed.spec.segments["k"] == 4 and ed.spec.segments["method"] == "gmm"
    with pytest.raises(SpecError):
        ed.set_segments(k=1)
    with pytest.raises(SpecError):
        ed.set_option("normaliser", "rank")
    ed.set_option("scope", "class")
    assert ed.spec.scope == "class"


def test_library_keeps_every_saved_version(tmp_path):
    lib = ModelLibrary(tmp_path / "models")
    ed = SpecEditor(load_spec("whole_person"))
    first = lib.save(ed.spec)
    ed.set_indicator_weight("emotion", "psy_gad7_max", 4)
    lib.save(ed.spec)
    ed.mark_saved(first)
    assert not ed.dirty
    ed.set_identity(spec_id="whole_person_anxiety", name_zh="全面发展（重视焦虑）", name_en="Whole person, anxiety-weighted")
    other = lib.save(ed.spec)
    assert other.name == "whole_person_anxiety.yaml" and lib.models() == ["whole_person", "whole_person_anxiety"]
    revs = lib.revisions("whole_person")
    assert len(revs) == 2 and revs[0].name.startswith("001-") and revs[1].name.startswith("002-")
    assert lib.load("whole_person", 1) == load_spec("whole_person")
    assert lib.load("whole_person").dimensions["emotion"]["indicators"][-1]["weight"] == 4
    assert lib.load("whole_person") == lib.load("whole_person", 2)
    with pytest.raises(SpecError, match="no revision 3"):
        lib.load("whole_person", 3)
