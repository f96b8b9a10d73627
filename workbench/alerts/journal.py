"""Inbox actions as entries: written to the store directly, or to a journal while the store is read-only.

Published apps open the store read-only (many kernels read it at once; DuckDB allows one writer), so the alert
inbox in an app appends its actions — acknowledge, intervention, outcome, feedback — to ``alert_actions.jsonl``
beside the store (one ``O_APPEND`` line each, like the audit journal) and shows them at once by laying the journal
over the stored rows. ``workbench alerts import`` (and every ``workbench alerts run``) replays the journal into
``alerts`` and ``interventions`` and empties it. Direct callers (a notebook with a writable store) apply the
same entries with :func:`apply_entry`.

>>> import tempfile, pathlib
>>> j = ActionJournal(pathlib.Path(tempfile.mkdtemp()) / "alert_actions.jsonl")
>>> j.append({"ts": "2026-11-02T08:00:00+00:00", "user": "wang_t", "role": "head_teacher", "action": "feedback",
...           "alert_id": 7, "feedback": "useful"})
>>> [(e["action"], e["alert_id"]) for e in j.entries()]
[('feedback', 7)]
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from workbench.privacy.audit import append_json_line
from workbench.privacy.viewer import Viewer

ACTIONS = ("acknowledge", "intervention", "outcome", "feedback")


def default_journal_path() -> Path:
    from workbench.store import default_store_path
    return Path(os.environ.get("WORKBENCH_ALERT_JOURNAL") or default_store_path().parent / "alert_actions.jsonl")


def new_journal_id() -> str:
    return "J-" + uuid.uuid4().hex[:12]


def entry(viewer: Viewer, action: str, **fields: Any) -> dict[str, Any]:
    if action not in ACTIONS:
        raise ValueError(f"unknown inbox action {action!r}")
    return {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "user": viewer.login,
            "role": viewer.role, "action": action, **fields}


class ActionJournal:
    """An append-only journal of inbox actions (JSON lines)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_journal_path()

    def append(self, e: dict[str, Any]) -> None:
        if e.get("action") not in ACTIONS:
            raise ValueError(f"unknown inbox action {e.get('action')!r}")
        append_json_line(self.path, e)

    def entries(self) -> list[dict[str, Any]]:
        import json
        if not self.path.exists():
            return []
        out = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    raise ValueError(f"{self.path}: line {n} is not a JSON entry; fix or remove it "
                                     f"/ 第 {n} 行无法读取") from None
        return out


def apply_entry(con: duckdb.DuckDBPyConnection, e: dict[str, Any]) -> int | None:
    """Write one action to the store; an intervention returns its (new) id."""
    p = {"a": int(e["alert_id"]), "u": e["user"], "ts": e["ts"]}
    stamp = "CAST($ts AS TIMESTAMPTZ) AT TIME ZONE 'UTC'"
    ack = f"acknowledged_by = coalesce(acknowledged_by, $u), acknowledged_at = coalesce(acknowledged_at, {stamp})"
    if e["action"] == "acknowledge":
        con.execute(f"""UPDATE alerts SET status = CASE WHEN status = 'open' THEN 'acknowledged' ELSE status END, {ack},
                        updated_at = {stamp} WHERE alert_id = $a""", p)
    elif e["action"] == "intervention":
        iid = e["intervention_id"]
        if not isinstance(iid, int):
            iid = int(con.execute("SELECT nextval('intervention_seq')").fetchone()[0])
        con.execute(f"""INSERT INTO interventions (intervention_id, alert_id, student_key, kind, by_role, notes, outcome,
                        created_at, term_id, by_user, visible_to)
                        SELECT $i, alert_id, student_key, $k, $r, $n, NULL, {stamp}, term_id, $u, $v
                        FROM alerts WHERE alert_id = $a""",
                    {**p, "i": iid, "k": e["kind"], "r": e["role"], "n": e.get("notes", ""), "v": e["visible_to"]})
        con.execute(f"""UPDATE alerts SET status = CASE WHEN status = 'closed' THEN status ELSE 'in_progress' END, {ack},
                        updated_at = {stamp} WHERE alert_id = $a""", p)
        return iid
    elif e["action"] == "outcome":
        con.execute(f"UPDATE interventions SET outcome = $o, outcome_at = {stamp} WHERE intervention_id = $i",
                    {"o": e["outcome"], "i": int(e["intervention_id"]), "ts": e["ts"]})
        if e.get("close", True):
            con.execute(f"UPDATE alerts SET status = 'closed', updated_at = {stamp} WHERE alert_id = $a",
                        {"a": p["a"], "ts": p["ts"]})
    elif e["action"] == "feedback":
        con.execute(f"UPDATE alerts SET feedback = $f, feedback_by = $u, updated_at = {stamp} WHERE alert_id = $a",
                    {**p, "f": e["feedback"]})
    return None


def import_journal(con: duckdb.DuckDBPyConnection, journal: ActionJournal | None = None) -> int:
    """Replay the journal into the store in one transaction (journal ids → store ids) and empty it."""
    journal = journal or ActionJournal()
    entries = journal.entries()
    if not entries:
        return 0
    ids: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for e in entries:
            if e["action"] == "outcome" and str(e["intervention_id"]) in ids:
                e = {**e, "intervention_id": ids[str(e["intervention_id"])]}
            new = apply_entry(con, e)
            if e["action"] == "intervention" and new is not None:
                ids[str(e["intervention_id"])] = new
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    journal.path.write_text("", encoding="utf-8")
    return len(entries)


def overlay_alerts(rows: pd.DataFrame, journal: ActionJournal) -> pd.DataFrame:
    """Alert rows as they will be once the journal is imported (status, feedback, intervention count)."""
    rows = rows.copy()
    pos = {a: i for i, a in enumerate(rows["alert_id"])}
    for e in journal.entries():
        i = pos.get(int(e.get("alert_id", -1)))
        if i is None:
            continue
        st = rows.at[i, "status"]
        if e["action"] == "acknowledge" and st == "open":
            rows.at[i, "status"] = "acknowledged"
        elif e["action"] == "intervention":
            rows.at[i, "interventions"] = int(rows.at[i, "interventions"]) + 1
            rows.at[i, "status"] = st if st == "closed" else "in_progress"
        elif e["action"] == "outcome" and e.get("close", True):
            rows.at[i, "status"] = "closed"
        elif e["action"] == "feedback":
            rows.at[i, "feedback"] = e["feedback"]
    return rows


def overlay_interventions(df: pd.DataFrame, journal: ActionJournal, alert_id: int) -> pd.DataFrame:
    """An alert's interventions with those still in the journal (and journaled outcomes) added."""
    rows = df.to_dict("records")
    for e in journal.entries():
        if int(e.get("alert_id", -1)) != alert_id:
            continue
        if e["action"] == "intervention":
            rows.append({"intervention_id": e["intervention_id"], "kind": e["kind"], "by_role": e["role"],
                         "by_user": e["user"], "notes": e.get("notes", ""), "visible_to": e["visible_to"],
                         "outcome": None, "created_at": pd.Timestamp(e["ts"]).tz_convert(None), "outcome_at": None})
        elif e["action"] == "outcome":
            for r in rows:
                if str(r["intervention_id"]) == str(e["intervention_id"]):
                    r["outcome"], r["outcome_at"] = e["outcome"], pd.Timestamp(e["ts"]).tz_convert(None)
    return pd.DataFrame(rows, columns=df.columns)
