"""Everything a term's reports read, computed once per term (not once per notebook).

:func:`prepare_term` makes sure the store holds, for the term and the spec: the profile results
(``profiles``, ``profile_students``, ``profile_runs``, ``indicator_values`` with weekly series), the
knowledge-point ``mastery`` when the term has question-level responses, and the same profile for
the previous term when the store has one (for growth, 成长轨迹). What is already there for the same
spec hash is kept unless ``force``.

:func:`data_fingerprint` is one hash over the school's data (every table except the derived and
bookkeeping ones), so a runner can tell "nothing changed" without recomputing anything.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from workbench.model.estimator import as_spec
from workbench.model.spec import ProfileSpec
from workbench.store import TABLES, open_store

DEFAULT_SPEC = "whole_person"
# results and bookkeeping: not inputs of a term run (alerts and interventions are: the class report shows them)
DERIVED = {"profiles", "profile_students", "profile_runs", "indicator_values", "mastery", "audit_log", "workbench_meta",
           "ingest_log"}


@dataclass
class Prepared:
    term: str
    spec: ProfileSpec
    previous_term: str | None
    classes: list[dict]                     # class_id, name, grade, students (enrolled this term)
    computed: list[str] = field(default_factory=list)   # what this call computed ("profile 2026-2027-1", "mastery …")
    has_mastery: bool = False


def term_classes(con: duckdb.DuckDBPyConnection, term: str) -> list[dict]:
    """Classes with students enrolled in ``term``, in grade and class order."""
    rows = con.execute("""
        SELECT e.class_id, any_value(c.name), any_value(c.grade), count(DISTINCT e.student_key)
        FROM enrolments e LEFT JOIN classes c USING (class_id)
        WHERE e.term_id = $t GROUP BY 1 ORDER BY 3 NULLS LAST, 1""", {"t": term}).fetchall()
    return [{"class_id": r[0], "name": r[1] or r[0], "grade": r[2], "students": int(r[3])} for r in rows]


def previous_term(con: duckdb.DuckDBPyConnection, term: str) -> str | None:
    """The latest term that starts before ``term`` and has enrolments, if any."""
    row = con.execute("""
        SELECT p.term_id FROM terms p, terms t
        WHERE t.term_id = $t AND p.start_date < t.start_date
          AND EXISTS (SELECT 1 FROM enrolments e WHERE e.term_id = p.term_id)
        ORDER BY p.start_date DESC LIMIT 1""", {"t": term}).fetchone()
    return row[0] if row else None


def has_profile(con: duckdb.DuckDBPyConnection, term: str, spec: ProfileSpec) -> bool:
    return con.execute("SELECT count(*) FROM profile_runs WHERE term_id = $t AND spec_id = $s AND spec_hash = $h",
                       {"t": term, "s": spec.id, "h": spec.hash}).fetchone()[0] > 0


def has_mastery(con: duckdb.DuckDBPyConnection, term: str) -> bool:
    return con.execute("SELECT count(*) FROM mastery WHERE term_id = $t", {"t": term}).fetchone()[0] > 0


def has_responses(con: duckdb.DuckDBPyConnection, term: str) -> bool:
    return con.execute("""SELECT count(*) FROM responses r JOIN enrolments e
                          ON e.student_key = r.student_key AND e.term_id = $t LIMIT 1""",
                       {"t": term}).fetchone()[0] > 0


def is_prepared(store_path: str | Path | None, term: str, spec: ProfileSpec | str | Path = DEFAULT_SPEC) -> bool:
    spec = as_spec(spec)
    with open_store(store_path, read_only=True) as store:
        return has_profile(store.con, term, spec)


def prepare_term(store_path: str | Path | None, term: str, spec: ProfileSpec | str | Path = DEFAULT_SPEC, *,
                 force: bool = False, progress=None, engine=None) -> Prepared:
    """Compute what is missing (everything when ``force``) for ``term`` and ``spec``; see the module doc.

    ``engine``: an :class:`~workbench.indicators.cli.EngineChoice` (``--engine``) for the profiles' indicators;
    started over the store when a profile is computed, stopped at the end. Raises ``ValueError`` when the term
    has no students."""
    from workbench.knowledge.mastery import compute_mastery, write_mastery
    from workbench.model.run import run_profile
    spec = as_spec(spec)
    report = progress or (lambda step, done, total: None)
    with open_store(store_path) as store:
        con = store.con
        classes = term_classes(con, term)
        if not classes:
            raise ValueError(f"term {term!r} has no students in {store.path} / 该学期没有学生数据")
        prev = previous_term(con, term)
        done = []
        started: list = []

        def eng():
            if engine is None or engine.name == "duckdb":
                return None
            if not started:
                started.append(engine.open(con))
            return started[0]
        report("profile", 0, 3)
        if force or not has_profile(con, term, spec):
            run_profile(store, term, spec, engine=eng())
            done.append(f"profile {term}")
        report("mastery", 1, 3)
        if has_responses(con, term) and (force or not has_mastery(con, term)):
            m = compute_mastery(con, term)
            if not m.empty:
                write_mastery(con, term, m)
                done.append(f"mastery {term}")
        report("previous term", 2, 3)
        if prev is not None and (force or not has_profile(con, prev, spec)):
            try:
                run_profile(store, prev, spec, engine=eng())
                done.append(f"profile {prev}")
            except ValueError:
                prev = None
        for e in started:
            e.stop()
        report("done", 3, 3)
        return Prepared(term, spec, prev, classes, done, has_mastery(con, term))


def data_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """sha256 over (table, row count, order-free hash of the rows) of every input table."""
    h = hashlib.sha256()
    for name in sorted(TABLES):
        if name in DERIVED:
            continue
        n, x = con.execute(f'SELECT count(*), coalesce(bit_xor(hash(t)), 0) FROM "{name}" t').fetchone()
        h.update(f"{name}:{n}:{x};".encode())
    return h.hexdigest()
