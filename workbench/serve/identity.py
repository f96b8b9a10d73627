"""Login for Voila: a jupyter_server ``IdentityProvider`` backed by the users file, and the gate on every request.

Voila 0.5.13 creates its identity provider from the trait ``Voila.identity_provider_class`` (it also passes
``login_handler_class=VoilaLoginHandler``, which this provider does not use: :meth:`get_handlers` installs its
own ``/login`` and ``/logout``). jupyter_server calls :meth:`WorkbenchIdentityProvider.get_user` in
``JupyterHandler.prepare`` for every request of every Jupyter handler — Voila's render, tree and kernel
handlers and the lab-extension assets — before the handler's ``get`` runs. So this one method

1. reads the session cookie (signed with the server's cookie secret; it names the login, when it was issued
   and a digest of the user's secret, so a changed password or a removed user ends the session at once),
2. asks :class:`workbench.serve.gate.Gate` about the request, and either sends the server's own page (refusal,
   busy, the list of apps) and finishes the response — tornado then skips the handler — or, for an app it
   lets through, replaces the ``X-Workbench-Viewer`` request header with the signed viewer.

Without a session, jupyter_server redirects pages to ``/login?next=…`` and answers 403 to API and websocket
requests. Tokens (``?token=``, ``Authorization: token``) are never accepted.

This module imports jupyter_server and tornado, so import it only in the server (``workbench serve`` names
it on Voila's command line).
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.auth.identity import IdentityProvider, User
from jupyter_server.base.handlers import JupyterHandler
from traitlets import Float, Integer, Unicode

from workbench.labels import ui
from workbench.privacy.users import Users, UsersFileError
from workbench.privacy.viewer import ENV_SECRET, Viewer
from workbench.serve.gate import Gate, set_viewer_header
from workbench.serve.pages import PAGE_CSP, busy_page, home_page, login_page, not_found_page, refusal_page

LANG_COOKIE = "workbench-lang"
MAX_FAILURES, LOCK_SECONDS = 5, 300


def page_lang(handler: Any) -> str:
    """``lang`` from the query (remembered in a cookie), else the cookie, else zh."""
    lang = handler.get_argument("lang", None) if handler.request.method == "GET" else handler.get_body_argument("lang", None)
    if lang in ("zh", "en"):
        if handler.get_cookie(LANG_COOKIE) != lang:
            handler.set_cookie(LANG_COOKIE, lang, path="/", samesite="Lax", expires_days=365)
        return lang
    return "en" if handler.get_cookie(LANG_COOKIE) == "en" else "zh"


def lang_switch(path: str, query: str, lang: str) -> str:
    """The same URL in the other language (every other parameter kept).

    >>> lang_switch("/voila/render/a.ipynb", "class=G7C2&lang=zh", "zh")
    '/voila/render/a.ipynb?class=G7C2&lang=en'
    """
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "lang"]
    return f"{path}?{urlencode(kept + [('lang', 'en' if lang == 'zh' else 'zh')])}"


def send_page(handler: Any, page: tuple[int, str]) -> None:
    """Answer with one of the server's pages (its own strict CSP, never cached) and finish the response."""
    status, html = page
    handler.set_status(status)
    handler.set_header("Content-Type", "text/html; charset=UTF-8")
    handler.set_header("Content-Security-Policy", PAGE_CSP)
    handler.set_header("Cache-Control", "no-store")
    handler.finish(html)


class WorkbenchIdentityProvider(IdentityProvider):
    """Users from the users file, a session cookie, and the :class:`~workbench.serve.gate.Gate`."""

    users_file = Unicode("", config=True, help="The users file (see workbench.privacy.users).")
    store = Unicode("", config=True, help="The store whose classes and students scope the URL parameters.")
    apps_dir = Unicode("", config=True, help="The folder of published apps (<app>.ipynb).")
    max_kernels = Integer(0, config=True, help="Most kernels in use at once (0: no cap); more pages get 'busy'.")
    session_hours = Float(12.0, config=True, help="A login lasts this long (and ends when the browser closes).")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        secret = os.environ.get(ENV_SECRET, "")
        if len(secret) < 32:
            raise RuntimeError(f"${ENV_SECRET} is not set: start the server with `workbench serve`")
        self._users: Users | None = None
        self._users_stamp: tuple[float, int] | None = None
        self._failures: dict[str, tuple[int, float]] = {}
        self.gate = Gate(Path(self.store) if self.store else None, Path(self.apps_dir or "."), bytes.fromhex(secret),
                         self.max_kernels, log=self.log)
        self.users()                                  # a broken users file stops the server at start
        self.gate.index()

    # ------------------------------------------------------------------------------------ users
    def users(self) -> Users:
        """The users file, read again when it changes. A broken file lets nobody in (and says why in the log)."""
        path = Path(self.users_file)
        try:
            st = os.stat(path)
            stamp = (st.st_mtime, st.st_size)
        except OSError:
            stamp = None
        if stamp != self._users_stamp or self._users is None:
            try:
                self._users = Users.load(path)
            except UsersFileError as exc:
                if self._users_stamp is None and self._users is None:
                    raise
                self.log.error("workbench serve: nobody can log in until the users file is fixed: %s", exc)
                self._users = Users(path)
            self._users_stamp = stamp
        return self._users

    # ------------------------------------------------------------------------------------ sessions
    def get_cookie_name(self, handler: Any) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", f"workbench-session-{handler.request.host}")

    def start_session(self, handler: Any, viewer: Viewer) -> None:
        entry = self.users().entries[viewer.login]
        value = json.dumps({"login": entry.login, "sid": entry.secret_id, "iat": int(time.time())})
        secure = self.secure_cookie if self.secure_cookie is not None else handler.request.protocol == "https"
        handler.set_secure_cookie(self.get_cookie_name(handler), value, expires_days=None, httponly=True,
                                  samesite="Lax", secure=bool(secure), path="/")

    def session_viewer(self, handler: Any) -> Viewer | None:
        raw = handler.get_secure_cookie(self.get_cookie_name(handler), max_age_days=self.session_hours / 24 + 0.01)
        if not raw:
            return None
        try:
            session = json.loads(raw)
            entry = self.users().entries.get(session["login"])
            fresh = time.time() - float(session["iat"]) < self.session_hours * 3600
        except (ValueError, KeyError, TypeError):
            return None
        if entry is None or entry.secret_id != session.get("sid") or not fresh:
            return None
        return entry.viewer()

    def clear_login_cookie(self, handler: Any) -> None:
        handler.clear_cookie(self.get_cookie_name(handler), path="/")

    # ------------------------------------------------------------------------------------ per request
    async def get_user(self, handler: Any) -> User | None:
        if getattr(handler, "_workbench_user", None) is not None:
            return handler._workbench_user
        viewer = self.session_viewer(handler)
        if viewer is None:
            return None
        user = handler._workbench_user = User(viewer.login, viewer.login, viewer.login)
        handler.workbench_viewer = viewer
        request = handler.request
        refusal = self.gate.check(viewer, request.path, request.query, handler.kernel_manager)
        if refusal is None:
            set_viewer_header(request.headers, self.gate.sign(viewer))
            return user
        lang = page_lang(handler)
        switch = lang_switch(request.path, request.query, lang)
        if refusal.kind == "home":
            apps = [a for a in self.gate.apps() if viewer.allows_app(a)]
            send_page(handler, home_page(lang, viewer.login, viewer.role, apps, switch=switch))
        elif refusal.kind == "refused":
            reason = refusal.reason.message(lang) if refusal.reason else ui("sv_refused", lang)
            send_page(handler, refusal_page(lang, reason, switch=switch))
        elif refusal.kind == "busy":
            send_page(handler, busy_page(lang, switch=switch))
        else:
            send_page(handler, not_found_page(lang, switch=switch))
        return user

    def get_handlers(self) -> list[tuple[str, object]]:
        return [(r"/login", LoginHandler), (r"/logout", LogoutHandler)]

    # ------------------------------------------------------------------------------------ throttling
    def locked(self, login: str) -> bool:
        count, since = self._failures.get(login, (0, 0.0))
        if time.time() - since > LOCK_SECONDS:
            self._failures.pop(login, None)
            return False
        return count >= MAX_FAILURES

    def failed(self, login: str) -> None:
        count, since = self._failures.get(login, (0, time.time()))
        self._failures[login] = (count + 1, since)


def safe_next(value: str | None) -> str:
    """A redirect target after login: a path on this server (printable ASCII, as in a request URI), never
    another site (``//host``, ``\\host``, a scheme) — anything else becomes ``/``.

    >>> safe_next("/voila/render/app.ipynb?class=G7C1"), safe_next("//evil.example/x"), safe_next("/\t/evil")
    ('/voila/render/app.ipynb?class=G7C1', '/', '/')
    """
    value = value or "/"
    return value if re.fullmatch(r"/(?![/\\])[\x21-\x7e]*", value) and "\\" not in value else "/"


class LoginHandler(JupyterHandler):
    """``GET /login`` shows the form, ``POST /login`` checks it (XSRF-protected by tornado's ``_xsrf``)."""

    @property
    def provider(self) -> WorkbenchIdentityProvider:
        return self.identity_provider  # type: ignore[return-value]

    def _form(self, lang: str, **kw: Any) -> None:
        send_page(self, login_page(lang, next_url=safe_next(self.get_argument("next", "/")),
                                   xsrf_html=self.xsrf_form_html(), **kw))

    @allow_unauthenticated
    def get(self) -> None:
        lang = page_lang(self)
        note = ui("sv_logged_out", lang) if self.get_argument("logged_out", None) else None
        self._form(lang, note=note)

    @allow_unauthenticated
    async def post(self) -> None:
        lang = page_lang(self)
        login = self.get_body_argument("login", "").strip()
        password = self.get_body_argument("password", "")
        provider = self.provider
        if provider.locked(login):
            self.log.warning("workbench serve: login %r locked after %d failures", login, MAX_FAILURES)
            return self._form(lang, error=ui("sv_throttled", lang, minutes=LOCK_SECONDS // 60), login=login)
        users = provider.users()
        viewer = await asyncio.get_running_loop().run_in_executor(None, users.verify, login, password)
        if viewer is None:
            provider.failed(login)
            self.log.warning("workbench serve: failed login for %r from %s", login, self.request.remote_ip)
            return self._form(lang, error=ui("sv_bad_login", lang), login=login)
        provider._failures.pop(login, None)
        provider.start_session(self, viewer)
        self.log.info("workbench serve: %s (%s) logged in from %s", viewer.login, viewer.role, self.request.remote_ip)
        self.redirect(safe_next(self.get_body_argument("next", "/")))


class LogoutHandler(JupyterHandler):
    """``GET /logout``: end the session, shut the viewer's kernels down, back to the login form."""

    @allow_unauthenticated
    async def get(self) -> None:
        lang = page_lang(self)
        viewer = getattr(self, "workbench_viewer", None)
        provider: WorkbenchIdentityProvider = self.identity_provider  # type: ignore[assignment]
        if viewer is not None:
            for kid, owner in list(provider.gate.owners.items()):
                if owner == viewer.login and kid in self.kernel_manager:
                    await self.kernel_manager.shutdown_kernel(kid)
        provider.clear_login_cookie(self)
        self.redirect(f"/login?logged_out=1&lang={lang}")
