"""The term run on the demo school: every class report executed by real kernels, HTML without code, the
index and the manifest; skipping when nothing changed; a class that fails fails alone; the reusing
engine and the per-notebook timeout; no identifier from the identity vault in any output."""
from __future__ import annotations

import base64
import json
import re
import shutil
import time

import nbformat
import papermill as pm
import pytest

from workbench.runs.engine import WorkbenchEngine
from workbench.reports.common import display_code
from workbench.runs.runner import CLASS_NB, NOTEBOOKS, execute_report, run_term
from workbench.store import open_store

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def term_run(demo_school, tmp_path_factory):
    root = tmp_path_factory.mktemp("term")
    store = root / "store.duckdb"
    shutil.copy(demo_school["store"], store)
    lines: list[str] = []
    first = run_term(store, TERM, jobs=2, out_dir=root / "out", echo=lines.append)
    stamps = {p: p.stat().st_mtime_ns for p in (root / "out" / "classes").iterdir()}
    manifest = json.loads((root / "out" / "manifest.json").read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    again = run_term(store, TERM, jobs=2, out_dir=root / "out", echo=lines.append)
    again_s = time.perf_counter() - t0
    return {"root": root, "store": store, "out": root / "out", "first": first, "again": again, "again_s": again_s,
            "stamps": stamps, "lines": lines,
            "manifest": manifest}


def _vault_values(store) -> set[str]:
    with open_store(store, read_only=True) as s:
        vals = {v for (v,) in s.con.execute("""
            SELECT unnest([name, name_norm, national_id, phone]) FROM identity_vault
            UNION SELECT source_id FROM identity_vault_ids UNION SELECT name FROM identity_vault_review""").fetchall() if v}
    return {v for v in vals if len(v) >= 2}


def _charts(page: str) -> list[str]:
    """nbconvert embeds SVG outputs as base64 <img>: the decoded SVG documents of a page."""
    return [base64.b64decode(b).decode("utf-8") for b in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", page)]


def test_every_class_reported_with_html_index_and_manifest(term_run):
    run, out = term_run["first"], term_run["out"]
    assert run.exit_code == 0 and [c.status for c in run.classes] == ["ok"] * 12
    assert {c.class_id for c in run.classes} == {f"G{g}C{i}" for g in (7, 8, 9) for i in (1, 2, 3, 4)}
    for c in run.classes:
        nb = nbformat.read(out / "classes" / f"{c.class_id}.ipynb", as_version=4)
        assert not any(o.get("output_type") == "error" for cell in nb.cells for o in cell.get("outputs", []))
        assert any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
        page = (out / "classes" / f"{c.class_id}.html").read_text(encoding="utf-8")
        assert c.name in page and len(_charts(page)) >= 2
        assert "ClassReport.open" not in page and "from workbench" not in page   # no code in the HTML
    index = (out / "index.html").read_text(encoding="utf-8")
    assert all(f'href="classes/{c.class_id}.html"' in index for c in run.classes)
    m = term_run["manifest"]
    assert m["term"] == TERM and m["spec"]["id"] == "whole_person" and len(m["spec"]["hash"]) >= 8
    assert {"papermill", "pandas", "duckdb", "profile-workbench"} <= set(m["packages"])
    assert set(m["notebooks"]) == {"class_report.ipynb", "student_report.ipynb", "sources"}
    assert len(m["data_fingerprint"]) == 64
    assert all(v["status"] == "ok" and v["seconds"] > 0 and v["students"] >= 10 for v in m["classes"].values())
    assert sorted(m["prepared"]) == [f"mastery {TERM}", f"profile {TERM}"]


def test_nothing_changed_skips_every_class_without_computing(term_run):
    again = term_run["again"]
    assert [c.status for c in again.classes] == ["skipped"] * 12 and again.exit_code == 0
    assert again.prepared == []
    assert {p: p.stat().st_mtime_ns for p in term_run["stamps"]} == term_run["stamps"]   # outputs untouched
    assert any("nothing changed" in line for line in term_run["lines"])
    print(f"second run with nothing changed: {term_run['again_s']:.2f} s")


def test_no_vault_identifier_in_any_output(term_run):
    vault = _vault_values(term_run["store"])
    assert len(vault) > 1000
    for p in term_run["out"].rglob("*"):
        if p.is_file():
            text = p.read_text(encoding="utf-8")
            text += "".join(_charts(text))
            leaked = [v for v in vault if v in text]
            assert not leaked, (p.name, leaked[:3])


def test_a_class_without_data_fails_alone(term_run, tmp_path, run_cli):
    store = tmp_path / "store.duckdb"
    shutil.copy(term_run["store"], store)
    out = tmp_path / "out"
    shutil.copytree(term_run["out"], out)
    with open_store(store) as s:                       # G7C3's data removed
        s.con.execute("DELETE FROM enrolments WHERE class_id = 'G7C3'")
        s.con.execute("DELETE FROM classes WHERE class_id = 'G7C3'")
    res = run_cli("run-term", "--term", TERM, "--store", store, "--out", out, "--classes", "G7C1,G7C3,G8C1",
                  "--lang", "en")
    assert res.returncode == 1, res.stdout + res.stderr
    lines = {line.split()[0]: line for line in res.stdout.splitlines() if line.startswith("G")}
    assert "failed" in lines["G7C3"] and "G7C3" in lines["G7C3"].split("!", 1)[1]
    assert all(" ok " in lines[c] or "skipped" in lines[c] for c in ("G7C1", "G8C1"))   # the others are fine
    assert "failed 1," in res.stdout
    nb = nbformat.read(out / "classes" / "G7C3.ipynb", as_version=4)   # kept with its error for inspection
    assert any(o.get("output_type") == "error" for cell in nb.cells for o in cell.get("outputs", []))
    assert not (out / "classes" / "G7C3.html").exists()
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["classes"]["G7C3"]["status"] == "failed" and m["classes"]["G7C2"]["status"] in ("ok", "skipped")
    # the next full run must not take the other classes' reports, built on the old data, as up to date
    full = run_term(store, TERM, jobs=2, out_dir=out)
    status = {c.class_id: c.status for c in full.classes}
    assert "G7C3" not in status and status["G7C2"] == "ok" and full.exit_code == 0
    assert "G7C3" not in json.loads((out / "manifest.json").read_text(encoding="utf-8"))["classes"]


def test_student_reports_one_per_student(term_run, tmp_path):
    out = tmp_path / "out"
    run = run_term(term_run["store"], TERM, classes=["G9C2"], jobs=2, student_reports=True, out_dir=out)
    with open_store(term_run["store"], read_only=True) as s:
        keys = [k for (k,) in s.con.execute("SELECT DISTINCT student_key FROM enrolments WHERE class_id = 'G9C2' "
                                            "AND term_id = ?", [TERM]).fetchall()]
    assert run.exit_code == 0 and run.classes[0].student_reports["ok"] == len(keys) >= 30
    pages = sorted(p.stem for p in (out / "students" / "G9C2").glob("*.html"))
    assert pages == sorted(display_code(k) for k in keys)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert all(f"students/G9C2/{code}.html" in index for code in pages)
    vault = _vault_values(term_run["store"])
    for p in (out / "students" / "G9C2").iterdir():
        text = p.read_text(encoding="utf-8")
        text += "".join(_charts(text))
        assert not [v for v in vault if v in text], p.name
    assert "<svg" in "".join(_charts((out / "students" / "G9C2" / f"{pages[0]}.html").read_text(encoding="utf-8")))


def _tiny_notebook(path, body: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("x = 1\nwait = 0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_engine_reuses_one_kernel_with_a_clean_namespace(tmp_path):
    nb = _tiny_notebook(tmp_path / "t.ipynb", "import time, os\nprint('leak' if 'y' in dir() else 'clean')\n"
                                              "y = x\ntime.sleep(wait)\nprint(os.getpid())")
    pids = []
    try:
        for i in range(3):
            res = pm.execute_notebook(str(nb), str(tmp_path / f"o{i}.ipynb"), parameters={"x": i},
                                      engine_name="workbench", kernel_name="python3", progress_bar=False)
            text = res.cells[-1].outputs[0]["text"].split()
            assert text[0] == "clean"
            pids.append(text[1])
            assert res.cells[-1].execution_count == 3          # counts restart: parameters, injected, this
        assert len(set(pids)) == 1 and WorkbenchEngine.notebooks_run == 3
    finally:
        WorkbenchEngine.shutdown()
    plain = pm.execute_notebook(str(nb), str(tmp_path / "plain.ipynb"), kernel_name="python3", progress_bar=False)
    assert plain.cells[-1].outputs[0]["text"].startswith("clean")


def test_per_notebook_timeout(tmp_path):
    nb = _tiny_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(wait)")
    task = {"id": ("class", "X"), "input": str(nb), "output": str(tmp_path / "slow_out.ipynb"),
            "html": str(tmp_path / "slow_out.html"), "parameters": {"wait": 60}, "timeout": 3, "title": "slow"}
    try:
        res = execute_report(task)
        assert res["status"] == "failed" and "timed out after 3 s" in res["error"] and res["seconds"] < 30
        assert not (tmp_path / "slow_out.html").exists() and (tmp_path / "slow_out.ipynb").exists()
        ok = execute_report(task | {"parameters": {"wait": 0}, "output": str(tmp_path / "fast.ipynb"),
                                    "html": str(tmp_path / "fast.html")})
        assert ok["status"] == "ok" and (tmp_path / "fast.html").exists()     # the kernel survived the interrupt
    finally:
        WorkbenchEngine.shutdown()


def test_class_notebook_runs_with_plain_papermill(term_run, tmp_path):
    out = pm.execute_notebook(str(NOTEBOOKS / CLASS_NB), str(tmp_path / "out.ipynb"), kernel_name="python3",
                              parameters={"class_id": "G8C2", "term": TERM, "store": str(term_run["store"])},
                              progress_bar=False)
    assert not any(o.get("output_type") == "error" for cell in out.cells for o in cell.get("outputs", []))


def test_runners_on_disjoint_shards_share_one_manifest(term_run, tmp_path):
    """Two runner processes started together, each `--shard i/2` of four classes, into one output folder: the
    term is prepared once, every class runs exactly once, and the one manifest and index hold all four."""
    import os
    import subprocess
    import sys

    from workbench.runs.runner import shard_classes
    store = tmp_path / "store.duckdb"
    shutil.copy(term_run["store"], store)
    out = tmp_path / "out"
    classes = ["G7C1", "G7C2", "G8C1", "G9C4"]
    parts = [shard_classes(classes, (i, 2)) for i in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(classes) and all(parts)
    env = os.environ | {"PYTHONPATH": str(NOTEBOOKS.parent)}
    procs = [subprocess.Popen([sys.executable, "-m", "workbench.cli", "run-term", "--term", TERM, "--store", str(store),
                               "--out", str(out), "--classes", ",".join(classes), "--shard", f"{i}/2", "--jobs", "1",
                               "--lang", "en"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
             for i in range(2)]
    logs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs
    assert sum("preparing profile and mastery" in log for log in logs) == 1        # one runner prepared the term
    assert sum("prepared by another runner" in log for log in logs) == 1
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(m["classes"]) == sorted(classes) and {v["status"] for v in m["classes"].values()} == {"ok"}
    for i, part in enumerate(parts):                                               # each class ran in its shard only
        ran = {line.split()[0] for line in logs[i].splitlines() if line.startswith("G") and " ok " in line}
        assert ran == set(part), logs[i]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert all(f"classes/{c}.html" in index and (out / "classes" / f"{c}.html").exists() for c in classes)
    bad = subprocess.run([sys.executable, "-m", "workbench.cli", "run-term", "--term", TERM, "--store", str(store),
                          "--out", str(out), "--shard", "2/2"], capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "shard 2/2" in bad.stderr
