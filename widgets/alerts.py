"""The alert inbox (预警处理): one list per role of the alerts routed to it, with the intervention loop.

Thin ipyvuetify view over :meth:`workbench.reports.scoped.ScopedViews.alert_inbox` and the actions of
:mod:`workbench.alerts.inbox`; every button calls an action that checks the viewer against the alert's routing and
scope first, so a callback cannot act on an alert the viewer was not sent. In an app the store is read-only and
actions go to the journal (shown at once, imported into the store by ``workbench alerts import``).
"""
from __future__ import annotations

import ipyvuetify as v

from workbench.alerts.inbox import (INTERVENTION_KINDS, OUTCOMES, acknowledge, interventions_for, mark_feedback,
                                    record_intervention, record_outcome)
from workbench.alerts.journal import ActionJournal
from workbench.labels import ui
from workbench.privacy import ROLES, ScopeError
from workbench.reports.scoped import ScopedViews

LEVEL_COLOR = {"watch": "blue", "warning": "orange", "severe": "red"}
STATUSES = ("open", "acknowledged", "in_progress", "closed")
SHOWN = 40


class AlertInbox(v.Container):
    """``AlertInbox(views, journal)``: the viewer's alerts, newest first, filterable by status."""

    def __init__(self, views: ScopedViews, journal: ActionJournal | None = None, status: str = "open", **kwargs):
        super().__init__(fluid=True, class_="wb-app", attributes={"data-test": "alert-inbox"}, **kwargs)
        self.views, self.journal, self.lang = views, journal, views.lang
        lang = self.lang
        self.status = v.Select(label=ui("ai_status", lang), v_model=status, density="compact", hide_details=True,
                               items=[{"title": ui("ai_all", lang), "value": "all"},
                                      *[{"title": ui(f"ai_{s}", lang), "value": s} for s in STATUSES]],
                               style_="max-width:220px", attributes={"data-test": "status-select"})
        self.counts = v.Html(tag="div", class_="d-flex ga-2 align-center", children=[])
        self.message = v.Html(tag="div", children=[])
        self.list = v.Html(tag="div", children=[], attributes={"data-test": "alert-list"})
        self.cards: dict[int, v.Card] = {}
        self.status.observe(lambda *_: self.refresh(), "v_model")
        self.children = [v.Html(tag="h2", class_="text-h6 mb-2", children=[ui("ai_title", lang)]),
                         v.Html(tag="div", class_="d-flex ga-4 align-center mb-3", children=[self.status, self.counts]),
                         self.message, self.list]
        self.refresh()

    # ------------------------------------------------------------------------------------ list
    def rows(self):
        status = None if self.status.v_model == "all" else self.status.v_model
        return self.views.alert_inbox(status=status, journal=self.journal)

    def refresh(self) -> None:
        lang = self.lang
        rows = self.rows()
        per_level = rows["level"].value_counts().to_dict() if len(rows) else {}
        self.counts.children = [v.Chip(color=LEVEL_COLOR[k], size="small", variant="tonal",
                                       attributes={"data-test": f"count-{k}"},
                                       children=[f"{label} {per_level.get(k, 0)}"])
                                for k, label in (("severe", "严重" if lang == "zh" else "severe"),
                                                 ("warning", "预警" if lang == "zh" else "warning"),
                                                 ("watch", "关注" if lang == "zh" else "watch"))]
        self.cards = {int(r["alert_id"]): self._card(r) for _, r in rows.head(SHOWN).iterrows()}
        more = [v.Html(tag="p", class_="text-caption", children=[ui("ai_more", lang, n=len(rows) - SHOWN)])] \
            if len(rows) > SHOWN else []
        self.list.children = list(self.cards.values()) + more if len(rows) else \
            [v.Html(tag="p", class_="text-medium-emphasis", attributes={"data-test": "no-alerts"},
                    children=[ui("ai_none", lang)])]

    def _card(self, r) -> v.Card:
        lang, aid = self.lang, int(r["alert_id"])
        ack = v.Btn(size="small", variant="tonal", children=[ui("ai_ack", lang)], disabled=r["status"] != "open",
                    attributes={"data-test": "ack"})
        act = v.Btn(size="small", variant="tonal", color="primary", children=[ui("ai_intervene", lang)],
                    attributes={"data-test": "intervene"})
        good = v.Btn(size="small", variant="text", children=[ui("ai_useful", lang)], attributes={"data-test": "useful"})
        bad = v.Btn(size="small", variant="text", children=[ui("ai_not_useful", lang)],
                    attributes={"data-test": "not-useful"})
        form = v.Html(tag="div", children=[])
        ack.on_event("click", lambda *_: self._do(lambda: acknowledge(self.views.con, aid, self.views.viewer,
                                                                      journal=self.journal)))
        good.on_event("click", lambda *_: self._do(lambda: mark_feedback(self.views.con, aid, self.views.viewer, True,
                                                                         journal=self.journal)))
        bad.on_event("click", lambda *_: self._do(lambda: mark_feedback(self.views.con, aid, self.views.viewer, False,
                                                                        journal=self.journal)))
        act.on_event("click", lambda *_: setattr(form, "children", self._form(aid)))
        status = ui(f"ai_{r['status']}", lang)
        feedback = [ui("ai_feedback", lang, f=ui("ai_useful" if r["feedback"] == "useful" else "ai_not_useful", lang))] \
            if isinstance(r["feedback"], str) else []
        head = v.CardTitle(class_="d-flex ga-2 align-center text-body-1", children=[
            v.Chip(color=LEVEL_COLOR.get(r["level"], "grey"), size="small", children=[r["level_label"]]),
            f"{r['display']} · {r['class_id'] or ''} · {r['fired_on']}",
            v.Chip(size="x-small", variant="outlined", children=[status], attributes={"data-test": "status"})])
        return v.Card(class_="mb-2", variant="outlined", attributes={"data-test": "alert", "data-alert": str(aid)},
                      children=[head, v.CardText(children=[r["text"], *[" · " + f for f in feedback]]),
                                v.CardActions(children=[ack, act, good, bad]), form])

    # ------------------------------------------------------------------------------------ actions
    def _do(self, action) -> None:
        try:
            action()
        except (ScopeError, ValueError, KeyError) as exc:
            self.message.children = [v.Alert(type="error", variant="tonal", density="compact",
                                             attributes={"data-test": "action-error"},
                                             children=[exc.message(self.lang) if isinstance(exc, ScopeError) else str(exc)])]
            return
        self.message.children = [v.Alert(type="success", variant="tonal", density="compact",
                                         attributes={"data-test": "saved"}, children=[ui("ai_saved", self.lang)])]
        self.refresh()

    def _form(self, alert_id: int) -> list:
        lang, viewer = self.lang, self.views.viewer
        kind = v.Select(label=ui("ai_kind", lang), v_model="talk", density="compact", hide_details=True,
                        items=[{"title": t[lang], "value": k} for k, t in INTERVENTION_KINDS.items()],
                        attributes={"data-test": "kind"})
        notes = v.Textarea(label=ui("ai_notes", lang), v_model="", rows=2, density="compact", hide_details=True,
                           attributes={"data-test": "notes"})
        share = v.Select(label=ui("ai_visible_to", lang), v_model=[viewer.role], multiple=True, chips=True,
                         density="compact", hide_details=True, attributes={"data-test": "visible-to"},
                         items=[{"title": ROLES[r].label(lang), "value": r}
                                for r in ("subject_teacher", "head_teacher", "psychology_teacher", "counsellor")])
        save = v.Btn(size="small", color="primary", children=[ui("ai_save", lang)], attributes={"data-test": "save"})
        save.on_event("click", lambda *_: self._do(lambda: record_intervention(
            self.views.con, alert_id, viewer, kind.v_model, notes.v_model or "", list(share.v_model or []),
            journal=self.journal)))
        history = interventions_for(self.views.con, alert_id, viewer, lang, journal=self.journal)
        items = []
        for _, h in history.iterrows():
            outcome = v.Select(label=ui("ai_outcome", lang), v_model=h["outcome"], density="compact", hide_details=True,
                               items=[{"title": t[lang], "value": k} for k, t in OUTCOMES.items()],
                               style_="max-width:160px", attributes={"data-test": "outcome"})
            outcome.observe(lambda c, i=h["intervention_id"]: self._do(lambda: record_outcome(
                self.views.con, i, viewer, c["new"], journal=self.journal)), "v_model")
            items.append(v.Html(tag="div", class_="d-flex ga-2 align-center", children=[
                f"{h['kind_label']} · {h['by_user']} · {h['notes']}", outcome]))
        return [v.CardText(children=[
            v.Html(tag="div", class_="d-flex ga-2 flex-wrap", children=[kind, share]), notes, save,
            *([v.Html(tag="h4", class_="mt-2", children=[ui("ai_history", lang)])] + items if items else [])])]
