"""Source presets: inert YAML documents that say how one export maps onto a canonical table.

A preset holds no code. It names the reader options, the target table, and for every target
field where its value comes from (``from`` a column, a ``const``, or a ``concat`` of columns), its
type and the checks it must pass. Schools add presets by dropping a YAML file into a folder named
by ``$WORKBENCH_PRESETS`` (``os.pathsep``-separated); the shipped ones live next to this module.

>>> p = load_preset("oulad_student_info")
>>> p.table, p.fields["student_key"].student
('enrolments', 'oulad')
"""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.labels import REASONS
from workbench.store.schema import TABLES

PRESET_VERSION = 1
PRESET_DIR = Path(__file__).parent / "presets"
TYPES = {"string", "int", "double", "date", "timestamp", "bool", "list"}


class PresetError(ValueError):
    """A preset file is malformed, or no preset of that name exists."""


@dataclass
class FieldSpec:
    name: str
    source: str | None = None          # from:
    const: Any = None
    concat: list[Any] | None = None
    object: list[str] | None = None     # several columns packed into one JSON object
    sep: str = ""
    scale: float | None = None          # numeric values are multiplied by this
    type: str = "string"
    formats: list[str] = field(default_factory=list)
    timezone: str | None = None
    map: dict[str, Any] | None = None
    required: bool = False
    min: float | None = None
    max: float | None = None
    max_field: str | None = None
    min_reason: str = "out_of_range"
    max_reason: str = "out_of_range"
    lookup: dict[str, str] | None = None   # {table, column, reason}
    term_of: str | None = None             # this field is the term containing date field X
    student: str | None = None             # source system: value is a student id in that system
    optional_student: bool = False         # unknown ids become NULL instead of a rejection
    split: str | None = None
    pattern: str | None = None            # the raw text must match this regular expression
    pii: bool = False

    def source_columns(self) -> list[str]:
        cols = [self.source] if self.source else []
        for part in self.concat or []:
            if isinstance(part, str):
                cols.append(part)
        cols += list(self.object or [])
        return [c for c in cols if c not in ("_row", "_line", "_file")]


@dataclass
class IdentitySpec:
    system: str
    mode: str = "create"                 # create | link
    id: str | list[str] = ""          # a column, or several joined with ':'  
    name: str | None = None
    national_id: str | None = None
    phone: str | None = None
    birth_date: str | None = None
    birth_formats: list[str] = field(default_factory=list)
    class_name: str | None = None

    def pii_columns(self) -> list[str]:
        return [c for c in (self.name, self.national_id, self.phone) if c]

    def columns(self) -> list[str]:
        ids = self.id if isinstance(self.id, list) else [self.id]
        return [c for c in ids + [self.name, self.national_id, self.phone, self.birth_date, self.class_name]
                if c and c not in ("_row", "_line", "_file")]


@dataclass
class Preset:
    name: str
    title: dict[str, str]
    table: str | None
    fields: dict[str, FieldSpec]
    reader: dict[str, Any] = field(default_factory=dict)
    key: list[str] | None = None
    derive: list[dict[str, Any]] = field(default_factory=list)
    identity: IdentitySpec | None = None
    unpivot: dict[str, Any] | None = None
    match: list[str] = field(default_factory=list)
    order: int = 50
    write: str = "insert"                # insert | upsert (fill columns of rows that exist)
    source: str = ""
    description: str = ""
    version: int = PRESET_VERSION
    path: Path | None = None

    def key_fields(self) -> list[str]:
        if self.key is not None:
            return list(self.key)
        if self.table and TABLES[self.table].key:
            return [k for k in TABLES[self.table].key if k in self.fields]
        return []

    def required_columns(self) -> list[str]:
        """Source columns that must be present for the file to be read at all."""
        cols: list[str] = []
        for f in self.fields.values():
            cols += f.source_columns()
        if self.identity:
            ids = self.identity.id
            cols += ids if isinstance(ids, list) else [ids]
        if self.unpivot:  # unpivoted columns are matched by prefix, their long names are produced
            produced = {self.unpivot.get("name_field", "item"), self.unpivot.get("value_field", "value")}
            cols = [c for c in cols if c not in produced]
        return list(dict.fromkeys(c for c in cols if c and c not in ("_row", "_line", "_file")))

    def referenced_columns(self) -> list[str]:
        """Source columns the preset reads (with unpivoted ones); only these may enter quarantine."""
        cols = self.required_columns() + (self.identity.columns() if self.identity else [])
        if self.unpivot:
            cols += list(self.unpivot.get("columns") or [])
        return list(dict.fromkeys(cols))

    def pii_columns(self) -> list[str]:
        cols = [f.source for f in self.fields.values() if f.pii and f.source]
        if self.identity:
            cols += self.identity.pii_columns()
        return list(dict.fromkeys(cols))

    def matches(self, path: str | os.PathLike[str]) -> bool:
        name = Path(path).name
        return any(fnmatch.fnmatch(name, pattern) for pattern in self.match)


def _upgrade(doc: dict[str, Any], where: str) -> dict[str, Any]:
    version = doc.get("version", 1)
    if not isinstance(version, int) or version < 1:
        raise PresetError(f"{where}: 'version' must be a positive integer")
    if version > PRESET_VERSION:
        raise PresetError(f"{where}: preset version {version} is newer than this workbench ({PRESET_VERSION})")
    # version 1 is the first: future upgrades chain here (v1 -> v2 -> ...)
    return doc


_FIELD_KEYS = {"from", "const", "concat", "object", "scale", "sep", "type", "format", "timezone", "map", "required", "min", "max",
               "max_field", "min_reason", "max_reason", "lookup", "term_of", "student", "optional_student",
               "split", "pattern", "pii"}


def _field(name: str, spec: Any, where: str) -> FieldSpec:
    if isinstance(spec, str):
        spec = {"from": spec}
    if not isinstance(spec, dict):
        raise PresetError(f"{where}: field {name!r} must be a column name or a mapping")
    unknown = set(spec) - _FIELD_KEYS
    if unknown:
        raise PresetError(f"{where}: field {name!r} has unknown keys {sorted(unknown)}")
    ftype = spec.get("type", "string")
    if ftype not in TYPES:
        raise PresetError(f"{where}: field {name!r} has unknown type {ftype!r} (one of {sorted(TYPES)})")
    if sum(k in spec for k in ("from", "const", "concat", "object", "term_of")) != 1:
        raise PresetError(f"{where}: field {name!r} needs exactly one of from / const / concat / object / term_of")
    for k in ("min_reason", "max_reason"):
        if k in spec and spec[k] not in REASONS:
            raise PresetError(f"{where}: field {name!r}: {k} {spec[k]!r} is not a known reason code")
    fmt = spec.get("format", [])
    return FieldSpec(
        name=name, source=spec.get("from"), const=spec.get("const"), concat=spec.get("concat"),
        object=spec.get("object"), scale=spec.get("scale"), sep=str(spec.get("sep", "")), type=ftype, formats=[fmt] if isinstance(fmt, str) else list(fmt),
        timezone=spec.get("timezone"), map={str(k): v for k, v in spec["map"].items()} if spec.get("map") else None,
        required=bool(spec.get("required", False)), min=spec.get("min"), max=spec.get("max"),
        max_field=spec.get("max_field"), min_reason=spec.get("min_reason", "out_of_range"),
        max_reason=spec.get("max_reason", "out_of_range"), lookup=spec.get("lookup"), term_of=spec.get("term_of"),
        student=spec.get("student"), optional_student=bool(spec.get("optional_student", False)),
        split=spec.get("split"), pattern=spec.get("pattern"), pii=bool(spec.get("pii", False)))


def parse_preset(doc: dict[str, Any], where: str = "<preset>") -> Preset:
    """Build a :class:`Preset` from a loaded YAML mapping, with clear errors."""
    if not isinstance(doc, dict):
        raise PresetError(f"{where}: a preset must be a YAML mapping")
    doc = _upgrade(doc, where)
    for k in ("name", "fields"):
        if k not in doc:
            raise PresetError(f"{where}: missing required key {k!r}")
    table = doc.get("table")
    if table is not None and table not in TABLES:
        raise PresetError(f"{where}: unknown target table {table!r}")
    fields = {n: _field(n, s, where) for n, s in (doc["fields"] or {}).items()}
    targets = [table] if table else []
    for d in doc.get("derive", []) or []:
        if d.get("table") not in TABLES:
            raise PresetError(f"{where}: derive names unknown table {d.get('table')!r}")
        targets.append(d["table"])
    if table:
        cols = set(TABLES[table].column_names())
        stray = [n for n in fields if n not in cols and not any(
            n in (d.get("fields") or {}).values() or n in (d.get("fields") or {}) for d in doc.get("derive", []) or [])]
        if stray and not doc.get("allow_extra_fields"):
            raise PresetError(f"{where}: fields {stray} are neither columns of {table} nor used by a derive")
    ident = _identity(doc, where)
    ident_pii = set(ident.pii_columns()) if ident else set()
    for f in fields.values():
        if f.lookup and str(f.lookup.get("table", "")).startswith("identity_vault"):
            raise PresetError(f"{where}: field {f.name!r}: lookups into the identity vault are not allowed")
        if f.lookup and f.lookup.get("table") not in TABLES:
            raise PresetError(f"{where}: field {f.name!r}: lookup table {f.lookup.get('table')!r} is unknown")
        written = (table and f.name in TABLES[table].column_names()) or any(
            f.name in (d.get("fields") or {}).values() for d in doc.get("derive", []) or [])
        sources = set(f.object or []) | {c for c in f.concat or [] if isinstance(c, str)} | {f.source}
        leaked = sources & ident_pii if written else set()
        if leaked:
            raise PresetError(f"{where}: field {f.name!r} would copy identifiers {sorted(leaked)} out of "
                              f"the identity vault / 身份信息只能进入身份保险库")
        for ref in (f.max_field, f.term_of):
            if ref and ref not in fields:
                raise PresetError(f"{where}: field {f.name!r} refers to unknown field {ref!r}")
    if doc.get("write", "insert") not in ("insert", "upsert"):
        raise PresetError(f"{where}: write must be 'insert' or 'upsert'")
    return Preset(
        name=doc["name"], title=doc.get("title", {"zh": doc["name"], "en": doc["name"]}), table=table,
        fields=fields, reader=doc.get("reader", {}) or {}, key=doc.get("key"), derive=doc.get("derive", []) or [],
        identity=ident, unpivot=doc.get("unpivot"), match=list(doc.get("match", []) or []),
        order=int(doc.get("order", 50)), write=doc.get("write", "insert"), source=doc.get("source", ""), description=doc.get("description", ""),
        version=doc.get("version", 1))


def _identity(doc: dict[str, Any], where: str) -> IdentitySpec | None:
    if not doc.get("identity"):
        return None
    spec = dict(doc["identity"])
    fmt = spec.pop("birth_format", [])
    try:
        ident = IdentitySpec(**spec, birth_formats=[fmt] if isinstance(fmt, str) else list(fmt))
    except TypeError as exc:
        raise PresetError(f"{where}: identity section: {exc}") from None
    if ident.mode not in ("create", "link"):
        raise PresetError(f"{where}: identity mode must be 'create' or 'link'")
    return ident


def preset_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("WORKBENCH_PRESETS", "").split(os.pathsep) if p]
    return extra + [PRESET_DIR]


def _preset_files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in reversed(preset_dirs()):  # earlier dirs override later ones
        for p in sorted(d.glob("*.yaml")):
            found[p.stem] = p
    return found


def load_preset(name_or_path: str | os.PathLike[str]) -> Preset:
    """Load a preset by name (see :func:`list_presets`) or from a YAML path."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.exists()):
        files = _preset_files()
        if str(name_or_path) not in files:
            raise PresetError(f"unknown preset {str(name_or_path)!r}; known presets: {', '.join(sorted(files))} "
                              f"/ 未知的导入预设，请用 `workbench presets` 查看")
        path = files[str(name_or_path)]
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PresetError(f"{path}: not valid YAML: {exc}") from None
    preset = parse_preset(doc, str(path))
    preset.path = path
    if preset.name != path.stem:
        raise PresetError(f"{path}: preset name {preset.name!r} must equal the file name {path.stem!r}")
    return preset


def list_presets() -> list[Preset]:
    """Every preset that can be used, sorted by source and name."""
    return sorted((load_preset(p) for p in _preset_files().values()), key=lambda p: (p.source, p.order, p.name))


def presets_for_file(path: str | os.PathLike[str]) -> list[Preset]:
    """Every preset whose ``match`` patterns fit the file name, in ``order`` (a roster workbook can
    feed classes first and students second)."""
    return sorted((p for p in list_presets() if p.matches(path)), key=lambda p: (p.order, p.name))
