"""Browser-test harness for the Voila apps (and JupyterLab): servers, pages, waits, widget drivers.

This module is the stable import point (``from .harness import ...``); the code and its recipes live in
the modules below. Everything in their docstrings was verified on this stack by trying it: voila 0.5.13,
ipyvuetify 3.1.0 (its bundle carries Vuetify 3.12.9), ipywidgets 8.1, jupyter_server 2.21, playwright 1.65
(Python, sync API) driving Debian's ``/usr/bin/chromium`` headless. Fixtures live in
``tests/browser/conftest.py``; ``tests/browser/test_harness.py`` is the worked example that uses every recipe.

Quick start
-----------
::

    from .harness import by_test_id, click, fill_text, goto_app, select_item, set_checkbox, set_slider, ...

    def test_app(voila, page, tmp_path):                        # fixtures: tests/browser/conftest.py
        server = voila(REPO / "voila_apps")                      # free port, random token, log file
        seconds = goto_app(page, server.app_url("class_dashboard.ipynb", cls="G7C1"), "[data-test=save]")
        set_checkbox(by_test_id(page, "agree"))
        set_slider(by_test_id(page, "weight"), 3.5)
        select_item(by_test_id(page, "subject"), "数学")
        fill_text(by_test_id(page, "note"), "张三")
        click(by_test_id(page, "save"))
        assert wait_for_json(tmp_path / "saved.json") == {...}
        screenshot(page, "class_dashboard")                     # tests/browser/_artifacts/class_dashboard.png
        assert_clean(page)                                      # console errors, page errors, failed requests

Timeouts in the harness are in **seconds** (playwright's own API is in milliseconds; the helpers convert);
the defaults are in ``timeouts.py``.

API
---
- servers (``servers.py``): ``start_voila(notebook_dir, *, env=None, preheat=False, extra_args=(),
  show_tracebacks=True, log_dir=None, timeout=90) -> VoilaServer`` and ``start_lab(root_dir, *, env=None,
  extra_args=(), ...) -> LabServer`` (fixtures ``voila`` / ``lab`` wrap them and stop them at teardown). A
  server has ``url``, ``token``, ``proc``, ``log_path``, ``root``, ``state_dir``; ``log_tail()``,
  ``wait_log(regex)``, ``get(path, **query) -> (status, body)`` (token sent as a header), ``stop()``;
  ``VoilaServer.app_url(nb, **query)``, ``wait_preheated()``, ``kernel_pids()``; ``LabServer.lab_url(path="")``.
- pages (``pages.py``): ``launch_browser(playwright)``, ``open_page(browser, url=None) -> Page`` (fixtures
  ``browser``, ``page``, ``new_page``), ``page_log(page) -> PageLog``, ``assert_clean(page, *,
  allow_stderr=False, ignore=())``, ``wait_rendered(page, selector=None, timeout=180)``, ``goto_app(page, url,
  selector) -> seconds``, ``screenshot(page, name) -> Path``, ``wait_lab_ready(page)``.
- widgets (Voila, ``drive.py``): ``by_test_id(scope, id)``, ``set_checkbox(w, checked=True)``,
  ``set_slider(w, value) -> presses``, ``select_item(w, text)``, ``fill_text(w, text)``, ``click(w)``,
  ``settle(page)``, ``wait_for_json(path)``.

Recipes (verified; each in the docstring of the module it is about)
--------------------------------------------------------------------
- ``drive.py``: locating widgets (f), driving widgets (a–e: Checkbox, Slider, Btn, Select,
  TextField/Textarea), why ``settle`` matters under load.
- ``pages.py``: waiting for a Voila page (``wait_rendered``), console noise and what ``assert_clean`` checks.
- ``servers.py``: query parameters in a notebook (g), serving one directory (h), token, deterministic
  kernelspec, normal server log lines, preheated kernels and measured render times.
- ``procs.py``: free ports and ``/proc`` lookups of a server's kernels; ``timeouts.py``: the default timeouts.

Layout note
-----------
``tests/browser`` is a package (``__init__.py``; the other test folders are not): pytest imports every
``conftest.py`` outside a package as the module ``conftest``, and ``tests/browser`` sorts before
``tests/conftest.py`` and ``tests/ingest``, so without it the doctest collection of ``tests/conftest.py``
fails ("import file mismatch") and ``from conftest import OULAD_FILES`` in ``tests/ingest`` gets this
folder's conftest. Test modules here import helpers relatively: ``from .harness import ...``.
"""
from __future__ import annotations

from .drive import by_test_id, click, fill_text, select_item, set_checkbox, set_slider, settle, wait_for_json
from .pages import (ARTIFACTS, BENIGN_EXTERNAL_PREFIXES, CHROMIUM, CHROMIUM_ARGS, BrowserMissing, PageLog,
                    assert_clean, goto_app, launch_browser, open_page, page_log, screenshot, wait_lab_ready,
                    wait_rendered)
from .procs import free_port
from .servers import (REPO_ROOT, LabServer, Server, VoilaServer, server_env, start_lab, start_voila,
                      write_kernelspec)
from .timeouts import ACTION_TIMEOUT, PLAYWRIGHT_TIMEOUT_MS, RENDER_TIMEOUT, SERVER_START_TIMEOUT

__all__ = ["ACTION_TIMEOUT", "ARTIFACTS", "BENIGN_EXTERNAL_PREFIXES", "BrowserMissing", "CHROMIUM",
           "CHROMIUM_ARGS", "LabServer", "PLAYWRIGHT_TIMEOUT_MS", "PageLog", "RENDER_TIMEOUT", "REPO_ROOT",
           "SERVER_START_TIMEOUT", "Server", "VoilaServer", "assert_clean", "by_test_id", "click", "fill_text",
           "free_port", "goto_app", "launch_browser", "open_page", "page_log", "screenshot", "select_item",
           "server_env", "set_checkbox", "set_slider", "settle", "start_lab", "start_voila", "wait_for_json",
           "wait_lab_ready", "wait_rendered", "write_kernelspec"]
