"""Growth since the previous term (成长轨迹): the same spec's scores then and now.

The previous term is the store's latest term that starts before this one (see
:func:`workbench.runs.prepare.previous_term`) or the one given, and counts only when it has a
profile of the same spec (same hash: another spec would score other things). Scores are positions
relative to the cohort (percentiles or z-scores within the spec's scope), so a change says a
student moved within the cohort, not that an absolute level rose or fell; every growth view says so.
"""
from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from workbench.model.spec import ProfileSpec
from workbench.reports.common import (MIN_CELL, OVERALL, as_spec, count_cell, dimension_label, dimensions_of, fmt_score,
                                      mean_cell, profile_run, scope_words, student_scores)
from workbench.reports.text import tr


def previous_profiled_term(con: duckdb.DuckDBPyConnection, term: str, spec: ProfileSpec,
                           previous: str | None = None) -> tuple[str | None, bool]:
    """(the previous term or None, whether it has a profile of ``spec`` with the same hash)."""
    from workbench.runs.prepare import previous_term
    prev = previous or previous_term(con, term)
    return prev, prev is not None and profile_run(con, prev, spec) is not None


def relative_note(spec: ProfileSpec, lang: str = "zh") -> str:
    return tr("growth_relative", lang, **scope_words(spec, lang))


def _pairs(con, term: str, prev: str, spec: ProfileSpec, students: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    now = student_scores(con, term, spec, students=students)
    then = student_scores(con, prev, spec, students=students)
    both = [k for k in now.index if k in then.index]
    dims = [d for d in [*dimensions_of(con, term, spec), OVERALL] if d in now.columns and d in then.columns]
    return now.loc[both, dims], then.loc[both, dims], dims


def class_growth(con: duckdb.DuckDBPyConnection, term: str, class_id: str, spec: ProfileSpec | str, *,
                 previous: str | None = None, lang: str = "zh") -> dict[str, Any]:
    """Class mean per dimension now and in the previous term over the class's students present in both.

    Returns ``previous_term``, ``compared`` (that term has a profile of the spec), ``students`` (present
    in both; suppressed under MIN_CELL), ``table`` (index dimension: label, then, now, change, students —
    or None), ``message`` (why there is no table, else None) and ``note`` (scores are relative to the
    cohort).
    """
    spec = as_spec(spec)
    prev, ok = previous_profiled_term(con, term, spec, previous)
    out: dict[str, Any] = {"previous_term": prev, "compared": ok, "students": 0, "table": None, "message": None,
                           "note": relative_note(spec, lang)}
    if not ok:
        out["message"] = tr("no_previous", lang)
        return out
    members = [r[0] for r in con.execute("SELECT DISTINCT student_key FROM enrolments WHERE term_id = $t AND class_id = $c",
                                         {"t": term, "c": class_id}).fetchall()]
    now, then, dims = _pairs(con, term, prev, spec, members)
    out["students"] = count_cell(len(now))
    if len(now) == 0:
        out["message"] = tr("no_overlap", lang, previous=prev)
        return out
    if len(now) < MIN_CELL:
        out["message"] = tr("growth_small", lang, n=MIN_CELL)
        return out
    rows = []
    for d in dims:
        both = now[d].notna() & then[d].notna()
        n = int(both.sum())
        t, w = float(then.loc[both, d].mean()), float(now.loc[both, d].mean())
        rows.append({"dimension": d, "label": dimension_label(spec, d, lang), "then": mean_cell(t, n),
                     "now": mean_cell(w, n), "change": mean_cell(w - t, n), "students": count_cell(n)})
    out["table"] = pd.DataFrame(rows).set_index("dimension").astype(object)
    return out


def student_growth(con: duckdb.DuckDBPyConnection, term: str, student_key: str, spec: ProfileSpec | str, *,
                   previous: str | None = None, lang: str = "zh") -> dict[str, Any]:
    """One student's score per dimension then, now and the change (now − then), with sentences.

    Returns ``previous_term``, ``compared``, ``table`` (index dimension: label, then, now, change — or None),
    ``sentences`` (the largest moves in words), ``message`` and ``note``.
    """
    spec = as_spec(spec)
    prev, ok = previous_profiled_term(con, term, spec, previous)
    out: dict[str, Any] = {"previous_term": prev, "compared": ok, "table": None, "sentences": [], "message": None,
                           "note": relative_note(spec, lang)}
    if not ok:
        out["message"] = tr("no_previous", lang)
        return out
    now, then, dims = _pairs(con, term, prev, spec, [student_key])
    if len(now) == 0:
        out["message"] = tr("no_student_growth", lang, previous=prev)
        return out
    rows = []
    for d in dims:
        t, w = float(then.iloc[0][d]), float(now.iloc[0][d])
        rows.append({"dimension": d, "label": dimension_label(spec, d, lang), "then": t, "now": w, "change": w - t})
    table = pd.DataFrame(rows).set_index("dimension")
    out["table"] = table
    moves = table.drop(index=OVERALL, errors="ignore").dropna(subset=["change"])
    moves = moves.reindex(moves["change"].abs().sort_values(ascending=False).index)
    out["sentences"] = [tr("growth_up" if r.change > 0 else "growth_down", lang, dim=r.label,
                           change=fmt_score(abs(r.change))) for r in moves.itertuples() if abs(r.change) >= 1][:3]
    return out
