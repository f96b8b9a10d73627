"""The rule editor (预警规则编辑): teachers change thresholds, levels, routing and cool-downs without code.

State lives in a plain document (the rule set's dict); every edit is checked at once with
:func:`workbench.alerts.spec.rule_set_from_dict`, problems are listed with the rule they are in, and Save is only
possible when the set is valid. Saving writes ``<id>.yaml`` to the school's rule library and keeps each change in
its history, so ``workbench alerts run`` (and the term run) use the edited set from then on.
"""
from __future__ import annotations

import copy

import ipyvuetify as v

from workbench.alerts.spec import KINDS, LEVELS, ROUTES, RuleSet, rule_set_from_dict, rules_library
from workbench.model.spec import SpecError
from workbench.privacy import ROLES

NUMBERS = ("periods", "of", "share", "value", "by", "severe_at", "count", "window_days", "within_days", "baseline",
           "window", "min_baseline", "cooldown_days")
LABELS = {"periods": ("次数/天数", "periods"), "of": ("在最近…次中", "of the last"), "share": ("不高于本人基线的比例", "share of own baseline"),
          "value": ("阈值", "threshold"), "by": ("变化幅度", "change by"), "severe_at": ("严重阈值", "severe at"),
          "count": ("次数", "count"), "window_days": ("时间窗（天）", "window (days)"),
          "within_days": ("间隔不超过（天）", "within (days)"), "baseline": ("基线长度", "baseline length"),
          "window": ("近期长度", "recent length"), "min_baseline": ("最低基线", "minimum baseline"),
          "cooldown_days": ("冷却期（天）", "cool-down (days)")}


def _number(text: str):
    t = str(text).strip()
    try:
        return int(t)
    except ValueError:
        try:
            return float(t)
        except ValueError:
            return t                   # kept as typed: the check names the rule and the field


class RuleEditor(v.Container):
    """``RuleEditor(rule_set, library)``: edit a rule set and save it to ``library`` (default: the school's)."""

    def __init__(self, rule_set: RuleSet, library=None, lang: str = "zh", **kwargs):
        super().__init__(fluid=True, attributes={"data-test": "rule-editor"}, **kwargs)
        self.doc, self.lang = copy.deepcopy(rule_set.doc), lang
        self.library = library or rules_library()
        self.valid: RuleSet | None = rule_set
        self.message = v.Html(tag="div", children=[], attributes={"data-test": "rule-messages"})
        self.save_btn = v.Btn(color="primary", children=["保存规则" if lang == "zh" else "Save rules"],
                              attributes={"data-test": "save-rules"})
        self.save_btn.on_event("click", lambda *_: self.save())
        self.fields: dict[tuple[str, str], v.VuetifyWidget] = {}
        cards = [self._card(r) for r in self.doc["rules"]]
        title = self.doc.get("name", {}).get(lang, self.doc["id"])
        self.children = [v.Html(tag="div", class_="d-flex ga-4 align-center mb-2", children=[
            v.Html(tag="h2", class_="text-h6", children=[f"{title}（v{self.doc['version']}）"]), self.save_btn]),
            self.message, *cards]

    def _card(self, rule: dict) -> v.Card:
        lang, rid = self.lang, rule["id"]
        on = v.Switch(v_model=rule.get("enabled", True), label="启用" if lang == "zh" else "enabled", density="compact",
                      hide_details=True, color="primary", attributes={"data-test": f"{rid}.enabled"})
        level = v.Select(v_model=rule["level"], items=[{"title": t[lang], "value": k} for k, t in LEVELS.items()],
                         label="级别" if lang == "zh" else "level", density="compact", hide_details=True,
                         style_="max-width:140px", attributes={"data-test": f"{rid}.level"})
        route = v.Select(v_model=list(rule["route"]), multiple=True, chips=True, density="compact", hide_details=True,
                         label="推送给" if lang == "zh" else "routed to", attributes={"data-test": f"{rid}.route"},
                         items=[{"title": ROLES[r].label(lang), "value": r} for r in ROUTES])
        self.fields.update({(rid, "enabled"): on, (rid, "level"): level, (rid, "route"): route})
        on.observe(lambda c: self.edit(rid, "enabled", bool(c["new"])), "v_model")
        level.observe(lambda c: self.edit(rid, "level", c["new"]), "v_model")
        route.observe(lambda c: self.edit(rid, "route", list(c["new"] or [])), "v_model")
        required, optional = KINDS.get(rule["kind"], ((), ()))
        nums = []
        for k in NUMBERS:
            if k in required + optional + ("cooldown_days",):
                f = v.TextField(v_model=str(rule.get(k, "")), label=LABELS[k][0 if lang == "zh" else 1],
                                density="compact", hide_details=True, style_="max-width:150px",
                                attributes={"data-test": f"{rid}.{k}"})
                f.observe(lambda c, k=k: self.edit(rid, k, _number(c["new"]) if str(c["new"]).strip() else None), "v_model")
                self.fields[(rid, k)] = f
                nums.append(f)
        name = rule.get("name", {}).get(lang, rid)
        sub = f"{rule['kind']} · {rule.get('signal', '')}" + (" · 组合部件（不单独推送）" if rule.get("silent") and lang == "zh"
                                                            else " · building block (not raised)" if rule.get("silent") else "")
        return v.Card(variant="outlined", class_="mb-2", attributes={"data-test": f"rule-{rid}"}, children=[
            v.CardTitle(class_="text-body-1", children=[name]), v.CardSubtitle(children=[sub]),
            v.CardText(children=[v.Html(tag="div", class_="d-flex flex-wrap ga-3 align-center",
                                        children=[on, level, route, *nums])])])

    def edit(self, rule_id: str, key: str, value) -> None:
        """Set one field of one rule (``None`` removes an optional field) and check the whole set."""
        rule = next(r for r in self.doc["rules"] if r["id"] == rule_id)
        if value is None:
            rule.pop(key, None)
        else:
            rule[key] = value
        self.check()

    def check(self) -> RuleSet | None:
        try:
            self.valid = rule_set_from_dict(self.doc, f"{self.doc.get('id', '?')}.yaml")
        except SpecError as exc:
            self.valid = None
            self.save_btn.disabled = True
            self.message.children = [v.Alert(type="error", variant="tonal", density="compact",
                                             attributes={"data-test": "rule-errors"},
                                             children=[v.Html(tag="div", children=[i.text(exc.source)])
                                                       for i in exc.issues])]
            return None
        self.save_btn.disabled = False
        self.message.children = []
        return self.valid

    def save(self):
        rs = self.check()
        if rs is None:
            return None
        path = self.library.save(rs)
        n = len(self.library.revisions(rs.id))
        self.message.children = [v.Alert(type="success", variant="tonal", density="compact",
                                         attributes={"data-test": "rules-saved"},
                                         children=[f"已保存 {path}（第 {n} 版）" if self.lang == "zh"
                                                   else f"saved {path} (revision {n})"])]
        return path
