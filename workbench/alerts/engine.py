"""Running a rule set: signals → detectors → levels, routing, de-duplication and cool-down → ``alerts``.

:func:`run_alerts` is idempotent: an alert is not raised again for the same student and rule inside the rule's
cool-down (``cooldown_days`` since the last one, stored alerts included), so rerunning a term, or running it every
day with a later ``as_of``, adds only what is new. Rules whose signal has no data in the term are *skipped* and
reported with the reason, never silently dropped.

>>> from workbench.store import open_store
>>> import tempfile, os
>>> with open_store(os.path.join(tempfile.mkdtemp(), "s.duckdb")) as s:
...     run = run_alerts(s.con, "2026-2027-1")
>>> len(run.alerts), sorted(run.skipped)[:2]
(0, ['absences', 'anxiety_then_grade_drop'])
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import duckdb
import pandas as pd

from workbench.alerts.detect import HIT_COLUMNS, combination, detect
from workbench.alerts.signals import is_emotion, load_signal, signal_label
from workbench.alerts.spec import LEVELS, RuleSet, load_rule_set

ALERT_COLUMNS = ["student_key", "class_id", "rule_id", "level", "route_to", "start_on", "fired_on", "detail"]


@dataclass
class AlertRun:
    """What one run found: the new ``alerts``, hits held back by cool-down, rules skipped and why."""
    term: str
    rule_set: str
    alerts: pd.DataFrame
    hits: dict[str, int] = field(default_factory=dict)
    cooled: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self, lang: str = "zh") -> str:
        n = self.alerts["level"].value_counts().to_dict() if len(self.alerts) else {}
        lv = "，".join(f"{LEVELS[k][lang]} {n.get(k, 0)}" for k in LEVELS) if lang == "zh" else \
            ", ".join(f"{n.get(k, 0)} {LEVELS[k][lang]}" for k in LEVELS)
        skip = "".join(f"\n  {'跳过' if lang == 'zh' else 'skipped'} {r}: {why}" for r, why in self.skipped.items())
        head = (f"{self.term} 新预警 {len(self.alerts)} 条（{lv}），冷却期内未重复 {sum(self.cooled.values())} 条"
                if lang == "zh" else f"{self.term}: {len(self.alerts)} new alerts ({lv}), "
                f"{sum(self.cooled.values())} held back by cool-down")
        return head + skip


def _text(rule: dict, hit: pd.Series, lang: str) -> str:
    name = rule.get("name", {}).get(lang, rule["id"])
    sig = signal_label(rule.get("signal", ""), lang) if rule.get("signal") else ""
    v, b = hit["value"], hit["baseline"]
    if rule["kind"] == "falling":
        return (f"{name}：{rule['periods']} 天平均 {v:.1f}，本人此前平均 {b:.1f}" if lang == "zh" else
                f"{name}: {rule['periods']}-day mean {v:.1f} against the student's own {b:.1f} before")
    if rule["kind"] in ("drop", "rise"):
        return (f"{name}：{hit['label'] or sig} {v:+.2f}，本人此前平均 {b:+.2f}" if lang == "zh" else
                f"{name}: {hit['label'] or sig} {v:+.2f} against the student's own {b:+.2f} before")
    if rule["kind"] == "combination":
        return name
    return (f"{name}：{sig} {v:g}" if lang == "zh" else f"{name}: {sig} {v:g}")


def _level(rule: dict, value: float) -> str:
    sev = rule.get("severe_at")
    if sev is not None and rule["kind"] == "threshold":
        higher = rule["op"] in (">", ">=")
        if (value >= sev) if higher else (value <= sev):
            return "severe"
    return rule["level"]


def _cool(hits: pd.DataFrame, seen: dict[str, list[pd.Timestamp]], days: float) -> tuple[pd.DataFrame, int]:
    """Keep a hit only when no alert of the same rule for the student (stored or kept now) lies within ``days`` of
    it; a rerun over the same data therefore adds nothing."""
    keep, held = [], 0
    gap = pd.Timedelta(days=max(days, 0))
    for i, h in hits.sort_values(["student_key", "fired_on"], kind="stable").iterrows():
        dates = seen.setdefault(h["student_key"], [])
        if any(abs(h["fired_on"] - d) < gap or h["fired_on"] == d for d in dates):
            held += 1
            continue
        dates.append(h["fired_on"])
        keep.append(i)
    return hits.loc[keep], held


def run_alerts(con: duckdb.DuckDBPyConnection, term: str, rule_set: RuleSet | None = None, *,
               as_of: date | None = None, write: bool = True, engine=None) -> AlertRun:
    """Evaluate every enabled rule over ``term`` (data up to ``as_of``) and store the new alerts. Rules over a
    weekly indicator of the catalogue compute it on ``engine`` (default the store's DuckDB)."""
    rs = rule_set or load_rule_set("default")
    classes = dict(con.execute("SELECT student_key, min(class_id) FROM enrolments WHERE term_id = $t GROUP BY ALL",
                               {"t": term}).fetchall())
    stored = con.execute("SELECT rule_id, student_key, fired_on FROM alerts WHERE term_id = $t AND fired_on IS NOT NULL",
                         {"t": term}).fetchall()
    seen: dict[str, dict[str, list[pd.Timestamp]]] = {}
    for rid, sk, d in stored:
        seen.setdefault(rid, {}).setdefault(sk, []).append(pd.Timestamp(d))
    run = AlertRun(term, rs.id, pd.DataFrame(columns=ALERT_COLUMNS))
    hits: dict[str, pd.DataFrame] = {}
    series: dict[str, pd.DataFrame] = {}
    rules = rs.enabled()
    for rule in sorted(rules, key=lambda r: r["kind"] == "combination"):
        if rule["kind"] == "combination":
            parts = [p if isinstance(p, list) else [p] for p in rule["all_of"]]
            dead = [p for p in parts if all(r in run.skipped for r in p)]
            if dead:
                run.skipped[rule["id"]] = "a part has no data: " + ", ".join("/".join(p) for p in dead)
                continue
            hits[rule["id"]] = combination(hits, rule)
        else:
            sig = rule["signal"]
            if sig not in series:
                series[sig] = load_signal(con, term, sig, as_of, engine=engine)
            if series[sig].empty:
                run.skipped[rule["id"]] = f"signal {sig} ({signal_label(sig, 'en')}) has no data in {term}"
                continue
            hits[rule["id"]] = detect(series[sig], rule)
    rows = []
    for rule in rules:
        h = hits.get(rule["id"])
        if h is None or rule.get("silent"):
            continue
        run.hits[rule["id"]] = len(h)
        kept, held = _cool(h, seen.setdefault(rule["id"], {}), rule.get("cooldown_days", 14))
        run.cooled[rule["id"]] = held
        emotion = is_emotion(rule["signal"]) if rule.get("signal") else any(
            is_emotion(rs.rule(r).get("signal", "")) for p in rule["all_of"] for r in (p if isinstance(p, list) else [p]))
        for _, hit in kept.iterrows():
            detail = {"signal": rule.get("signal"), "value": _num(hit["value"]), "baseline": _num(hit["baseline"]),
                      "label": hit["label"] if isinstance(hit["label"], str) else None, "emotion": emotion,
                      "text": {"zh": _text(rule, hit, "zh"), "en": _text(rule, hit, "en")}}
            rows.append({"student_key": hit["student_key"], "class_id": classes.get(hit["student_key"]),
                         "rule_id": rule["id"], "level": _level(rule, hit["value"]), "route_to": ",".join(rule["route"]),
                         "start_on": pd.Timestamp(hit["start_on"]).date(), "fired_on": pd.Timestamp(hit["fired_on"]).date(),
                         "detail": json.dumps(detail, ensure_ascii=False)})
    run.alerts = pd.DataFrame(rows, columns=ALERT_COLUMNS)
    if write and len(run.alerts):
        _write(con, term, rs, run.alerts)
    return run


def _num(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if f != f else round(f, 4)


def _write(con: duckdb.DuckDBPyConnection, term: str, rs: RuleSet, alerts: pd.DataFrame) -> None:
    frame = alerts.assign(term_id=term, rule_set=rs.id, rule_version=rs.version)
    con.register("new_alerts", frame)
    try:
        con.execute("""INSERT INTO alerts (alert_id, term_id, student_key, rule_id, level, route_to, detail, status,
                       created_at, rule_set, rule_version, class_id, start_on, fired_on, updated_at)
                       SELECT nextval('alert_seq'), term_id, student_key, rule_id, level, route_to, CAST(detail AS JSON),
                              'open', now(), rule_set, rule_version, class_id, start_on, fired_on, now()
                       FROM new_alerts ORDER BY fired_on, student_key, rule_id""")
    finally:
        con.unregister("new_alerts")


__all__ = ["AlertRun", "run_alerts", "ALERT_COLUMNS", "HIT_COLUMNS"]
