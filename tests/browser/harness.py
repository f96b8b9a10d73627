"""Browser-test harness for the Voila apps (and JupyterLab): servers, pages, waits, widget drivers.

Everything below was verified on this stack by trying it: voila 0.5.13, ipyvuetify 3.1.0 (its bundle
carries Vuetify 3.12.9), ipywidgets 8.1, jupyter_server 2.21, playwright 1.65 (Python, sync API)
driving Debian's ``/usr/bin/chromium`` headless. Fixtures live in ``tests/browser/conftest.py``;
``tests/browser/test_harness.py`` is the worked example that uses every recipe.

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

Timeouts in this module are in **seconds** (playwright's own API is in milliseconds; the helpers convert).

API
---
- servers: ``start_voila(notebook_dir, *, env=None, preheat=False, extra_args=(), show_tracebacks=True,
  log_dir=None, timeout=90) -> VoilaServer`` and ``start_lab(root_dir, *, env=None, extra_args=(), ...)
  -> LabServer`` (fixtures ``voila`` / ``lab`` wrap them and stop them at teardown). A server has
  ``url``, ``token``, ``proc``, ``log_path``, ``root``, ``state_dir``; ``log_tail()``, ``wait_log(regex)``,
  ``get(path, **query) -> (status, body)`` (token sent as a header), ``stop()``; ``VoilaServer.app_url(nb,
  **query)``, ``wait_preheated()``, ``kernel_pids()``; ``LabServer.lab_url(path="")``.
- pages: ``launch_browser(playwright)``, ``open_page(browser, url=None) -> Page`` (fixtures ``browser``,
  ``page``, ``new_page``), ``page_log(page) -> PageLog``, ``assert_clean(page, *, allow_stderr=False,
  ignore=())``, ``wait_rendered(page, selector=None, timeout=180)``, ``goto_app(page, url, selector) ->
  seconds``, ``screenshot(page, name) -> Path``, ``wait_lab_ready(page)``.
- widgets (Voila): ``by_test_id(scope, id)``, ``set_checkbox(w, checked=True)``, ``set_slider(w, value) ->
  presses``, ``select_item(w, text)``, ``fill_text(w, text)``, ``click(w)``, ``settle(page)``,
  ``wait_for_json(path)``.

Locating widgets (f)
--------------------
Give every widget a test is going to touch ``attributes={"data-test": "name"}`` and find it with
``by_test_id(page, "name")`` (= ``page.locator('[data-test="name"]')``).

- ``attributes={"data-test": ...}`` and ``class_="..."`` both land on the component's **root** element
  (``div.v-input`` for Checkbox/Slider/Select/TextField/Textarea, ``button.v-btn`` for Btn). Vuetify 3 does
  this on purpose (vuetifyjs/vuetify#16276, #7295: attributes go to the root so you select the inner parts
  with a compound selector); so the recipes below go from the root to the inner control.
- ``attributes={"id": ...}`` is *not* a root locator: for inputs Vuetify 3 takes ``id`` as a prop and puts it
  on the inner ``<input>`` (checkbox: ``<input id=... type=checkbox>``, and the messages div becomes
  ``<id>-messages``). Prefer ``data-test``; ``class_`` works too but mixes styling with testing.
- Menus (Select options) are teleported to ``.v-overlay-container`` at the end of ``<body>``, outside the
  widget's root: find options on the page (``page.get_by_role("option", name=...)``), not inside the widget.

Driving widgets (a–e)
---------------------
Each driver below ends with ``settle(page)``: it waits until the ipywidgets front end has no unsent or
unacknowledged state (see "Why settle" below), so the kernel has the new ``v_model`` when it returns.

(a) ``v.Checkbox``: ``widget.locator("input[type=checkbox]").set_checked(True)`` (playwright clicks the
    real, transparent input and verifies it became checked). ``v_model`` becomes ``True``.
    → ``set_checkbox(widget, True)``.
(b) ``v.Slider``: the thumb is ``widget.locator("[role=slider]")`` (``tabindex=0``, ``aria-valuenow``,
    ``aria-valuemin``, ``aria-valuemax``). ``thumb.press("ArrowRight")`` / ``"ArrowLeft"`` (``press``
    focuses it first) moves **one step**: with ``step=0.5`` the Python ``v_model`` goes 2 → 2.5 → 3.0 ….
    Other keys (Vuetify 3.12 ``VSlider``), each checked in the kernel with step 0.5 on 0–10:
    ``Control+ArrowRight`` = 2 steps, ``Shift+ArrowRight`` = 3 steps, ``PageUp``/``PageDown`` = 10 steps,
    ``Home``/``End`` = min/max, ``ArrowUp``/``ArrowDown`` = right/left. (From the bundle's code, not
    tried: with ``step=0`` Ctrl/Shift are 5/10 × 0.1, and PageUp is a tenth of the range past 100
    steps.) Values arrive in Python as JSON numbers: integral ones as ``int`` (``4``, not ``4.0``), so
    compare with ``==``.
    → ``set_slider(widget, 3.5)`` presses arrows until ``aria-valuenow`` equals the target (it needs no
    knowledge of ``step``; it fails if the target is not on the step grid) and returns the press count.
(c) ``v.Btn``: ``widget.click()`` (the root *is* the ``<button>``). ``on_event("click", fn)`` runs
    ``fn`` in the kernel; wait for its effect (a file: ``wait_for_json``; a DOM change: a locator wait),
    never with a sleep. → ``click(widget)``.
(d) ``v.Select``: click the field, ``widget.locator(".v-field").click()``; the menu opens with items as
    ``[role=option]`` (in ``.v-overlay-container``); ``page.get_by_role("option", name=text, exact=True)
    .click()``; the menu closes and ``.v-select__selection-text`` shows the text. ``v_model`` becomes the
    item's value (for plain string items, the string). → ``select_item(widget, "数学")``.
(e) ``v.TextField`` / ``v.Textarea``: ``widget.locator("input")`` / ``widget.locator("textarea")`` then
    ``.fill(text)``. Vuetify updates ``modelValue`` on every ``input`` event and ipyvuetify syncs it, so
    ``v_model`` is the full text right after (no blur / Enter needed; CJK and newlines arrive intact).
    → ``fill_text(widget, text)``.

Why settle (important under load)
    ipywidgets throttles state sync per model: while one update of a model is unacknowledged by the
    kernel (``model._pending_msgs >= 1``), further updates are merged into ``model._msg_buffer`` and only
    sent when the kernel reports idle. Custom messages (ipyvuetify events such as a Btn click) are sent
    at once. So "press ArrowRight 5 times, click Save" can deliver the click *before* the last slider
    value on a busy machine. ``settle(page)`` polls ``window.jupyterapp.widgetManager`` (Voila exposes
    its app there) until every model has ``_pending_msgs == 0`` and no ``_msg_buffer`` and the kernel
    is idle. (``_expectedEchoMsgIds`` is no use: ipyvuetify's ``ThemeModel`` keeps one forever.)
    Seen here: 8 ArrowRight key events 20 ms apart, then a click at once — the click handler read 4.5
    instead of 5, 4 instead of 5 and 1.5 instead of 1 in 3 of 5 trials; with ``settle`` first, 8 of 8 right.
    (Playwright's own ``press`` calls are slow enough that it rarely shows — until the machine is busy.)

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

Query parameters in a notebook (g)
----------------------------------
Use ``voila.utils.get_query_string()`` (returns the raw string; parse with ``urllib.parse.parse_qs``).
It works with and without ``--preheat_kernel=True``:

- cold kernel: Voila starts the kernel *for* the request with ``QUERY_STRING``, ``SCRIPT_NAME``,
  ``SERVER_NAME``, ``SERVER_PORT`` … (CGI style) and ``VOILA_REQUEST_URL`` in its environment, so
  ``os.environ["QUERY_STRING"]`` is there from the first cell; ``get_query_string()`` returns it at once.
- preheated kernel: the notebook runs before any request; ``os.environ`` has **no** ``QUERY_STRING``.
  ``get_query_string()`` blocks (in the pre-render) until a request takes the kernel, fetches the request
  info over the ``/voila/query/<kernel_id>`` websocket, puts it into ``os.environ`` and returns it. Cells
  before that call are pre-rendered; cells after it run per request.
  ``VOILA_REQUEST_URL`` is **wrong** in preheat mode: it holds the URL of the *previous* request (the one
  that made Voila refill the pool) — never use it.
- The query string includes the Voila ``token=...`` when the URL carried it: parse out only the keys you
  need and never echo the whole string.

Serving one directory (h)
-------------------------
``voila DIR`` (what ``start_voila`` runs) serves ``DIR`` only: ``/`` and ``/voila/tree/...`` list the
notebooks and folders in it; ``/voila/render/<path>.ipynb`` runs a notebook (cell sources are stripped,
``strip_sources=True`` by default). What it refuses (checked): ``/voila/files/<x>.ipynb`` → 403
(``file_denylist`` = ``.ipynb``/``.py``); any other file under ``/voila/files/`` → 403 unless it matches
``file_allowlist`` (default: ``.png/.jpg/.gif/.svg`` only — so a ``.csv``/``.json`` next to a notebook is
not served); ``/voila/render/<data file>`` → 302 to ``/voila/files/...`` → 403; ``/voila/api/contents``
lists notebooks and folders only, with ``content: null`` (a data file there is "does not exist");
``/api/contents``, ``/api/kernels``, ``/files/...`` → 404; ``..`` escapes → 404; hidden files → 404.
``voila FILE.ipynb`` serves that one notebook at ``/`` and nothing else to browse.

Token
-----
``--Voila.token=<t>`` (verified; ``--token=<t>`` is an alias of it, while a bare ``--token`` means
``--Voila.auto_token=True``). A request without the token is redirected (302) to a login page; with
``?token=<t>`` it is served and a login cookie is set (each ``open_page`` uses a fresh browser context).
Header ``Authorization: token <t>`` works too (``Server.get`` uses it, so it survives redirects).

Kernelspec (deterministic)
--------------------------
Voila starts the kernel named in the notebook's metadata (``python3``), looked up along
``jupyter_path("kernels")``: ``$JUPYTER_PATH`` first, then — jupyter_core 5 —
``sys.prefix/share/jupyter`` before the user dir (``~/.local/share/jupyter`` / ``$JUPYTER_DATA_DIR``)
when running in a venv, the other way round outside one or with ``JUPYTER_PREFER_ENV_PATH=0`` (checked:
then a user ``python3`` spec wins). The venv's own spec says ``argv: ["python", ...]``, which
jupyter_client replaces by the *server's* ``sys.executable``. So the kernel is the venv's only by a
chain of defaults; ``start_voila`` / ``start_lab`` therefore write a ``python3`` kernelspec into a
private folder placed first on ``JUPYTER_PATH``, with ``argv[0] = sys.executable`` (the venv's Python)
and ``env: {"WORKBENCH_TEST_KERNELSPEC": <its path>}`` so a notebook can prove which one ran. They also
point ``JUPYTER_CONFIG_DIR``, ``JUPYTER_DATA_DIR``, ``JUPYTER_RUNTIME_DIR`` and ``IPYTHONDIR`` at
private folders (no user config, startup files or extensions leak in) and put the repository root first
on ``PYTHONPATH`` (the kernel inherits the server's environment, so ``workbench`` is imported from this
checkout, and ``WORKBENCH_STORE`` / ``WORKBENCH_KEY`` pass through when set). Notebooks must say
``"kernelspec": {"name": "python3", ...}``.

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

Server logs
-----------
Normal lines in every Voila log (not failures): "Notebook X is not trusted", "[IPKernelApp] WARNING |
Kernel is running over TCP without encryption" (ipykernel 7; worth an IPC transport in ``workbench
serve``), "websocket_ping_timeout (90000) cannot be longer than …", and "Using /tmp to store connection
files" (Voila ignores ``JUPYTER_RUNTIME_DIR`` for them). On a failed test the conftest appends each
server's log tail and each open page's collected problems (plus a ``<test>-failure.png``) to the report.

Preheated kernels
-----------------
``start_voila(dir, preheat=True)`` keeps one kernel per notebook that executes the notebook before any
request (up to a ``get_query_string()`` call, which blocks until a request takes the kernel). Voila's
log line "Kernel pool of X is filled" comes as soon as the kernel *process* starts, seconds before the
pre-render is done, and a request in between waits for it (measured: 20 s instead of 3 s). Use
``server.wait_preheated()`` (kernel CPU went quiet, see its docstring) before timing a preheated render.
Put slow imports and data loading *before* the ``get_query_string()`` cell so they are pre-rendered.

Timings measured here (2 cores, load average 3–5 from other jobs, six runs of ``test_harness.py``): cold
first render of its one-cell ipyvuetify app 11.7–21.2 s (kernel start + ``import ipyvuetify`` + front-end
bundles); with ``--preheat_kernel=True`` after ``wait_preheated()`` (which itself took 11–17 s) 2.6–6.0 s.
The harness test prints its numbers (``-s``).

Layout note
-----------
``tests/browser`` is a package (``__init__.py``; the other test folders are not): pytest imports every
``conftest.py`` outside a package as the module ``conftest``, and ``tests/browser`` sorts before
``tests/conftest.py`` and ``tests/ingest``, so without it the doctest collection of ``tests/conftest.py``
fails ("import file mismatch") and ``from conftest import OULAD_FILES`` in ``tests/ingest`` gets this
folder's conftest. Test modules here import helpers relatively: ``from .harness import ...``.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from playwright.sync_api import expect

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "_artifacts"
CHROMIUM = Path("/usr/bin/chromium")

SERVER_START_TIMEOUT = 90.0   # seconds for a server to answer HTTP
RENDER_TIMEOUT = 180.0        # seconds for a notebook to execute and its widgets to show (cold, busy machine)
ACTION_TIMEOUT = 30.0         # seconds for one widget action / kernel round trip
PLAYWRIGHT_TIMEOUT_MS = int(ACTION_TIMEOUT * 1000)

# The only console errors / failed requests treated as noise: Voila's lab template and tree page link
# Font Awesome from a CDN, which the browser is not allowed to reach (see the module docstring).
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


# ---------------------------------------------------------------------------------------------- servers
def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the server is started with ``port_retries=0`` and retried on
    a clash, so it never silently moves to another port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_kernelspec(jupyter_dir: Path) -> Path:
    """Write ``<jupyter_dir>/kernels/python3/kernel.json`` running this interpreter; returns its folder."""
    spec_dir = jupyter_dir / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (browser tests)", "language": "python",
            "env": {"WORKBENCH_TEST_KERNELSPEC": str(spec_dir)},
            "metadata": {"debugger": False}}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return spec_dir


def server_env(state_dir: Path, env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment of a server (and so of its kernels): this one, with the repository first on
    ``PYTHONPATH``, private Jupyter/IPython folders and a private ``python3`` kernelspec first on
    ``JUPYTER_PATH``; then ``env`` on top (a value of ``None`` removes the variable)."""
    full = dict(os.environ)
    full["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([full["PYTHONPATH"]] if full.get("PYTHONPATH") else []))
    jupyter_path = state_dir / "jupyter_path"
    write_kernelspec(jupyter_path)
    full["JUPYTER_PATH"] = str(jupyter_path)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython"),
                     ("JUPYTERLAB_SETTINGS_DIR", "lab-settings"), ("JUPYTERLAB_WORKSPACES_DIR", "lab-workspaces")):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
        full[var] = str(state_dir / sub)
    # JupyterLab: no "get notified about Jupyter news?" toast, no update check (they cover the page)
    notification = (state_dir / "lab-settings" / "@jupyterlab" / "apputils-extension"
                    / "notification.jupyterlab-settings")
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8")
    full["PYTHONUNBUFFERED"] = "1"
    full.setdefault("PYTHONIOENCODING", "utf-8")
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return full


def _proc_start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every live descendant of ``pid`` (kernels run in sessions of their own, so a
    process-group kill of the server does not reach them)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            start = _proc_start_time(child)
            if start is not None:
                found.append((child, start))
                todo.append(child)
    return found


@dataclass
class Server:
    """A Jupyter-family server run as a subprocess in its own process group."""
    url: str                 # http://127.0.0.1:<port>/
    token: str
    proc: subprocess.Popen
    log_path: Path
    root: Path               # the directory (or notebook) served
    state_dir: Path          # private Jupyter folders, kernelspec
    name: str = "server"
    _stopped: bool = field(default=False, repr=False)

    def with_token(self, path: str = "", **query: Any) -> str:
        """``url + path`` with ``query`` and the token in the query string."""
        return f"{self.url}{path.lstrip('/')}?{urlencode({**query, 'token': self.token})}"

    def get(self, path: str, *, follow_redirects: bool = True, **query: Any) -> tuple[int, bytes]:
        """HTTP GET ``path`` (relative to ``url``) authenticated by header (so it survives redirects);
        returns (status, body) and never raises on an HTTP error status."""
        url = f"{self.url}{path.lstrip('/')}" + (f"?{urlencode(query)}" if query else "")
        req = urllib.request.Request(url, headers={"Authorization": f"token {self.token}"})
        handlers = [] if follow_redirects else [_NoRedirect()]
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(req, timeout=ACTION_TIMEOUT) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 80) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_log(self, pattern: str, timeout: float = SERVER_START_TIMEOUT) -> re.Match[str]:
        """Wait until the server log matches the regular expression ``pattern`` (e.g. Voila's
        ``"Kernel pool of .* is filled"``); raises with the log tail on timeout or exit."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            match = rx.search(self.log_text())
            if match:
                return match
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) before /{pattern}/ appeared in "
                                   f"its log:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"/{pattern}/ not in the {self.name} log after {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group (Voila/Jupyter then shut their kernels down), SIGKILL after
        ``timeout``; then kill any kernel that outlived it (by pid, checked by start time)."""
        if self._stopped:
            return
        self._stopped = True
        kids = _descendants(self.proc.pid) if self.proc.poll() is None else []
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        deadline = time.monotonic() + 5
        for pid, start in kids:
            while _proc_start_time(pid) == start and time.monotonic() < deadline:
                time.sleep(0.1)
            if _proc_start_time(pid) == start:   # still the same process: a leftover kernel
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class VoilaServer(Server):
    preheat: bool = False

    def app_url(self, notebook: str | os.PathLike[str] = "", **query: Any) -> str:
        """The page of ``notebook`` (a path relative to the served directory) with ``query`` and the token:
        ``app_url("app.ipynb", who="alice")`` → ``…/voila/render/app.ipynb?who=alice&token=…``. When a single
        notebook is served, leave ``notebook`` empty (it is at ``/``)."""
        path = f"voila/render/{quote(Path(notebook).as_posix())}" if str(notebook) else ""
        return self.with_token(path, **query)


    def kernel_pids(self) -> list[int]:
        """Pids of the kernels this server runs (``ipykernel_launcher`` descendants)."""
        pids = []
        for pid, _ in _descendants(self.proc.pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    if b"ipykernel_launcher" in fh.read():
                        pids.append(pid)
            except OSError:
                pass
        return pids

    def wait_preheated(self, kernels: int = 1, *, quiet: float = 1.5, min_cpu: float = 1.0,
                       timeout: float = RENDER_TIMEOUT) -> float:
        """Wait until ``kernels`` pooled kernels have pre-rendered their notebook; returns the seconds waited.

        Voila's "Kernel pool of X is filled" log line is **not** that signal: it is written as soon as the
        kernel process is started, while the notebook still executes for seconds (a request then waits for
        it). There is no HTTP or log signal for "pre-render done", so this waits until each kernel process
        has used ``min_cpu`` seconds of CPU and then none for ``quiet`` seconds (it is idle, or blocked in
        ``get_query_string()`` waiting for a request). A heuristic: a notebook that waits on I/O for longer
        than ``quiet`` without using CPU would pass early.
        """
        if not self.preheat:
            raise ValueError("this server was not started with preheat=True")
        start = time.monotonic()
        self.wait_log(r"Kernel pool of .* is filled", timeout=timeout)
        seen: dict[int, tuple[float, float]] = {}   # pid -> (cpu seconds, when it last changed)
        while True:
            now = time.monotonic()
            warm = 0
            for pid in self.kernel_pids():
                cpu = _cpu_seconds(pid)
                if cpu is None:
                    continue
                if pid not in seen or seen[pid][0] != cpu:
                    seen[pid] = (cpu, now)
                if cpu >= min_cpu and now - seen[pid][1] >= quiet:
                    warm += 1
            if warm >= kernels:
                return now - start
            if self.proc.poll() is not None or now - start > timeout:
                raise TimeoutError(f"{kernels} preheated kernel(s) not idle after {timeout:.0f} s "
                                   f"(cpu seconds by pid: {seen}):\n{self.log_tail()}")
            time.sleep(0.1)


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class LabServer(Server):
    def lab_url(self, path: str = "") -> str:
        """``/lab`` (or ``/lab/tree/<path>`` to open a notebook) with the token."""
        return self.with_token(f"lab/tree/{quote(path)}" if path else "lab")


def _start(cls: type[Server], cmd_tail: Sequence[str], *, root: Path, name: str, env: Mapping[str, str | None] | None,
           log_dir: Path | None, timeout: float, ready_path: str, token_args: Sequence[str], attempts: int = 3,
           **extra: Any) -> Server:
    log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix=f"{name}-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _ in range(attempts):
        port, token = free_port(), secrets.token_hex(16)
        state_dir = log_dir / f"{name}-{port}"
        log_path = log_dir / f"{name}-{port}.log"
        cmd = [arg.format(port=port, token=token) for arg in [*cmd_tail, *token_args]]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=server_env(state_dir, env), cwd=str(log_dir), start_new_session=True)
        server = cls(url=f"http://127.0.0.1:{port}/", token=token, proc=proc, log_path=log_path, root=root,
                     state_dir=state_dir, name=name, **extra)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            status, _ = server.get(ready_path) if _port_open(port) else (0, b"")
            if status == 200:
                return server
            time.sleep(0.1)
        server.stop()
        last_error = server.log_tail()
        if "already in use" not in last_error:   # only a port clash is worth another try
            break
    raise RuntimeError(f"{name} did not answer at {ready_path!r} within {timeout:.0f} s "
                       f"(command: {' '.join(cmd)}):\n{last_error}")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_voila(notebook_dir: str | os.PathLike[str], *, env: Mapping[str, str | None] | None = None,
                preheat: bool = False, extra_args: Sequence[str] = (), show_tracebacks: bool = True,
                log_dir: str | os.PathLike[str] | None = None, timeout: float = SERVER_START_TIMEOUT) -> VoilaServer:
    """Start ``python -m voila <notebook_dir>`` (this interpreter's venv) on a free 127.0.0.1 port with a random
    token and wait until it answers. Stop it with ``server.stop()`` (the ``voila`` fixture does).

    ``env`` is laid over the environment (see ``server_env``; ``None`` values remove a variable);
    ``preheat=True`` adds ``--preheat_kernel=True`` (pool of one kernel per notebook; wait for it with
    ``server.wait_log(r"Kernel pool of .* is filled")``); ``show_tracebacks`` is on by default so a failing
    cell shows its traceback in the page and in ``wait_rendered``'s error; ``extra_args`` go last (e.g.
    ``["--VoilaConfiguration.file_allowlist=['.*\\.csv']"]``). The log is ``<log_dir>/voila-<port>.log``.
    ``notebook_dir`` may also be one notebook (then it alone is served, at ``/``).
    """
    root = Path(notebook_dir).resolve()
    if not root.exists():
        raise FileNotFoundError(root)
    cmd = [sys.executable, "-m", "voila", str(root), "--no-browser", "--Voila.ip=127.0.0.1", "--Voila.port={port}",
           "--Voila.port_retries=0", f"--show_tracebacks={show_tracebacks}", f"--preheat_kernel={preheat}",
           *extra_args]
    return _start(VoilaServer, cmd, root=root, name="voila", env=env, log_dir=Path(log_dir) if log_dir else None,
                  timeout=timeout, ready_path="voila/static/voila.js", token_args=["--Voila.token={token}"],
                  preheat=preheat)  # type: ignore[return-value]


def start_lab(root_dir: str | os.PathLike[str], *, env: Mapping[str, str | None] | None = None,
              extra_args: Sequence[str] = (), log_dir: str | os.PathLike[str] | None = None,
              timeout: float = SERVER_START_TIMEOUT) -> LabServer:
    """Start ``python -m jupyterlab`` serving ``root_dir`` like ``start_voila`` (free port, random token via
    ``--IdentityProvider.token``, ``--allow-root``, private settings/workspaces, no news or update checks)."""
    root = Path(root_dir).resolve()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
           "--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           *extra_args]
    return _start(LabServer, cmd, root=root, name="lab", env=env, log_dir=Path(log_dir) if log_dir else None,
                  timeout=timeout, ready_path="api/status",
                  token_args=["--IdentityProvider.token={token}"])  # type: ignore[return-value]


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


# ---------------------------------------------------------------------------------------------- widgets
_SETTLE_JS = """async () => {
  await new Promise(r => setTimeout(r, 0));   // let Vue watchers and ipywidgets' save_changes run first
  const app = window.jupyterapp;
  const wm = app && app.widgetManager;
  if (!wm || !wm._models) return {missing: true};
  const models = await Promise.all(Object.values(wm._models));
  const busy = models.filter(m => m && (m._pending_msgs > 0 || m._msg_buffer))
    .map(m => `${m.get('_model_name')}(${m.model_id}) pending=${m._pending_msgs} buffered=${!!m._msg_buffer}`);
  const kernel = wm._kernel ? wm._kernel.status : 'unknown';
  return {busy, kernel};
}"""


def settle(page: Any, timeout: float = ACTION_TIMEOUT) -> None:
    """Wait until every widget model's state has reached the kernel and the kernel is idle (twice in a row,
    50 ms apart). Call after driving widgets and before an action whose handler reads them (the drivers
    here do it for you). Only for Voila pages (uses ``window.jupyterapp.widgetManager``)."""
    deadline = time.monotonic() + timeout
    calm, state = 0, None
    while True:
        state = page.evaluate(_SETTLE_JS)
        if state.get("missing"):
            raise RuntimeError("no ipywidgets manager at window.jupyterapp.widgetManager: not a Voila page "
                               "(or not rendered yet: call wait_rendered first)")
        calm = calm + 1 if not state["busy"] and state["kernel"] == "idle" else 0
        if calm >= 2:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"widgets did not settle in {timeout:.0f} s: {state}")
        time.sleep(0.05)


def by_test_id(scope: Any, test_id: str) -> Any:
    """The widget built with ``attributes={"data-test": test_id}`` (its root element) in a page or locator."""
    return scope.locator(f'[data-test="{test_id}"]')


def set_checkbox(widget: Any, checked: bool = True) -> None:
    """Tick (or untick) a ``v.Checkbox`` / ``v.Switch`` given its root locator."""
    widget.locator("input[type=checkbox]").set_checked(checked)
    settle(widget.page)


def set_slider(widget: Any, value: float, *, max_presses: int = 1000) -> int:
    """Move a ``v.Slider`` to ``value`` with ArrowRight/ArrowLeft on its thumb (one step per press) and
    return the number of presses. Raises if ``value`` is outside the range or not on the step grid."""
    thumb = widget.locator("[role=slider]")
    lo, hi = float(thumb.get_attribute("aria-valuemin")), float(thumb.get_attribute("aria-valuemax"))
    if not lo <= value <= hi:
        raise ValueError(f"slider value {value} outside [{lo}, {hi}]")
    presses, seen = 0, set()
    while True:
        now = float(thumb.get_attribute("aria-valuenow"))
        if abs(now - value) < 1e-9:
            break
        if now in seen or presses >= max_presses:
            raise ValueError(f"slider cannot reach {value} by steps (stuck at {now} after {presses} presses)")
        seen.add(now)
        before = thumb.get_attribute("aria-valuenow")
        thumb.press("ArrowRight" if now < value else "ArrowLeft")
        presses += 1
        # Vue re-renders the thumb on its next tick: read the new value only once it is there
        expect(thumb).not_to_have_attribute("aria-valuenow", before, timeout=PLAYWRIGHT_TIMEOUT_MS)
    settle(widget.page)
    return presses


def select_item(widget: Any, text: str) -> None:
    """Pick the item shown as ``text`` in a single-choice ``v.Select`` given its root locator."""
    page = widget.page
    widget.locator(".v-field").click()
    page.get_by_role("option", name=text, exact=True).click()
    widget.locator(".v-select__selection-text", has_text=text).wait_for(state="visible")
    page.locator(".v-overlay--active [role=option]").first.wait_for(state="detached")
    settle(page)


def fill_text(widget: Any, text: str) -> None:
    """Replace the text of a ``v.TextField`` / ``v.Textarea`` given its root locator."""
    widget.locator("input:not([type=hidden]):not([type=checkbox]), textarea:not(.v-textarea__sizer)").first.fill(text)
    settle(widget.page)


def click(widget: Any) -> None:
    """Click a ``v.Btn`` (or any widget root) after the widgets have settled, so its handler sees them."""
    settle(widget.page)
    widget.click()


def wait_for_json(path: str | os.PathLike[str], timeout: float = ACTION_TIMEOUT) -> Any:
    """Poll until ``path`` exists and holds complete JSON (write it atomically in the kernel: a temporary
    file and ``os.replace``); returns the parsed value."""
    path = Path(path)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} not written (or not valid JSON) within {timeout:.0f} s") from None
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------- JupyterLab
def wait_lab_ready(page: Any, timeout: float = RENDER_TIMEOUT) -> None:
    """Wait until JupyterLab's shell is up: the splash is gone and the main dock panel is visible."""
    page.locator("#jp-main-dock-panel").wait_for(state="visible", timeout=timeout * 1000)
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=timeout * 1000)
