"""Pages in Debian's Chromium for the browser tests: launch the browser (offline), open a page that collects
what goes wrong (``PageLog``, ``assert_clean``), wait for a Voila page or JupyterLab to be ready, save
screenshots. Verified on the stack named in ``harness.py``.

Waiting for the page (wait_rendered)
------------------------------------
Voila streams the page while the kernel executes the cells server-side (``#loading`` spinner with
"Executing i of n"), then calls ``window.voila_finish()`` which removes ``#loading`` and un-hides
``#rendered_cells``; after that the front end loads the widget bundles and turns each
``<script type="application/vnd.voila.cell-output+json">`` into a rendered output. ``wait_rendered``
waits for: ``#loading`` gone, ``#rendered_cells`` shown, no such script left, ``readyState ==
"complete"`` — and then for the caller's selector to be visible (widget views mount asynchronously,
children after parents: pass the selector of the widget you need, ideally the last one built). It fails
fast, with the text, when a cell raised: Voila stops at the first failing cell and shows the traceback
(with ``show_tracebacks=True``, which ``start_voila`` sets by default) or "There was an error when
executing cell [n]" as a ``data-mime-type="application/vnd.jupyter.stderr"`` output. Use
``page.goto(url, wait_until="commit")`` (what ``goto_app`` does): the default ``"load"`` waits for the
whole notebook to execute under playwright's 30 s default.

Console noise and what ``assert_clean`` checks
----------------------------------------------
The browser is launched with ``--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE
127.0.0.1`` (without the 127.0.0.1 exclusion even the IP literal fails to resolve): nothing leaves the
machine, with or without a network, so runs are the same everywhere. Voila's ``lab`` template (and its
tree page) link Font Awesome CSS from ``cdn.jsdelivr.net``; those two requests fail and Chromium logs
"Failed to load resource: net::ERR_NAME_NOT_RESOLVED" as console *errors*. They are the only filtered
noise (``BENIGN_EXTERNAL_PREFIXES``); any other request off our origin is reported (an app must work
offline). Console *warnings* are not collected: Voila logs a dozen "Unsatisfied version … of shared
singleton module @jupyterlab/…" warnings on every page (harmless module-federation noise). There is no
favicon 404 (the template inlines ``data:`` icon). ``assert_clean`` also fails on stderr or error
outputs rendered in the page (a warning printed by a cell, a traceback), unless ``allow_stderr=True``.
"""
from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .timeouts import PLAYWRIGHT_TIMEOUT_MS, RENDER_TIMEOUT

ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"
CHROMIUM = Path("/usr/bin/chromium")

# The only console errors / failed requests treated as noise: Voila's lab template and tree page link
# Font Awesome from a CDN, which the browser is not allowed to reach (see this module's docstring).
BENIGN_EXTERNAL_PREFIXES = (
    "https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@",
    "https://cdn.jsdelivr.net/npm/font-awesome@",
)
CHROMIUM_ARGS = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",)


class BrowserMissing(RuntimeError):
    """``/usr/bin/chromium`` is not installed."""


# ---------------------------------------------------------------------------------------------- browser
def launch_browser(playwright: Any, *, headless: bool = True) -> Any:
    """Debian's Chromium through playwright (never a downloaded browser: ``playwright install`` cannot
    download here). Playwright adds ``--no-sandbox`` itself (``chromium_sandbox=False`` by default), which
    running as root needs."""
    if not CHROMIUM.exists():
        raise BrowserMissing(f"{CHROMIUM} not found: run `make system-deps` (installs Debian's chromium and "
                             f"fonts-noto-cjk); browser tests use the system Chromium, not `playwright install`")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=headless, args=list(CHROMIUM_ARGS))


# ---------------------------------------------------------------------------------------------- pages
@dataclass
class PageLog:
    """What a page reported; filled by the listeners ``open_page`` installs."""
    origin: str | None
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)   # own origin: status >= 400 or network failure
    external_requests: list[str] = field(default_factory=list)  # other origins (blocked), not benign
    websocket_errors: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)             # benign noise that was filtered, for the record

    def problems(self) -> list[str]:
        return ([f"console error: {m}" for m in self.console_errors] + [f"page error: {m}" for m in self.page_errors]
                + [f"failed request: {m}" for m in self.failed_requests]
                + [f"request off our origin: {m}" for m in self.external_requests]
                + [f"websocket error: {m}" for m in self.websocket_errors])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _benign(url: str) -> bool:
    return url.startswith(BENIGN_EXTERNAL_PREFIXES)


def page_log(page: Any) -> PageLog:
    """The ``PageLog`` of a page made by ``open_page``."""
    log = getattr(page, "_workbench_log", None)
    if log is None:
        raise ValueError("this page was not made by harness.open_page, so nothing was collected")
    return log


def open_page(browser: Any, url: str | None = None, *, origin: str | None = None,
              viewport: Mapping[str, int] | None = None, locale: str | None = None) -> Any:
    """A new page in a fresh browser context (own cookies, so the token login does not leak between tests)
    with listeners collecting console errors, uncaught page errors, failed requests of our origin (status
    >= 400 or a network failure), requests to any other origin and websocket errors (see ``assert_clean``).
    The origin is that of ``url`` (or ``origin``, or the first page navigated to). With ``url`` it goes there
    with ``wait_until="commit"``; follow with ``wait_rendered``. Close with ``page.context.close()`` (the
    ``page`` fixture does)."""
    context = browser.new_context(viewport=dict(viewport or {"width": 1280, "height": 900}), locale=locale)
    context.set_default_timeout(PLAYWRIGHT_TIMEOUT_MS)
    page = context.new_page()
    log = PageLog(origin=_origin(origin or url) if (origin or url) else None)
    page._workbench_log = log

    def on_request(req: Any) -> None:   # no origin given: the first page navigated to sets it
        if log.origin is None and req.is_navigation_request() and req.url.startswith("http"):
            log.origin = _origin(req.url)

    def own(u: str) -> bool:
        return log.origin is not None and (u == log.origin or u.startswith(log.origin + "/"))

    def on_console(msg: Any) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        text = f"{msg.text} ({where})" if where else msg.text
        if msg.text.startswith("Failed to load resource") and _benign(where):
            log.ignored.append(text)
        else:
            log.console_errors.append(text)

    def on_request_failed(req: Any) -> None:
        text = f"{req.method} {req.url}: {req.failure}"
        if own(req.url):
            log.failed_requests.append(text)
        elif _benign(req.url):
            log.ignored.append(text)
        elif not req.url.startswith(("data:", "blob:")):
            log.external_requests.append(text)

    def on_response(resp: Any) -> None:
        if resp.status >= 400 and own(resp.url):
            log.failed_requests.append(f"{resp.request.method} {resp.url}: HTTP {resp.status}")

    def on_websocket(ws: Any) -> None:
        ws.on("socketerror", lambda err: log.websocket_errors.append(f"{ws.url}: {err}"))

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda err: log.page_errors.append(str(err)))
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)
    page.on("websocket", on_websocket)
    if url:
        page.goto(url, wait_until="commit")
    return page


def assert_clean(page: Any, *, allow_stderr: bool = False, ignore: Sequence[str] = ()) -> None:
    """Raise ``AssertionError`` listing every console error, uncaught page error, failed request of our
    origin, request off our origin and websocket error the page has seen (benign noise excepted, see
    ``BENIGN_EXTERNAL_PREFIXES``), and — unless ``allow_stderr`` — every stderr/error output shown in the
    page (a cell's warning or traceback). ``ignore``: regular expressions for problems this one test
    expects (say why in the test)."""
    problems = page_log(page).problems()
    if not allow_stderr and not page.is_closed():
        problems += [f"stderr output in the page: {t.strip()[:500]}" for t in page.evaluate(_STDERR_JS)]
    problems = [p for p in problems if not any(re.search(rx, p) for rx in ignore)]
    if problems:
        raise AssertionError(f"{len(problems)} problem(s) on {page.url}:\n  " + "\n  ".join(problems))


_STDERR_JS = """() => Array.from(document.querySelectorAll(
  '[data-mime-type="application/vnd.jupyter.stderr"], [data-mime-type="application/vnd.jupyter.error"]'))
  .map(e => e.innerText)"""

_RENDER_STATE_JS = """() => {
  const bad = Array.from(document.querySelectorAll(
      '[data-mime-type="application/vnd.jupyter.stderr"], [data-mime-type="application/vnd.jupyter.error"]'))
    .map(e => e.innerText)
    .find(t => /Traceback|There was an error when executing cell/.test(t));
  if (bad) return {error: bad};
  const widgetError = Array.from(document.querySelectorAll('.jupyter-widgets'))
    .map(e => e.innerText || '').find(t => t.startsWith('Error displaying widget'));
  if (widgetError) return {error: widgetError};
  const cells = document.getElementById('rendered_cells');
  const done = !document.getElementById('loading') && !!cells && cells.style.display !== 'none'
    && document.querySelectorAll('script[type="application/vnd.voila.cell-output+json"]').length === 0
    && document.readyState === 'complete';
  return done ? {done: true} : false;
}"""


def wait_rendered(page: Any, selector: str | None = None, timeout: float = RENDER_TIMEOUT) -> Any:
    """Wait until Voila has executed the notebook and rendered its outputs, then until ``selector`` (if
    given) is visible; returns ``page.locator(selector).first`` (or ``None``). Raises ``AssertionError``
    at once with the text when a cell failed, ``TimeoutError`` (with Voila's progress text) on timeout."""
    deadline = time.monotonic() + timeout
    try:
        handle = page.wait_for_function(_RENDER_STATE_JS, polling=100, timeout=timeout * 1000)
    except Exception as exc:  # playwright's TimeoutError
        progress = page.evaluate("() => (document.getElementById('loading_text') || {}).innerText || ''")
        raise TimeoutError(f"Voila page not rendered after {timeout:.0f} s (progress: {progress!r}): "
                           f"{page.url}") from exc
    state = handle.json_value()
    if "error" in state:
        raise AssertionError(f"the notebook failed in Voila ({page.url}):\n{state['error']}")
    if selector is None:
        return None
    locator = page.locator(selector).first
    locator.wait_for(state="visible", timeout=max(1.0, deadline - time.monotonic()) * 1000)
    return locator


def goto_app(page: Any, url: str, selector: str, timeout: float = RENDER_TIMEOUT) -> float:
    """``page.goto(url)`` then ``wait_rendered(page, selector)``; returns the seconds it took (first render)."""
    start = time.monotonic()
    page.goto(url, wait_until="commit", timeout=timeout * 1000)
    wait_rendered(page, selector, timeout=max(1.0, timeout - (time.monotonic() - start)))
    return time.monotonic() - start


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save ``tests/browser/_artifacts/<name>.png`` (kept after the run; git-ignored) and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^\w.-]+", "_", name) + ".png")
    page.screenshot(path=str(path), full_page=full_page)
    return path


# ---------------------------------------------------------------------------------------------- JupyterLab
def wait_lab_ready(page: Any, timeout: float = RENDER_TIMEOUT) -> None:
    """Wait until JupyterLab's shell is up: the splash is gone and the main dock panel is visible."""
    page.locator("#jp-main-dock-panel").wait_for(state="visible", timeout=timeout * 1000)
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=timeout * 1000)
