"""Knowledge-point mastery for a term: BKT fitted per grade (a stable scope), applied per student.

Responses are tied to knowledge points through ``items.knowledge_points`` (a question on two
points is evidence for both) or, without an item table, through ``responses.skill``. Below
``min_attempts`` a student's point is "insufficient evidence", not a number. Results go to the
``mastery`` table, replacing the term's earlier rows.
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from workbench.knowledge.bkt import BKT

MIN_ATTEMPTS = 5
MASTERED, WEAK = 0.8, 0.5
MIN_SCOPE = 100          # a grade with fewer students is fitted together with the whole school
STATUS = {"mastered": ("已掌握", "mastered"), "developing": ("正在掌握", "developing"), "weak": ("薄弱", "weak"),
          "insufficient_evidence": ("证据不足", "insufficient evidence")}


def term_responses(con: duckdb.DuckDBPyConnection, term: str) -> pd.DataFrame:
    """One row per (response, knowledge point) in the term's dates: student, kp, order, correct, grade."""
    return con.execute("""
        WITH t AS (SELECT start_date, end_date FROM terms WHERE term_id = $term),
        g AS (SELECT e.student_key, min(c.grade) AS grade FROM enrolments e LEFT JOIN classes c USING (class_id)
              WHERE e.term_id = $term GROUP BY 1)
        SELECT r.student_key AS student, k.kp, coalesce(epoch(r.ts), r.seq) AS "order",
               CAST(r.correct AS INTEGER) AS correct, g.grade
        FROM responses r
        LEFT JOIN items i ON i.item_id = r.item_id
        CROSS JOIN t
        LEFT JOIN g ON g.student_key = r.student_key,
        LATERAL (SELECT unnest(coalesce(i.knowledge_points, [r.skill])) AS kp) k
        WHERE r.correct IS NOT NULL AND k.kp IS NOT NULL
          AND (r.ts IS NULL OR t.start_date IS NULL OR CAST(r.ts AS DATE) BETWEEN t.start_date AND t.end_date)
        """, {"term": term}).df()


def compute_mastery(con: duckdb.DuckDBPyConnection, term: str, *, min_attempts: int = MIN_ATTEMPTS,
                    forgets: bool = False) -> pd.DataFrame:
    """Mastery per (student_key, kp_id): p_mastery (NaN when evidence is insufficient), attempts, status."""
    r = term_responses(con, term)
    cols = ["student_key", "kp_id", "p_mastery", "attempts", "status", "scope"]
    if r.empty:
        return pd.DataFrame(columns=cols)
    sizes = r.groupby("grade", dropna=False)["student"].nunique()
    r["scope"] = r["grade"].map(lambda g: f"grade {int(g)}" if pd.notna(g) and sizes.get(g, 0) >= MIN_SCOPE else "school")
    parts = []
    for scope, part in r.groupby("scope"):
        model = BKT(forgets=forgets).fit(part)
        m = model.mastery(part).rename(columns={"student": "student_key", "kp": "kp_id"})
        m["scope"] = scope
        parts.append(m)
    out = pd.concat(parts, ignore_index=True)
    enough = out["attempts"] >= min_attempts
    out.loc[~enough, "p_mastery"] = np.nan
    out["status"] = np.select([~enough, out["p_mastery"] >= MASTERED, out["p_mastery"] >= WEAK],
                              ["insufficient_evidence", "mastered", "developing"], "weak")
    return out[cols].sort_values(["student_key", "kp_id"], ignore_index=True)


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
