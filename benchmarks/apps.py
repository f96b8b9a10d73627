"""Apps benchmark: first render of the class dashboard in headless Chromium, preheated kernel against a cold one.

Serves ``voila_apps/`` with Voila on the demo school (``make demo``'s store, else a demo school built into
``benchmarks/_work/``), a head teacher of G7C1 as the viewer (handed to the kernels as ``workbench serve``
hands it: a token signed with the server's secret), and opens ``class_dashboard.ipynb?class=G7C1`` in Debian's
Chromium until the class list is on the page. Cold: a kernel is started for the request. Preheated
(``--preheat_kernel=True``): a kernel has already run the app up to ``get_query_string()`` (imports, warm-up of
charts and store) and waits for the request. Median of ``--repeat`` page loads each (a fresh page each time).
Goal: preheated ≤ 2 s.

Prints seconds and the ratio; never asserts a timing.
Run: ``make bench`` or ``.venv/bin/python benchmarks/apps.py [--repeat 3]``.
"""
from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.pages import goto_app, launch_browser, open_page  # noqa: E402
from tests.browser.servers import start_voila  # noqa: E402
from workbench.privacy import Viewer  # noqa: E402
from workbench.privacy.viewer import ENV_SECRET, ENV_TOKEN  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"
GOAL = 2.0
SELECTOR = "[data-test=students]"


def demo_store() -> Path:
    store = ROOT / "data" / "workbench.duckdb"
    if store.exists():
        return store
    from workbench.demo_run import run_demo
    from workbench.runs import prepare_term
    store = WORK / "apps_demo.duckdb"
    if not store.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        run_demo(students=480, seed=20260901, weeks=18, store_path=store, demo_dir=WORK / "apps_demo", fresh=True,
                 ingest=True, echo=lambda s: None)
        prepare_term(store, "2026-2027-1")
    return store


def measure(browser, preheat: bool, repeat: int, env: dict, server_part: list[float] | None = None) -> list[float]:
    site = WORK / "apps_site"                      # the class dashboard alone: a preheated pool of one kernel
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "voila_apps" / "class_dashboard.ipynb", site / "class_dashboard.ipynb")
    server = start_voila(site, env=env, preheat=preheat, log_dir=WORK / "apps_logs")
    try:
        times = []
        for _ in range(repeat):
            if preheat:
                server.wait_preheated()
            page = open_page(browser)
            scripts: list[float] = []   # when the page's main script arrives: the server's part is done
            start = time.monotonic()
            page.on("response", lambda r: scripts.append(time.monotonic() - start)
                    if r.url.split("?")[0].endswith("/voila.js") else None)
            try:
                times.append(goto_app(page, server.app_url("class_dashboard.ipynb", **{"class": "G7C1"}), SELECTOR))
                if server_part is not None and scripts:
                    server_part.append(scripts[0])
            finally:
                page.context.close()
        return times
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    work_store = WORK / "apps_store.duckdb"
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo_store(), work_store)
    secret = secrets.token_bytes(32)
    env = {"WORKBENCH_STORE": str(work_store), "WORKBENCH_AUDIT": str(WORK / "apps_audit.jsonl"),
           ENV_SECRET: secret.hex(), ENV_TOKEN: Viewer("li_t", "head_teacher", classes=("G7C1",)).token(secret)}
    with sync_playwright() as pw:
        browser = launch_browser(pw)
        try:
            cold = measure(browser, False, args.repeat, env)
            server_part: list[float] = []
            hot = measure(browser, True, args.repeat, env, server_part)
        finally:
            browser.close()
    c, h = statistics.median(cold), statistics.median(hot)
    print("class dashboard, first render in headless Chromium (demo school, G7C1, head teacher)")
    print(f"  cold kernel      {c:6.2f} s   ({', '.join(f'{x:.2f}' for x in cold)})")
    print(f"  preheated kernel {h:6.2f} s   ({', '.join(f'{x:.2f}' for x in hot)})   goal ≤ {GOAL:.0f} s: "
          f"{'met' if h <= GOAL else 'NOT met'}")
    print(f"  ratio preheated / cold = {h / c:.2f}")
    if server_part:  # where the preheated time goes: until the page's script is sent, then the browser
        sv = statistics.median(server_part)
        print(f"  preheated: server (kernel + Voila's page, until voila.js arrives) {sv:.2f} s, "
              f"browser (bundles, widgets, drawing) {h - sv:.2f} s (medians)")


if __name__ == "__main__":
    main()
