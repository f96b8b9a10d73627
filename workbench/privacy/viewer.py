"""The viewer of an app: who is logged in, in which role, with which scope — and the checks on it.

The server authenticates a login (``workbench.privacy.users``), turns it into a :class:`Viewer` and
hands it to the app's kernel as a token signed with the server's secret (HMAC-SHA256), so that code in
the kernel can trust it while the browser, which only ever sees the rendered page, cannot forge or widen
it. Every data builder an app calls checks the viewer again (:meth:`Viewer.require_class`,
:meth:`Viewer.require_student`), so a widget callback cannot reach beyond the scope either.

>>> v = Viewer("li_t", "head_teacher", classes=("G7C1",))
>>> v.allows_class("G7C1"), v.allows_class("G7C2")
(True, False)
>>> secret = b"s" * 32
>>> Viewer.from_token(v.token(secret), secret) == v
True
>>> t = v.token(secret)
>>> forged = t[:-1] + ("1" if t.endswith("0") else "0")   # one hex digit of the signature changed
>>> Viewer.from_token(forged, secret)
Traceback (most recent call last):
...
workbench.privacy.viewer.ScopeError: the viewer token is not signed by this server / 身份凭证无效
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import asdict, dataclass, field

from workbench.privacy.roles import ROLES, Role

ENV_TOKEN = "HTTP_X_WORKBENCH_VIEWER"        # how Voila hands the request header to the kernel
ENV_SECRET = "WORKBENCH_SERVE_SECRET"        # the server's signing secret (hex), in the kernel's environment
TOKEN_TTL = 12 * 3600


class ScopeError(PermissionError):
    """A viewer asked for something outside their role or scope; ``zh``/``en`` say what, never whose data."""

    def __init__(self, en: str, zh: str):
        self.en, self.zh = en, zh
        super().__init__(f"{en} / {zh}")

    def message(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Viewer:
    login: str
    role: str
    classes: tuple[str, ...] = ()
    student: str | None = None                 # a parent's child (student_key)
    schools: tuple[str, ...] = ()              # empty with a school scope = the store's only school
    issued: int = field(default=0, compare=False)

    def __post_init__(self):
        if self.role not in ROLES:
            raise ScopeError(f"unknown role {self.role!r}", f"未知角色 {self.role}")

    @property
    def spec(self) -> Role:
        return ROLES[self.role]

    # ------------------------------------------------------------------------------------ checks
    def allows_app(self, app: str) -> bool:
        return app in self.spec.apps

    def allows_class(self, class_id: str) -> bool:
        scope = self.spec.scope
        return scope in ("school", "district") or (scope == "classes" and class_id in self.classes)

    def allows_student(self, student_key: str, class_ids: tuple[str, ...] | list[str] = ()) -> bool:
        """A student is in scope when the viewer is the student's parent, or one of the student's classes is."""
        scope = self.spec.scope
        if scope == "student":
            return student_key == self.student
        if scope in ("school", "district"):
            return True
        return any(c in self.classes for c in class_ids)

    def require_app(self, app: str) -> None:
        if not self.allows_app(app):
            raise ScopeError(f"the role {self.spec.en} cannot open {app}", f"{self.spec.zh}无权打开此应用")

    def require_class(self, class_id: str) -> None:
        if not self.allows_class(class_id):
            raise ScopeError("this class is outside your scope", "该班级不在您的权限范围内")

    def require_student(self, student_key: str, class_ids: tuple[str, ...] | list[str] = ()) -> None:
        if not self.allows_student(student_key, class_ids):
            raise ScopeError("this student is outside your scope", "该学生不在您的权限范围内")

    # ------------------------------------------------------------------------------------ token
    def token(self, secret: bytes) -> str:
        body = dict(asdict(self), issued=self.issued or int(time.time()))
        payload = base64.urlsafe_b64encode(json.dumps(body, sort_keys=True).encode()).decode()
        sig = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
        return f"{payload}.{sig}"

    @classmethod
    def from_token(cls, token: str, secret: bytes, *, ttl: int = TOKEN_TTL) -> Viewer:
        payload, _, sig = (token or "").rpartition(".")
        good = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
        if not payload or not hmac.compare_digest(sig, good):
            raise ScopeError("the viewer token is not signed by this server", "身份凭证无效")
        body = json.loads(base64.urlsafe_b64decode(payload.encode()))
        if ttl and body.get("issued", 0) + ttl < time.time():
            raise ScopeError("the viewer token has expired; log in again", "登录已过期，请重新登录")
        body["classes"], body["schools"] = tuple(body.get("classes") or ()), tuple(body.get("schools") or ())
        return cls(**body)


def current_viewer(environ: dict | None = None) -> Viewer:
    """The viewer of this kernel's request, verified (call after ``voila.utils.get_query_string()``, which waits
    for the request in a preheated kernel). Raises :class:`ScopeError` when there is none or it is forged."""
    env = os.environ if environ is None else environ
    secret, token = env.get(ENV_SECRET), env.get(ENV_TOKEN)
    if not secret or not token:
        raise ScopeError("no logged-in viewer for this page", "未登录")
    return Viewer.from_token(token, bytes.fromhex(secret))
