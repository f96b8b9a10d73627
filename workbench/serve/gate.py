"""The gate every request of a logged-in viewer passes before Voila handles it.

Routes are allowed by a list, everything else is "not found":

- ``voila/render/<app>.ipynb`` — the app must exist and be one of the role's apps
  (``workbench.privacy.roles.ROLES``), every ``class``/``class_id``, ``student`` and ``school`` in the query
  must be in the viewer's scope (``workbench.privacy.scope.check_query``), and fewer than ``max_kernels``
  kernels may be in use. Then the request header ``X-Workbench-Viewer`` is replaced by the viewer signed
  with the server's secret (whatever the browser sent is dropped), and Voila hands it to the kernel as
  ``HTTP_X_WORKBENCH_VIEWER`` (``VoilaConfiguration.http_header_envs``), where
  ``workbench.privacy.current_viewer()`` verifies it.
- ``/`` and ``voila/tree…`` — the list of the viewer's apps (the server's page, not Voila's file tree).
- ``api/kernels/<id>[/channels]``, ``voila/api/shutdown/<id>`` — a kernel belongs to the first login that
  reaches it (its page, right after the render); any other login is refused.
- Voila's and JupyterLab's static assets, ``login``, ``logout``.

>>> classify("/voila/render/model_builder.ipynb"), classify("/voila/render/../x.ipynb")
(('render', 'model_builder'), ('other', None))
>>> classify("/api/kernels/0b6f1a4e-3c2d-4f5e-8a9b-0c1d2e3f4a5b/channels")
('kernel', '0b6f1a4e-3c2d-4f5e-8a9b-0c1d2e3f4a5b')
>>> from tornado.httputil import HTTPHeaders
>>> h = HTTPHeaders({"X-Workbench-Viewer": "forged", "X_Workbench_Viewer": "forged too"})
>>> set_viewer_header(h, "signed"); sorted(h.get_all())
[('X-Workbench-Viewer', 'signed')]
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from workbench.privacy.scope import ScopeIndex, check_query
from workbench.privacy.viewer import ENV_TOKEN, ScopeError, Viewer

HEADER = "X-Workbench-Viewer"
_KERNEL = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
ROUTES = [
    ("render", re.compile(r"voila/render/([A-Za-z0-9_]+)\.ipynb")),
    ("home", re.compile(r"(?:voila/tree(?:/.*)?)?")),
    ("kernel", re.compile(rf"api/kernels/{_KERNEL}(?:/channels)?")),
    ("kernel", re.compile(rf"voila/api/shutdown/{_KERNEL}")),
    ("kernel", re.compile(rf"voila/execution/{_KERNEL}")),
    ("asset", re.compile(r"voila/(?:static|templates|labextensions|api/themes)/[^\\]*")),
    ("auth", re.compile(r"login|logout")),
]


def classify(path: str, base_url: str = "/") -> tuple[str, str | None]:
    """``(kind, detail)`` of a request path: render (app), home, kernel (id), asset, auth, or other."""
    path = unquote(path)
    if not path.startswith(base_url) or "/../" in path + "/" or "/./" in path + "/":
        return "other", None
    rest = path[len(base_url):]
    for kind, rx in ROUTES:
        m = rx.fullmatch(rest)
        if m:
            return kind, (m.group(1) if m.groups() else None)
    return "other", None


def set_viewer_header(headers: Any, token: str) -> None:
    """Drop every header that Voila would turn into ``HTTP_X_WORKBENCH_VIEWER`` (any spelling), then set ours."""
    wanted = ENV_TOKEN[len("HTTP_"):]
    for name in list(headers.keys()):
        if name.upper().replace("-", "_") == wanted:
            del headers[name]
    headers[HEADER] = token


def kernels_in_use(kernel_manager: Any) -> int:
    """Live kernels minus those waiting, pre-rendered, in Voila's preheat pools, and minus those shutting down.

    A culled kernel stays in the server's list until its process has ended and its files are cleaned up; in that
    moment a viewer refused for lack of a seat was refused again (a browser test saw 503 right after the cull).
    jupyter_client marks such a kernel ``shutting_down`` as its shutdown begins."""
    pooled = sum(len(p) for p in getattr(kernel_manager, "_pools", {}).values())
    ids = kernel_manager.list_kernel_ids()
    stopping = 0
    for kid in ids:
        try:
            stopping += bool(getattr(kernel_manager.get_kernel(kid), "shutting_down", False))
        except (KeyError, AttributeError):
            pass
    return max(0, len(ids) - pooled - stopping)


@dataclass
class Refusal:
    """What to answer instead of Voila: ``kind`` is refused (403), not_found (404), busy (503) or home (200)."""
    kind: str
    reason: ScopeError | None = None


@dataclass
class Gate:
    """Decides on one request; holds the scope index (reloaded when the store changes) and kernel owners."""
    store: Path | None
    apps_dir: Path
    secret: bytes
    max_kernels: int = 0                      # 0: no cap
    base_url: str = "/"
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("workbench.serve"))
    owners: dict[str, str] = field(default_factory=dict)
    _index: ScopeIndex = field(default_factory=ScopeIndex)

    def apps(self) -> list[str]:
        """The apps on this server: ``<apps_dir>/<name>.ipynb``."""
        return sorted(p.stem for p in self.apps_dir.glob("*.ipynb"))

    def index(self) -> ScopeIndex:
        if self.store is None or not self.store.exists():
            return self._index
        st = os.stat(self.store)
        if self._index.stamp != (st.st_mtime, st.st_size):
            try:
                self._index = ScopeIndex.from_store(self.store)
            except Exception as exc:   # e.g. a writer holds the lock: keep the index we have
                self.log.warning("workbench serve: scope index not reloaded from %s: %s", self.store, exc)
        return self._index

    def check(self, viewer: Viewer, path: str, query: str, kernel_manager: Any) -> Refusal | None:
        """``None`` to let Voila answer, else the page to send instead."""
        kind, detail = classify(path, self.base_url)
        if kind in ("asset", "auth"):
            return None
        if kind == "home":
            return Refusal("home")
        if kind == "kernel":
            return self._kernel(viewer, str(detail), kernel_manager)
        if kind != "render" or detail not in self.apps():
            return Refusal("not_found")
        try:
            viewer.require_app(str(detail))
            check_query(viewer, query, self.index())
        except ScopeError as exc:
            self.log.warning("workbench serve: refused %s (%s) %s?%s: %s", viewer.login, viewer.role, detail, query,
                             exc.en)
            return Refusal("refused", exc)
        if self.max_kernels and kernels_in_use(kernel_manager) >= self.max_kernels:
            self.log.warning("workbench serve: busy (%d kernels in use), %s not served", self.max_kernels, viewer.login)
            return Refusal("busy")
        self.log.info("workbench serve: %s (%s) opens %s?%s", viewer.login, viewer.role, detail, query)
        return None

    def _kernel(self, viewer: Viewer, kernel_id: str, kernel_manager: Any) -> Refusal | None:
        live = set(kernel_manager.list_kernel_ids())
        for kid in [k for k in self.owners if k not in live]:
            del self.owners[kid]
        if kernel_id not in live:
            return None                       # Voila answers 404 itself
        owner = self.owners.setdefault(kernel_id, viewer.login)
        if owner != viewer.login:
            self.log.warning("workbench serve: %s refused on the kernel of %s", viewer.login, owner)
            return Refusal("refused", ScopeError("this page belongs to another user", "该页面属于其他用户"))
        return None

    def sign(self, viewer: Viewer) -> str:
        return viewer.token(self.secret)
