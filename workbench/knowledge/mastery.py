"""Knowledge-point mastery for a term: BKT fitted per grade (a stable scope), applied per student.

Responses are tied to knowledge points through ``items.knowledge_points`` or, without an item
table, through ``responses.skill``. A question on several points is answered right only when all
of them are known (the conjunctive model), so a right answer is evidence for every point, and a
wrong answer is blamed on the point the student was least likely to know: a first BKT pass over
the single-point questions gives each (student, point) its mastery (the fitted prior where there
is none), the wrong multi-point answer is then kept only for the lowest, and the second pass fits
on that evidence. (Blaming every point instead, "full blame", made a solid prerequisite look weak
whenever the point built on it was the real gap.) ``attempts`` counts the answers that are
evidence for the point. Below ``min_attempts`` a student's point is "insufficient evidence", not a
number. Results go to the ``mastery`` table, replacing the term's earlier rows.
"""
from __future__ import annotations

import zlib

import duckdb
import numpy as np
import pandas as pd

from workbench.knowledge.bkt import BKT

MIN_ATTEMPTS = 5
MASTERED, WEAK = 0.8, 0.5
COLUMNS = ["student_key", "kp_id", "p_mastery", "attempts", "status", "scope"]
MIN_SCOPE = 100          # a grade with fewer students is fitted together with the whole school
STATUS = {"mastered": ("已掌握", "mastered"), "developing": ("正在掌握", "developing"), "weak": ("薄弱", "weak"),
          "insufficient_evidence": ("证据不足", "insufficient evidence")}


def term_responses(con: duckdb.DuckDBPyConnection, term: str, students: str = "TRUE") -> pd.DataFrame:
    """One row per (response, knowledge point) in the term's dates: student, kp, order, correct, grade,
    and ``response`` (one number per answer) with ``n_kp`` (the answer's number of points).
    ``students``: an SQL condition on ``r.student_key`` (a chunk of the students; default all)."""
    return con.execute(f"""
        WITH t AS (SELECT start_date, end_date FROM terms WHERE term_id = $term),
        g AS (SELECT e.student_key, min(c.grade) AS grade FROM enrolments e LEFT JOIN classes c USING (class_id)
              WHERE e.term_id = $term GROUP BY 1)
        SELECT r.student_key AS student, k.kp, coalesce(epoch(r.ts), r.seq) AS "order",
               CAST(r.correct AS INTEGER) AS correct, g.grade,
               dense_rank() OVER (ORDER BY r.rowid) AS response,
               count(*) OVER (PARTITION BY r.rowid) AS n_kp
        FROM responses r
        LEFT JOIN items i ON i.item_id = r.item_id
        CROSS JOIN t
        LEFT JOIN g ON g.student_key = r.student_key,
        LATERAL (SELECT unnest(coalesce(i.knowledge_points, [r.skill])) AS kp) k
        WHERE r.correct IS NOT NULL AND k.kp IS NOT NULL AND ({students})
          AND (r.ts IS NULL OR t.start_date IS NULL OR CAST(r.ts AS DATE) BETWEEN t.start_date AND t.end_date)
        """, {"term": term}).df()


def compute_mastery(con: duckdb.DuckDBPyConnection, term: str, *, min_attempts: int = MIN_ATTEMPTS,
                    forgets: bool = False) -> pd.DataFrame:
    """Mastery per (student_key, kp_id): p_mastery (NaN when evidence is insufficient), attempts, status."""
    r = term_responses(con, term)
    if r.empty:
        return pd.DataFrame(columns=COLUMNS)
    sizes = r.groupby("grade", dropna=False)["student"].nunique()
    r["scope"] = r["grade"].map(lambda g: f"grade {int(g)}" if pd.notna(g) and sizes.get(g, 0) >= MIN_SCOPE else "school")
    parts = []
    for scope, part in r.groupby("scope"):
        part = assign_blame(part, forgets)
        model = BKT(forgets=forgets).fit(part)
        m = model.mastery(part).rename(columns={"student": "student_key", "kp": "kp_id"})
        m["scope"] = scope
        parts.append(m)
    return _finish(parts, min_attempts)


def _finish(parts: list[pd.DataFrame], min_attempts: int) -> pd.DataFrame:
    """The scopes' mastery rows as one frame with ``status``; NaN below ``min_attempts`` (insufficient evidence)."""
    out = pd.concat(parts, ignore_index=True)
    enough = out["attempts"] >= min_attempts
    out.loc[~enough, "p_mastery"] = np.nan
    out["status"] = np.select([~enough, out["p_mastery"] >= MASTERED, out["p_mastery"] >= WEAK],
                              ["insufficient_evidence", "mastered", "developing"], "weak")
    return out[COLUMNS].sort_values(["student_key", "kp_id"], ignore_index=True)


def assign_blame(r: pd.DataFrame, forgets: bool = False, first: BKT | None = None) -> pd.DataFrame:
    """Rows of ``r`` that are evidence: every single-point row and every right multi-point row; of a
    wrong multi-point answer only the row of the point with the lowest first-pass mastery (``first``: a
    first-pass model fitted already, e.g. on a sample; else fitted on ``r``'s single-point rows)."""
    multi = r["n_kp"] > 1
    wrong = multi & (r["correct"] == 0)
    if not wrong.any():
        return r
    single = r[~multi]
    if single.empty:
        return r
    first = first or BKT(forgets=forgets).fit(single)
    m = first.mastery(single).set_index(["student", "kp"])["p_mastery"]
    w = r[wrong]
    prior = first.params_["p_init"]
    p = pd.Series(m.reindex(pd.MultiIndex.from_arrays([w["student"], w["kp"]])).to_numpy(), index=w.index)
    p = p.fillna(w["kp"].map(prior)).fillna(0.5)
    # the lowest per answer; a tie (e.g. two points with no first-pass evidence) goes to the first kp id, so
    # the blame does not depend on the order the rows came in
    ranked = pd.DataFrame({"response": w["response"], "p": p, "kp": w["kp"]}).sort_values(["response", "p", "kp"])
    blamed = ranked.groupby("response").head(1).index
    return r[~wrong | r.index.isin(blamed)]


def _scopes(con: duckdb.DuckDBPyConnection, term: str) -> dict:
    """grade → scope name, by the number of students of each grade with responses (as compute_mastery)."""
    sizes = dict(con.execute("""
        WITH t AS (SELECT start_date, end_date FROM terms WHERE term_id = $term)
        SELECT g.grade, count(DISTINCT r.student_key) FROM responses r CROSS JOIN t JOIN (
            SELECT e.student_key, min(c.grade) AS grade FROM enrolments e LEFT JOIN classes c USING (class_id)
            WHERE e.term_id = $term GROUP BY 1) g USING (student_key)
        WHERE r.correct IS NOT NULL
          AND (r.ts IS NULL OR t.start_date IS NULL OR CAST(r.ts AS DATE) BETWEEN t.start_date AND t.end_date)
        GROUP BY 1""", {"term": term}).fetchall())
    return {g: (f"grade {int(g)}" if g is not None and n >= MIN_SCOPE else "school") for g, n in sizes.items()}


def _scope_of(r: pd.DataFrame, scopes: dict) -> pd.Series:
    return r["grade"].map(lambda g: scopes.get(g if pd.notna(g) else None, "school")).fillna("school")


def mastery_in_chunks(con: duckdb.DuckDBPyConnection, term: str, *, chunks: int = 8, fit_per_scope: int | None = 2_000,
                      min_attempts: int = MIN_ATTEMPTS, forgets: bool = False, seed: int = 0):
    """:func:`compute_mastery` for a district: yields the mastery of one chunk of students at a time.

    BKT's parameters (and the first pass that assigns the blame of wrong multi-point answers) are fitted per
    scope on at most ``fit_per_scope`` students of each scope (drawn by a seeded hash of the student key;
    ``None``: all), reading only their responses; then the students are split into ``chunks`` by a hash of
    their key and each chunk's responses are read, filtered through the fitted models and yielded. Memory is
    one chunk's responses plus the sample's. With ``fit_per_scope=None`` the chunks together equal
    :func:`compute_mastery` (the filter is per student); see docs/scale.md for the sizes.
    """
    if chunks < 1:
        raise ValueError(f"chunks must be at least 1, got {chunks}")
    scopes = _scopes(con, term)
    picked = "TRUE"
    if fit_per_scope is not None:  # a seeded random sample of each scope's students
        rows = con.execute("""SELECT DISTINCT r.student_key, min(c.grade) AS grade FROM responses r
            JOIN enrolments e ON e.student_key = r.student_key AND e.term_id = $term LEFT JOIN classes c USING (class_id)
            GROUP BY 1""", {"term": term}).df()
        rows["scope"] = rows["grade"].map(lambda g: scopes.get(g if pd.notna(g) else None, "school"))
        rows["h"] = [zlib.crc32(f"{seed}:{k}".encode()) for k in rows["student_key"]]  # stable across processes
        keep = rows.sort_values("h").groupby("scope").head(fit_per_scope)["student_key"].tolist()
        con.register("wb_mastery_fit", pd.DataFrame({"k": keep}))
        picked = "r.student_key IN (SELECT k FROM wb_mastery_fit)"
    try:
        sample = term_responses(con, term, picked)
    finally:
        if fit_per_scope is not None:
            con.unregister("wb_mastery_fit")
    if sample.empty:
        return
    sample["scope"] = _scope_of(sample, scopes)
    models = {}
    for scope, part in sample.groupby("scope"):
        single = part[part["n_kp"] == 1]
        first = BKT(forgets=forgets).fit(single) if len(single) else None
        models[scope] = (first, BKT(forgets=forgets).fit(assign_blame(part, forgets, first)))
    del sample
    for i in range(chunks):
        r = term_responses(con, term, f"hash(r.student_key) % {chunks} = {i}")
        if r.empty:
            continue
        r["scope"] = _scope_of(r, scopes)
        parts = []
        for scope, part in r.groupby("scope"):
            first, model = models.get(scope) or next(iter(models.values()))
            m = model.mastery(assign_blame(part, forgets, first)).rename(columns={"student": "student_key", "kp": "kp_id"})
            m["scope"] = scope
            parts.append(m)
        yield _finish(parts, min_attempts)


def write_mastery(con: duckdb.DuckDBPyConnection, term: str, mastery: pd.DataFrame) -> int:
    """Replace the term's rows of ``mastery``."""
    rows = mastery.assign(term_id=term)[["term_id", "student_key", "kp_id", "p_mastery", "attempts", "status"]]
    con.register("wb_mastery_rows", rows)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute("DELETE FROM mastery WHERE term_id = $t", {"t": term})
        con.execute("INSERT INTO mastery SELECT term_id, student_key, kp_id, p_mastery, attempts, status, now() "
                    "FROM wb_mastery_rows")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("wb_mastery_rows")
    return len(rows)


def mastery_summary(con: duckdb.DuckDBPyConnection, term: str, graph, mastery: pd.DataFrame, *, top: int = 5,
                    min_cell: int = 10) -> dict:
    """A school-level summary of a term's mastery that is safe to publish: status counts, per grade the
    points most students lack (only points with evidence for at least ``min_cell`` students), and the
    commonest root gaps (a gap shared by fewer than ``min_cell`` students is left out)."""
    from workbench.knowledge.diagnosis import class_teaching_map, root_gaps
    grades = dict(con.execute("""SELECT e.student_key, min(c.grade) FROM enrolments e JOIN classes c USING (class_id)
                                 WHERE e.term_id = $t GROUP BY 1""", {"t": term}).fetchall())
    m = mastery[mastery["kp_id"].isin(graph.points)]
    out = {"term": term, "students": int(mastery["student_key"].nunique()), "points": int(mastery["kp_id"].nunique()),
           "scopes": sorted(mastery["scope"].unique()),
           "status": {k: int((mastery["status"] == k).sum()) for k in STATUS}, "grades": [], "root_gaps": []}
    g_of = m["student_key"].map(grades)
    for g in sorted({int(x) for x in g_of.dropna().unique()}):
        part = m[g_of == g]
        if part["student_key"].nunique() < min_cell:
            continue
        _, lacking = class_teaching_map(graph, part, threshold=WEAK)
        lacking = lacking[lacking["students_with_evidence"] >= min_cell].head(top)
        out["grades"].append({"grade": g, "students": int(part["student_key"].nunique()),
                              "most_lacking": [{"kp": k, "share_lacking": float(r.share_lacking)}
                                               for k, r in lacking.iterrows()]})
    counts: dict[str, int] = {}
    for _, part in m.groupby("student_key"):
        for gap in root_gaps(graph, dict(zip(part["kp_id"], part["p_mastery"]))):
            counts[gap["kp"]] = counts.get(gap["kp"], 0) + 1
    common = sorted(((n, k) for k, n in counts.items() if n >= min_cell), reverse=True)[:top]
    out["root_gaps"] = [{"kp": k, "students": n} for n, k in common]
    return out
