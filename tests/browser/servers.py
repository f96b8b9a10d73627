"""Voila and JupyterLab servers for the browser tests: ``start_voila`` / ``start_lab`` run one as a subprocess
(own process group, free 127.0.0.1 port, random token, private Jupyter folders and kernelspec, a log file) and
return a ``Server`` that can fetch URLs, read its log and stop itself and its kernels. Verified on the stack
named in ``harness.py``.

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
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
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
from urllib.parse import quote, urlencode

from .procs import cpu_seconds, descendants, free_port, port_open, proc_start_time
from .timeouts import ACTION_TIMEOUT, RENDER_TIMEOUT, SERVER_START_TIMEOUT

REPO_ROOT = Path(__file__).resolve().parents[2]


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
        kids = descendants(self.proc.pid) if self.proc.poll() is None else []
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
            while proc_start_time(pid) == start and time.monotonic() < deadline:
                time.sleep(0.1)
            if proc_start_time(pid) == start:   # still the same process: a leftover kernel
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
        for pid, _ in descendants(self.proc.pid):
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
                cpu = cpu_seconds(pid)
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
            status, _ = server.get(ready_path) if port_open(port) else (0, b"")
            if status == 200:
                return server
            time.sleep(0.1)
        server.stop()
        last_error = server.log_tail()
        if "already in use" not in last_error:   # only a port clash is worth another try
            break
    raise RuntimeError(f"{name} did not answer at {ready_path!r} within {timeout:.0f} s "
                       f"(command: {' '.join(cmd)}):\n{last_error}")


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
