"""Alert rule sets: versioned YAML documents that teachers edit (in a file or the rule editor widget).

A rule set lists rules; each rule has a ``kind`` (the detector), a ``signal`` (a daily series such as
``daily_actions`` or ``mood``, or a weekly indicator of the catalogue such as ``beh_actions``), its thresholds, a
level (关注 watch / 预警 warning / 严重 severe), the roles it is routed to and a cool-down in days. Every problem
is reported with the file and the rule it is in, e.g. ``rules[gad7_high].value``. :meth:`RuleSet.dump` writes the
canonical YAML, so load → save gives the identical document.

>>> rs = load_rule_set("default")
>>> rs.id, rs.version, rs.rule("engagement_falling_3d")["route"]
('default', 1, ['head_teacher'])
>>> rs.dump() == SHIPPED_DIR.joinpath("default.yaml").read_text(encoding="utf-8")
True
>>> rule_set_from_dict({"version": 1, "id": "x", "rules": [{"id": "a", "kind": "streak", "signal": "mood_x",
...     "op": "<=", "value": 2, "periods": 3, "level": "watch", "route": ["head_teacher"]}]})
Traceback (most recent call last):
...
workbench.model.spec.SpecError: <rule set>: rules[a].signal: unknown signal or indicator 'mood_x'; did you mean mood? / 规则 a：未知的信号或指标 'mood_x'
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml

from workbench.alerts.signals import known_signals
from workbench.model.spec import SpecError, SpecIssue, VersionedDoc, _Dumper, read_yaml_doc, upgraded

RULES_VERSION = 1
SHIPPED_DIR = Path(__file__).with_name("rules")
LEVELS: dict[str, dict[str, str]] = {"watch": {"zh": "关注", "en": "watch"}, "warning": {"zh": "预警", "en": "warning"},
                                     "severe": {"zh": "严重", "en": "severe"}}
ROUTES = ("subject_teacher", "head_teacher", "psychology_teacher", "counsellor", "parent")
OPS = ("<", "<=", ">", ">=")
COMMON = ("id", "name", "description", "kind", "level", "route", "cooldown_days", "enabled", "silent")
# kind -> (required parameters, optional parameters)
KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "falling": (("signal", "periods", "share"), ("baseline", "min_baseline")),
    "streak": (("signal", "op", "value", "periods"), ("of",)),
    "threshold": (("signal", "op", "value"), ("severe_at",)),
    "drop": (("signal", "by"), ("baseline", "window")),
    "rise": (("signal", "by"), ("baseline", "window")),
    "count": (("signal", "count", "window_days"), ()),
    "combination": (("all_of", "within_days"), ("in_order",)),
}
TOP_KEYS = ("version", "id", "name", "description", "rules")
UPGRADES: dict[int, Any] = {}   # UPGRADES[v] turns a version v-1 document into version v


class _RulesDumper(_Dumper):
    """The profile-spec dumper, with short lists (routes, combination parts) on one line."""


def _flow_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flat = all(isinstance(v, str | int | float) or (isinstance(v, list) and all(isinstance(x, str) for x in v))
               for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_RulesDumper.add_representer(list, _flow_list)


class RuleSet(VersionedDoc):
    """A checked rule-set document (a plain dict inside; equality by content)."""

    dumper = _RulesDumper
    rules = property(lambda self: self.doc["rules"])

    def rule(self, rule_id: str) -> dict[str, Any]:
        for r in self.rules:
            if r["id"] == rule_id:
                return r
        raise KeyError(f"rule set {self.id} has no rule {rule_id!r}")

    def enabled(self) -> list[dict[str, Any]]:
        return [r for r in self.rules if r.get("enabled", True)]

    def __repr__(self) -> str:
        return f"RuleSet({self.id!r}, version={self.version}, rules={len(self.rules)})"


def default_rules_dir() -> Path:
    """``$WORKBENCH_RULES``, else ``rules/`` next to the store (``data/rules`` for the demo): the school's saved
    rule sets, each change kept in ``history/<id>/`` (see :class:`workbench.model.editor.ModelLibrary`)."""
    import os

    from workbench.store import find_store
    return Path(os.environ.get("WORKBENCH_RULES") or find_store().parent / "rules")


def rules_library():
    """The school's rule-set library (saved files with their history)."""
    from workbench.model.editor import ModelLibrary
    return ModelLibrary(default_rules_dir(), loader=load_rule_set)


def load_rule_set(path_or_name: str | Path = "default") -> RuleSet:
    """Load and check a rule-set file, a saved one by id (the school's library, see :func:`default_rules_dir`) or
    a shipped one by name (``workbench/alerts/rules/<name>.yaml``); a saved set shadows the shipped one."""
    p = Path(path_or_name)
    if not p.exists() and p.suffix != ".yaml" and re.fullmatch(r"[a-z][a-z0-9_]*", str(path_or_name)):
        saved = default_rules_dir() / f"{path_or_name}.yaml"
        p = saved if saved.exists() else SHIPPED_DIR / f"{path_or_name}.yaml"
    if not p.exists():
        raise SpecError(str(path_or_name), [SpecIssue("", "no such file or shipped rule set", "文件不存在，也不是内置规则集")])
    doc = read_yaml_doc(p)
    return rule_set_from_dict(doc, str(p))


def rule_set_from_dict(doc: Any, source: str = "<rule set>") -> RuleSet:
    """Upgrade an older document, check it and wrap it; raise ``SpecError`` naming every bad rule."""
    doc = upgraded(doc, source, RULES_VERSION, UPGRADES)
    issues = check_rule_set(doc)
    if issues:
        raise SpecError(source, issues)
    return RuleSet(doc, source)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def check_rule_set(doc: dict[str, Any]) -> list[SpecIssue]:
    """Every problem of ``doc`` (empty list = valid); each names the rule by id."""
    out: list[SpecIssue] = []
    v = doc.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= RULES_VERSION:
        out.append(SpecIssue("version", f"version must be an integer from 1 to {RULES_VERSION}, got {v!r}", "版本号无效"))
    for k in doc:
        if k not in TOP_KEYS:
            out.append(SpecIssue(str(k), "unknown key", "未知的键"))
    if not isinstance(doc.get("id"), str) or not re.fullmatch(r"[a-z][a-z0-9_]*", doc.get("id") or ""):
        out.append(SpecIssue("id", "id must be lower-case letters, digits and _", "编号只能用小写字母、数字和下划线"))
    rules = doc.get("rules")
    if not isinstance(rules, list) or not rules:
        return out + [SpecIssue("rules", "at least one rule is needed", "至少需要一条规则")]
    ids = [r.get("id") if isinstance(r, dict) else None for r in rules]
    signals = known_signals()
    for i, rule in enumerate(rules):
        out += _check_rule(rule, i, ids, signals)
    return out


def _check_rule(rule: Any, i: int, ids: list[Any], signals: set[str]) -> list[SpecIssue]:
    out: list[SpecIssue] = []
    if not isinstance(rule, dict):
        return [SpecIssue(f"rules[{i}]", "each rule is a mapping", "每条规则应为键值映射")]
    rid = rule.get("id")
    where = f"rules[{rid}]" if isinstance(rid, str) else f"rules[{i}]"

    def bad(key: str, en: str, zh: str) -> None:
        out.append(SpecIssue(f"{where}.{key}" if key else where, en, f"规则 {rid if isinstance(rid, str) else i + 1}：{zh}"))
    if not isinstance(rid, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", rid):
        bad("id", "rule id must be lower-case letters, digits and _", "规则编号只能用小写字母、数字和下划线")
    elif rid in ids[:i]:
        bad("id", f"rule id {rid!r} is used again (rule {ids.index(rid) + 1} has it)", "规则编号重复")
    kind = rule.get("kind")
    if kind not in KINDS:
        bad("kind", f"unknown kind {kind!r}; one of {', '.join(KINDS)}", f"未知的规则类型 {kind!r}")
        return out
    required, optional = KINDS[kind]
    for k in rule:
        if k not in COMMON + required + optional:
            close = difflib.get_close_matches(str(k), COMMON + required + optional, 1)
            bad(str(k), f"unknown key for a {kind} rule" + (f"; did you mean {close[0]}?" if close else ""), f"未知的键 {k}")
    for k in required:
        if k not in rule:
            bad(k, f"a {kind} rule needs {k}", f"缺少 {k}")
    if "name" in rule and not (isinstance(rule["name"], dict) and {"zh", "en"} <= set(rule["name"])):
        bad("name", "expected {zh: …, en: …}", "名称需要中英文")
    if rule.get("level") not in LEVELS:
        bad("level", f"level must be one of {', '.join(LEVELS)}", "级别应为 watch（关注）、warning（预警）或 severe（严重）")
    route = rule.get("route")
    if not isinstance(route, list) or not route or any(r not in ROUTES for r in route):
        bad("route", f"route is a list of roles from {', '.join(ROUTES)}", "推送对象应为角色列表")
    if "cooldown_days" in rule and not (_num(rule["cooldown_days"]) and rule["cooldown_days"] >= 0):
        bad("cooldown_days", "cooldown_days is a number of days ≥ 0", "冷却天数应为非负数")
    sig = rule.get("signal")
    if "signal" in required and sig is not None and sig not in signals:
        close = difflib.get_close_matches(str(sig), sorted(signals), 1)
        bad("signal", f"unknown signal or indicator {sig!r}" + (f"; did you mean {close[0]}?" if close else ""),
            f"未知的信号或指标 {sig!r}")
    if "op" in rule and rule["op"] not in OPS:
        bad("op", f"op is one of {' '.join(OPS)}", "比较符无效")
    for k in ("value", "share", "by", "severe_at"):
        if k in rule and not _num(rule[k]):
            bad(k, f"{k} must be a number", f"{k} 应为数字")
    if "share" in rule and _num(rule["share"]) and not 0 < rule["share"] < 1:
        bad("share", "share is a fraction of the student's own baseline, between 0 and 1", "比例应在 0 与 1 之间")
    for k in ("periods", "of", "count", "window_days", "within_days", "baseline", "window"):
        if k in rule and not _pos_int(rule[k]):
            bad(k, f"{k} must be a whole number ≥ 1", f"{k} 应为正整数")
    if kind == "combination":
        parts = rule.get("all_of")
        if not isinstance(parts, list) or not parts or (len(parts) == 1 and not (isinstance(parts[0], list)
                                                                                  and len(parts[0]) >= 2)):
            bad("all_of", "a combination needs two parts, or one list of rules (= any of them); a part is a rule id "
                "or a list of rule ids (any of them)",
                "组合规则至少需要两部分")
        else:
            for part in parts:
                for ref in (part if isinstance(part, list) else [part]):
                    if ref not in ids or ref == rid:
                        bad("all_of", f"{ref!r} is not another rule of this set", f"引用的规则 {ref!r} 不存在")
    return out
