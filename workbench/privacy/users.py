"""The users file: who may log in to ``workbench serve``, in which role and scope, with a hashed secret.

A YAML document with a format version and one entry per login::

    version: 1
    users:
      - login: zhou_t
        role: head_teacher
        classes: [G7C1]
        secret: pbkdf2_sha256$390000$<salt hex>$<hash hex>
      - login: parent_0101
        role: parent
        student: Sbade169ed86eb5462479f5f5     # the child's pseudonym: never a name or a school number
        secret: pbkdf2_sha256$...

``classes`` is for the class-scoped roles (subject and head teachers), ``student`` for parents, ``schools``
for school- and district-scoped roles (empty: every school in the store). Secrets are PBKDF2-HMAC-SHA256
(random 16-byte salt, at least 200,000 iterations) compared in constant time; the file is written with
mode 0600. It is found at ``--users``, else ``$WORKBENCH_USERS``, else ``users.yaml`` beside the store.

>>> s = hash_secret("correct horse", iterations=200_000, salt=bytes(16))
>>> s.split("$")[:2], check_secret("correct horse", s), check_secret("wrong", s)
(['pbkdf2_sha256', '200000'], True, False)
>>> book = Users(Path("users.yaml"))
>>> _ = book.add_user("li_t", "head_teacher", "pw-li", classes=["G7C1"], iterations=200_000)
>>> book.verify("li_t", "pw-li")
Viewer(login='li_t', role='head_teacher', classes=('G7C1',), student=None, schools=(), issued=0)
>>> book.verify("li_t", "nope") is None, book.verify("nobody", "pw-li") is None
(True, True)
>>> parse_users({"version": 1, "users": [{"login": "wang", "role": "teacher", "secret": s}]}, "u.yaml")[1]
["u.yaml: users[0].role: unknown role 'teacher'; did you mean head_teacher?"]
"""
from __future__ import annotations

import difflib
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.privacy.roles import ROLES
from workbench.privacy.viewer import Viewer
from workbench.student_keys import is_student_key

ENV_USERS = "WORKBENCH_USERS"
ALGORITHM = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 390_000        # Django 4.2's default; ~0.2 s on a server core, ~0.5 s on a busy laptop
MIN_ITERATIONS = 200_000
LOGIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
FIELDS = ("login", "role", "classes", "student", "schools", "demo", "secret")


def default_users_path(users: str | os.PathLike[str] | None = None, store: str | os.PathLike[str] | None = None) -> Path:
    """``users`` if given, else ``$WORKBENCH_USERS``, else ``users.yaml`` beside the store
    (:func:`workbench.store.default_store_path`)."""
    from workbench.store import default_store_path
    if users:
        return Path(users)
    if os.environ.get(ENV_USERS):
        return Path(os.environ[ENV_USERS])
    return default_store_path(store).parent / "users.yaml"


# ---------------------------------------------------------------------------------------------- secrets
def hash_secret(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` of ``password`` (UTF-8)."""
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"at least {MIN_ITERATIONS} iterations, not {iterations}")
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{ALGORITHM}${iterations}${salt.hex()}${digest.hex()}"


def _secret_problem(encoded: Any) -> str | None:
    parts = encoded.split("$") if isinstance(encoded, str) else []
    if len(parts) != 4 or parts[0] != ALGORITHM:
        return ("not a hashed secret (pbkdf2_sha256$<iterations>$<salt>$<hash>): set it with "
                "`workbench users set-password --login <login> --password-stdin`")
    if not parts[1].isdigit() or int(parts[1]) < MIN_ITERATIONS:
        return f"{parts[1]} iterations; at least {MIN_ITERATIONS} are needed"
    try:
        if len(bytes.fromhex(parts[2])) < 8 or len(bytes.fromhex(parts[3])) != 32:
            return "salt or hash has the wrong length"
    except ValueError:
        return "salt and hash must be hexadecimal"
    return None


def check_secret(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the hash ``encoded`` (constant-time comparison)."""
    if _secret_problem(encoded):
        return False
    _, iterations, salt, digest = encoded.split("$")
    got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(got.hex(), digest)


# ---------------------------------------------------------------------------------------------- entries
@dataclass(frozen=True)
class UserEntry:
    login: str
    role: str
    secret: str
    classes: tuple[str, ...] = ()
    student: str | None = None
    schools: tuple[str, ...] = ()
    demo: bool = False

    def viewer(self) -> Viewer:
        return Viewer(self.login, self.role, classes=self.classes, student=self.student, schools=self.schools)

    @property
    def secret_id(self) -> str:
        """A short digest of the secret: sessions carry it, so changing a password ends them."""
        return hashlib.sha256(self.secret.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"login": self.login, "role": self.role}
        for key in ("classes", "schools"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if self.student:
            out["student"] = self.student
        if self.demo:
            out["demo"] = True
        out["secret"] = self.secret
        return out


def _suggest(value: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]}?" if close else f" (one of {', '.join(choices)})"


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(v.strip() for v in value)
    return None


def _entry(raw: Any, where: str, problems: list[str]) -> UserEntry | None:
    start = len(problems)
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping with login, role and secret")
        return None
    problems += [f"{where}: unknown field {k!r}{_suggest(str(k), FIELDS)}" for k in raw if k not in FIELDS]
    login, role = raw.get("login"), raw.get("role")
    if not isinstance(login, str) or not LOGIN_RE.match(login):
        problems.append(f"{where}.login: {login!r} is not a login (2-64 letters, digits, _ . @ -)")
    if role not in ROLES:
        problems.append(f"{where}.role: unknown role {role!r}" + _suggest(str(role), tuple(ROLES)))
    scope = ROLES[role].scope if role in ROLES else None
    lists = {}
    for key, wanted in (("classes", "classes"), ("schools", ("school", "district"))):
        if key not in raw:
            continue
        lists[key] = _strings(raw[key])
        if lists[key] is None:
            problems.append(f"{where}.{key}: expected a list of ids, e.g. [G7C1]")
        elif scope and scope not in wanted:
            problems.append(f"{where}.{key}: the role {role} has no {key} (its scope is {scope})")
    if scope == "classes" and not lists.get("classes"):
        problems.append(f"{where}.classes: the role {role} needs at least one class")
    student = raw.get("student")
    if scope == "student" and not is_student_key(student):
        problems.append(f"{where}.student: a parent needs the child's student_key (S + 11 letters and digits), got "
                        f"{student!r}; give --student-no to `workbench users add` to look it up")
    elif scope and scope != "student" and student is not None:
        problems.append(f"{where}.student: only a parent has a student")
    if not isinstance(raw.get("demo", False), bool):
        problems.append(f"{where}.demo: expected true or false")
    secret_problem = _secret_problem(raw.get("secret"))
    if secret_problem:
        problems.append(f"{where}.secret: {secret_problem}")
    if len(problems) > start:
        return None
    return UserEntry(login, role, raw["secret"], lists.get("classes") or (), student,
                     lists.get("schools") or (), bool(raw.get("demo", False)))


def parse_users(doc: Any, source: str = "users.yaml") -> tuple[dict[str, UserEntry], list[str]]:
    """The entries of a parsed users document and every problem found, each as ``<source>: <path>: <what>``."""
    problems: list[str] = []
    entries: dict[str, UserEntry] = {}
    if not isinstance(doc, dict):
        return {}, [f"{source}: expected a mapping with version: 1 and users: [...]"]
    if doc.get("version") != 1:
        problems.append(f"version: expected 1, found {doc.get('version')!r}")
    problems += [f"{k}: unknown field{_suggest(str(k), ('version', 'users'))}" for k in doc if k not in ("version", "users")]
    users = doc.get("users")
    users = [] if users is None else users
    if not isinstance(users, list):
        problems.append("users: expected a list of users")
        users = []
    first: dict[str, int] = {}
    for i, raw in enumerate(users):
        entry = _entry(raw, f"users[{i}]", problems)
        login = raw.get("login") if isinstance(raw, dict) else None
        if isinstance(login, str) and login in first:
            problems.append(f"users[{i}].login: {login!r} is already used by users[{first[login]}]")
            continue
        if isinstance(login, str):
            first[login] = i
        if entry is not None:
            entries[entry.login] = entry
    return entries, [f"{source}: {p}" for p in problems]


class UsersFileError(ValueError):
    """A users file that cannot be used; ``problems`` lists each one with the file and the path inside it."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the users file:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------------------------------------- the book
@dataclass
class Users:
    """The users of one file: load, verify a login, add users, change passwords, save."""
    path: Path
    entries: dict[str, UserEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, missing_ok: bool = False) -> Users:
        path = Path(path)
        if not path.exists():
            if missing_ok:
                return cls(path)
            raise UsersFileError([f"{path}: no users file; add users with `workbench users add` "
                                  f"(or `workbench users demo` for the demo school)"])
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise UsersFileError([f"{path}: not valid YAML: {exc}"]) from None
        entries, problems = parse_users(doc, str(path))
        if problems:
            raise UsersFileError(problems)
        return cls(path, entries)

    def verify(self, login: str, password: str) -> Viewer | None:
        """The viewer of ``login`` when ``password`` is right, else ``None`` (an unknown login costs the same
        hashing time, so timing does not tell which logins exist)."""
        entry = self.entries.get(login)
        ok = check_secret(password, entry.secret if entry else _dummy_secret())
        return entry.viewer() if entry is not None and ok else None

    def add_user(self, login: str, role: str, password: str, *, classes: list[str] | tuple[str, ...] = (),
                 student: str | None = None, schools: list[str] | tuple[str, ...] = (), demo: bool = False,
                 iterations: int = DEFAULT_ITERATIONS, replace: bool = False) -> UserEntry:
        """Add (or with ``replace`` overwrite) a user; checked like a loaded entry. Call :meth:`save` to write."""
        if login in self.entries and not replace:
            raise UsersFileError([f"{self.path}: users: {login!r} exists; change its password with "
                                  f"`workbench users set-password`"])
        raw: dict[str, Any] = {"login": login, "role": role, "secret": hash_secret(password, iterations=iterations)}
        raw.update({k: list(v) for k, v in (("classes", classes), ("schools", schools)) if v})
        if student is not None:
            raw["student"] = student
        if demo:
            raw["demo"] = True
        problems: list[str] = []
        entry = _entry(raw, f"users[{login}]", problems)
        if entry is None:
            raise UsersFileError([f"{self.path}: {p}" for p in problems])
        self.entries[login] = entry
        return entry

    def set_password(self, login: str, password: str, *, iterations: int = DEFAULT_ITERATIONS) -> UserEntry:
        if login not in self.entries:
            raise UsersFileError([f"{self.path}: users: no user {login!r}{_suggest(login, tuple(self.entries))}"])
        old = self.entries[login]
        self.entries[login] = entry = UserEntry(**{**old.__dict__, "secret": hash_secret(password, iterations=iterations)})
        return entry

    def remove(self, login: str) -> None:
        if self.entries.pop(login, None) is None:
            raise UsersFileError([f"{self.path}: users: no user {login!r}"])

    def save(self) -> Path:
        """Write the file atomically with mode 0600."""
        text = yaml.safe_dump({"version": 1, "users": [e.as_dict() for e in self.entries.values()]},
                              allow_unicode=True, sort_keys=False, width=120)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".users-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return self.path


_DUMMY: list[str] = []


def _dummy_secret() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_secret(secrets.token_hex(8)))
    return _DUMMY[0]


def new_password() -> str:
    """A random password to hand to a person once (12 characters from an alphabet without look-alikes)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))
