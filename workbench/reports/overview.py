"""School and district overviews: classes (or schools) compared, a quality map, subgroup breakdowns —
every cell under 10 students suppressed, and the complementary cells that would give it away.

``level="school"``: one row per class of the viewer's school(s); ``level="district"``: one row per school
of the store. Means are published with their counts and the overall mean, so a hidden mean could be
recomputed from the others just like a count: the same mask (:func:`workbench.privacy.suppress.suppression_mask`
over the counts) hides both.

>>> from workbench.privacy.suppress import SUPPRESSED
>>> SUPPRESSED
'<10'
"""
from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd

from workbench.model.spec import ProfileSpec
from workbench.privacy.suppress import MIN_CELL, apply_mask, suppression_mask, totals
from workbench.reports.common import OVERALL, as_spec, dimension_label, dimensions_of, spec_key, tag_labels
from workbench.reports.redact import hidden_tags
from workbench.reports.text import tr

GENDERS = {"female": ("女", "female"), "male": ("男", "male")}


def _frame(con: duckdb.DuckDBPyConnection, term: str, spec: ProfileSpec, level: str,
           schools: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per student: unit (class or school), unit name, gender, segment, tags and dimension scores."""
    unit, unit_name = ("c.class_id", "c.name") if level == "school" else ("c.school_id", "coalesce(sc.name, c.school_id)")
    people = con.execute(f"""
        SELECT ps.student_key, {unit} AS unit, min({unit_name}) AS unit_name, min(st.gender) AS gender,
               min(ps.segment) AS segment, min(ps.tags) AS tags
        FROM profile_students ps
        JOIN enrolments e ON e.student_key = ps.student_key AND e.term_id = ps.term_id
        JOIN classes c ON c.class_id = e.class_id
        LEFT JOIN schools sc ON sc.school_id = c.school_id
        LEFT JOIN students st ON st.student_key = ps.student_key
        WHERE ps.term_id = $t AND ps.spec_id = $s AND ps.spec_hash = $h
          AND (len($schools) = 0 OR list_contains($schools, c.school_id))
        GROUP BY 1, 2""", spec_key(term, spec) | {"schools": list(schools)}).df()
    scores = con.execute("""SELECT student_key, dimension, score FROM profiles
                            WHERE term_id = $t AND spec_id = $s AND spec_hash = $h""", spec_key(term, spec)).df()
    wide = scores.pivot_table(index="student_key", columns="dimension", values="score", aggfunc="first")
    return people.set_index("student_key").join(wide, how="left")


def _masked_means(df: pd.DataFrame, cols: list[str], counts: pd.Series) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Unit × column means with the unit counts' suppression mask (complementary over the units)."""
    means = df.groupby("unit")[cols].mean().round(1).reindex(counts.index)
    mask1 = suppression_mask(counts.to_frame("n"), row_totals=False, column_totals=True)["n"]
    mask = pd.DataFrame({c: mask1 for c in cols}, index=counts.index)
    return means, mask


def overview(con: duckdb.DuckDBPyConnection, term: str, spec: ProfileSpec | str = "whole_person", *,
             level: str = "school", schools: tuple[str, ...] = (), hide: frozenset[str] | set[str] = frozenset(),
             lang: str = "zh") -> dict[str, Any]:
    """Units compared (``units``: students, composite and dimension means), ``quality`` (unit × dimension means
    for the quality map, suppressed cells as text), ``gender`` and ``segments`` breakdowns (counts with
    complementary suppression and the composite mean per cell), ``tags`` (unit × tag counts), totals and notes."""
    spec = as_spec(spec)
    df = _frame(con, term, spec, level, schools)
    if df.empty:
        raise ValueError(f"no profiled students of spec {spec.id!r} in term {term!r} / 该学期没有画像结果")
    dims = [d for d in dimensions_of(con, term, spec) if d not in hide]
    counts = df.groupby("unit").size().rename("students")
    names = df.groupby("unit")["unit_name"].first()
    means, mask = _masked_means(df, [*dims, OVERALL], counts)
    shown = apply_mask(means, mask, pd.DataFrame({c: counts for c in means.columns}))
    n_shown = apply_mask(counts.to_frame("students"), mask[[OVERALL]].rename(columns={OVERALL: "students"}))
    units = pd.concat([names.rename("name"), n_shown, shown], axis=1)
    units.index.name = "unit"
    labels = {d: dimension_label(spec, d, lang) for d in [*dims, OVERALL]}
    quality = shown[[*dims]].rename(columns=labels)
    quality.index = [names[u] for u in quality.index]

    def breakdown(col: str, values: dict[Any, str]) -> dict[str, Any]:
        c = df.groupby(["unit", col]).size().unstack(fill_value=0).reindex(index=counts.index, fill_value=0)
        c = c.reindex(columns=list(values), fill_value=0)
        m = suppression_mask(c)
        mean = df.groupby(["unit", col])[OVERALL].mean().round(1).unstack().reindex(index=c.index, columns=c.columns)
        row_tot, col_tot = totals(c)
        pretty = {k: v for k, v in values.items()}
        out_counts = apply_mask(c, m).rename(columns=pretty)
        out_means = apply_mask(mean, m, c).rename(columns=pretty)
        out_counts.index = out_means.index = [names[u] for u in c.index]
        return {"counts": out_counts, "composite": out_means, "row_totals": row_tot.set_axis(out_counts.index),
                "column_totals": col_tot.rename(pretty), "hidden": int(m.to_numpy().sum())}

    gender = breakdown("gender", {g: GENDERS[g][0 if lang == "zh" else 1] for g in GENDERS})
    segs = sorted(int(s) for s in df["segment"].dropna().unique())
    segments = breakdown("segment", {s: tr("segment_n", lang, n=s) for s in segs})
    gone = hidden_tags(spec, hide)
    tlabels = tag_labels(spec, lang)
    tag_counts = pd.DataFrame({tlabels[t["id"]]: df.groupby("unit")["tags"].apply(
        lambda s, t=t["id"]: int(sum(t in (x if isinstance(x, list | np.ndarray) else []) for x in s)))
        for t in spec.tags if t["id"] not in gone}).reindex(counts.index)
    tag_mask = suppression_mask(tag_counts, row_totals=False, column_totals=True) if len(tag_counts.columns) else \
        tag_counts.astype(bool)
    tags = apply_mask(tag_counts, tag_mask)
    tags.index = [names[u] for u in tags.index]
    return {"level": level, "term": term, "spec": {"id": spec.id, "version": spec.version},
            "units": units, "quality": quality, "dimension_labels": labels, "gender": gender, "segments": segments,
            "tags": tags, "students": int(counts.sum()),
            "notes": [tr("suppressed_note", lang, n=MIN_CELL, mark="<10"), tr("complementary_note", lang)]}
