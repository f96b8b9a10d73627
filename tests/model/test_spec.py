"""Profile model specs: load → save round-trip, the hash, and every invalid spec reported with the file and the
path inside it (unknown indicator, weights that cannot normalise, tag rules that do not parse or name an unknown
field, an indicator with no data for this school), plus `workbench spec list` / `workbench spec check`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from workbench.indicators.catalogue import load_catalogue
from workbench.model.estimator import ProfileModel
from workbench.model.spec import (SHIPPED_DIR, SpecError, SpecIssue, _Dumper, check_spec, load_spec, shipped_specs,
                                  spec_from_dict)

SHIPPED = ["academic_emotion", "online_engagement", "whole_person"]


# ---------------------------------------------------------------------------------------------- helpers
def shipped_text(name: str = "academic_emotion") -> str:
    return (SHIPPED_DIR / f"{name}.yaml").read_text(encoding="utf-8")


def shipped_doc(name: str = "academic_emotion") -> dict:
    return yaml.safe_load(shipped_text(name))


def edited(tmp_path: Path, old: str, new: str, name: str = "academic_emotion", count: int = 1,
           file: str = "my_spec.yaml") -> Path:
    """A real YAML file: a shipped spec's text with ``old`` (which must occur ``count`` times) replaced by ``new``."""
    text = shipped_text(name)
    assert text.count(old) == count, f"test set-up: {old!r} occurs {text.count(old)} times in {name}.yaml"
    path = tmp_path / file
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def flow(value) -> str:
    """How the canonical dump writes a small mapping on one line: ``{id: acad_exam_mean, weight: 2}``."""
    text = yaml.dump(value, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110)
    return text.removesuffix("...\n").strip()


def indicator_text(dim: str, k: int, name: str = "academic_emotion") -> str:
    """The text of ``dimensions.<dim>.indicators[k]`` in the shipped file (read from it, so weight changes are fine)."""
    return flow(shipped_doc(name)["dimensions"][dim]["indicators"][k])


def edit_indicator(tmp_path: Path, dim: str, k: int, name: str = "academic_emotion", file: str = "my_spec.yaml",
                   **changes: str) -> Path:
    """The shipped file with ``dimensions.<dim>.indicators[k]`` changed; values are YAML text (``weight="-2"``)."""
    ind = shipped_doc(name)["dimensions"][dim]["indicators"][k]
    parts = {key: str(val) for key, val in ind.items()} | changes
    new = "{" + ", ".join(f"{key}: {val}" for key, val in parts.items()) + "}"
    return edited(tmp_path, indicator_text(dim, k, name), new, name=name, file=file)


def edit_rule(tmp_path: Path, t: int, new_rule: str, name: str = "academic_emotion") -> Path:
    """The shipped file with the (one-line) rule of ``tags[t]`` replaced by the YAML text ``new_rule``."""
    rule = shipped_doc(name)["tags"][t]["rule"]
    return edited(tmp_path, f"  rule: {rule}\n", f"  rule: {new_rule}\n", name=name)


def edit_top(tmp_path: Path, key: str, new: str, indent: str = "", name: str = "academic_emotion",
             file: str = "my_spec.yaml") -> Path:
    """The shipped file with the line ``<indent><key>: <value>`` given the YAML text ``new`` as its value."""
    doc = shipped_doc(name)
    value = doc["segments"][key] if indent else doc[key]
    text = shipped_text(name)
    line = re.compile(rf"(?m)^{indent}{key}: {re.escape(flow(value))}$")
    assert len(line.findall(text)) == 1, f"test set-up: no single line {indent}{key}: {flow(value)} in {name}.yaml"
    path = tmp_path / file
    path.write_text(line.sub(lambda m: f"{indent}{key}: {new}", text), encoding="utf-8")
    return path


def dimension_weights(tmp_path: Path, new: str, file: str = "my_spec.yaml") -> Path:
    """The shipped academic_emotion file with every dimension's ``weight:`` line set to ``new``."""
    text = shipped_text()
    out, n = re.subn(r"(?m)^    weight: .*$", f"    weight: {new}", text)
    assert n == len(shipped_doc()["dimensions"]), "test set-up: one weight line per dimension"
    path = tmp_path / file
    path.write_text(out, encoding="utf-8")
    return path


def written(tmp_path: Path, doc: dict, file: str = "my_spec.yaml") -> Path:
    """A real YAML file holding ``doc`` (for changes that are awkward to make on the text)."""
    path = tmp_path / file
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def spec_error(path_or_name) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_spec(path_or_name)
    return info.value


def issue(exc: SpecError, path: str) -> SpecIssue:
    found = [i for i in exc.issues if i.path == path]
    assert found, f"no issue at {path!r}; issues: {exc.issues}"
    return found[0]


def assert_reported(exc: SpecError, file: Path | str, path: str, *fragments: str) -> SpecIssue:
    """The message has a line ``<file>: <path>: <en> / <zh>`` whose English part holds every fragment."""
    it = issue(exc, path)
    for frag in fragments:
        assert frag in it.en, f"{frag!r} not in {it.en!r}"
    assert it.zh.strip(), "every issue also has a Chinese text"
    line = f"{file}: {path}: {it.en} / {it.zh}"
    assert line in str(exc).splitlines(), f"{line!r} not a line of:\n{exc}"
    assert exc.source == str(file)
    return it


# ---------------------------------------------------------------------------------------------- shipped specs
def test_shipped_specs_are_the_three_yaml_files():
    assert shipped_specs() == SHIPPED
    assert sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml")) == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spec_round_trips_byte_for_byte(name, tmp_path):
    path = SHIPPED_DIR / f"{name}.yaml"
    spec = load_spec(name)
    assert spec.id == name and spec.version == 1
    assert spec.source == str(path)
    assert spec.dump() == path.read_text(encoding="utf-8")

    saved = spec.save(tmp_path / f"{name}.yaml")
    assert saved == tmp_path / f"{name}.yaml"
    assert saved.read_bytes() == path.read_bytes()

    again = load_spec(saved)
    assert again == spec
    assert again.hash == spec.hash
    assert again.source == str(saved)
    assert again.dump() == spec.dump()

    from_dict = spec_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert from_dict == spec and from_dict.hash == spec.hash
    # loading by path and by name give the same thing
    assert load_spec(path) == spec


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_spec_is_valid_and_uses_catalogue_indicators(name):
    doc = shipped_doc(name)
    cat = load_catalogue()
    assert check_spec(doc, cat) == []
    spec = load_spec(name)
    assert spec.indicator_ids() and all(i in cat for i in spec.indicator_ids())
    assert spec.normaliser in ("zscore", "minmax", "percentile")


def test_hash_is_by_content():
    spec = load_spec("academic_emotion")
    assert re.fullmatch(r"[0-9a-f]{16}", spec.hash)
    assert spec.copy() == spec and spec.copy().hash == spec.hash
    assert hash(spec.copy()) == hash(spec)

    doc = shipped_doc()
    doc["dimensions"]["academic"]["indicators"][0]["weight"] += 1
    changed = spec_from_dict(doc)
    assert changed != spec
    assert changed.hash != spec.hash

    doc = shipped_doc()
    doc["dimensions"]["emotion"]["weight"] = doc["dimensions"]["emotion"].get("weight", 1) + 1   # a dimension weight
    assert spec_from_dict(doc).hash != spec.hash

    reordered = dict(reversed(list(shipped_doc().items())))        # key order is not content
    assert spec_from_dict(reordered) == spec and spec_from_dict(reordered).hash == spec.hash

    assert load_spec("whole_person").hash != spec.hash


def test_spec_from_dict_does_not_keep_the_callers_dict():
    doc = shipped_doc()
    spec = spec_from_dict(doc)
    before = doc["dimensions"]["academic"]["indicators"][0]["weight"]
    doc["dimensions"]["academic"]["indicators"][0]["weight"] = 99
    assert spec.dimensions["academic"]["indicators"][0]["weight"] == before
    clone = spec.copy()
    clone.doc["dimensions"]["academic"]["weight"] = 5
    assert spec.dimensions["academic"]["weight"] == 1


def test_hand_written_spec_saves_to_canonical_form_and_then_round_trips(tmp_path):
    """A spec written by hand (comments, block style, other quoting) loads; its saved form is stable."""
    src = tmp_path / "hand.yaml"
    src.write_text(
        "# my school's model\n"
        "version: 1\n"
        "id: my_model\n"
        "normaliser: 'zscore'\n"
        "dimensions:\n"
        "  academic:\n"
        "    weight: 2\n"
        "    indicators:\n"
        "      - id: acad_score_z\n"
        "        weight: 3\n"
        "      - id: basic_grade\n"
        "        direction: higher_better\n"
        "  wellbeing:\n"
        "    name:\n"
        "      zh: 身心健康\n"
        "      en: Wellbeing\n"
        "    indicators:\n"
        "      - {id: psy_gad7_max}\n"
        "tags:\n"
        "  - id: low\n"
        "    label: {zh: 低, en: low}\n"
        "    rule: \"wellbeing < 20 and academic < 30\"\n"
        "segments: {k: 3, k_range: [2, 4]}\n", encoding="utf-8")
    spec = load_spec(src)
    assert spec.id == "my_model" and spec.normaliser == "zscore" and spec.scope == "grade"
    assert spec.missing == "reweight"
    assert spec.indicator_ids() == ["acad_score_z", "basic_grade", "psy_gad7_max"]
    assert spec.tag_names() == {"wellbeing", "academic"}

    first = spec.save(tmp_path / "saved.yaml")
    assert "#" not in first.read_text(encoding="utf-8")          # canonical form, comments not kept
    again = load_spec(first)
    assert again == spec and again.hash == spec.hash
    second = again.save(tmp_path / "saved_again.yaml")
    assert second.read_bytes() == first.read_bytes()


# ---------------------------------------------------------------------------------------------- unknown indicator
def test_unknown_indicator_typo_names_file_path_and_suggestion(tmp_path):
    assert indicator_text("academic", 2).startswith("{id: acad_grade_percentile,")
    p = edit_indicator(tmp_path, "academic", 2, id="acad_score_zz")
    exc = spec_error(p)
    assert_reported(exc, p, "dimensions.academic.indicators[2].id", "unknown indicator 'acad_score_zz'",
                    "did you mean acad_score_z?")
    assert str(p) in str(exc) and "dimensions.academic.indicators[2].id" in str(exc)
    assert len(exc.issues) == 1, exc.issues


def test_unknown_indicator_without_near_miss_points_to_the_catalogue(tmp_path):
    p = edit_indicator(tmp_path, "emotion", 2, id="zzz_totally_unrelated")
    exc = spec_error(p)
    it = assert_reported(exc, p, "dimensions.emotion.indicators[2].id", "unknown indicator 'zzz_totally_unrelated'",
                         "workbench indicators")
    assert "did you mean" not in it.en
    assert len(exc.issues) == 1


def test_unknown_indicator_in_another_spec_and_dimension(tmp_path):
    p = edit_indicator(tmp_path, "social", 7, name="whole_person", id="soc_page_rank")
    exc = spec_error(p)
    assert_reported(exc, p, "dimensions.social.indicators[7].id", "unknown indicator 'soc_page_rank'",
                    "did you mean soc_pagerank?")


# ---------------------------------------------------------------------------------------------- weights
@pytest.mark.parametrize("bad", ["-2", "heavy", "true", "[1, 2]"])
def test_bad_indicator_weight(tmp_path, bad):
    p = edit_indicator(tmp_path, "academic", 1, weight=bad)
    exc = spec_error(p)
    assert_reported(exc, p, "dimensions.academic.indicators[1].weight", "weight must be a number ≥ 0")
    assert len(exc.issues) == 1


def test_negative_weight_message_shows_the_value(tmp_path):
    p = edit_indicator(tmp_path, "academic", 1, weight="-2")
    assert_reported(spec_error(p), p, "dimensions.academic.indicators[1].weight", "got -2")


def test_negative_dimension_weight(tmp_path):
    doc = shipped_doc()
    doc["dimensions"]["emotion"]["weight"] = -1
    p = written(tmp_path, doc)
    exc = spec_error(p)
    assert_reported(exc, p, "dimensions.emotion.weight", "weight must be a number ≥ 0", "got -1")


def test_all_zero_indicator_weights_cannot_be_normalised(tmp_path):
    doc = shipped_doc()
    for ind in doc["dimensions"]["academic"]["indicators"]:
        ind["weight"] = 0
    p = written(tmp_path, doc)
    exc = spec_error(p)
    assert_reported(exc, p, "dimensions.academic.indicators", "cannot be normalised")
    assert [i.path for i in exc.issues] == ["dimensions.academic.indicators"]   # emotion is fine


def test_some_zero_indicator_weights_are_fine(tmp_path):
    doc = shipped_doc()
    for ind in doc["dimensions"]["academic"]["indicators"][1:]:
        ind["weight"] = 0
    spec = load_spec(written(tmp_path, doc))
    assert spec.dimensions["academic"]["indicators"][1]["weight"] == 0


def test_all_zero_dimension_weights_cannot_be_normalised(tmp_path):
    p = dimension_weights(tmp_path, "0")
    exc = spec_error(p)
    assert_reported(exc, p, "dimensions", "dimension weights add up to 0", "cannot be normalised")
    assert len(exc.issues) == 1


def test_one_zero_dimension_weight_is_fine(tmp_path):
    w = shipped_doc()["dimensions"]["emotion"]["weight"]
    p = edited(tmp_path, f"  emotion:\n    weight: {w}\n", "  emotion:\n    weight: 0\n")
    assert load_spec(p).dimensions["emotion"]["weight"] == 0


# ---------------------------------------------------------------------------------------------- tag rules
def test_tag_rule_that_does_not_parse(tmp_path):
    doc = shipped_doc()
    doc["tags"][0]["rule"] = "academic < < 20"
    p = written(tmp_path, doc)
    exc = spec_error(p)
    it = assert_reported(exc, p, "tags[0].rule", "cannot parse", "'academic < < 20'")
    assert re.search(r"column \d+", it.en)
    assert len(exc.issues) == 1


def test_tag_rule_that_does_not_parse_written_in_the_file(tmp_path):
    rule = shipped_doc("online_engagement")["tags"][0]["rule"]
    p = edit_rule(tmp_path, 0, f"({rule}", name="online_engagement")
    exc = spec_error(p)
    assert_reported(exc, p, "tags[0].rule", "cannot parse", "column 1")


def test_tag_rule_with_unsafe_code_is_rejected(tmp_path, monkeypatch):
    import os
    calls = []
    monkeypatch.setattr(os, "system", lambda *a: calls.append(a) or 0)
    p = edit_rule(tmp_path, 2, "\"__import__('os').system('echo pwned')\"")
    exc = spec_error(p)
    assert_reported(exc, p, "tags[2].rule", "is not allowed")
    assert calls == []


def test_tag_rule_naming_unknown_field_with_suggestion(tmp_path):
    doc = shipped_doc()
    doc["tags"][0]["rule"] = "acadmic < 20 and psy_gad7_max >= 10"
    p = written(tmp_path, doc)
    exc = spec_error(p)
    assert_reported(exc, p, "tags[0].rule", "unknown field 'acadmic'", "did you mean academic?")
    assert len(exc.issues) == 1


def test_tag_rule_naming_unknown_field_written_in_the_file(tmp_path):
    p = edit_rule(tmp_path, 1, "academic >= 70 and emotoin < 30")
    exc = spec_error(p)
    assert_reported(exc, p, "tags[1].rule", "unknown field 'emotoin'", "did you mean emotion?")


def test_tag_rule_may_not_use_a_dimension_the_spec_does_not_have(tmp_path):
    # `social` is a dimension of whole_person, not of academic_emotion (and not an indicator)
    p = edit_rule(tmp_path, 2, "academic < 20 and social < 10")
    exc = spec_error(p)
    assert_reported(exc, p, "tags[2].rule", "unknown field 'social'")


def test_tag_rule_may_use_overall_and_any_catalogue_indicator(tmp_path):
    # an indicator that is not scored in the spec is still a known field
    p = edit_rule(tmp_path, 2, "academic < 20 or (overall < 10 and soc_distinct_peers < 3)")
    spec = load_spec(p)
    assert spec.tag_names() >= {"academic", "overall", "soc_distinct_peers"}


def test_tag_without_rule_or_label_or_id(tmp_path):
    doc = shipped_doc()
    del doc["tags"][1]["rule"]
    del doc["tags"][2]["label"]["en"]
    doc["tags"].append({"id": "Bad Id", "label": {"zh": "x", "en": "x"}, "rule": "academic < 1"})
    p = written(tmp_path, doc)
    exc = spec_error(p)
    assert_reported(exc, p, "tags[1].rule", "empty rule")
    assert_reported(exc, p, "tags[2].label", "label: {zh: …, en: …}")
    assert_reported(exc, p, "tags[3].id", "id of lower-case letters")


# ---------------------------------------------------------------------------------------------- other fields
@pytest.mark.parametrize("key,new,allowed", [
    ("normaliser", "robust", "zscore, minmax, percentile"),
    ("scope", "county", "class, grade, school"),
    ("missing", "drop", "impute, reweight"),
])
def test_unknown_normaliser_scope_missing(tmp_path, key, new, allowed):
    p = edit_top(tmp_path, key, new)
    exc = spec_error(p)
    assert_reported(exc, p, key, f"'{new}' is not one of {allowed}")
    assert len(exc.issues) == 1


def test_unknown_top_level_key_with_suggestion(tmp_path):
    p = edited(tmp_path, "\ndimensions:\n", "\ndimension:\n")
    exc = spec_error(p)
    assert_reported(exc, p, "dimension", "unknown key", "did you mean dimensions?")
    assert_reported(exc, p, "dimensions", "at least one dimension")


def test_unknown_top_level_key_tag(tmp_path):
    p = edited(tmp_path, "\ntags:\n", "\ntag:\n")
    exc = spec_error(p)
    assert_reported(exc, p, "tag", "unknown key", "did you mean tags?")


def test_unknown_key_in_an_indicator(tmp_path):
    p = edited(tmp_path, indicator_text("academic", 1), indicator_text("academic", 1).replace("weight:", "wieght:"))
    exc = spec_error(p)
    assert_reported(exc, p, "dimensions.academic.indicators[1]", "unknown key(s) wieght")


def test_indicator_entry_that_is_not_a_mapping(tmp_path):
    p = edited(tmp_path, f"    - {indicator_text('academic', 1)}\n", "    - acad_exam_mean\n")
    assert_reported(spec_error(p), p, "dimensions.academic.indicators[1]", "expected {id: …, weight: …}")


def test_bad_spec_id(tmp_path):
    p = edit_top(tmp_path, "id", "Academic-Emotion")
    assert_reported(spec_error(p), p, "id", "lower-case letters")


def test_dimension_not_in_catalogue_needs_a_name(tmp_path):
    doc = shipped_doc()
    doc["dimensions"]["wellbeing"] = {"indicators": [{"id": "psy_gad7_mean"}]}
    p = written(tmp_path, doc)
    assert_reported(spec_error(p), p, "dimensions.wellbeing.name", "needs name")
    doc["dimensions"]["wellbeing"]["name"] = {"zh": "身心健康", "en": "Wellbeing"}
    assert "wellbeing" in load_spec(written(tmp_path, doc, "ok.yaml")).dimensions


def test_dimension_without_indicators(tmp_path):
    doc = shipped_doc()
    doc["dimensions"]["emotion"]["indicators"] = []
    p = written(tmp_path, doc)
    assert_reported(spec_error(p), p, "dimensions.emotion.indicators", "needs a list of indicators")


def test_neutral_indicator_needs_a_direction(tmp_path):
    k = len(shipped_doc()["dimensions"]["academic"]["indicators"])
    after = f"    - {indicator_text('academic', k - 1)}\n"
    p = edited(tmp_path, after, after + "    - {id: basic_grade, weight: 1}\n")
    exc = spec_error(p)
    assert_reported(exc, p, f"dimensions.academic.indicators[{k}].direction", "basic_grade is descriptive (neutral)",
                    "direction: higher_better")
    assert len(exc.issues) == 1

    ok = edited(tmp_path, after, after + "    - {id: basic_grade, weight: 1, direction: higher_better}\n",
                file="ok.yaml")
    spec = load_spec(ok)
    assert spec.dimensions["academic"]["indicators"][k] == {"id": "basic_grade", "weight": 1,
                                                            "direction": "higher_better"}
    assert load_spec(spec.save(tmp_path / "saved.yaml")) == spec


def test_unknown_direction(tmp_path):
    p = edit_indicator(tmp_path, "academic", 1, direction="up")
    assert_reported(spec_error(p), p, "dimensions.academic.indicators[1].direction", "'up' is not one of")


@pytest.mark.parametrize("key,new,fragment", [
    ("k", "1", "got 1"),
    ("k", "many", "k must be auto or an integer ≥ 2"),
    ("k", "true", "got True"),
    ("k_range", "[6, 2]", "got [6, 2]"),
    ("k_range", "[1, 4]", "2 ≤ low ≤ high"),
    ("k_range", "[3]", "k_range must be [low, high]"),
    ("method", "dbscan", "'dbscan' is not one of kmeans, gmm"),
    ("seed", "abc", "seed must be an integer"),
])
def test_bad_segments(tmp_path, key, new, fragment):
    path = f"segments.{key}"
    p = edit_top(tmp_path, key, new, indent="  ")
    exc = spec_error(p)
    assert_reported(exc, p, path, fragment)
    assert len(exc.issues) == 1


@pytest.mark.parametrize("key,new,value", [("k", "3", 3), ("k", "auto", "auto"), ("k_range", "[4, 4]", [4, 4]),
                                           ("method", "gmm", "gmm"), ("method", "kmeans", "kmeans")])
def test_good_segments(tmp_path, key, new, value):
    assert load_spec(edit_top(tmp_path, key, new, indent="  ")).segments[key] == value


@pytest.mark.parametrize("new,shown", [("2", "got 2"), ("'1'", "got '1'"), ("1.5", "got 1.5")])
def test_bad_version(tmp_path, new, shown):
    p = edit_top(tmp_path, "version", new)
    exc = spec_error(p)
    assert_reported(exc, p, "version", "version must be an integer from 1 to 1", shown)
    assert len(exc.issues) == 1


def test_missing_version_and_id(tmp_path):
    doc = shipped_doc()
    del doc["version"], doc["id"]
    p = written(tmp_path, doc)
    exc = spec_error(p)
    assert_reported(exc, p, "version", "got None")
    assert_reported(exc, p, "id", "lower-case letters")


def test_several_problems_are_all_reported(tmp_path):
    doc = shipped_doc()
    doc["scope"] = "county"
    doc["dimensions"]["academic"]["indicators"][2]["id"] = "acad_score_zz"
    doc["dimensions"]["emotion"]["indicators"][0]["weight"] = -1
    doc["tags"][0]["rule"] = "acadmic < 20"
    doc["tags"][1]["rule"] = "academic <"
    doc["segments"]["k"] = 1
    p = written(tmp_path, doc)
    exc = spec_error(p)
    paths = [i.path for i in exc.issues]
    assert len(exc.issues) >= 3
    assert set(paths) == {"scope", "dimensions.academic.indicators[2].id", "dimensions.emotion.indicators[0].weight",
                          "tags[0].rule", "tags[1].rule", "segments.k"}
    lines = str(exc).splitlines()
    assert len(lines) == len(exc.issues)
    assert all(line.startswith(f"{p}: ") for line in lines)


def test_invalid_yaml_gives_spec_error_with_line_number(tmp_path):
    p = edit_top(tmp_path, "normaliser", "percentile: zscore")   # "mapping values are not allowed here"
    bad_line = next(n for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                    if line.startswith("normaliser:"))
    assert bad_line > 1
    exc = spec_error(p)
    assert len(exc.issues) == 1
    it = exc.issues[0]
    assert it.path == f"line {bad_line}"
    assert it.en.startswith("not valid YAML")
    assert str(exc).startswith(f"{p}: line {bad_line}: not valid YAML")


def test_unclosed_bracket_in_yaml(tmp_path):
    p = edit_top(tmp_path, "k_range", "[2, 6", indent="  ")
    exc = spec_error(p)
    assert re.fullmatch(r"line \d+", exc.issues[0].path)
    assert "not valid YAML" in str(exc) and str(p) in str(exc)


@pytest.mark.parametrize("content", ["", "- a\n- b\n", "just a string\n"])
def test_spec_that_is_not_a_mapping(tmp_path, content):
    p = tmp_path / "empty.yaml"
    p.write_text(content, encoding="utf-8")
    exc = spec_error(p)
    assert_reported(exc, p, "", "expected a mapping at the top")


def test_unknown_spec_name_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exc = spec_error("acadmic_emotion")
    assert exc.source == "acadmic_emotion"
    msg = str(exc)
    assert msg.startswith("acadmic_emotion: ")
    assert "no such file or shipped spec" in msg
    for name in SHIPPED:
        assert name in msg
    assert str(spec_error(tmp_path / "nope.yaml")).startswith(f"{tmp_path / 'nope.yaml'}: ")


def test_spec_error_is_a_value_error_with_bilingual_issues():
    exc = SpecError("f.yaml", [SpecIssue("a.b[1]", "bad thing", "坏"), SpecIssue("c", "other", "其他")])
    assert isinstance(exc, ValueError)
    assert str(exc) == "f.yaml: a.b[1]: bad thing / 坏\nf.yaml: c: other / 其他"


# ---------------------------------------------------------------------------------------------- found by review (fixed)
@pytest.mark.parametrize("bad", ["0", "-1"])
def test_version_below_one_is_a_spec_error(tmp_path, bad):
    p = edit_top(tmp_path, "version", bad)
    exc = spec_error(p)
    assert_reported(exc, p, "version", "version must be an integer from 1 to 1")


def test_version_true_is_rejected(tmp_path):
    p = edit_top(tmp_path, "version", "true")
    assert_reported(spec_error(p), p, "version", "version must be an integer")


def test_indicator_id_that_is_a_list(tmp_path):
    p = edit_indicator(tmp_path, "academic", 1, id="[acad_exam_mean]")
    assert_reported(spec_error(p), p, "dimensions.academic.indicators[1].id", "an indicator id is a name")


def test_tags_that_are_not_a_list(tmp_path):
    doc = shipped_doc()
    doc["tags"] = 5
    p = written(tmp_path, doc)
    exc = spec_error(p)
    assert any(i.path.startswith("tags") for i in exc.issues)


@pytest.mark.parametrize("where,value", [("dimension", ".nan"), ("indicator", ".nan"), ("indicator", ".inf"),
                                         ("dimension", ".inf")])
def test_weights_that_are_not_finite_cannot_normalise(tmp_path, where, value):
    if where == "dimension":
        w = shipped_doc()["dimensions"]["emotion"]["weight"]
        p = edited(tmp_path, f"  emotion:\n    weight: {w}\n", f"  emotion:\n    weight: {value}\n")
        path = "dimensions.emotion.weight"
    else:
        p = edit_indicator(tmp_path, "academic", 1, weight=value)
        path = "dimensions.academic.indicators[1].weight"
    assert issue(spec_error(p), path)


# ---------------------------------------------------------------------------------------------- no data here
ACADEMIC_EMOTION = load_spec("academic_emotion")
ACAD_IDS = [i["id"] for i in ACADEMIC_EMOTION.dimensions["academic"]["indicators"]]
EMO_IDS = [i["id"] for i in ACADEMIC_EMOTION.dimensions["emotion"]["indicators"]]


def school_frame(columns: list[str], n: int = 30, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ability = rng.normal(size=n)
    data = {c: ability * (1 if k % 2 else -1) + rng.normal(scale=0.7, size=n) for k, c in enumerate(columns)}
    frame = pd.DataFrame(data, index=pd.Index([f"stu{i:03d}" for i in range(n)], name="student_key"))
    frame["grade"] = [7] * (n // 2) + [8] * (n - n // 2)
    return frame


def test_dimension_without_any_data_is_excluded_with_spec_paths():
    X = school_frame(ACAD_IDS)
    model = ProfileModel(load_spec("academic_emotion")).fit(X)
    source = str(SHIPPED_DIR / "academic_emotion.yaml")

    assert set(model.excluded_) == set(EMO_IDS)
    for k, iid in enumerate(EMO_IDS):
        msg = model.excluded_[iid]
        assert msg.startswith(f"{source}: dimensions.emotion.indicators[{k}].id: {iid} has no data"), msg
    assert "dimensions.emotion.indicators[0].id" in model.excluded_["emo_mood_mean"]

    emotion_warnings = [w for w in model.warnings_ if w.startswith(f"{source}: dimensions.emotion:")]
    assert len(emotion_warnings) == 1 and "no indicator of this dimension has data" in emotion_warnings[0]
    assert model.report()["excluded_indicators"] == model.excluded_

    assert list(model.weights_) == ["academic"]
    assert list(model.weights_["academic"]) == ACAD_IDS
    out = model.transform(X)
    assert list(out.columns) == ["academic", "overall"]
    assert list(model.get_feature_names_out()) == ["academic", "overall"]
    assert out.index.equals(X.index)
    assert out["academic"].notna().all() and out["academic"].between(0, 100).all()
    assert out["academic"].nunique() > 10
    pd.testing.assert_series_equal(out["overall"], out["academic"], check_names=False)

    prof = model.profile(X)
    assert not prof.tags["high_achiever_low_mood"].any()              # names emotion, which has no data
    pd.testing.assert_series_equal(prof.tags["needs_academic_support"], out["academic"] < 20, check_names=False)


def test_one_indicator_column_all_missing_is_excluded_and_the_rest_used():
    gone = "acad_item_accuracy"
    k = ACAD_IDS.index(gone)
    X = school_frame(ACAD_IDS + EMO_IDS)
    X[gone] = np.nan
    model = ProfileModel(load_spec("academic_emotion")).fit(X)
    source = str(SHIPPED_DIR / "academic_emotion.yaml")

    assert list(model.excluded_) == [gone]
    assert model.excluded_[gone].startswith(f"{source}: dimensions.academic.indicators[{k}].id: {gone} has no data")
    assert not any("no indicator of this dimension" in w for w in model.warnings_)
    assert list(model.weights_["academic"]) == [i for i in ACAD_IDS if i != gone]
    assert list(model.weights_["emotion"]) == EMO_IDS
    out = model.transform(X)
    assert list(out.columns) == ["academic", "emotion", "overall"]
    assert out.notna().all().all()

    # an all-missing column counts exactly like an absent one
    without = X.drop(columns=[gone])
    other = ProfileModel(load_spec("academic_emotion")).fit(without)
    assert list(other.excluded_) == [gone]
    pd.testing.assert_frame_equal(other.transform(without), out)


def test_no_indicator_with_data_at_all_is_an_error():
    X = school_frame(["acad_score_mean"])        # in the catalogue, not in the spec
    with pytest.raises(ValueError, match="none of the spec's indicators has data"):
        ProfileModel(load_spec("academic_emotion")).fit(X)


# ---------------------------------------------------------------------------------------------- the command
def test_cli_spec_check_ok(run_cli):
    path = SHIPPED_DIR / "academic_emotion.yaml"
    res = run_cli("spec", "check", path)
    assert res.returncode == 0, res.stderr
    assert f"{path}: OK (academic_emotion v1, hash {load_spec(path).hash})" in res.stdout
    assert f"{path}:" not in res.stderr


def test_cli_spec_check_invalid_exits_2(run_cli, tmp_path):
    bad = edit_indicator(tmp_path, "academic", 2, id="acad_score_zz")
    res = run_cli("spec", "check", bad)
    assert res.returncode == 2
    assert f"{bad}: dimensions.academic.indicators[2].id: unknown indicator 'acad_score_zz'" in res.stderr
    assert "did you mean acad_score_z?" in res.stderr
    assert "OK" not in res.stdout


def test_cli_spec_check_several_files(run_cli, tmp_path):
    good = SHIPPED_DIR / "whole_person.yaml"
    bad = dimension_weights(tmp_path, "0")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nid: [\n", encoding="utf-8")
    res = run_cli("spec", "check", bad, good, broken)
    assert res.returncode == 2
    assert f"{good}: OK (whole_person v1" in res.stdout
    assert f"{bad}: dimensions: the dimension weights add up to 0" in res.stderr
    assert f"{broken}: line " in res.stderr and "not valid YAML" in res.stderr


def test_cli_spec_list(run_cli):
    res = run_cli("spec", "list", "--lang", "en")
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stdout.splitlines() if line.strip()]
    assert [line.split()[0] for line in lines] == SHIPPED
    for line, name in zip(lines, SHIPPED):
        spec = load_spec(name)
        assert f"v1  {spec.hash}  {spec.name['en']}" in line
        assert f"[{', '.join(spec.dimensions)}]" in line


@pytest.mark.parametrize("change,path,reason", [
    (lambda d: d["dimensions"]["academic"]["indicators"].append({"id": "acad_score_z", "weight": 1}),
     "dimensions.academic.indicators[7].id", "listed twice"),
    (lambda d: d["tags"].append(dict(d["tags"][0])), "tags[3].id", "defined twice"),
    (lambda d: d.__setitem__("name", "just text"), "name", "expected {zh: …, en: …}"),
    (lambda d: d["segments"].__setitem__("seed", True), "segments.seed", "seed must be an integer"),
])
def test_more_mistakes_are_named(tmp_path, change, path, reason):
    doc = shipped_doc()
    change(doc)
    p = written(tmp_path, doc)
    assert_reported(spec_error(p), p, path, reason)
