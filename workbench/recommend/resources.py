"""Learning resources matched to a student's knowledge gaps, at the level the student is ready for.

A **resource catalogue** is data a school keeps next to its knowledge graph: a CSV (UTF-8, with or without a
BOM, or GB18030 — as Excel saves it) or an ``.xlsx`` sheet with one row per resource::

    resource_id, title_zh, title_en, kind, level, knowledge_points, minutes, url

``kind`` is ``video`` (微课), ``reading`` (阅读) or ``exercise`` (练习); ``level`` is the ability level of the
curriculum standard — ``understand`` 学习理解, ``apply`` 应用实践, ``transfer`` 迁移创新 (the Chinese names are
accepted too); ``knowledge_points`` are ids of the graph separated by ``;``. A row with a problem is kept out
of the catalogue and reported with the file, row, column and reason; rows read = rows accepted + rows
rejected, always. ``knowledge_graphs/resources/math_junior.csv`` ships with the junior-mathematics graph.

For a student, :func:`recommend_resources` takes the top root gaps of :func:`~workbench.knowledge.root_gaps`
(where the gaps start, most explained first) and picks for each the resources at the level the mastery
estimate says the student is ready for: below 0.3 learning and understanding, then application and practice;
a student without gaps gets transfer tasks on the most advanced mastered points that have one. Each pick has a reason in words, and a gap with
no resource in the catalogue is reported, never silently skipped. :func:`wrong_question_set` is the student's
错题集 from the responses: every question answered wrong this term, still open or corrected since.

>>> from workbench.knowledge import load_graph
>>> kg = load_graph("math_junior"); cat = load_catalogue("math_junior", kg)
>>> len(cat.resources) == cat.rows_read and not cat.rejected
True
>>> m = {"M7-NUM-01": 0.9, "M7-NUM-02": 0.85, "M7-NUM-03": 0.2, "M7-NUM-04": 0.3, "M7-NUM-05": 0.25}
>>> rec = recommend_resources(kg, cat, m)
>>> [g["kp"] for g in rec["gaps"]], rec["items"][0]["resource_id"], rec["items"][0]["level"]
(['M7-NUM-03'], 'R-M7-NUM-03-V1', 'understand')
>>> print(rec["items"][0]["reason"])
相反数与绝对值掌握约20%，它的先修知识点已掌握，是有理数的乘除法、有理数的加减法薄弱的根源：从“学习理解”层级的微课开始
"""
from __future__ import annotations

import csv
import difflib
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from workbench.knowledge.diagnosis import root_gaps
from workbench.knowledge.graph import KnowledgeGraph
from workbench.knowledge.mastery import MASTERED

CATALOGUE_DIR = Path(__file__).resolve().parents[2] / "knowledge_graphs" / "resources"
LEVELS: dict[str, dict[str, str]] = {
    "understand": {"zh": "学习理解", "en": "learning and understanding"},
    "apply": {"zh": "应用实践", "en": "application and practice"},
    "transfer": {"zh": "迁移创新", "en": "transfer and innovation"}}
LEVEL_ALIASES = {"学习理解": "understand", "理解": "understand", "应用实践": "apply", "应用": "apply",
                 "迁移创新": "transfer", "迁移": "transfer"}
KINDS: dict[str, dict[str, str]] = {"video": {"zh": "微课", "en": "micro-lecture"},
                                    "reading": {"zh": "阅读材料", "en": "reading"},
                                    "exercise": {"zh": "练习", "en": "exercise set"}}
REQUIRED = ("resource_id", "title_zh", "kind", "level", "knowledge_points")
OPTIONAL = ("title_en", "minutes", "url")
READY_UNDERSTAND = 0.3   # below this a gap starts at learning and understanding
KIND_ORDER = {"understand": ("video", "reading", "exercise"), "apply": ("exercise", "video", "reading"),
              "transfer": ("exercise", "reading", "video")}


@dataclass(frozen=True)
class CatalogueIssue:
    row: int          # the row a person sees in a spreadsheet (header = row 1); 0 for the whole file
    column: str
    value: str
    en: str
    zh: str

    def text(self, source: str) -> str:
        where = f"row {self.row}: column {self.column}" if self.row else f"column {self.column}"
        cn = f"第{self.row}行 {self.column}列" if self.row else f"{self.column}列"
        return f"{source}: {where}: {self.en} / {cn}：{self.zh}"


class CatalogueError(ValueError):
    def __init__(self, source: str, issues: list[CatalogueIssue]):
        self.source, self.issues = source, issues
        super().__init__("\n".join(i.text(source) for i in issues))


@dataclass
class Catalogue:
    source: str
    resources: pd.DataFrame                   # one row per accepted resource; knowledge_points is a tuple
    rejected: list[CatalogueIssue] = field(default_factory=list)
    rows_read: int = 0
    _index: dict[str, list[dict]] | None = field(default=None, repr=False, compare=False)

    @property
    def rejected_rows(self) -> int:
        return len({i.row for i in self.rejected if i.row})

    def by_point(self) -> dict[str, list[dict]]:
        """Knowledge point → its resources as dicts (built once)."""
        if self._index is None:
            self._index = {}
            for r in self.resources.to_dict("records"):
                for k in r["knowledge_points"]:
                    self._index.setdefault(k, []).append(r)
        return self._index

    def coverage(self, kg: KnowledgeGraph, lang: str = "zh") -> pd.DataFrame:
        """One row per knowledge point of the graph: resources per level and the levels with none."""
        per = self.resources.explode("knowledge_points")
        counts = per.groupby(["knowledge_points", "level"]).size().unstack(fill_value=0)
        counts = counts.reindex(index=list(kg.points), columns=list(LEVELS), fill_value=0)
        out = pd.DataFrame({"kp": counts.index, "name": [kg.name(k, lang) for k in counts.index],
                            "grade": [kg.points[k].get("grade") for k in counts.index],
                            "chapter": [kg.chapter(k, lang) for k in counts.index]}, index=counts.index)
        out = out.join(counts)
        out["total"] = counts.sum(axis=1)
        out["missing_levels"] = [[lv for lv in LEVELS if counts.at[k, lv] == 0] for k in counts.index]
        return out.reset_index(drop=True)

    def missing_points(self, kg: KnowledgeGraph) -> list[str]:
        """Knowledge points of the graph with no resource at any level."""
        cov = self.coverage(kg)
        return cov.loc[cov["total"] == 0, "kp"].tolist()


def catalogue_path(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix:
        return p
    return CATALOGUE_DIR / f"{p.name}.csv"


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        df = pd.read_excel(path, dtype=str, keep_default_na=False)
        return [str(c) for c in df.columns], df.astype(str).values.tolist()
    from workbench.ingest.readers import detect_encoding
    text = path.read_bytes().decode(detect_encoding(path))
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    return ([c.strip() for c in rows[0]] if rows else []), rows[1:]


def load_catalogue(name_or_path: str | Path, kg: KnowledgeGraph, *, strict: bool = False) -> Catalogue:
    """Read and check a catalogue against ``kg``. Rows with problems are rejected (``Catalogue.rejected``
    names each problem); ``strict=True`` raises :class:`CatalogueError` instead when there is any."""
    path = catalogue_path(name_or_path)
    source = str(path)
    if not path.exists():
        raise CatalogueError(source, [CatalogueIssue(0, "-", "", "no such catalogue file", "找不到资源目录文件")])
    header, rows = _read_rows(path)
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CatalogueError(source, [CatalogueIssue(1, c, "", "required column is missing", "缺少必需的列")
                                      for c in missing])
    col = {c: header.index(c) for c in REQUIRED + OPTIONAL if c in header}
    issues: list[CatalogueIssue] = []
    accepted, seen = [], {}
    points = list(kg.points)
    for i, raw in enumerate(rows, start=2):
        if not any(v.strip() for v in raw):
            continue
        get = {c: (raw[j].strip() if j < len(raw) else "") for c, j in col.items()}
        bad = []
        rid = get["resource_id"]
        if not rid:
            bad.append(CatalogueIssue(i, "resource_id", "", "empty resource id", "资源编号为空"))
        elif rid in seen:
            bad.append(CatalogueIssue(i, "resource_id", rid, f"duplicate of row {seen[rid]}", f"与第{seen[rid]}行重复"))
        if not get["title_zh"]:
            bad.append(CatalogueIssue(i, "title_zh", "", "empty title", "标题为空"))
        kind = get["kind"].lower()
        if kind not in KINDS:
            bad.append(CatalogueIssue(i, "kind", get["kind"], f"kind must be one of {', '.join(KINDS)}",
                                      "类型应为 video（微课）、reading（阅读）或 exercise（练习）"))
        level = LEVEL_ALIASES.get(get["level"], get["level"].lower())
        if level not in LEVELS:
            bad.append(CatalogueIssue(i, "level", get["level"], "level must be understand, apply or transfer",
                                      "层级应为 学习理解/应用实践/迁移创新（understand/apply/transfer）"))
        kps = tuple(k.strip() for k in get["knowledge_points"].replace("；", ";").split(";") if k.strip())
        if not kps:
            bad.append(CatalogueIssue(i, "knowledge_points", "", "no knowledge point", "未填写知识点"))
        for k in kps:
            if k not in kg.points:
                near = difflib.get_close_matches(k, points, 1)
                hint = f"; did you mean {near[0]}?" if near else ""
                bad.append(CatalogueIssue(i, "knowledge_points", k, f"unknown knowledge point '{k}'{hint}",
                                          f"知识图谱中没有知识点 '{k}'" + (f"，是否为 {near[0]}？" if near else "")))
        minutes = get.get("minutes", "")
        try:
            mins = float(minutes) if minutes else math.nan
            if mins <= 0:
                raise ValueError
        except ValueError:
            bad.append(CatalogueIssue(i, "minutes", minutes, "minutes must be a positive number", "时长应为正数（分钟）"))
            mins = math.nan
        if bad:
            issues += bad
            continue
        seen[rid] = i
        accepted.append({"resource_id": rid, "title_zh": get["title_zh"], "title_en": get.get("title_en") or get["title_zh"],
                         "kind": kind, "level": level, "knowledge_points": kps, "minutes": mins,
                         "url": get.get("url", ""), "row": i})
    read = sum(1 for r in rows if any(v.strip() for v in r))
    cat = Catalogue(source, pd.DataFrame(accepted, columns=["resource_id", "title_zh", "title_en", "kind", "level",
                                                            "knowledge_points", "minutes", "url", "row"]),
                    issues, read)
    assert cat.rows_read == len(cat.resources) + cat.rejected_rows
    if strict and issues:
        raise CatalogueError(source, issues)
    return cat


# ------------------------------------------------------------------------------------------- recommendations
def ready_level(p: float | None) -> str:
    """The ability level a student is ready for on a point with mastery ``p``."""
    if p is None or p < READY_UNDERSTAND:
        return "understand"
    return "apply" if p < MASTERED else "transfer"


def _pick(cat: Catalogue, kp: str, level: str, n: int) -> tuple[list[dict], str]:
    """Up to ``n`` resources on ``kp``: at ``level`` first, else the nearest lower level, else higher; within a
    level single-point resources first, then by the kind that suits the level, then shorter."""
    res = cat.by_point().get(kp, [])
    order = list(LEVELS)
    i = order.index(level)
    for lv in [level] + order[:i][::-1] + order[i + 1:]:
        got = [r for r in res if r["level"] == lv]
        if got:
            rank = {k: j for j, k in enumerate(KIND_ORDER[lv])}
            got.sort(key=lambda r: (len(r["knowledge_points"]), rank[r["kind"]],
                                    r["minutes"] if r["minutes"] == r["minutes"] else 1e9, r["resource_id"]))
            return got[:n], lv
    return [], level


def _reason(kg: KnowledgeGraph, gap: dict | None, kp: str, p: float | None, level: str, got_level: str,
            kind: str, lang: str) -> str:
    lv, kd = LEVELS[got_level][lang], KINDS[kind][lang]
    name = kg.name(kp, lang)
    pct = (f"约{p:.0%}" if lang == "zh" else f"about {p:.0%}") if p >= 0.005 else ("不到1%" if lang == "zh" else "under 1%")
    fallback = (f"（暂无“{LEVELS[level]['zh']}”层级的资源）" if lang == "zh"
                else f" (no {LEVELS[level]['en']} resource in the catalogue)") if got_level != level else ""
    if gap is None:  # a stretch task on a mastered point
        return (f"{name}已掌握（{pct}），可以挑战“{lv}”层级的{kd}{fallback}" if lang == "zh"
                else f"{name} is mastered ({pct}): a {lv} {kd} to go further{fallback}")
    others = [kg.name(w, lang) for w in gap["explains"] if w != kp]
    if lang == "zh":
        why = f"，是{'、'.join(others)}薄弱的根源" if others else ""
        return f"{name}掌握{pct}，它的先修知识点已掌握{why}：从“{lv}”层级的{kd}开始{fallback}"
    why = f"; it holds back {', '.join(others)}" if others else ""
    return f"{name} is at {pct} while its prerequisites are mastered{why}: start with a {lv} {kd}{fallback}"


def recommend_resources(kg: KnowledgeGraph, catalogue: Catalogue, mastery: Mapping[str, float], *, top: int = 3,
                        per_gap: int = 2, lang: str = "zh") -> dict[str, Any]:
    """Resources for one student: ``gaps`` (the top root gaps), ``items`` (one dict per pick: kp, kp_name,
    gap_rank, level, resource_id, title, kind, minutes, url, reason; ``resource_id`` None where the catalogue
    has nothing for the gap), ``missing`` (gap points without any resource) and a ``message``."""
    gaps = root_gaps(kg, mastery)[:top]
    items: list[dict[str, Any]] = []
    missing: list[str] = []

    def add(rank: int, gap: dict | None, kp: str, p: float) -> None:
        level = ready_level(p)
        picks, got = _pick(catalogue, kp, level, per_gap)
        if not picks:
            missing.append(kp)
            items.append({"kp": kp, "kp_name": kg.name(kp, lang), "gap_rank": rank, "level": level,
                          "resource_id": None, "title": None, "kind": None, "minutes": None, "url": None,
                          "reason": (f"资源目录中没有{kg.name(kp)}的资源，请资源管理员补充" if lang == "zh" else
                                     f"The catalogue has no resource for {kg.name(kp, 'en')}; ask the resource manager")})
            return
        for r in picks:
            items.append({"kp": kp, "kp_name": kg.name(kp, lang), "gap_rank": rank, "level": got,
                          "resource_id": r["resource_id"], "title": r["title_zh"] if lang == "zh" else r["title_en"],
                          "kind": r["kind"], "minutes": None if _nan(r["minutes"]) else r["minutes"], "url": r["url"],
                          "reason": _reason(kg, gap, kp, p, level, got, r["kind"], lang)})

    for rank, gap in enumerate(gaps, 1):
        add(rank, gap, gap["kp"], gap["p_mastery"])
    if not gaps:  # no gap with evidence: stretch on the most advanced mastered points
        pos = {k: i for i, k in enumerate(kg.topological_order())}
        index = catalogue.by_point()
        done = [k for k, p in mastery.items() if k in kg.points and p is not None and not _nan(p) and p >= MASTERED
                and any(r["level"] == "transfer" for r in index.get(k, ()))]
        for rank, kp in enumerate(sorted(done, key=lambda k: -pos[k])[:top], 1):
            add(rank, None, kp, float(mastery[kp]))
    if lang == "zh":
        msg = (f"{len(gaps)}个需要先补的根源知识点" if gaps else
               "没有发现薄弱的根源知识点，推荐拓展任务" if items else "掌握情况证据不足，暂无推荐")
        if missing:
            msg += f"；{len(missing)}个知识点缺少资源"
    else:
        msg = (f"{len(gaps)} root gaps to work on first" if gaps else
               "no root gap found: extension tasks" if items else "not enough evidence on mastery yet")
        if missing:
            msg += f"; {len(missing)} points without resources"
    return {"gaps": gaps, "items": items, "missing": missing, "message": msg}


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def student_mastery(con: duckdb.DuckDBPyConnection, term: str, student_key: str) -> dict[str, float]:
    rows = con.execute("SELECT kp_id, p_mastery FROM mastery WHERE term_id = $t AND student_key = $s "
                       "AND p_mastery IS NOT NULL", {"t": term, "s": student_key}).fetchall()
    return dict(rows)


def class_recommendations(con: duckdb.DuckDBPyConnection, term: str, students: list[str], kg: KnowledgeGraph,
                          catalogue: Catalogue, *, top: int = 3, lang: str = "zh") -> pd.DataFrame:
    """One row per (student, pick) for a class: what to hand each student, with the reason."""
    m = con.execute("SELECT student_key, kp_id, p_mastery FROM mastery WHERE term_id = $t AND p_mastery IS NOT NULL "
                    "AND student_key IN (SELECT unnest($s))", {"t": term, "s": students}).df()
    per = {k: dict(zip(g["kp_id"], g["p_mastery"])) for k, g in m.groupby("student_key")}
    rows = []
    for key in students:
        for it in recommend_resources(kg, catalogue, per.get(key, {}), top=top, per_gap=1, lang=lang)["items"]:
            rows.append({"student_key": key} | it)
    cols = ["student_key", "kp", "kp_name", "gap_rank", "level", "resource_id", "title", "kind", "minutes", "url", "reason"]
    return pd.DataFrame(rows, columns=cols)


def wrong_question_set(con: duckdb.DuckDBPyConnection, term: str, student_key: str, kg: KnowledgeGraph | None = None,
                       *, lang: str = "zh", limit: int | None = None) -> pd.DataFrame:
    """The student's 错题集 for the term: one row per question answered wrong at least once, with its knowledge
    points, ability level, wrong/total answers, the last answer's time and ``status`` — ``open`` when the
    last answer was wrong, ``corrected`` when a later answer was right. Open first, most recent first."""
    df = con.execute("""
        WITH t AS (SELECT start_date, end_date FROM terms WHERE term_id = $t),
        r AS (SELECT r.item_id, r.ts, r.correct FROM responses r, t
              WHERE r.student_key = $s AND (r.ts IS NULL OR r.ts::DATE BETWEEN t.start_date AND t.end_date))
        SELECT r.item_id, any_value(i.knowledge_points) AS knowledge_points, any_value(i.ability_level) AS level,
               count(*) FILTER (WHERE NOT r.correct) AS wrong, count(*) AS answers, max(r.ts) AS last_at,
               arg_max(r.correct, r.ts) AS last_correct
        FROM r LEFT JOIN items i USING (item_id)
        GROUP BY r.item_id HAVING count(*) FILTER (WHERE NOT r.correct) > 0""", {"t": term, "s": student_key}).df()
    df["status"] = df["last_correct"].map(lambda c: "corrected" if c else "open")
    df["knowledge_points"] = df["knowledge_points"].map(lambda v: list(v) if v is not None else [])
    if kg is not None:
        df["kp_names"] = df["knowledge_points"].map(lambda ks: "、".join(kg.name(k, lang) for k in ks if k in kg.points))
    df = (df.assign(_open=df["status"] == "open").sort_values(["_open", "last_at", "item_id"], ascending=[False, False, True])
          .drop(columns=["last_correct", "_open"]).reset_index(drop=True))
    return df.head(limit) if limit else df
