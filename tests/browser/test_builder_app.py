"""The model builder as researchers open it: voila_apps/model_builder.ipynb served by Voila on the demo school,
driven in headless Chromium — tick an indicator, move a weight, save; the YAML on disk has the change."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import yaml

from .harness import assert_clean, by_test_id, click, goto_app, screenshot, set_checkbox, set_slider, settle

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "voila_apps"


def _wait_file(path: Path, timeout: float = 60) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.stat().st_size:
            return path.read_text(encoding="utf-8")
        time.sleep(0.1)
    raise AssertionError(f"{path} was not written within {timeout} s")


def test_tick_move_save_in_the_browser(voila, page, prepared_demo, tmp_path):
    store = tmp_path / "store.duckdb"
    shutil.copy(prepared_demo["store"], store)
    models = tmp_path / "models"
    server = voila(APPS, env={"WORKBENCH_STORE": str(store), "WORKBENCH_MODELS": str(models)})

    seconds = goto_app(page, server.app_url("model_builder.ipynb", spec="whole_person"), "[data-test=mb-save]")
    print(f"\nmodel builder, first render (cold kernel): {seconds:.1f} s")
    assert "478 名学生" in page.locator(".wb-summary").inner_text()
    assert page.locator("[data-test=mb-dirty]").is_hidden()
    histogram = page.locator(".wb-histogram svg")
    assert histogram.count() == 1

    set_checkbox(by_test_id(page, "tick-acad_score_mean"))
    presses = set_slider(by_test_id(page, "weight-acad_score_z"), 4)
    assert presses == 2                                            # 3 → 4 in steps of 0.5
    settle(page)
    page.locator("[data-test=mb-dirty]").wait_for(state="visible")
    click(by_test_id(page, "mb-save"))
    text = _wait_file(models / "whole_person.yaml")
    doc = yaml.safe_load(text)
    academic = {i["id"]: i.get("weight", 1) for i in doc["dimensions"]["academic"]["indicators"]}
    assert academic["acad_score_mean"] == 1 and academic["acad_score_z"] == 4
    assert len(list((models / "history" / "whole_person").glob("*.yaml"))) == 1
    page.locator("[data-test=mb-dirty]").wait_for(state="hidden")
    page.locator(".wb-message", has_text="已保存").wait_for()
    screenshot(page, "model_builder")
    assert_clean(page)


def test_url_cannot_name_a_file(voila, page, prepared_demo, tmp_path):
    store = tmp_path / "store.duckdb"
    shutil.copy(prepared_demo["store"], store)
    server = voila(APPS, env={"WORKBENCH_STORE": str(store), "WORKBENCH_MODELS": str(tmp_path / "models")})
    goto_app(page, server.app_url("model_builder.ipynb", spec="../../etc/passwd", lang="en"), "[data-test=app-error]")
    message = page.locator("[data-test=app-error]").inner_text()
    assert "spec: '../../etc/passwd' is not one of" in message and "whole_person" in message
    assert page.locator("[data-test=mb-save]").count() == 0
    assert_clean(page)
