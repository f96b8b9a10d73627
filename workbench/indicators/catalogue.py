"""The indicator catalogue: metadata (zh/en), dimensions and aspects, and one SQL query per indicator.

The catalogue is data: every ``*.yaml`` file of ``workbench/indicators/catalogue/`` and of each
folder on ``$WORKBENCH_INDICATORS`` (``os.pathsep``-separated) is read. ``dimensions.yaml`` names
the dimensions and their aspects, ``families.yaml`` the base queries (parameter ``$term``), and
the other files the indicators, each an aggregate expression over its family's base (``kind:
sql``), the weekly slope of another indicator (``kind: trend``) or a networkx measure over a
family's edge list (``kind: network``). A school adds an indicator by adding YAML.

>>> cat = load_catalogue()
>>> len(cat.indicators) >= 40, sorted(cat.dimensions)[:3]
(True, ['academic', 'basic', 'behaviour'])
>>> cat["acad_score_mean"].label("en"), cat["acad_score_mean"].direction
('Mean score (percent)', 'higher_better')
>>> print(cat.sql("int_club_sessions").splitlines()[0])
SELECT b.student_key, count(*) FILTER (WHERE kind = 'club') AS value
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from workbench.sqltext import lit

CATALOGUE_DIR = Path(__file__).with_name("catalogue")
DIRECTIONS = {"higher_better": {"zh": "越高越好", "en": "higher is better"},
              "lower_better": {"zh": "越低越好", "en": "lower is better"},
              "neutral": {"zh": "中性（仅描述）", "en": "neutral (descriptive)"}}
KINDS = ("sql", "trend", "network")
NETWORK_MEASURES = ("degree_centrality", "pagerank", "betweenness_centrality", "clustering")


class CatalogueError(ValueError):
    """A catalogue file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Family:
    """A base query shared by the indicators that aggregate over it."""
    id: str
    base: str
    sources: tuple[str, ...]
    kind: str = "sql"         # sql | network (the base is an edge list: source, target, weight)
    # run per slice of students on a district (compute.SLICE_STUDENTS): for a large state per student (distinct
    # counts, medians, a per-student window); never where the base has a mean or a window across students (the
    # z-score of an assessment, a class's size): a slice would compute it over its own students. See families.yaml.
    sliced: bool = False

    def sql(self, part: Slice | None = None) -> str:
        """The base query; with ``part = (lo, hi)`` only the rows of the students with ``lo <= student_key < hi``
        (see :func:`slice_filter`).

        Where the base marks the place with ``$slice(<student key column>)`` the slice's filter goes there (below
        a window or a DISTINCT that is per student, so each slice computes only its own students' rows); the
        whole base has ``TRUE`` there. Otherwise the filter goes around the base, after it.
        """
        sliced = part is not None and part != (None, None)
        if SLICE_MARK.search(self.base):
            return SLICE_MARK.sub(lambda m: slice_filter(m.group(1), part) if sliced else "TRUE", self.base)
        if not sliced:
            return self.base
        return f"SELECT * FROM ({self.base}) s WHERE {slice_filter('s.student_key', part)}"


# where a family's base takes a slice's filter, e.g. ``WHERE e.term_id = $term AND $slice(e.student_key)``
SLICE_MARK = re.compile(r"\$slice\(\s*([A-Za-z_][A-Za-z_0-9]*(?:\.[A-Za-z_][A-Za-z_0-9]*)?)\s*\)")
Slice = tuple[str | None, str | None]   # the students with lo <= student_key < hi; None: an open end


def slice_filter(column: str, part: Slice) -> str:
    """True for the students of the slice ``(lo, hi)``: ``lo <= key < hi``, an open end where ``None``; the first
    slice also takes rows without a key, so every row is in exactly one slice.

    A range of keys, not a hash: at 1M students a scan of the 550M answers took 3.5 s filtered by
    ``hash(student_key)``, 1.5 s by the range; a store ordered by student would let each slice skip the others'
    row groups. DuckDB and Spark both compare strings byte by byte (any order would do: the slices cut whatever
    order the engine has).

    >>> slice_filter("e.student_key", (None, "S8"))
    "(e.student_key < 'S8' OR e.student_key IS NULL)"
    >>> slice_filter("s.student_key", ("S8", None))
    "(s.student_key >= 'S8')"
    """
    lo, hi = part
    conds = ([f"{column} >= {lit(lo)}"] if lo is not None else []) + ([f"{column} < {lit(hi)}"] if hi is not None else [])
    cond = " AND ".join(conds) or "TRUE"
    return f"({cond} OR {column} IS NULL)" if lo is None else f"({cond})"


def slice_bounds(keys: Iterable[object], k: int) -> list[Slice]:
    """``k`` slices with about as many of ``keys`` (a term's students) each, cut at keys: ``[(None, c1), (c1, c2),
    …, (ck-1, None)]``, so together they cover every key, also those not among ``keys``.

    >>> slice_bounds(["S1", "S4", "S2", "S3"], 2)
    [(None, 'S3'), ('S3', None)]
    >>> slice_bounds(["S1"], 3)
    [(None, None)]
    """
    ordered = sorted({str(x) for x in keys if isinstance(x, str)})
    cuts = sorted({ordered[i * len(ordered) // k] for i in range(1, k)} - {ordered[0]}) if k > 1 and ordered else []
    edges: list[str | None] = [None, *cuts, None]
    return list(zip(edges[:-1], edges[1:]))


@dataclass(frozen=True)
class Indicator:
    """One indicator: what it means (zh/en), where it sits, and how it is computed."""
    id: str
    name: dict[str, str]
    description: dict[str, str]
    dimension: str
    aspect: str
    unit: dict[str, str]
    direction: str
    kind: str = "sql"
    family: str | None = None
    expr: str | None = None
    of: str | None = None          # trend: the weekly indicator whose slope this is
    measure: str | None = None     # network: networkx measure
    fill: float | None = None      # value for students with no rows when the family has data
    weekly: bool = False
    file: str = ""

    def label(self, lang: str = "zh") -> str:
        return self.name.get(lang) or self.name["en"]

    @property
    def grain(self) -> tuple[str, ...]:
        return ("term", "week") if self.weekly else ("term",)

    @property
    def sign(self) -> int:
        """+1 when higher is better, -1 when lower is better, 0 when neutral."""
        return {"higher_better": 1, "lower_better": -1}.get(self.direction, 0)


@dataclass
class Catalogue:
    dimensions: dict[str, dict[str, Any]]
    families: dict[str, Family]
    indicators: dict[str, Indicator] = field(default_factory=dict)

    def __getitem__(self, indicator_id: str) -> Indicator:
        return self.indicators[indicator_id]

    def __contains__(self, indicator_id: object) -> bool:
        return indicator_id in self.indicators

    def dimension_label(self, dimension: str, lang: str = "zh") -> str:
        d = self.dimensions.get(dimension)
        return d["name"].get(lang, d["name"]["en"]) if d else dimension

    def dimension_short(self, dimension: str, lang: str = "zh") -> str:
        d = self.dimensions.get(dimension)
        return d["short"].get(lang, d["short"]["en"]) if d else dimension

    def aspect_label(self, dimension: str, aspect: str, lang: str = "zh") -> str:
        a = self.dimensions.get(dimension, {}).get("aspects", {}).get(aspect)
        return a.get(lang, a["en"]) if a else aspect

    def sources(self, indicator_id: str) -> tuple[str, ...]:
        ind = self[indicator_id]
        if ind.kind == "trend":
            return self.sources(ind.of)
        return self.families[ind.family].sources

    def sql(self, indicator_id: str, weekly: bool = False) -> str:
        """The stand-alone query of one indicator (parameter ``$term``): ``student_key, [week,] value``."""
        ind = self[indicator_id]
        if ind.kind == "trend":
            inner = self.sql(ind.of, weekly=True)
            return (f"SELECT student_key, regr_slope(value, week) AS value\nFROM ({inner}) w\n"
                    f"GROUP BY student_key HAVING count(value) >= 3")
        fam = self.families[ind.family]
        if ind.kind == "network":
            return f"-- networkx {ind.measure} over the edge list:\n{fam.sql().strip()}"
        keys = "b.student_key, b.week" if weekly else "b.student_key"
        where = "\nWHERE b.week IS NOT NULL" if weekly else ""
        return f"SELECT {keys}, {ind.expr} AS value\nFROM (\n{fam.sql().strip()}\n) b{where}\nGROUP BY {keys}"

    def select(self, dimension: str | None = None) -> list[Indicator]:
        return [i for i in self.indicators.values() if dimension in (None, i.dimension)]

    def markdown(self) -> str:
        """The catalogue as a reference page (docs/indicators.md is generated from it and tested)."""
        out = ["# Indicator catalogue — 指标目录", "",
               f"Generated by `workbench indicators --markdown` from `workbench/indicators/catalogue/*.yaml`: "
               f"{len(self.indicators)} indicators in {len(self.dimensions)} dimensions. "
               "`workbench indicators --sql ID` prints the query of one.", ""]
        for d, dim in self.dimensions.items():
            rows = self.select(d)
            out += [f"## {dim['name']['zh']} / {dim['name']['en']} (`{d}`, {len(rows)})", "",
                    "| id | 名称 | name | aspect | unit | direction | grain | sources |", "|---|---|---|---|---|---|---|---|"]
            for i in rows:
                out.append(f"| `{i.id}` | {i.name['zh']} | {i.name['en']} | {self.aspect_label(d, i.aspect, 'en')} | "
                           f"{i.unit['en']} | {DIRECTIONS[i.direction]['en']} | {' + '.join(i.grain)} | "
                           f"{', '.join(self.sources(i.id))} |")
            out.append("")
            for i in rows:
                out.append(f"- `{i.id}`: {i.description['zh']} {i.description['en']}")
            out.append("")
        return "\n".join(out)


def _text(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, str):
        return {"zh": value, "en": value}
    if not isinstance(value, dict) or "en" not in value:
        raise CatalogueError(f"{where}: expected {{zh: …, en: …}} / 需要中英文文本")
    return {k: str(v) for k, v in value.items()}


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise CatalogueError(f"{path}: expected a mapping at the top")
    return doc


def catalogue_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("WORKBENCH_INDICATORS", "").split(os.pathsep) if p]
    return [CATALOGUE_DIR, *extra]


def load_catalogue(dirs: list[Path] | None = None) -> Catalogue:
    """Read and check the catalogue (cached for the default folders)."""
    key = tuple(str(d) for d in (dirs or catalogue_dirs()))
    return _load(key)


@lru_cache(maxsize=8)
def _load(dirs: tuple[str, ...]) -> Catalogue:
    files = [f for d in dirs for f in sorted(Path(d).glob("*.yaml"))]
    docs = [(f, _read(f)) for f in files]
    dims: dict[str, dict[str, Any]] = {}
    fams: dict[str, Family] = {}
    for f, doc in docs:
        for d, spec in (doc.get("dimensions") or {}).items():
            aspects = {a: _text(t, f"{f}: dimensions.{d}.aspects.{a}") for a, t in (spec.get("aspects") or {}).items()}
            if d in dims:
                dims[d]["aspects"].update(aspects)
            else:
                name = _text(spec.get("name"), f"{f}: dimensions.{d}.name")
                dims[d] = {"name": name, "short": _text(spec.get("short", name), f"{f}: dimensions.{d}.short"),
                           "aspects": aspects}
        for fid, spec in (doc.get("families") or {}).items():
            if fid in fams:
                raise CatalogueError(f"{f}: families.{fid}: defined twice / 指标族重复定义")
            if "$term" not in spec.get("base", ""):
                raise CatalogueError(f"{f}: families.{fid}.base: the base query must filter by $term / 基础查询须按学期筛选")
            if not isinstance(spec.get("sliced", False), bool):
                raise CatalogueError(f"{f}: families.{fid}.sliced: true or false / 须为 true 或 false")
            marks = len(SLICE_MARK.findall(spec["base"]))
            if spec["base"].count("$slice") != marks:
                raise CatalogueError(f"{f}: families.{fid}.base: write $slice(<alias>.student_key), one column "
                                     f"/ 须写作 $slice(<别名>.student_key)")
            if marks and spec.get("sliced", False) is False:
                raise CatalogueError(f"{f}: families.{fid}: $slice(...) in a family without sliced: true "
                                     f"/ 未设 sliced: true 的指标族不能含 $slice(...)")
            fams[fid] = Family(fid, spec["base"], tuple(spec.get("sources") or ()), spec.get("kind", "sql"),
                               spec.get("sliced", False))
    cat = Catalogue(dims, fams)
    for f, doc in docs:
        for i, spec in enumerate(doc.get("indicators") or []):
            ind = _indicator(spec, f"{f.name}: indicators[{i}]", cat)
            if ind.id in cat.indicators:
                raise CatalogueError(f"{f.name}: indicators[{i}].id: {ind.id!r} is defined twice "
                                     f"(also in {cat.indicators[ind.id].file}) / 指标编号重复")
            cat.indicators[ind.id] = ind
    for ind in cat.indicators.values():
        if ind.kind == "trend" and (ind.of not in cat.indicators or not cat.indicators[ind.of].weekly):
            raise CatalogueError(f"{ind.file}: {ind.id}.of: {ind.of!r} is not a weekly indicator / 趋势指标须基于周指标")
    return cat


def _indicator(spec: dict[str, Any], where: str, cat: Catalogue) -> Indicator:
    try:
        iid = str(spec["id"])
        kind = spec.get("kind") or ("network" if "measure" in spec else "sql")
        ind = Indicator(
            id=iid, name=_text(spec["name"], f"{where}.name"),
            description=_text(spec.get("description", spec["name"]), f"{where}.description"),
            dimension=spec["dimension"], aspect=spec.get("aspect", ""), unit=_text(spec.get("unit", ""), f"{where}.unit"),
            direction=spec.get("direction", "neutral"), kind=kind, family=spec.get("family"), expr=spec.get("expr"),
            of=spec.get("of"), measure=spec.get("measure"), fill=spec.get("fill"), weekly=bool(spec.get("weekly")),
            file=where.split(":")[0])
    except KeyError as exc:
        raise CatalogueError(f"{where}: missing {exc.args[0]!r} / 缺少字段") from None
    if ind.dimension not in cat.dimensions:
        raise CatalogueError(f"{where}.dimension: unknown dimension {ind.dimension!r}; known: {', '.join(cat.dimensions)}")
    if ind.aspect and ind.aspect not in cat.dimensions[ind.dimension]["aspects"]:
        raise CatalogueError(f"{where}.aspect: unknown aspect {ind.aspect!r} of {ind.dimension}")
    if ind.direction not in DIRECTIONS:
        raise CatalogueError(f"{where}.direction: {ind.direction!r}; use one of {', '.join(DIRECTIONS)}")
    if kind not in KINDS:
        raise CatalogueError(f"{where}.kind: {kind!r}; use one of {', '.join(KINDS)}")
    if kind in ("sql", "network") and ind.family not in cat.families:
        raise CatalogueError(f"{where}.family: unknown family {ind.family!r} / 未知的指标族")
    if kind == "sql" and not ind.expr:
        raise CatalogueError(f"{where}.expr: an SQL indicator needs an aggregate expression")
    if kind == "network" and ind.measure not in NETWORK_MEASURES:
        raise CatalogueError(f"{where}.measure: {ind.measure!r}; use one of {', '.join(NETWORK_MEASURES)}")
    return ind
