"""The repository's shape: dependencies in sync, the core free of widget imports, notebooks clean."""
from __future__ import annotations

import ast
import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"python-duckdb": "duckdb"}  # conda-forge name → PyPI name


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, req
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for reqs in project["optional-dependencies"].values() for r in reqs]
    wanted = dict(_split(r) for r in project["dependencies"] + extras)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    have: dict[str, str] = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for r in dep.get("pip", []):
                if not r.startswith("-e"):
                    name, spec = _split(r)
                    have[name] = spec
            continue
        name, spec = _split(dep)
        if name in ("python", "pip", "openjdk"):   # not Python packages: the interpreter, pip, Java for Spark
            continue
        have[CONDA_NAMES.get(name, name)] = spec
    assert have == wanted, f"environment.yml differs from pyproject.toml: {set(have.items()) ^ set(wanted.items())}"


def test_core_never_imports_widget_libraries():
    banned = {"ipywidgets", "ipyvuetify", "voila", "ipyvue", "bqplot", "plotly", "widgets"}
    offenders = []
    for path in (ROOT / "workbench").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in banned]
    assert not offenders, offenders


def test_notebooks_are_committed_without_outputs():
    dirty = []
    for nb_path in list((ROOT / "notebooks").rglob("*.ipynb")) + list((ROOT / "voila_apps").rglob("*.ipynb")):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        if any(c.get("outputs") or c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"):
            dirty.append(str(nb_path.relative_to(ROOT)))
    assert not dirty, f"clear outputs before committing: {dirty}"


def test_layout_and_entry_points():
    for d in ("workbench", "widgets", "notebooks", "knowledge_graphs", "voila_apps", "tests", "benchmarks"):
        assert (ROOT / d).is_dir(), d
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["workbench"] == "workbench.cli:main"
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index("make demo") < 600 and readme.index("make test") < 600, "README must open with the two commands"


def test_schema_reference_is_current():
    """docs/schema.md is generated from workbench/store/schema.py: regenerate with `workbench schema`."""
    from workbench.store.schema import schema_markdown
    assert (ROOT / "docs" / "schema.md").read_text(encoding="utf-8") == schema_markdown() + "\n"


def test_indicator_reference_is_current():
    """docs/indicators.md is generated from the catalogue: regenerate with `workbench indicators --markdown`."""
    from workbench.indicators import load_catalogue
    assert (ROOT / "docs" / "indicators.md").read_text(encoding="utf-8") == load_catalogue().markdown() + "\n"

