"""The alert inbox and the intervention loop: who sees which alert, and what they record about it.

An alert is shown to a role only when the rule routed it there; values behind emotion rules (mood, GAD-7) are
shown only to psychology roles and only for students whose family consented — everyone else sees the rule, the
level and the date with a neutral note. The loop: acknowledge → record an intervention (type, who, notes and
which roles may read them) → record its outcome; anyone the alert was routed to may mark it useful / not useful,
and those marks become labels for the rules and the risk model. Every step checks the actor against the alert's
routing and the actor's scope first (a widget callback cannot widen it) and is written to ``alerts`` /
``interventions``.

>>> STATUSES
('open', 'acknowledged', 'in_progress', 'closed')
"""
from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd

from workbench.alerts.journal import ActionJournal, apply_entry, new_journal_id, overlay_alerts, overlay_interventions
from workbench.alerts.journal import entry as _entry
from workbench.alerts.spec import LEVELS
from workbench.privacy.roles import ROLES
from workbench.privacy.scope import display_code
from workbench.privacy.viewer import ScopeError, Viewer

STATUSES = ("open", "acknowledged", "in_progress", "closed")
INTERVENTION_KINDS: dict[str, dict[str, str]] = {
    "talk": {"zh": "个别谈话", "en": "one-to-one talk"}, "parent_contact": {"zh": "家校沟通", "en": "contacted the family"},
    "counselling": {"zh": "心理辅导", "en": "counselling"}, "tutoring": {"zh": "学业辅导", "en": "tutoring"},
    "referral": {"zh": "转介", "en": "referral"}, "other": {"zh": "其他", "en": "other"}}
OUTCOMES: dict[str, dict[str, str]] = {
    "improved": {"zh": "好转", "en": "improved"}, "unchanged": {"zh": "无变化", "en": "unchanged"},
    "worse": {"zh": "变差", "en": "worse"}, "resolved": {"zh": "已解决", "en": "resolved"}}
WITHHELD = {"zh": "学习与情绪关联预警：请与心理教师沟通（详情仅心理教师可见，并需家长同意）。",
            "en": "Learning and wellbeing alert: please talk with the psychology teacher (details are for the psychology "
                  "teacher only, with the family's consent)."}


def alert_rows(con: duckdb.DuckDBPyConnection, term: str, role: str, *, class_ids: list[str] | None = None,
               student_keys: list[str] | None = None, consented: set[str] | None = None,
               lang: str = "zh", status: str | None = None, journal: ActionJournal | None = None) -> pd.DataFrame:
    """The alerts of ``term`` routed to ``role`` (optionally only some classes / students), newest first, with the
    text the role may read: ``alert_id, code, student_key, class_id, rule_id, level, level_label, fired_on, status,
    text, feedback, interventions``."""
    rows = con.execute("""
        SELECT a.alert_id, a.student_key, a.class_id, a.rule_id, a.level, a.fired_on, a.status, a.detail, a.feedback,
               (SELECT count(*) FROM interventions i WHERE i.alert_id = a.alert_id) AS interventions
        FROM alerts a WHERE a.term_id = $t AND list_contains(string_split(a.route_to, ','), $r)
          AND ($c IS NULL OR list_contains($c, a.class_id)) AND ($k IS NULL OR list_contains($k, a.student_key))
        ORDER BY a.fired_on DESC, a.alert_id DESC""",
        {"t": term, "r": role, "c": class_ids, "k": student_keys}).df()
    if journal is not None:
        rows = overlay_alerts(rows, journal)
    if status is not None:
        rows = rows[rows["status"] == status].reset_index(drop=True)
    psych = ROLES[role].psychology
    texts = []
    for d, key in zip(rows["detail"], rows["student_key"]):
        detail = json.loads(d) if isinstance(d, str) else (d or {})
        if detail.get("emotion") and not (psych and consented is not None and key in consented):
            texts.append(WITHHELD[lang])
        else:
            texts.append((detail.get("text") or {}).get(lang, ""))
    rows.insert(1, "code", [display_code(k) for k in rows["student_key"]])
    rows["fired_on"] = pd.to_datetime(rows["fired_on"]).dt.date
    rows["level_label"] = [LEVELS.get(x, {}).get(lang, x) for x in rows["level"]]
    rows["text"] = texts
    return rows.drop(columns=["detail"])


def _alert(con: duckdb.DuckDBPyConnection, alert_id: int) -> dict[str, Any]:
    row = con.execute("SELECT alert_id, student_key, class_id, route_to, status FROM alerts WHERE alert_id = $a",
                      {"a": int(alert_id)}).fetchone()
    if row is None:
        raise KeyError(f"no alert {alert_id}")
    return dict(zip(("alert_id", "student_key", "class_id", "route_to", "status"), row))


def _check(viewer: Viewer, alert: dict[str, Any]) -> None:
    """The viewer's role must be on the alert's route and the student in the viewer's scope."""
    if viewer.role not in (alert["route_to"] or "").split(","):
        raise ScopeError("this alert is not routed to your role", "该预警未推送给您的角色")
    viewer.require_student(alert["student_key"], [alert["class_id"]] if alert["class_id"] else [])


def _act(con: duckdb.DuckDBPyConnection, journal: ActionJournal | None, entry: dict[str, Any]) -> None:
    if journal is not None:
        journal.append(entry)
    else:
        apply_entry(con, entry)


def acknowledge(con: duckdb.DuckDBPyConnection, alert_id: int, viewer: Viewer,
                journal: ActionJournal | None = None) -> None:
    """Mark an open alert as seen by ``viewer`` (in the store, or in ``journal`` when the store is read-only)."""
    a = _alert(con, alert_id)
    _check(viewer, a)
    _act(con, journal, _entry(viewer, "acknowledge", alert_id=a["alert_id"]))


def record_intervention(con: duckdb.DuckDBPyConnection, alert_id: int, viewer: Viewer, kind: str, notes: str = "",
                        visible_to: list[str] | None = None, journal: ActionJournal | None = None) -> int | str:
    """Record what was done about an alert; ``visible_to`` = roles that may read the notes (always the actor's
    role too). Returns the intervention id (``J-…`` while it waits in a journal)."""
    if kind not in INTERVENTION_KINDS:
        raise ValueError(f"unknown intervention kind {kind!r}; one of {', '.join(INTERVENTION_KINDS)}")
    roles = list(dict.fromkeys([viewer.role, *(visible_to or [])]))
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise ValueError(f"unknown roles in visible_to: {', '.join(bad)}")
    a = _alert(con, alert_id)
    _check(viewer, a)
    iid: int | str = new_journal_id() if journal is not None else \
        int(con.execute("SELECT nextval('intervention_seq')").fetchone()[0])
    _act(con, journal, _entry(viewer, "intervention", alert_id=a["alert_id"], intervention_id=iid, kind=kind,
                              notes=notes, visible_to=",".join(roles)))
    return iid


def _intervention_alert(con: duckdb.DuckDBPyConnection, intervention_id: int | str,
                        journal: ActionJournal | None) -> int:
    if isinstance(intervention_id, str) and intervention_id.startswith("J-"):
        for e in (journal.entries() if journal is not None else []):
            if e["action"] == "intervention" and e["intervention_id"] == intervention_id:
                return int(e["alert_id"])
        raise KeyError(f"no intervention {intervention_id}")
    row = con.execute("SELECT alert_id FROM interventions WHERE intervention_id = $i", {"i": int(intervention_id)}).fetchone()
    if row is None:
        raise KeyError(f"no intervention {intervention_id}")
    return int(row[0])


def record_outcome(con: duckdb.DuckDBPyConnection, intervention_id: int | str, viewer: Viewer, outcome: str,
                   close: bool = True, journal: ActionJournal | None = None) -> None:
    """Record how an intervention turned out (only someone who may act on its alert); ``close`` closes the alert."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
    alert_id = _intervention_alert(con, intervention_id, journal)
    _check(viewer, _alert(con, alert_id))
    _act(con, journal, _entry(viewer, "outcome", alert_id=alert_id, intervention_id=intervention_id, outcome=outcome,
                              close=close))


def mark_feedback(con: duckdb.DuckDBPyConnection, alert_id: int, viewer: Viewer, useful: bool,
                  journal: ActionJournal | None = None) -> None:
    """Mark an alert useful / not useful (a label for tuning rules and training the risk model)."""
    a = _alert(con, alert_id)
    _check(viewer, a)
    _act(con, journal, _entry(viewer, "feedback", alert_id=a["alert_id"], feedback="useful" if useful else "not_useful"))


def interventions_for(con: duckdb.DuckDBPyConnection, alert_id: int, viewer: Viewer, lang: str = "zh",
                      journal: ActionJournal | None = None) -> pd.DataFrame:
    """An alert's interventions as ``viewer`` may read them: notes only where the viewer's role is in
    ``visible_to``."""
    _check(viewer, _alert(con, alert_id))
    df = con.execute("""SELECT intervention_id, kind, by_role, by_user, notes, visible_to, outcome, created_at, outcome_at
                        FROM interventions WHERE alert_id = $a ORDER BY created_at""", {"a": int(alert_id)}).df()
    if journal is not None:
        df = overlay_interventions(df, journal, int(alert_id))
    can = [viewer.role in (v or "").split(",") for v in df["visible_to"]]
    df["notes"] = [n if ok else ("（记录仅对指定角色可见）" if lang == "zh" else "(notes visible to other roles only)")
                   for n, ok in zip(df["notes"], can)]
    df["kind_label"] = [INTERVENTION_KINDS.get(k, {}).get(lang, k) for k in df["kind"]]
    df["outcome_label"] = [OUTCOMES.get(o, {}).get(lang, "") if o else "" for o in df["outcome"]]
    return df.drop(columns=["visible_to"])
