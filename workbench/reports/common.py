"""What every report builder shares: display codes, small-cell suppression, labels and the profile rows.

Reports show students by a display code derived from the pseudonym (never a name or any
identifier from the identity vault), and every count or aggregate over fewer than
:data:`MIN_CELL` students as :data:`SUPPRESSED`, never the number.

>>> display_code("S00441ed1e52ee4409887aecc")
'S-00441e'
>>> count_cell(12), count_cell(4)
(12, '<10')
>>> mean_cell(71.26, 40), mean_cell(71.26, 9)
(71.3, '<10')
"""
from __future__ import annotations

import json
import math
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from workbench.indicators.catalogue import Indicator, load_catalogue
from workbench.model.estimator import as_spec
from workbench.model.run import MIN_CELL
from workbench.model.spec import ProfileSpec
from workbench.privacy.scope import display_code
from workbench.reports.text import tr

SUPPRESSED = f"<{MIN_CELL}"
OVERALL = "overall"

__all__ = ["MIN_CELL", "OVERALL", "SUPPRESSED", "as_spec", "count_cell", "display_code", "mean_cell"]


# ------------------------------------------------------------------------------------------ cells
def count_cell(n: int) -> int | str:
    """``n``, or :data:`SUPPRESSED` when ``0 < n < MIN_CELL`` (nobody is nobody: 0 is shown)."""
    n = int(n)
    return SUPPRESSED if 0 < n < MIN_CELL else n


def mean_cell(value: float | None, n: int, digits: int = 1) -> float | str | None:
    """A mean over ``n`` students, rounded, or :data:`SUPPRESSED` under ``MIN_CELL`` students."""
    if n < MIN_CELL:
        return SUPPRESSED
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), digits)


def numeric(cell: Any) -> float:
    """A cell as a float, NaN when suppressed or empty (for charts and comparisons)."""
    try:
        v = float(cell)
    except (TypeError, ValueError):
        return float("nan")
    return v


def fmt_score(v: Any) -> str:
    """A 0–100 score as words see it: ``78``, or the suppression mark, or ``—``."""
    if isinstance(v, str):
        return v
    return "—" if v is None or not np.isfinite(v) else f"{v:.0f}"


# ------------------------------------------------------------------------------------------ labels
def dimension_label(spec: ProfileSpec, dimension: str, lang: str = "zh") -> str:
    """The spec's own name for a dimension if it gives one, else the catalogue's."""
    if dimension == OVERALL:
        return tr("col_composite", lang)
    name = spec.dimensions.get(dimension, {}).get("name")
    if isinstance(name, dict):
        return name.get(lang) or name.get("en") or dimension
    return load_catalogue().dimension_label(dimension, lang)


def tag_labels(spec: ProfileSpec, lang: str = "zh") -> dict[str, str]:
    return {t["id"]: t.get("label", {}).get(lang) or t["id"] for t in spec.tags}


def spec_title(spec: ProfileSpec, lang: str = "zh") -> str:
    return spec.name.get(lang) or spec.name.get("en") or spec.id


def scope_words(spec: ProfileSpec, lang: str = "zh") -> dict[str, str]:
    return {"scope": tr(f"scope_{spec.scope}", lang), "normaliser": tr(f"norm_{spec.normaliser}", lang)}


def indicator_direction(spec: ProfileSpec, indicator_id: str) -> int:
    """+1 / −1 / 0 as the spec scores the indicator (a spec may give a direction to a neutral one)."""
    for d in spec.dimensions.values():
        for i in d["indicators"]:
            if i["id"] == indicator_id and i.get("direction"):
                return {"higher_better": 1, "lower_better": -1}.get(i["direction"], 0)
    return load_catalogue()[indicator_id].sign


def fmt_value(v: float, ind: Indicator, lang: str = "zh") -> str:
    """An indicator value with its unit, shares as percentages: ``86%``, ``12 天``, ``3.5 times``."""
    if v is None or not np.isfinite(v):
        return "—"
    unit = ind.unit.get(lang) or ind.unit.get("en", "")
    if ind.unit.get("en") == "share":
        return f"{100 * v:.0f}%"
    if abs(v) >= 100 or float(v).is_integer():
        num = f"{v:.0f}"
    else:
        num = f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"
    return f"{num}{unit}" if lang == "zh" else f"{num} {unit}".rstrip()


# ------------------------------------------------------------------------------------------ store reads
def spec_key(term: str, spec: ProfileSpec) -> dict[str, str]:
    return {"t": term, "s": spec.id, "h": spec.hash}


def profile_run(con: duckdb.DuckDBPyConnection, term: str, spec: ProfileSpec) -> dict | None:
    """The stored run of ``spec`` (same hash) for ``term``: students and the model report, or None."""
    row = con.execute("SELECT students, report FROM profile_runs WHERE term_id = $t AND spec_id = $s AND spec_hash = $h "
                      "ORDER BY computed_at DESC LIMIT 1", spec_key(term, spec)).fetchone()
    if row is None:
        return None
    report = row[1]
    return {"students": row[0], "report": json.loads(report) if isinstance(report, str) else (report or {})}


def class_info(con: duckdb.DuckDBPyConnection, term: str, class_id: str) -> dict:
    """Name, grade and enrolled students of a class in a term (students 0 when nobody is enrolled)."""
    row = con.execute("SELECT name, grade FROM classes WHERE class_id = $c", {"c": class_id}).fetchone()
    n = con.execute("SELECT count(DISTINCT student_key) FROM enrolments WHERE term_id = $t AND class_id = $c",
                    {"t": term, "c": class_id}).fetchone()[0]
    name, grade = (row if row else (None, None))
    return {"class_id": class_id, "name": name or class_id, "grade": None if grade is None else int(grade),
            "students": int(n)}


def dimensions_of(con: duckdb.DuckDBPyConnection, term: str, spec: ProfileSpec) -> list[str]:
    """The spec's dimensions that were scored for the term (a dimension without data is left out), in spec order."""
    have = {r[0] for r in con.execute("SELECT DISTINCT dimension FROM profiles WHERE term_id = $t AND spec_id = $s "
                                      "AND spec_hash = $h", spec_key(term, spec)).fetchall()}
    return [d for d in spec.dimensions if d in have]


def student_scores(con: duckdb.DuckDBPyConnection, term: str, spec: ProfileSpec, *, class_id: str | None = None,
                   students: list[str] | None = None) -> pd.DataFrame:
    """One row per student (index ``student_key``): a column per dimension and ``overall``, plus the
    ``profile_students`` columns (grade, segment, segment_zh/en, tags, explanation_zh/en). ``class_id``
    selects the students enrolled in that class in ``term``; ``students`` selects by key."""
    params: dict[str, Any] = spec_key(term, spec)
    where = ""
    if class_id is not None:
        where += " AND ps.student_key IN (SELECT student_key FROM enrolments WHERE term_id = $t AND class_id = $c)"
        params["c"] = class_id
    if students is not None:
        where += " AND list_contains($keys, ps.student_key)"
        params["keys"] = list(students)
    info = con.execute(f"""
        SELECT ps.student_key, ps.grade, ps.segment, ps.segment_zh, ps.segment_en, ps.tags, ps.explanation_zh,
               ps.explanation_en
        FROM profile_students ps WHERE ps.term_id = $t AND ps.spec_id = $s AND ps.spec_hash = $h{where}
        ORDER BY ps.student_key""", params).df().set_index("student_key")
    long = con.execute(f"""
        SELECT p.student_key, p.dimension, p.score FROM profiles p
        JOIN profile_students ps USING (term_id, spec_id, spec_hash, student_key)
        WHERE p.term_id = $t AND p.spec_id = $s AND p.spec_hash = $h{where}""", params).df()
    wide = long.pivot_table(index="student_key", columns="dimension", values="score", aggfunc="first", dropna=False)
    dims = [d for d in [*spec.dimensions, OVERALL] if d in wide.columns]
    wide = wide.reindex(columns=dims).reindex(info.index).astype(float)
    return wide.join(info)


def group_means(con: duckdb.DuckDBPyConnection, term: str, spec: ProfileSpec, grade: int | None) -> pd.DataFrame:
    """Mean score and number of scored students per dimension over the grade (the whole term when
    ``grade`` is None): index dimension, columns ``mean``, ``n``."""
    params: dict[str, Any] = spec_key(term, spec)
    cond = ""
    if grade is not None:
        cond, params["g"] = " AND ps.grade = $g", grade
    return con.execute(f"""
        SELECT p.dimension, avg(p.score) AS mean, count(p.score) AS n FROM profiles p
        JOIN profile_students ps USING (term_id, spec_id, spec_hash, student_key)
        WHERE p.term_id = $t AND p.spec_id = $s AND p.spec_hash = $h{cond} GROUP BY 1""", params).df().set_index("dimension")


def compare_dimensions(scores: pd.DataFrame, grade_means: pd.DataFrame, dims: list[str], spec: ProfileSpec,
                       lang: str = "zh") -> pd.DataFrame:
    """Class mean against grade mean per dimension (and the composite), suppressed under MIN_CELL:
    index dimension; label, class_mean, grade_mean, difference, class_n."""
    rows = []
    for d in [*dims, OVERALL]:
        if d not in scores.columns:
            continue
        n = int(scores[d].notna().sum())
        cm = float(scores[d].mean()) if n else float("nan")
        gn = int(grade_means["n"].get(d, 0)) if d in grade_means.index else 0
        gm = float(grade_means["mean"].get(d, float("nan"))) if gn else float("nan")
        rows.append({"dimension": d, "label": dimension_label(spec, d, lang), "class_mean": mean_cell(cm, n),
                     "grade_mean": mean_cell(gm, gn), "difference": mean_cell(cm - gm, min(n, gn)),
                     "class_n": count_cell(n)})
    return pd.DataFrame(rows).set_index("dimension").astype(object)


def indicator_stats(con: duckdb.DuckDBPyConnection, term: str, spec: ProfileSpec, class_id: str) -> pd.DataFrame:
    """Term values of the spec's indicators for the class: index (student_key), one column per indicator."""
    long = con.execute("""
        SELECT v.student_key, v.indicator_id, v.value FROM indicator_values v
        WHERE v.term_id = $t AND v.week IS NULL AND list_contains($ids, v.indicator_id)
          AND v.student_key IN (SELECT student_key FROM enrolments WHERE term_id = $t AND class_id = $c)""",
                       {"t": term, "ids": spec.indicator_ids(), "c": class_id}).df()
    if long.empty:
        return pd.DataFrame()
    return long.pivot_table(index="student_key", columns="indicator_id", values="value", aggfunc="first")
