"""notebooks/model_builder.ipynb: parameters pinned, only calls, and executed by a real kernel on the demo school
it displays the builder and the knowledge-graph view without any identifier from the identity vault."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import duckdb
import nbformat
import papermill as pm

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "model_builder.ipynb"
PARAMETERS = {"term": '"2026-2027-1"', "spec": '"whole_person"', "store": '""', "models_dir": '""',
              "class_id": '"G7C1"', "graph": '"math_junior"', "lang": '"zh"'}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def test_parameters_are_pinned():
    params = pm.inspect_notebook(str(NOTEBOOK))
    assert {k: v["default"] for k, v in params.items()} == PARAMETERS
    assert list(params) == list(PARAMETERS)


def test_notebook_holds_only_calls():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    for c in code:
        assert not c.outputs and c.execution_count is None
        tree = ast.parse(c.source)
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda)]
        assert all(isinstance(n, ast.Expr | ast.Assign | ast.ImportFrom | ast.Import) for n in tree.body)


def test_executes_on_the_demo_school(prepared_demo, tmp_path):
    store = prepared_demo["store"]
    out = tmp_path / "builder.ipynb"
    nb = pm.execute_notebook(str(NOTEBOOK), str(out), parameters={"store": str(store), "models_dir": str(tmp_path / "m"),
                                                                  "class_id": "G8C2"},
                             kernel_name="python3", progress_bar=False, log_output=False, cwd=str(ROOT))
    views = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if o.get("output_type") == "execute_result" and WIDGET_MIME in o.get("data", {})]
    assert len(views) == 2                                            # the builder and the graph view
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = json.dumps(nb, ensure_ascii=False)
    with duckdb.connect(str(store), read_only=True) as con:
        vault = {v for (v,) in con.execute("SELECT unnest([name, national_id, phone]) FROM identity_vault").fetchall() if v}
    assert not [v for v in vault if len(v) >= 2 and v in text]
