"""Subject-choice schemes (选科方案): versioned YAML documents naming the fixed subjects, the choices and, for each
subject, the junior-school evidence that stands for it.

A scheme has ``fixed`` subjects, ``choose`` groups (``pick`` n ``from`` a list) and a ``subjects`` map: each subject
has an English name, an ``evidence`` subject of the junior school (思想政治 ← 道德与法治, 外语 ← 英语) and, when the
student may have no exam in it, a ``proxy`` list of related subjects with ``proxy_sd``, the extra uncertainty (in
grade standard deviations) of estimating a subject from others. Shipped schemes live in
``workbench/recommend/schemes/*.yaml``; every problem is reported with the file and the path inside it, in English
and Chinese.

>>> s = load_scheme("gaokao_3_1_2")
>>> s.id, len(s.combinations()), s.label(("物理", "化学", "生物"), "en")
('gaokao_3_1_2', 12, 'Physics + Chemistry + Biology')
>>> scheme_from_dict({"version": 1, "id": "x", "fixed": [], "choose": [{"pick": 1, "from": ["思想政治", "化学"]}],
...                   "subjects": {"思想政治": {"en": "Politics", "evidence": "道德和法治"}}})
Traceback (most recent call last):
...
workbench.model.spec.SpecError: <scheme>: subjects.思想政治.evidence: unknown junior-school subject '道德和法治'; did you mean 道德与法治? / 未知的初中学科 '道德和法治'
<scheme>: choose[0].from: 化学 is not defined under subjects / 科目 化学 未在 subjects 中定义
"""
from __future__ import annotations

import difflib
import itertools
import re
from pathlib import Path
from typing import Any

from workbench.model.spec import SpecError, SpecIssue, VersionedDoc, read_yaml_doc, upgraded

SCHEME_VERSION = 1
SCHEMES_DIR = Path(__file__).with_name("schemes")
TOP_KEYS = ("version", "id", "name", "description", "fixed", "choose", "subjects")
SUBJECT_KEYS = ("en", "evidence", "proxy", "proxy_sd")
PROXY_SD = 0.6   # default widening of a proxy estimate, in grade SDs
# subjects a junior school may examine (old and new names) with their English names; evidence and proxies are among them
JUNIOR_SUBJECTS: dict[str, str] = {
    "语文": "Chinese", "数学": "Mathematics", "英语": "English", "日语": "Japanese", "俄语": "Russian",
    "物理": "Physics", "化学": "Chemistry", "生物": "Biology", "道德与法治": "Morality and law",
    "思想品德": "Ideology and morality", "历史": "History", "地理": "Geography", "科学": "Science",
    "历史与社会": "History and society", "信息科技": "Information technology", "信息技术": "Information technology",
    "体育与健康": "Physical education", "音乐": "Music", "美术": "Fine arts", "艺术": "Arts", "劳动": "Labour"}
UPGRADES: dict[int, Any] = {}   # UPGRADES[v] turns a version v-1 document into version v


class SubjectScheme(VersionedDoc):
    """A checked scheme document (a plain dict inside; equality by content)."""

    fixed = property(lambda self: list(self.doc["fixed"]))
    groups = property(lambda self: [(g["pick"], list(g["from"])) for g in self.doc["choose"]])
    subjects = property(lambda self: self.doc["subjects"])
    name = property(lambda self: self.doc.get("name", {"zh": self.doc["id"], "en": self.doc["id"]}))

    def choosable(self) -> list[str]:
        return [s for _, members in self.groups for s in members]

    def combinations(self) -> list[tuple[str, ...]]:
        """Every allowed choice, in the order of the groups (物理+化学+生物, …)."""
        per_group = [list(itertools.combinations(members, pick)) for pick, members in self.groups]
        return [tuple(s for part in parts for s in part) for parts in itertools.product(*per_group)]

    def subject_name(self, subject: str, lang: str = "zh") -> str:
        return subject if lang == "zh" else self.subjects[subject].get("en", subject)

    def label(self, combination: tuple[str, ...] | list[str], lang: str = "zh") -> str:
        return ("+" if lang == "zh" else " + ").join(self.subject_name(s, lang) for s in combination)

    def __repr__(self) -> str:
        return f"SubjectScheme({self.id!r}, version={self.version}, combinations={len(self.combinations())})"


def list_schemes() -> list[str]:
    """Names of the shipped schemes."""
    return sorted(p.stem for p in SCHEMES_DIR.glob("*.yaml"))


def load_scheme(name_or_path: str | Path | SubjectScheme = "gaokao_3_1_2") -> SubjectScheme:
    """Load and check a scheme file, or a shipped scheme by name (see :func:`list_schemes`); a scheme is returned
    as it is."""
    if isinstance(name_or_path, SubjectScheme):
        return name_or_path
    p = Path(name_or_path)
    if not p.exists() and re.fullmatch(r"[a-z][a-z0-9_]*", str(name_or_path)):
        p = SCHEMES_DIR / f"{name_or_path}.yaml"
    if not p.exists():
        raise SpecError(str(name_or_path), [SpecIssue("", f"no such file or shipped scheme; shipped: "
                                                          f"{', '.join(list_schemes())}", "文件不存在，也不是内置选科方案")])
    doc = read_yaml_doc(p)
    return scheme_from_dict(doc, str(p))


def scheme_from_dict(doc: Any, source: str = "<scheme>") -> SubjectScheme:
    """Upgrade an older document, check it and wrap it; raise ``SpecError`` naming every problem."""
    doc = upgraded(doc, source, SCHEME_VERSION, UPGRADES)
    issues = check_scheme(doc)
    if issues:
        raise SpecError(source, issues)
    return SubjectScheme(doc, source)


def _junior(name: Any, path: str, out: list[SpecIssue]) -> None:
    if name not in JUNIOR_SUBJECTS:
        close = difflib.get_close_matches(str(name), list(JUNIOR_SUBJECTS), 1, 0.5)
        out.append(SpecIssue(path, f"unknown junior-school subject {name!r}" + (f"; did you mean {close[0]}?" if close
                                                                               else ""), f"未知的初中学科 {name!r}"))


def check_scheme(doc: dict[str, Any]) -> list[SpecIssue]:
    """Every problem of ``doc`` (empty list = valid)."""
    out: list[SpecIssue] = []

    def bad(path: str, en: str, zh: str) -> None:
        out.append(SpecIssue(path, en, zh))
    v = doc.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= SCHEME_VERSION:
        bad("version", f"version must be an integer from 1 to {SCHEME_VERSION}, got {v!r}", "版本号无效")
    for k in doc:
        if k not in TOP_KEYS:
            close = difflib.get_close_matches(str(k), TOP_KEYS, 1)
            bad(str(k), "unknown key" + (f"; did you mean {close[0]}?" if close else ""), "未知的键")
    if not isinstance(doc.get("id"), str) or not re.fullmatch(r"[a-z][a-z0-9_]*", doc.get("id") or ""):
        bad("id", "id must be lower-case letters, digits and _", "编号只能用小写字母、数字和下划线")
    for key in ("name", "description"):
        if key in doc and not (isinstance(doc[key], dict) and {"zh", "en"} <= set(doc[key])):
            bad(key, "expected {zh: …, en: …}", "需要中英文文本")
    subjects = doc.get("subjects")
    if not isinstance(subjects, dict) or not subjects:
        bad("subjects", "a mapping subject → {en, evidence, proxy} is needed", "需要科目及其证据来源")
        subjects = {}
    for s, spec in subjects.items():
        p = f"subjects.{s}"
        if not isinstance(spec, dict):
            bad(p, "expected {en: …, evidence: …}", "应为 {en: …, evidence: …}")
            continue
        for k in spec:
            if k not in SUBJECT_KEYS:
                close = difflib.get_close_matches(str(k), SUBJECT_KEYS, 1)
                bad(f"{p}.{k}", "unknown key" + (f"; did you mean {close[0]}?" if close else ""), "未知的键")
        if not isinstance(spec.get("en"), str):
            bad(f"{p}.en", "each subject needs its English name", "需要英文名称")
        if "evidence" not in spec and "proxy" not in spec:
            bad(p, "a subject needs evidence (a junior-school subject) or a proxy list", "需要证据学科或替代学科")
        if "evidence" in spec:
            _junior(spec["evidence"], f"{p}.evidence", out)
        if "proxy" in spec:
            proxy = spec["proxy"]
            if not isinstance(proxy, list) or not proxy:
                bad(f"{p}.proxy", "proxy is a non-empty list of junior-school subjects", "替代学科应为非空列表")
            else:
                for i, x in enumerate(proxy):
                    _junior(x, f"{p}.proxy[{i}]", out)
        sd = spec.get("proxy_sd", PROXY_SD)
        if not isinstance(sd, int | float) or isinstance(sd, bool) or not sd > 0:
            bad(f"{p}.proxy_sd", f"proxy_sd is a number > 0 (grade SDs), got {sd!r}", "proxy_sd 应为正数")
    seen: dict[str, str] = {}
    fixed = doc.get("fixed")
    if not isinstance(fixed, list):
        bad("fixed", "fixed is a list of subjects (may be empty)", "必考科目应为列表")
        fixed = []
    for i, s in enumerate(fixed):
        if s not in subjects:
            bad(f"fixed[{i}]", f"{s} is not defined under subjects", f"科目 {s} 未在 subjects 中定义")
        seen[s] = f"fixed[{i}]"
    choose = doc.get("choose")
    if not isinstance(choose, list) or not choose:
        return out + [SpecIssue("choose", "at least one group {pick: n, from: [...]} is needed", "至少需要一个选科组")]
    for g, group in enumerate(choose):
        p = f"choose[{g}]"
        if not isinstance(group, dict) or set(group) - {"pick", "from"}:
            bad(p, "a group is {pick: n, from: [subjects]}", "选科组应为 {pick: n, from: [...]}")
            continue
        members, pick = group.get("from"), group.get("pick")
        if not isinstance(members, list) or not members:
            bad(f"{p}.from", "from is a non-empty list of subjects", "可选科目应为非空列表")
            continue
        if not isinstance(pick, int) or isinstance(pick, bool) or not 1 <= pick <= len(members):
            bad(f"{p}.pick", f"pick must be a whole number from 1 to {len(members)}, got {pick!r}",
                f"选科数应为 1 到 {len(members)} 的整数")
        for s in members:
            if s not in subjects:
                bad(f"{p}.from", f"{s} is not defined under subjects", f"科目 {s} 未在 subjects 中定义")
            if s in seen:
                bad(f"{p}.from", f"{s} is already in {seen[s]}", f"科目 {s} 重复出现")
            seen[s] = p
    return out
