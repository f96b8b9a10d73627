"""``workbench serve``: the Voila command line that publishes ``voila_apps/`` behind login and role scopes.

:func:`voila_command` builds the command and environment (pure, so tests read it); :func:`serve` checks the
users file and the store, then replaces this process with Voila. What the options do:

- ``Voila.identity_provider_class`` = :class:`workbench.serve.identity.WorkbenchIdentityProvider` (login
  form, session cookie, the gate on every request); no ``Voila.token``: nobody gets in with a token.
- ``VoilaConfiguration.http_header_envs = ["X-Workbench-Viewer"]``: the header the gate sets reaches the
  kernel as ``HTTP_X_WORKBENCH_VIEWER`` (cold kernels: in their environment; preheated kernels: sent over
  Voila's request-info socket when the notebook calls ``voila.utils.get_query_string()``).
- ``WORKBENCH_SERVE_SECRET``: random per start (32 bytes, hex) in the server's environment, which every
  kernel inherits; it signs the viewer. ``WORKBENCH_STORE`` is made absolute for the kernels.
- the ``workbench`` Voila template (Voila's lab template without the Font Awesome links to a CDN), template
  and theme not overridable from the URL, tracebacks hidden, no files served beside the notebooks
  (``file_allowlist = []``; ``.ipynb`` sources are never served: ``file_denylist`` and ``strip_sources``).
- ``Voila.tornado_settings.headers``: :data:`VOILA_CSP`, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: same-origin``, ``Cross-Origin-Opener-Policy: same-origin``.
- idle kernels are culled (``MappingKernelManager.cull_idle_timeout``, also with a page still open:
  ``cull_connected``), and kernels talk to the server over IPC sockets rather than TCP ports.

>>> import tempfile
>>> opts = ServeOptions(apps_dir=Path("apps"), store=Path("s.duckdb"), users=Path("u.yaml"))
>>> argv, env = voila_command(opts, "ab" * 32, Path(tempfile.mkdtemp()))
>>> argv[1:3], Path(argv[3]).name, env["WORKBENCH_SERVE_SECRET"] == "ab" * 32
(['-m', 'voila'], 'apps', True)
"""
from __future__ import annotations

import json
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from workbench.store.connection import PROJECT_ROOT

TEMPLATE_ROOT = Path(__file__).resolve().parent / "jupyter"       # holds voila/templates/workbench
DEFAULT_APPS = PROJECT_ROOT / "voila_apps"

# Voila pages: every fetch, script, style, font and image from this server only; no plugins, no framing, no
# form posting elsewhere. Checked in Chromium with the model builder and an ipyvuetify template widget (the
# knowledge-graph view): a clean console with exactly this, and each relaxation below is needed —
# - script-src 'unsafe-inline': Voila's template calls voila_process(i, n) / voila_finish() in inline scripts
#   that differ on every page, so neither hashes nor (Voila has no nonce hook) nonces can list them;
# - script-src/connect-src blob:: ipyvue loads Vue single-file components (VuetifyTemplate widgets) and
#   probes import maps through es-module-shims, which fetches and runs blob: URLs it creates itself;
# - style-src 'unsafe-inline': JupyterLab, Vuetify and Vue insert <style> elements at run time.
# Not needed (checked): 'unsafe-eval', data: images or fonts (the template's data: favicon is replaced by
# Jupyter's own), any other origin (the template's Font Awesome links to cdn.jsdelivr.net are removed).
VOILA_CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline' blob:",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
HEADERS = {"Content-Security-Policy": VOILA_CSP, "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "Cross-Origin-Opener-Policy": "same-origin"}


@dataclass
class ServeOptions:
    apps_dir: Path = DEFAULT_APPS
    store: Path = Path("data/workbench.duckdb")
    users: Path = Path("data/users.yaml")
    port: int = 8866
    ip: str = "127.0.0.1"
    preheat: bool = True
    max_kernels: int = 20
    cull_idle: int = 600
    cull_interval: int = 60
    refill_delay: float = 5.0                 # seconds before a used preheated kernel is replaced (see pool_args)
    show_tracebacks: bool = False
    behind_https: bool = False                # cookies marked Secure (an HTTPS reverse proxy in front)
    extra_args: list[str] = field(default_factory=list)


def voila_config() -> dict:
    """The settings that are containers (written to ``voila.json``: traitlets deprecates them on the command line)."""
    return {"Voila": {"tornado_settings": {"headers": HEADERS}},
            "VoilaConfiguration": {"http_header_envs": ["X-Workbench-Viewer"], "file_allowlist": []}}


def pool_args(refill_delay: float = 5.0) -> list[str]:
    """How kernels are started and pooled (also used by ``benchmarks/apps.py``, so that it measures these).

    ``VoilaKernelManager.fill_delay``: Voila starts the replacement of a preheated kernel 1 s after handing it to
    a visitor; the new kernel's start (imports, warm-up: several CPU-seconds) then competes with the visitor's
    page on a small server. Waiting ``refill_delay`` seconds lets the page finish first (measured on the 2-core
    demo machine: see the README's performance table). ``KernelManager.transport=ipc``: kernels talk to the
    server over Unix sockets instead of TCP ports."""
    return [f"--VoilaKernelManager.fill_delay={refill_delay:g}", "--KernelManager.transport=ipc"]


def voila_command(opts: ServeOptions, secret: str, config_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The argv (``python -m voila …``) and environment of the server; writes ``config_dir/voila.json``, the only
    Voila config file read (none from the working directory or the user's Jupyter folders)."""
    apps, store, users = (Path(p).resolve() for p in (opts.apps_dir, opts.store, opts.users))
    (config_dir / "voila.json").write_text(json.dumps(voila_config(), indent=1), encoding="utf-8")
    provider = "WorkbenchIdentityProvider"
    argv = [sys.executable, "-m", "voila", str(apps), "--no-browser", "--Voila.config_file_paths", str(config_dir),
            f"--Voila.ip={opts.ip}", f"--Voila.port={opts.port}", "--Voila.port_retries=0",
            f"--Voila.identity_provider_class=workbench.serve.identity.{provider}",
            f"--{provider}.users_file={users}", f"--{provider}.store={store}", f"--{provider}.apps_dir={apps}",
            f"--{provider}.max_kernels={opts.max_kernels}",
            *([f"--{provider}.secure_cookie=True"] if opts.behind_https else []),
            "--VoilaConfiguration.template=workbench",
            "--VoilaConfiguration.allow_template_override=NO", "--VoilaConfiguration.allow_theme_override=NO",
            f"--VoilaConfiguration.show_tracebacks={opts.show_tracebacks}",
            f"--VoilaConfiguration.preheat_kernel={opts.preheat}",
            f"--MappingKernelManager.cull_idle_timeout={opts.cull_idle}",
            f"--MappingKernelManager.cull_interval={opts.cull_interval}",
            f"--MappingKernelManager.cull_connected={opts.cull_idle > 0}",
            *pool_args(opts.refill_delay),
            *opts.extra_args]
    env = dict(os.environ)
    env["WORKBENCH_SERVE_SECRET"] = secret
    env["WORKBENCH_STORE"] = str(store)
    env["JUPYTER_PATH"] = os.pathsep.join([str(TEMPLATE_ROOT)] + ([env["JUPYTER_PATH"]] if env.get("JUPYTER_PATH") else []))
    return argv, env


def serve(opts: ServeOptions, echo=print) -> None:
    """Check the users file and the store, print how to log in, then exec Voila (never returns)."""
    from workbench.privacy.users import Users
    users = Users.load(opts.users)                    # UsersFileError with every problem, before anything starts
    if not Path(opts.store).exists():
        echo(f"warning: no store at {opts.store}: class and student parameters will all be refused")
    demo = sorted(e.login for e in users.entries.values() if e.demo)
    if demo:
        echo(f"warning: {len(demo)} demo account(s) in {opts.users} ({', '.join(demo)}): remove them before real "
             f"data is served (`workbench users remove --login …`) / 演示账号仅用于演示数据")
    argv, env = voila_command(opts, secrets.token_hex(32), Path(tempfile.mkdtemp(prefix="workbench-serve-")))
    echo(f"workbench serve: {len(users.entries)} user(s) from {opts.users}; apps in {opts.apps_dir}; "
         f"open http://{opts.ip}:{opts.port}/ and log in / 打开上面的网址并登录")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(argv[0], argv, env)
