"""The harness on a tiny ipyvuetify app: every widget recipe drives the kernel's ``v_model``, the URL query
reaches the notebook (cold and preheated kernels), Voila refuses the notebook source and data files, the page
stays clean. Render times are printed (``pytest -s``)."""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from .harness import (assert_clean, by_test_id, click, fill_text, goto_app, screenshot, select_item, set_checkbox,
                     set_slider, wait_for_json, wait_lab_ready)

SOURCE_MARKER = "SOURCE-MARKER-7f3a"     # a comment in the notebook: must never reach the browser
DATA_MARKER = "DATA-MARKER-4711"         # a row of the data file beside the notebook

APP_CELL = '''
# {marker}
import json, os, sys
from urllib.parse import parse_qs

import ipyvuetify as v
from voila.utils import get_query_string

who = parse_qs(get_query_string() or "").get("who", [""])[0]
RESULT = {result!r}

agree = v.Checkbox(label="同意 agree", v_model=False, attributes={{"data-test": "agree"}})
weight = v.Slider(label="weight", min=0, max=10, step=0.5, v_model=1, thumb_label="always",
                  attributes={{"data-test": "weight"}})
subject = v.Select(label="科目 subject", items=["语文", "数学", "英语"], v_model="语文",
                   attributes={{"data-test": "subject"}})
note = v.TextField(label="备注 note", v_model="", attributes={{"data-test": "note"}})
save = v.Btn(children=["保存 save"], color="primary", attributes={{"data-test": "save"}})


def on_save(*_):
    values = {{"agree": agree.v_model, "weight": weight.v_model, "subject": subject.v_model, "note": note.v_model,
              "who": who, "kernelspec": os.environ.get("WORKBENCH_TEST_KERNELSPEC"), "python": sys.executable}}
    with open(RESULT + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(values, fh, ensure_ascii=False)
    os.replace(RESULT + ".tmp", RESULT)


save.on_event("click", on_save)
v.Container(children=[agree, weight, subject, note, save], attributes={{"data-test": "app"}})
'''


def write_app(site: Path, result: Path) -> Path:
    """``site/app.ipynb`` (outputs cleared, kernelspec python3) and a data file beside it."""
    site.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# Harness app"),
                nbformat.v4.new_code_cell(APP_CELL.format(marker=SOURCE_MARKER, result=str(result)))]
    path = site / "app.ipynb"
    nbformat.write(nb, path)
    (site / "scores.csv").write_text(f"student,score\n{DATA_MARKER},99\n", encoding="utf-8")
    return path


def test_widgets_drive_the_kernel(voila, page, tmp_path):
    result = tmp_path / "result.json"
    write_app(tmp_path / "site", result)
    server = voila(tmp_path / "site")

    seconds = goto_app(page, server.app_url("app.ipynb", who="alice"), "[data-test=save]")
    print(f"\nfirst render, cold kernel: {seconds:.1f} s")
    assert SOURCE_MARKER not in page.content()

    set_checkbox(by_test_id(page, "agree"))
    presses = set_slider(by_test_id(page, "weight"), 3.5)
    select_item(by_test_id(page, "subject"), "数学")
    fill_text(by_test_id(page, "note"), "张三 likes 数学\t!")
    click(by_test_id(page, "save"))

    assert presses == 5                  # step 0.5: one ArrowRight = one step, 1 → 3.5
    assert wait_for_json(result) == {
        "agree": True, "weight": 3.5, "subject": "数学", "note": "张三 likes 数学\t!", "who": "alice",
        "kernelspec": str(server.state_dir / "jupyter_path" / "kernels" / "python3"), "python": sys.executable}
    screenshot(page, "harness_widgets")
    assert_clean(page)

    # Voila serves the rendered app only: never the notebook's JSON nor a data file beside it.
    for path, query in [("voila/files/app.ipynb", {}), ("voila/files/scores.csv", {}), ("voila/render/scores.csv", {}),
                        ("voila/api/contents/app.ipynb", {"content": 1}), ("voila/api/contents/scores.csv", {}),
                        ("files/app.ipynb", {}), ("api/contents/app.ipynb", {}), ("app.ipynb", {})]:
        status, body = server.get(path, **query)
        text = body.decode("utf-8", "replace")
        assert SOURCE_MARKER not in text and DATA_MARKER not in text, path
        assert status in (403, 404) or (path.startswith("voila/api/contents/app") and '"content": null' in text), \
            (path, status, text[:200])


def test_preheated_kernel_reads_the_query(voila, page, tmp_path):
    """With ``--preheat_kernel=True`` the notebook starts before any request: ``get_query_string()`` must
    still give this request's query (``os.environ["QUERY_STRING"]`` alone would be empty)."""
    result = tmp_path / "result.json"
    write_app(tmp_path / "site", result)
    server = voila(tmp_path / "site", preheat=True)
    warmup = server.wait_preheated()
    print(f"\npreheated kernel pre-rendered {warmup:.1f} s after the server answered")

    seconds = goto_app(page, server.app_url("app.ipynb", who="bob"), "[data-test=save]")
    print(f"first render, preheated kernel: {seconds:.1f} s")
    fill_text(by_test_id(page, "note"), "preheated")
    click(by_test_id(page, "save"))
    values = wait_for_json(result)
    assert (values["who"], values["note"], values["agree"], values["weight"]) == ("bob", "preheated", False, 1)
    assert_clean(page)


def test_lab_starts(lab, page, tmp_path):
    """JupyterLab (the model builder's home) comes up with a clean console."""
    write_app(tmp_path / "root", tmp_path / "unused.json")
    server = lab(tmp_path / "root")
    page.goto(server.lab_url(), wait_until="commit")
    wait_lab_ready(page)
    page.get_by_text("app.ipynb").first.wait_for(state="visible")
    screenshot(page, "harness_lab")
    assert_clean(page)
