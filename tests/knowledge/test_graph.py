"""Knowledge-graph format and validator; the shipped graphs; the Junyi importer on the real table."""
from __future__ import annotations

import copy

import networkx as nx
import pytest
import yaml

from workbench.knowledge import GraphError, graph_from_doc, import_junyi, load_graph, validate_graph
from workbench.knowledge.graph import GRAPHS_DIR

STRANDS_2022 = {"数与代数", "图形与几何", "统计与概率", "综合与实践"}


def _doc(name="math_junior"):
    return yaml.safe_load((GRAPHS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["math_junior", "physics_junior"])
def test_shipped_graphs_validate_clean(name):
    assert validate_graph(_doc(name)) == []
    kg = load_graph(name)
    assert nx.is_directed_acyclic_graph(kg.graph)
    assert kg.warnings == []
    order = kg.topological_order()
    pos = {k: i for i, k in enumerate(order)}
    assert all(pos[a] < pos[b] for a, b in kg.graph.edges)


def test_mathematics_graph_follows_the_2022_standard():
    kg = load_graph("math_junior")
    assert len(kg.points) >= 80
    assert {kp["strand"] for kp in kg.points.values()} == STRANDS_2022
    assert {kp["grade"] for kp in kg.points.values()} == {7, 8, 9}
    for k, kp in kg.points.items():
        assert kp["name"]["zh"] and kp["name"]["en"] and kp["chapter"]["zh"] and kp["ability_level"]
    # prerequisites run forward in the curriculum: never from a higher grade to a lower one
    assert all(kg.points[a]["grade"] <= kg.points[b]["grade"] for a, b in kg.graph.edges)
    assert "M7-NUM-01" in kg.ancestors("M7-NUM-05")


def test_second_subject_proves_the_format_is_general():
    kg = load_graph("physics_junior")
    assert kg.subject == "physics" and 20 <= len(kg.points) < 80
    assert "P9-ELC-03" in kg.ancestors("P9-ELC-04")   # Ohm's law builds on voltage and resistance


def test_cycle_is_printed():
    doc = _doc()
    kps = {kp["id"]: kp for kp in doc["knowledge_points"]}
    kps["M7-NUM-01"]["prerequisites"] = ["M7-NUM-03"]           # 01 → 02 → 03 → 01
    issues = validate_graph(doc)
    cycles = [i for i in issues if i.kind == "cycle"]
    assert len(cycles) == 1
    assert "3-cycle: M7-NUM-01 → M7-NUM-02 → M7-NUM-03 → M7-NUM-01" in cycles[0].en
    with pytest.raises(GraphError) as err:
        graph_from_doc(doc, "my_graph.yaml")
    assert "my_graph.yaml: knowledge_points[0].prerequisites: prerequisite 3-cycle" in str(err.value)


def test_self_loop_dangling_prerequisite_and_duplicate_id_each_have_their_message():
    doc = _doc()
    doc["knowledge_points"][4]["prerequisites"] = ["M7-NUM-05", "M7-NUM-99"]
    dup = copy.deepcopy(doc["knowledge_points"][2])
    doc["knowledge_points"].append(dup)
    issues = {i.kind: i for i in validate_graph(doc)}
    assert issues["cycle"].en == "prerequisite self-loop: M7-NUM-05 → M7-NUM-05"
    assert issues["dangling_prerequisite"].path == "knowledge_points[4].prerequisites[1]"
    assert "M7-NUM-99 is not a knowledge point" in issues["dangling_prerequisite"].en
    n = len(doc["knowledge_points"]) - 1
    assert issues["duplicate_id"].path == f"knowledge_points[{n}].id"
    assert issues["duplicate_id"].en == "duplicate id M7-NUM-03 (first at knowledge_points[2])"


def test_orphans_are_warnings_and_item_maps_are_checked():
    doc = _doc("physics_junior")
    doc["knowledge_points"].append({"id": "P9-LONE", "name": {"zh": "孤立点", "en": "Lone point"}, "grade": 9,
                                    "prerequisites": []})
    doc["items"] = {"Q1": ["P8-MOT-01"], "Q2": ["P8-MOT-03", "P8-NOPE"]}
    issues = validate_graph(doc)
    orphan = [i for i in issues if i.kind == "orphan"]
    assert len(orphan) == 1 and not orphan[0].error and "P9-LONE is an orphan" in orphan[0].en
    unknown = [i for i in issues if i.kind == "unknown_point"]
    assert [(i.path, i.error) for i in unknown] == [("items.Q2[1]", True)]
    doc["items"]["Q2"] = ["P8-MOT-03"]
    kg = graph_from_doc(doc)
    assert kg.items == {"Q1": ["P8-MOT-01"], "Q2": ["P8-MOT-03"]} and len(kg.warnings) == 1


def test_junyi_import_reports_exactly_the_self_loops_and_the_cycle():
    imp = import_junyi()
    assert imp.rows == 837 and len(imp.doc["knowledge_points"]) == 835
    rings = sorted(p.en for p in imp.problems)
    assert rings == [
        "prerequisite 3-cycle: adding_and_subtracting_radicals → radical_multiplication_and_division → "
        "simplifying_radicals → adding_and_subtracting_radicals",
        "prerequisite self-loop: number_sense_length_l1 → number_sense_length_l1",
        "prerequisite self-loop: proportions_1 → proportions_1"]
    assert not imp.ok
    assert len(imp.notes) == 2 and all(n.split(":")[0] in {"matrix_mul_two", "matrix_app_fruit_oil"} for n in imp.notes)
    # nothing was fixed silently: the looping edges are still in the document
    kps = {kp["id"]: kp for kp in imp.doc["knowledge_points"]}
    assert "proportions_1" in kps["proportions_1"]["prerequisites"]
    with pytest.raises(GraphError):
        graph_from_doc(imp.doc)


def test_junyi_import_drops_only_the_named_edges():
    first = import_junyi()
    fixed = import_junyi(drop_edges=first.suggested_drops())
    assert fixed.ok and len(fixed.dropped) == 3
    kg = graph_from_doc(fixed.doc)
    assert nx.is_directed_acyclic_graph(kg.graph)
    edges = sum(len(kp["prerequisites"]) for kp in first.doc["knowledge_points"])
    assert kg.graph.number_of_edges() == edges - 3 == 978   # SOURCE.md: 981 distinct edges
    with pytest.raises(ValueError, match="no such edge"):
        import_junyi(drop_edges=["proportions_1>circles_and_arcs"])


def test_cli_validate_and_import(run_cli, tmp_path):
    ok = run_cli("kg", "validate", "math_junior", "physics_junior")
    assert ok.returncode == 0, ok.stderr
    assert "81 knowledge points" in ok.stdout and "检查通过" in ok.stdout
    doc = _doc()
    doc["knowledge_points"][0]["prerequisites"] = ["M7-NUM-03"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    out = run_cli("kg", "validate", bad)
    assert out.returncode == 2 and "prerequisite 3-cycle: M7-NUM-01 → M7-NUM-02 → M7-NUM-03 → M7-NUM-01" in out.stderr
    target = tmp_path / "junyi.yaml"
    refused = run_cli("kg", "import-junyi", "--out", target)
    assert refused.returncode == 2 and not target.exists()
    assert refused.stderr.count("problem:") == 3 and "--drop-edge proportions_1>proportions_1" in refused.stderr
    drops = [a for d in import_junyi().suggested_drops() for a in ("--drop-edge", d)]
    done = run_cli("kg", "import-junyi", "--out", target, *drops)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("dropped edge") == 3 and target.exists()
    again = run_cli("kg", "validate", target)
    assert again.returncode == 0 and "835 knowledge points" in again.stdout
