"""The alert inbox app driven headless: each role sees what was routed to it, actions land in the journal (the app's
store is read-only) and show at once, and nothing from the identity vault leaves it unmasked."""
from __future__ import annotations

import json
import secrets
import shutil

import duckdb
import ipywidgets
import pytest

from widgets import apps
from workbench.alerts.journal import ActionJournal
from workbench.privacy import Viewer, mask_name
from workbench.privacy.viewer import ENV_SECRET, ENV_TOKEN


def _state(widget) -> str:
    seen, out = set(), []

    def walk(w):
        if id(w) in seen:
            return
        seen.add(id(w))
        out.append(json.dumps(w.get_state(), ensure_ascii=False, default=str))
        for c in getattr(w, "children", None) or []:
            if isinstance(c, ipywidgets.Widget):
                walk(c)
    walk(widget)
    return "\n".join(out)


def _find(widget, test_id: str) -> list:
    found, seen = [], set()

    def walk(w):
        if id(w) in seen:
            return
        seen.add(id(w))
        if (getattr(w, "attributes", None) or {}).get("data-test") == test_id:
            found.append(w)
        for c in getattr(w, "children", None) or []:
            if isinstance(c, ipywidgets.Widget):
                walk(c)
    walk(widget)
    return found


@pytest.fixture()
def site(alerted_demo, tmp_path, monkeypatch):
    path = tmp_path / "store.duckdb"
    shutil.copy(alerted_demo["store"], path)
    secret = secrets.token_bytes(32)
    journal = tmp_path / "alert_actions.jsonl"
    for k, val in {"WORKBENCH_STORE": str(path), "WORKBENCH_AUDIT": str(tmp_path / "audit.jsonl"),
                   "WORKBENCH_ALERT_JOURNAL": str(journal), ENV_SECRET: secret.hex()}.items():
        monkeypatch.setenv(k, val)
    con = duckdb.connect(str(path), read_only=True)
    vault = con.execute("SELECT student_key, name, national_id, phone FROM identity_vault").fetchall()
    eng = con.execute("SELECT class_id, count(*) FROM alerts WHERE rule_id = 'engagement_falling_3d' GROUP BY 1 "
                      "ORDER BY 2 DESC, 1 LIMIT 1").fetchone()[0]
    con.close()

    def login(viewer: Viewer) -> None:
        monkeypatch.setenv(ENV_TOKEN, viewer.token(secret))
    return {"login": login, "vault": vault, "journal": ActionJournal(journal), "class": eng, "audit": tmp_path / "audit.jsonl"}


def test_head_teacher_sees_own_class_alerts_masked_and_acknowledges(site):
    site["login"](Viewer("li_t", "head_teacher", classes=(site["class"],)))
    inbox = apps.alert_inbox("status=all")
    cards = _find(inbox, "alert")
    assert cards and all(f" · {site['class']} · " in _state(c) for c in cards)
    text = _state(inbox)
    for key, name, nid, phone in site["vault"]:
        assert (nid and nid in text) is False and (phone and phone in text) is False
        if name and len(name) >= 3:
            assert name not in text                                   # only the masked form 郭*欣
    assert any(mask_name(n) in text for _, n, _, _ in site["vault"] if n)
    assert "GAD-7" not in text and "情绪打卡" not in text                # no emotion values for a head teacher
    open_cards = [c for c in cards if "待处理" in _state(c)]
    first = open_cards[0]
    aid = int(first.attributes["data-alert"])
    _find(first, "ack")[0].fire_event("click", None)
    assert [(e["action"], e["alert_id"], e["user"]) for e in site["journal"].entries()] == [("acknowledge", aid, "li_t")]
    again = [c for c in _find(inbox, "alert") if int(c.attributes["data-alert"]) == aid][0]
    assert "已确认" in _state(again) and _find(inbox, "saved")


def test_intervention_form_outcome_and_feedback_go_to_the_journal(site):
    site["login"](Viewer("li_t", "head_teacher", classes=(site["class"],)))
    inbox = apps.alert_inbox("status=open&lang=en")
    card = _find(inbox, "alert")[0]
    aid = int(card.attributes["data-alert"])
    _find(card, "intervene")[0].fire_event("click", None)
    _find(card, "kind")[0].v_model = "parent_contact"
    _find(card, "notes")[0].v_model = "called the family"
    _find(card, "visible-to")[0].v_model = ["head_teacher", "psychology_teacher"]
    _find(card, "save")[0].fire_event("click", None)
    e = site["journal"].entries()[-1]
    assert (e["action"], e["alert_id"], e["kind"], e["visible_to"]) == \
        ("intervention", aid, "parent_contact", "head_teacher,psychology_teacher")
    inbox.status.v_model = "in_progress"
    card = [c for c in _find(inbox, "alert") if int(c.attributes["data-alert"]) == aid][0]
    _find(card, "intervene")[0].fire_event("click", None)
    assert "called the family" in _state(card)
    _find(card, "outcome")[0].v_model = "improved"
    assert [x["action"] for x in site["journal"].entries()] == ["intervention", "outcome"]
    inbox.status.v_model = "closed"
    card = [c for c in _find(inbox, "alert") if int(c.attributes["data-alert"]) == aid][0]
    _find(card, "not-useful")[0].fire_event("click", None)
    assert site["journal"].entries()[-1]["feedback"] == "not_useful"
    assert "feedback: Not useful" in _state(_find(inbox, "alert")[0]) or any(
        "feedback: Not useful" in _state(c) for c in _find(inbox, "alert"))


def test_psychology_teacher_sees_values_only_with_consent_and_is_audited(site):
    site["login"](Viewer("xin_t", "psychology_teacher"))
    inbox = apps.alert_inbox("status=all")
    text = _state(inbox)
    assert "GAD-7" in text or "情绪" in text
    audit = [json.loads(x) for x in site["audit"].read_text(encoding="utf-8").splitlines()]
    assert any(e["action"] == "view_psychology" and e["detail"].get("what") == "alerts" for e in audit)


def test_roles_without_the_inbox_are_refused(site):
    site["login"](Viewer("admin", "school_admin"))
    assert _find(apps.alert_inbox(""), "refused")
    site["login"](Viewer("dad", "parent", student=site["vault"][0][0]))
    assert _find(apps.alert_inbox(""), "refused")
