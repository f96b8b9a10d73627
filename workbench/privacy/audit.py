"""Audit: every view of a student's psychology data or identity is recorded — who, role, what, when.

App kernels open the store read-only (many kernels read it at once; DuckDB allows one writer), so they
append audit entries to a journal beside the store (``audit.jsonl``: one JSON line per entry, written with
a single ``O_APPEND`` write, so concurrent kernels never interleave). ``workbench audit`` lists the
journal together with the store's ``audit_log`` table, and ``workbench audit --import`` moves the journal
into ``audit_log`` (done when a writer holds the store, e.g. before a term run).

>>> import tempfile, pathlib
>>> log = AuditLog(pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl")
>>> log.record("psy_wang", "psychology_teacher", "view_psychology", "S-0d154f", {"app": "psychology_dashboard"})
>>> [(e["user_name"], e["action"], e["target"]) for e in log.entries()]
[('psy_wang', 'view_psychology', 'S-0d154f')]
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ACTIONS = {
    "view_psychology": ("查看心理/情绪数据", "viewed psychology or emotion data"),
    "view_identity": ("查看学生身份信息（显示姓名）", "viewed a student's identity (display name)"),
    "view_student": ("查看学生画像", "viewed a student's profile"),
    "refused": ("越权访问被拒绝", "out-of-scope request refused"),
    "login": ("登录", "logged in"),
    "login_failed": ("登录失败", "failed login"),
}


def append_json_line(path: Path, entry: dict[str, Any]) -> None:
    """Append one JSON line with a single ``O_APPEND`` write (concurrent kernels never interleave), mode 0600."""
    line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def default_journal() -> Path:
    from workbench.store import default_store_path
    return Path(os.environ.get("WORKBENCH_AUDIT") or default_store_path().parent / "audit.jsonl")


class AuditLog:
    """An append-only journal of accesses (JSON lines)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_journal()

    def record(self, user: str, role: str, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
        """Append one entry. ``target`` names the student by display code (never a name or an identifier)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}; one of {', '.join(ACTIONS)}")
        entry = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "user_name": user, "role": role,
                 "action": action, "target": target, "detail": detail or {}}
        append_json_line(self.path, entry)

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    out.append({"ts": "", "user_name": "?", "role": "?", "action": "unreadable",
                                "target": f"{self.path.name} line {n}", "detail": {}})
        return out

    def import_into(self, con) -> int:
        """Move the journal's entries into ``audit_log`` (in one transaction) and empty the journal."""
        entries = self.entries()
        if not entries:
            return 0
        con.execute("BEGIN TRANSACTION")
        try:
            for e in entries:
                con.execute("INSERT INTO audit_log VALUES (CAST($ts AS TIMESTAMPTZ) AT TIME ZONE 'UTC', $u, $r, $a, $t, $d)",
                            {"ts": e["ts"] or None, "u": e["user_name"], "r": e["role"], "a": e["action"],
                             "t": e["target"], "d": json.dumps(e.get("detail") or {}, ensure_ascii=False)})
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self.path.write_text("", encoding="utf-8")
        return len(entries)


def recent(con, journal: AuditLog | None = None, *, limit: int = 50, user: str | None = None,
           action: str | None = None) -> list[dict[str, Any]]:
    """The latest entries from the store's ``audit_log`` and the journal, newest first."""
    rows = [] if con is None else [
        {"ts": str(ts), "user_name": u, "role": r, "action": a, "target": t, "detail": json.loads(d) if d else {}}
        for ts, u, r, a, t, d in con.execute("SELECT ts, user_name, role, action, target, detail FROM audit_log "
                                             "ORDER BY ts DESC LIMIT $n", {"n": limit}).fetchall()]
    rows += (journal or AuditLog()).entries()
    rows = [e for e in rows if (user is None or e["user_name"] == user) and (action is None or e["action"] == action)]
    return sorted(rows, key=lambda e: e["ts"], reverse=True)[:limit]
