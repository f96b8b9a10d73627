"""Stores for the report tests, built once per session from the shared demo school and xAPI-Edu stores
(``prepared_demo`` lives in tests/conftest.py).

- ``two_term_demo``: a copy of ``prepared_demo`` with a previous term 2025-2026-2 whose whole_person
  profile is this term's shifted by a known amount per student (every student but 35 of G7C2), and one
  alert. The demo school has one term; this store tests the growth arithmetic and the alert section.
- ``xapi_two_terms``: xAPI-Edu-Data (semesters "first" and "second", distinct students in each) with the
  term dates a school would give, prepared for "second" (so "first" is profiled as its previous term).
"""
from __future__ import annotations

import shutil

import pytest

from workbench.runs import prepare_term
from workbench.store import open_store

TERM = "2026-2027-1"
PREVIOUS = "2025-2026-2"
SHIFT = "(hash(student_key) % 21)::DOUBLE - 10"     # then = now − shift, per student


@pytest.fixture(scope="session")
def two_term_demo(prepared_demo, tmp_path_factory):
    path = tmp_path_factory.mktemp("two_terms") / "store.duckdb"
    shutil.copy(prepared_demo["store"], path)
    with open_store(path) as store:
        con = store.con
        dropped = [k for (k,) in con.execute("SELECT student_key FROM enrolments WHERE term_id = $t AND class_id = 'G7C2' "
                                             "ORDER BY student_key LIMIT 35", {"t": TERM}).fetchall()]
        p = {"t": TERM, "p": PREVIOUS, "d": dropped}
        con.execute("INSERT INTO terms BY NAME SELECT $p AS term_id, '2025-2026学年第二学期' AS name, "
                    "DATE '2026-02-23' AS start_date, DATE '2026-07-03' AS end_date, 18 AS weeks", {"p": PREVIOUS})
        con.execute("INSERT INTO enrolments BY NAME SELECT * REPLACE ($p AS term_id) FROM enrolments "
                    "WHERE term_id = $t AND NOT list_contains($d, student_key)", p)
        keep = "term_id = $t AND spec_id = 'whole_person' AND NOT list_contains($d, student_key)"
        con.execute(f"INSERT INTO profiles BY NAME SELECT * REPLACE ($p AS term_id, score - ({SHIFT}) AS score) "
                    f"FROM profiles WHERE {keep}", p)
        con.execute(f"INSERT INTO profile_students BY NAME SELECT * REPLACE ($p AS term_id) FROM profile_students "
                    f"WHERE {keep}", p)
        con.execute("INSERT INTO profile_runs BY NAME SELECT * REPLACE ($p AS term_id) FROM profile_runs "
                    "WHERE term_id = $t AND spec_id = 'whole_person'", {"t": TERM, "p": PREVIOUS})
        alerted = con.execute("SELECT min(student_key) FROM enrolments WHERE term_id = $t AND class_id = 'G7C1'",
                              {"t": TERM}).fetchone()[0]
        con.execute("INSERT INTO alerts (alert_id, term_id, student_key, rule_id, level, route_to, detail, status, "
                    "created_at, class_id, fired_on) VALUES (1, $t, $k, 'academic_drop', 'warning', 'head_teacher', "
                    "'{\"text\": {\"zh\": \"成绩连续三周下降\", \"en\": \"scores fell three weeks in a row\"}}', "
                    "'open', TIMESTAMP '2026-11-02 08:00:00', 'G7C1', DATE '2026-11-02')", {"t": TERM, "k": alerted})
    return {"store": path, "previous": PREVIOUS, "dropped": dropped, "alerted": alerted}


@pytest.fixture(scope="session")
def xapi_two_terms(xapi, tmp_path_factory):
    store, _, _ = xapi
    store.con.execute("CHECKPOINT")
    path = tmp_path_factory.mktemp("xapi_reports") / "xapi.duckdb"
    shutil.copy(store.path, path)
    with open_store(path) as s:
        s.con.execute("INSERT INTO terms BY NAME SELECT * FROM (VALUES ('first', 'first semester', DATE '2020-09-01', "
                      "DATE '2021-01-31', 20), ('second', 'second semester', DATE '2021-02-01', DATE '2021-06-30', 20)) "
                      "t(term_id, name, start_date, end_date, weeks)")
    prepared = prepare_term(path, "second")
    return {"store": path, "prepared": prepared}
