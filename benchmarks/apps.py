"""Apps benchmark: the class dashboard in headless Chromium, preheated kernel against a cold one.

Serves the class dashboard with Voila on the demo school (``make demo``'s store, else a demo school built into
``benchmarks/_work/``), a head teacher of G7C1 as the viewer (handed to the kernels as ``workbench serve``
hands it: a token signed with the server's secret), as ``workbench serve`` runs Voila (its template, kernel pool
settings: ``workbench.serve.launch.pool_args``) minus the login, and opens ``class_dashboard.ipynb?class=G7C1``
in Debian's Chromium. Cold: a kernel is started for the request. Preheated (``--preheat_kernel=True``): a kernel
has already run the app up to ``get_query_string()`` (imports, warm-up of charts and store) and waits for the
request. Two times per page load, each load in a fresh browser context (a first visit):

- **first paint**: the class's students table is on screen — the app's HTML copy, which the page shows as soon
  as the kernel has built it (``widgets/first_paint.py``), before Voila's scripts and widgets;
- **interactive**: the live widgets are drawn (the class select works).

Goal: preheated first paint ≤ 2 s. Median of ``--repeat`` loads; prints seconds and ratios, never asserts a timing.
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

from tests.browser.pages import RENDER_TIMEOUT, launch_browser, open_page, wait_rendered  # noqa: E402
from tests.browser.servers import start_voila  # noqa: E402
from workbench.privacy import Viewer  # noqa: E402
from workbench.privacy.viewer import ENV_SECRET, ENV_TOKEN  # noqa: E402
from workbench.serve.launch import TEMPLATE_ROOT, ServeOptions, pool_args  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"
GOAL = 2.0
SELECTOR = "[data-test=students]"           # the live app's students table
FIRST = "[data-test=first-students]"          # its copy in the first paint (widgets/first_paint.py)


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


def wait_refilled(server, filled_before: int, timeout: float = 120.0) -> None:
    """After a page took the preheated kernel: wait until Voila has started its replacement (one more "pool …
    is filled" line, ``refill_delay`` seconds later) and every kernel is idle (the new one has pre-run the app)."""
    deadline = time.monotonic() + timeout
    while server.log_text().count("is filled") <= filled_before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the kernel pool was not refilled:\n{server.log_tail()}")
        time.sleep(0.1)
    time.sleep(0.5)
    server.wait_preheated(kernels=max(1, len(server.kernel_pids())))


FIRST_PAINT_JS = """(sel) => [...document.querySelectorAll(sel)].some(e => e.checkVisibility())"""


def load(page, url: str) -> dict[str, float]:
    """Open ``url``; seconds until the students table is on screen (``first``: the first paint's copy or the live
    table, whichever comes first), until the live app is drawn (``live``) and until voila.js arrived (``server``)."""
    scripts: list[float] = []   # when the page's main script arrives: the server's part is done
    start = time.monotonic()
    page.on("response", lambda r: scripts.append(time.monotonic() - start)
            if r.url.split("?")[0].endswith("/voila.js") else None)
    page.goto(url, wait_until="commit", timeout=RENDER_TIMEOUT * 1000)
    page.wait_for_function(FIRST_PAINT_JS, arg=f"{FIRST}, {SELECTOR}", polling=50, timeout=RENDER_TIMEOUT * 1000)
    first = time.monotonic() - start
    wait_rendered(page, SELECTOR)
    live = time.monotonic() - start
    return {"first": first, "live": live, "server": scripts[0] if scripts else float("nan")}


def measure(browser, preheat: bool, repeat: int, env: dict) -> list[dict[str, float]]:
    """``repeat`` page loads, each in a fresh browser context (a first visit: every script downloaded and
    compiled); see :func:`load`."""
    site = WORK / "apps_site"                      # the class dashboard alone: a preheated pool of one kernel
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "voila_apps" / "class_dashboard.ipynb", site / "class_dashboard.ipynb")
    # as `workbench serve` runs it: the workbench template, kernels pooled and started the same way
    env = {**env, "JUPYTER_PATH": str(TEMPLATE_ROOT)}
    server = start_voila(site, env=env, preheat=preheat, log_dir=WORK / "apps_logs",
                         extra_args=["--VoilaConfiguration.template=workbench", *pool_args(ServeOptions().refill_delay)])
    url = server.app_url("class_dashboard.ipynb", **{"class": "G7C1"})
    try:
        runs, filled = [], 0
        for i in range(repeat):
            if preheat:
                server.wait_preheated() if i == 0 else wait_refilled(server, filled)
                filled = server.log_text().count("is filled")
            page = open_page(browser)
            try:
                runs.append(load(page, url))
            finally:
                page.context.close()
        return runs
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
            hot = measure(browser, True, args.repeat, env)
        finally:
            browser.close()

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    def each(runs, key):
        return ", ".join(f"{r[key]:.2f}" for r in runs)
    print(f"class dashboard in headless Chromium (demo school, G7C1, head teacher), median of {args.repeat} page loads, "
          f"each a first visit")
    print("  first paint = the students table on screen (the page's HTML copy); interactive = the live widgets drawn")
    for name, runs in (("cold kernel", cold), ("preheated kernel", hot)):
        print(f"  {name:17} first paint {med(runs, 'first'):5.2f} s ({each(runs, 'first')})   "
              f"interactive {med(runs, 'live'):5.2f} s ({each(runs, 'live')})")
    h, c = med(hot, "first"), med(cold, "first")
    print(f"  goal: preheated first paint ≤ {GOAL:.0f} s: {'met' if h <= GOAL else 'NOT met'} ({h:.2f} s)")
    print(f"  ratio preheated / cold = {h / c:.2f} (first paint), {med(hot, 'live') / med(cold, 'live'):.2f} (interactive)")
    print(f"  preheated: the server's part (kernel + Voila's page, until voila.js arrives) {med(hot, 'server'):.2f} s")


if __name__ == "__main__":
    main()
