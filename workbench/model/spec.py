"""ProfileModel specs: versioned YAML documents, loaded, checked and saved byte-for-byte.

A spec names dimensions → indicators (weights, direction), a normaliser and its scope, a
missing-data policy, tag rules and segmentation. :func:`load_spec` reads a file or the name of a
shipped spec (``workbench/model/specs/*.yaml``); :meth:`ProfileSpec.dump` writes the canonical
YAML, so load → save gives the identical document. Every problem is reported with the spec file
and the path inside it, e.g. ``dimensions.academic.indicators[2].id``.

>>> spec = load_spec("academic_emotion")
>>> spec.id, spec.version, sorted(spec.dimensions)
('academic_emotion', 1, ['academic', 'emotion'])
>>> spec.dump() == SHIPPED_DIR.joinpath("academic_emotion.yaml").read_text(encoding="utf-8")
True
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from workbench.indicators.catalogue import DIRECTIONS, Catalogue, load_catalogue
from workbench.model.expr import RuleError, parse_rule

SPEC_VERSION = 1
SHIPPED_DIR = Path(__file__).with_name("specs")
NORMALISERS = ("zscore", "minmax", "percentile")
SCOPES = ("class", "grade", "school")
MISSING = ("impute", "reweight")
SEGMENT_METHODS = ("kmeans", "gmm")
TOP_KEYS = ("version", "id", "name", "description", "normaliser", "scope", "missing", "dimensions", "tags", "segments")
# format upgrades: UPGRADES[v] turns a version v-1 document into version v (nbgrader's habit)
UPGRADES: dict[int, Any] = {}


@dataclass(frozen=True)
class SpecIssue:
    path: str
    en: str
    zh: str

    def text(self, source: str) -> str:
        return f"{source}: {self.path}: {self.en} / {self.zh}"


class SpecError(ValueError):
    """One or more problems in a spec; ``issues`` lists them, the message names file and path of each."""

    def __init__(self, source: str, issues: list[SpecIssue]):
        self.source, self.issues = source, issues
        super().__init__("\n".join(i.text(source) for i in issues))


class _Dumper(yaml.SafeDumper):
    pass


def _represent_dict(dumper: yaml.SafeDumper, data: dict) -> yaml.Node:
    flow = len(data) <= 4 and all(isinstance(v, str | int | float | bool) for v in data.values()) \
        and sum(len(str(v)) for v in data.values()) < 70
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(isinstance(v, int | float) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(list, _represent_list)


class VersionedDoc:
    """A checked, versioned document (a plain dict inside; equality and hash are by content): what a profile spec
    and an alert rule set share — canonical YAML, saving, a content hash, copies."""

    dumper: type = _Dumper

    def __init__(self, doc: dict[str, Any], source: str = "<spec>"):
        self.doc, self.source = doc, source

    id = property(lambda self: self.doc["id"])
    version = property(lambda self: self.doc["version"])

    def dump(self) -> str:
        return yaml.dump(self.doc, Dumper=self.dumper, allow_unicode=True, sort_keys=False, width=110)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.dump(), encoding="utf-8")
        return path

    @property
    def hash(self) -> str:
        """First 16 hex digits of SHA-256 over the canonical JSON of the document."""
        return hashlib.sha256(json.dumps(self.doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]

    def copy(self):
        return type(self)(copy.deepcopy(self.doc), self.source)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.doc == self.doc   # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.hash)


class ProfileSpec(VersionedDoc):
    """A checked spec document (a plain dict inside; equality and hash are by content)."""

    name = property(lambda self: self.doc.get("name", {"zh": self.doc["id"], "en": self.doc["id"]}))
    normaliser = property(lambda self: self.doc.get("normaliser", "percentile"))
    scope = property(lambda self: self.doc.get("scope", "grade"))
    missing = property(lambda self: self.doc.get("missing", "reweight"))
    dimensions = property(lambda self: self.doc["dimensions"])
    tags = property(lambda self: self.doc.get("tags") or [])
    segments = property(lambda self: self.doc.get("segments") or {})

    def indicator_ids(self) -> list[str]:
        return list(dict.fromkeys(i["id"] for d in self.dimensions.values() for i in d["indicators"]))

    def tag_names(self) -> set[str]:
        return {n for t in self.tags for n in parse_rule(t["rule"]).names}

    def __repr__(self) -> str:
        return f"ProfileSpec({self.id!r}, version={self.version}, hash={self.hash})"


def read_yaml_doc(path: Path) -> Any:
    """The YAML document in ``path``; a syntax error becomes a :class:`SpecError` naming the file and line."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise SpecError(str(path), [SpecIssue(where, f"not valid YAML: {getattr(exc, 'problem', exc)}", "YAML 格式错误")]) from None


def upgraded(doc: Any, source: str, version: int, upgrades: dict[int, Any]) -> dict[str, Any]:
    """A copy of ``doc`` brought up to format ``version`` by ``upgrades`` (``upgrades[v]`` turns a version v-1
    document into version v); a document that is not a mapping is refused."""
    if not isinstance(doc, dict):
        raise SpecError(source, [SpecIssue("", "expected a mapping at the top", "顶层应为键值映射")])
    doc = copy.deepcopy(doc)
    v = doc.get("version")
    if _int(v) and 1 <= v < version:
        for target in range(v + 1, version + 1):
            doc = upgrades[target](doc)
    return doc


def shipped_specs() -> list[str]:
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def load_spec(path_or_name: str | Path, catalogue: Catalogue | None = None) -> ProfileSpec:
    """Load and check a spec file, or a shipped spec by name (see :func:`shipped_specs`)."""
    p = Path(path_or_name)
    if not p.exists() and (SHIPPED_DIR / f"{path_or_name}.yaml").exists():
        p = SHIPPED_DIR / f"{path_or_name}.yaml"
    if not p.exists():
        raise SpecError(str(path_or_name), [SpecIssue("", f"no such file or shipped spec; shipped: {', '.join(shipped_specs())}",
                                                      "文件不存在，也不是内置模型")])
    return spec_from_dict(read_yaml_doc(p), str(p), catalogue)


def spec_from_dict(doc: Any, source: str = "<spec>", catalogue: Catalogue | None = None) -> ProfileSpec:
    """Upgrade an older document, check it and wrap it; raise :class:`SpecError` with every issue."""
    doc = upgraded(doc, source, SPEC_VERSION, UPGRADES)
    issues = check_spec(doc, catalogue or load_catalogue())
    if issues:
        raise SpecError(source, issues)
    return ProfileSpec(doc, source)


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_spec(doc: dict[str, Any], cat: Catalogue) -> list[SpecIssue]:
    """Every problem of ``doc`` (empty list = valid)."""
    out: list[SpecIssue] = []

    def bad(path: str, en: str, zh: str) -> None:
        out.append(SpecIssue(path, en, zh))
    v = doc.get("version")
    if not _int(v) or v < 1 or v > SPEC_VERSION:
        bad("version", f"version must be an integer from 1 to {SPEC_VERSION}, got {v!r}", "版本号无效")
    for k in doc:
        if k not in TOP_KEYS:
            close = difflib.get_close_matches(str(k), TOP_KEYS, 1)
            bad(str(k), f"unknown key{'; did you mean ' + close[0] + '?' if close else ''}", "未知的键")
    if not isinstance(doc.get("id"), str) or not re.fullmatch(r"[a-z][a-z0-9_]*", doc.get("id") or ""):
        bad("id", "id must be lower-case letters, digits and _ (e.g. academic_emotion)", "编号只能用小写字母、数字和下划线")
    for key in ("name", "description"):
        if key in doc and not (isinstance(doc[key], dict) and {"zh", "en"} <= set(doc[key])):
            bad(key, "expected {zh: …, en: …}", "需要中英文文本")
    for key, allowed in (("normaliser", NORMALISERS), ("scope", SCOPES), ("missing", MISSING)):
        if key in doc and doc[key] not in allowed:
            bad(key, f"{doc[key]!r} is not one of {', '.join(allowed)}", f"取值无效，可选：{'、'.join(allowed)}")
    dims = doc.get("dimensions")
    known_names = {"overall"} | set(cat.indicators)
    if not isinstance(dims, dict) or not dims:
        bad("dimensions", "at least one dimension with indicators is needed", "至少需要一个维度")
        dims = {}
    dim_weights = []
    for d, dspec in dims.items():
        p = f"dimensions.{d}"
        known_names.add(str(d))
        if not isinstance(dspec, dict):
            bad(p, "expected a mapping with weight and indicators", "维度应包含权重和指标")
            continue
        w = dspec.get("weight", 1)
        if not _num(w) or w < 0:
            bad(f"{p}.weight", f"weight must be a number ≥ 0, got {w!r}", "权重须为非负数")
        else:
            dim_weights.append(w)
        if d not in cat.dimensions and not isinstance(dspec.get("name"), dict):
            bad(f"{p}.name", "a dimension not in the catalogue needs name: {zh: …, en: …}", "目录外的维度需要中英文名称")
        inds = dspec.get("indicators")
        if not isinstance(inds, list) or not inds:
            bad(f"{p}.indicators", "a dimension needs a list of indicators", "维度需要指标列表")
            continue
        weights = []
        seen: set[str] = set()
        for i, ind in enumerate(inds):
            ip = f"{p}.indicators[{i}]"
            if not isinstance(ind, dict) or "id" not in ind:
                bad(ip, "expected {id: …, weight: …}", "应为 {id: …, weight: …}")
                continue
            iid = ind["id"]
            if not isinstance(iid, str):
                bad(f"{ip}.id", f"an indicator id is a name, got {iid!r}", "指标编号应为文本")
                continue
            if iid in seen:
                bad(f"{ip}.id", f"{iid} is listed twice in this dimension", "同一维度中指标重复")
                continue
            seen.add(iid)
            if iid not in cat:
                close = difflib.get_close_matches(str(iid), list(cat.indicators), 1)
                bad(f"{ip}.id", f"unknown indicator {iid!r}{'; did you mean ' + close[0] + '?' if close else ''} "
                    f"(see `workbench indicators`)", "未知指标")
                continue
            w = ind.get("weight", 1)
            if not _num(w) or w < 0:
                bad(f"{ip}.weight", f"weight must be a number ≥ 0, got {w!r}", "权重须为非负数")
            else:
                weights.append(w)
            direction = ind.get("direction", cat[iid].direction)
            if direction not in DIRECTIONS:
                bad(f"{ip}.direction", f"{direction!r} is not one of {', '.join(DIRECTIONS)}", "方向无效")
            elif direction == "neutral":
                bad(f"{ip}.direction", f"{iid} is descriptive (neutral); say direction: higher_better or lower_better "
                    f"to score with it", "中性指标计入得分须写明方向")
            extra = set(ind) - {"id", "weight", "direction"}
            if extra:
                bad(ip, f"unknown key(s) {', '.join(sorted(extra))}", "未知的键")
        if weights and sum(weights) <= 0:
            bad(f"{p}.indicators", "the weights add up to 0, so they cannot be normalised", "权重之和为 0，无法归一化")
    if dim_weights and sum(dim_weights) <= 0:
        bad("dimensions", "the dimension weights add up to 0, so they cannot be normalised", "维度权重之和为 0，无法归一化")
    tags = doc.get("tags") or []
    if not isinstance(tags, list):
        bad("tags", "expected a list of tags", "标签应为列表")
        tags = []
    tag_ids: set[str] = set()
    for t, tag in enumerate(tags):
        tp = f"tags[{t}]"
        if not isinstance(tag, dict) or not re.fullmatch(r"[a-z][a-z0-9_]*", str(tag.get("id", ""))):
            bad(f"{tp}.id", "each tag needs an id of lower-case letters, digits and _", "标签需要编号")
            continue
        if tag["id"] in tag_ids:
            bad(f"{tp}.id", f"tag {tag['id']} is defined twice", "标签重复")
        tag_ids.add(tag["id"])
        label = tag.get("label")
        if not isinstance(label, dict) or not {"zh", "en"} <= set(label):
            bad(f"{tp}.label", "a tag needs label: {zh: …, en: …}", "标签需要中英文名称")
        try:
            rule = parse_rule(tag.get("rule", ""))
        except RuleError as exc:
            bad(f"{tp}.rule", f"{exc} in {tag.get('rule')!r}", "规则无法解析")
            continue
        for n in sorted(rule.names - known_names):
            close = difflib.get_close_matches(n, sorted(known_names), 1)
            bad(f"{tp}.rule", f"unknown field {n!r}{'; did you mean ' + close[0] + '?' if close else ''} "
                "(use a dimension id, overall or an indicator id)", "规则中的字段未知")
    seg = doc.get("segments")
    if seg is not None:
        if not isinstance(seg, dict):
            bad("segments", "expected a mapping", "应为键值映射")
        else:
            if seg.get("method", "kmeans") not in SEGMENT_METHODS:
                bad("segments.method", f"{seg.get('method')!r} is not one of {', '.join(SEGMENT_METHODS)}", "分群方法无效")
            k = seg.get("k", "auto")
            if k != "auto" and (not _int(k) or k < 2):
                bad("segments.k", f"k must be auto or an integer ≥ 2, got {k!r}", "分群数须为 auto 或 ≥2 的整数")
            kr = seg.get("k_range", [2, 6])
            if not (isinstance(kr, list) and len(kr) == 2 and all(_int(x) for x in kr) and 2 <= kr[0] <= kr[1]):
                bad("segments.k_range", f"k_range must be [low, high] with 2 ≤ low ≤ high, got {kr!r}", "分群数范围无效")
            if not _int(seg.get("seed", 0)):
                bad("segments.seed", "seed must be an integer", "随机种子须为整数")
    return out
