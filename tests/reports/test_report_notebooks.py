"""The report notebooks: their parameters are an API (pinned), they hold only calls, and executed by a real
kernel on the demo school they show every section without any identifier from the identity vault."""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import duckdb
import nbformat
import papermill as pm
import pytest

from workbench.reports import display_code
from workbench.store import open_store

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
TERM = "2026-2027-1"
PARAMETERS = {
    "class_report.ipynb": {"term": '"2026-2027-1"', "class_id": '"G7C1"', "spec": '"whole_person"', "store": '""',
                           "output_dir": '""', "lang": '"zh"'},
    "student_report.ipynb": {"term": '"2026-2027-1"', "student_key": '""', "spec": '"whole_person"', "store": '""',
                             "output_dir": '""', "lang": '"zh"'},
}


def _vault_values(store: Path) -> set[str]:
    """Names, national IDs, phones, school numbers and LMS accounts: every identifier the vault holds."""
    with duckdb.connect(str(store), read_only=True) as con:
        vals = {v for (v,) in con.execute("""
            SELECT unnest([name, name_norm, national_id, phone]) FROM identity_vault
            UNION SELECT source_id FROM identity_vault_ids""").fetchall() if v}
    return {v for v in vals if len(v) >= 2}


def _execute(name: str, out: Path, **parameters) -> nbformat.NotebookNode:
    return pm.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters, kernel_name="python3",
                               progress_bar=False, log_output=False, cwd=str(ROOT))


def _text(nb: nbformat.NotebookNode) -> str:
    return json.dumps(nb, ensure_ascii=False)


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_parameters_are_pinned(name):
    params = pm.inspect_notebook(str(NOTEBOOKS / name))
    assert {k: v["default"] for k, v in params.items()} == PARAMETERS[name]
    assert list(params) == list(PARAMETERS[name])


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_notebooks_hold_only_calls(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    for c in code:
        assert not c.outputs and c.execution_count is None
        tree = ast.parse(c.source)
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.Lambda)]
        if "parameters" not in c.metadata.get("tags", []):
            assert len(c.source.strip().splitlines()) <= 2, c.source
            assert all(isinstance(n, ast.Expr | ast.Assign | ast.ImportFrom | ast.Import) for n in tree.body)


@pytest.fixture(scope="module")
def executed(two_term_demo, tmp_path_factory):
    """Both notebooks on the prepared demo school with a previous term and an alert (so every section shows)."""
    out = tmp_path_factory.mktemp("executed")
    store = two_term_demo["store"]
    with duckdb.connect(str(store), read_only=True) as con:
        key = con.execute("SELECT min(student_key) FROM enrolments WHERE term_id = ? AND class_id = 'G7C1'", [TERM]).fetchone()[0]
    cls = _execute("class_report.ipynb", out / "G7C1.ipynb", term=TERM, class_id="G7C1", store=str(store),
                   output_dir=str(out / "files"))
    stu = _execute("student_report.ipynb", out / "student.ipynb", term=TERM, student_key=key, store=str(store),
                   output_dir=str(out / "files"))
    en = _execute("student_report.ipynb", out / "student_en.ipynb", term=TERM, student_key=key, store=str(store),
                  lang="en")
    return {"class": cls, "student": stu, "student_en": en, "key": key, "out": out, "store": store}


def test_reports_carry_no_identifier_from_the_vault(executed):
    vault = _vault_values(executed["store"])
    assert len(vault) > 1000
    files = [executed["out"] / n for n in ("G7C1.ipynb", "student.ipynb", "student_en.ipynb")]
    files += sorted((executed["out"] / "files").iterdir())
    assert len(files) == 5
    for f in files:
        text = f.read_text(encoding="utf-8")
        if f.suffix == ".ipynb":
            text += _text(nbformat.reads(text, as_version=4))       # and with every escape undone
        leaked = sorted(v for v in vault if v in text)
        assert not leaked, f"{f.name}: {leaked[:5]}"


def test_class_report_shows_every_section(executed):
    nb = executed["class"]
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    text = _text(nb)
    for heading in ("七年级(1)班 学情报告", "全面发展画像", "班级概况", "综合得分分布", "各维度：班级平均与年级平均", "学生分群",
                    "教学地图", "多数同学尚未掌握的知识点", "预警", "成绩连续三周下降", "成长轨迹", "学生卡片", "相对位置"):
        assert heading in text, heading
    assert text.count("<svg") >= 5                       # histogram, scatter, heatmap, chapters, growth
    with duckdb.connect(str(executed["store"]), read_only=True) as con:
        keys = [k for (k,) in con.execute("SELECT student_key FROM enrolments WHERE term_id = ? AND class_id = 'G7C1'",
                                          [TERM]).fetchall()]
    assert all(display_code(k) in text for k in keys)
    cards = executed["out"] / "files" / f"class_report_{TERM}_G7C1.csv"
    assert cards.read_text(encoding="utf-8-sig").count("S-") == len(keys)


def test_student_report_strengths_first(executed):
    nb = executed["student"]
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    text = _text(nb)
    code = display_code(executed["key"])
    assert f"学生成长报告 {code}" in text
    order = [text.index(h) for h in ("## 各维度得分", "## 亮点", "## 需要加强", "## 每周变化", "## 各章节掌握情况",
                                     "## 标签与画像解释", "## 成长轨迹")]
    assert order == sorted(order)
    assert text.count("<svg") >= 4                       # radar, trends, chapters, growth
    en = _text(executed["student_en"])
    assert "## Strengths" in en and "## What to work on" in en and "## Growth since last term" in en
    assert "## 亮点" not in en


def test_class_report_prepares_an_unprepared_store(demo_school, tmp_path):
    store = tmp_path / "store.duckdb"
    shutil.copy(demo_school["store"], store)
    with open_store(store, read_only=True) as s:
        assert s.count("profile_runs") == 0 and s.count("mastery") == 0
    nb = _execute("class_report.ipynb", tmp_path / "G8C4.ipynb", term=TERM, class_id="G8C4", store=str(store))
    assert "八年级(4)班 学情报告" in _text(nb)
    with open_store(store, read_only=True) as s:
        assert s.count("profile_runs", "term_id = ? AND spec_id = 'whole_person'", [TERM]) == 1
        assert s.count("mastery", "term_id = ?", [TERM]) > 0
