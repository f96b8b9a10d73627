"""Every real dataset in shared/data goes in with its preset, in full, with the numbers SOURCE.md states.

Each dataset is ingested once into a module-scoped store (OULAD + ASSISTments take ~17 s together);
the tests then read that store. Expected numbers come from the SOURCE.md files, not from the engine.
"""
from __future__ import annotations

import fnmatch
import json
from pathlib import Path

import pytest

from workbench.identity import pseudonym
from tests.conftest import OULAD_FILES
from workbench.ingest import FileReport, ingest_paths, load_preset
from workbench.store import TABLES, Store, open_store


def _ingest_in_order(store: Store, files: list[tuple[Path, str]], key: bytes, rejects: Path) -> dict[str, FileReport]:
    reports: dict[str, FileReport] = {}
    for path, preset in files:
        [rep] = ingest_paths(store, [path], key, preset, rejects_dir=rejects)
        reports[f"{path.name}|{preset}"] = rep
    return reports


def _assert_full(rep: FileReport, rows: int) -> None:
    """The file was read and accepted in full, and its accounting balances."""
    assert rep.status == "ok", rep.message
    assert (rep.rows_read, rep.accepted, rep.quarantined, rep.merged) == (rows, rows, 0, 0), rep.as_dict()
    assert rep.rows_read == rep.accepted + rep.quarantined + rep.merged
    assert rep.balanced
    assert rep.reasons == {}
    assert rep.rejects == []


def _assert_logged(store: Store, rep: FileReport) -> None:
    """ingest_log holds the same accounting as the report."""
    row = store.con.execute("SELECT rows_read, accepted, quarantined, merged, status FROM ingest_log WHERE file_id = ?",
                            [rep.file_id]).fetchall()
    assert row == [(rep.rows_read, rep.accepted, rep.quarantined, rep.merged, "ok")]


# ---------------------------------------------------------------------------------------------- OULAD
OULAD = OULAD_FILES  # the `oulad` fixture (tests/conftest.py) ingests these in this order


@pytest.mark.parametrize("file,preset,rows", OULAD, ids=[f for f, _, _ in OULAD])
def test_oulad_file_accepted_in_full(oulad, file, preset, rows):
    store, reports = oulad
    rep = reports[f"{file}|{preset}"]
    _assert_full(rep, rows)
    _assert_logged(store, rep)
    table = load_preset(preset).table
    if load_preset(preset).write == "insert":  # every accepted row is in the target table, tagged with its file
        assert store.count(table, "file_id = ?", [rep.file_id]) == rows


def test_oulad_table_counts(oulad):
    store, _ = oulad
    got = {t: store.count(t) for t in ("classes", "terms", "assessments", "resources", "enrolments", "students",
                                       "identity_vault", "identity_vault_ids", "scores", "events", "quarantine")}
    assert got == {"classes": 22, "terms": 4, "assessments": 206, "resources": 6_364, "enrolments": 32_593,
                   "students": 28_785, "identity_vault": 28_785, "identity_vault_ids": 28_785, "scores": 173_912,
                   "events": 753_564, "quarantine": 0}
    assert store.count("enrolments", "student_key NOT IN (SELECT student_key FROM students)") == 0
    assert sorted(r[0] for r in store.con.execute("SELECT term_id FROM terms").fetchall()) == \
        ["2013B", "2013J", "2014B", "2014J"]


def test_oulad_final_results_match_source(oulad):
    store, _ = oulad
    got = dict(store.con.execute("SELECT final_result, count(*) FROM enrolments GROUP BY 1").fetchall())
    assert got == {"pass": 12_361, "withdrawn": 10_156, "fail": 7_052, "distinction": 3_024}


def test_oulad_registration_days_filled_by_upsert(oulad):
    store, _ = oulad
    assert store.count("enrolments", "registered_day IS NULL") == 45
    assert store.count("enrolments", "unregistered_day IS NOT NULL") == 10_072
    assert store.count("enrolments") == 32_593  # upsert filled rows, added none


def test_oulad_assessments_and_scores_values(oulad, key):
    store, _ = oulad
    kinds = dict(store.con.execute("SELECT kind, count(*) FROM assessments GROUP BY 1").fetchall())
    assert kinds == {"assignment": 106, "quiz": 76, "exam": 24}
    assert store.count("assessments", "term_day IS NULL") == 11
    assert store.count("scores", "score IS NULL") == 173
    assert store.count("resources", "") == 6_364
    assert store.con.execute("SELECT count(DISTINCT kind) FROM resources").fetchall()[0][0] == 20
    # the first data row of studentAssessment.csv: 1752,11391,18,0,78
    k = pseudonym(key, "oulad:11391")
    row = store.con.execute("SELECT score, term_day, is_banked FROM scores WHERE assessment_id = '1752' AND student_key = ?",
                            [k]).fetchall()
    assert row == [(78.0, 18, False)]


def test_oulad_vle_subset_per_presentation(oulad):
    store, _ = oulad
    got = store.con.execute("""SELECT class_id, count(*), count(DISTINCT student_key), min(term_day), max(term_day)
                               FROM events GROUP BY 1 ORDER BY 1""").fetchall()
    assert got == [("AAA-2013J", 180_982, 378, -10, 268), ("AAA-2014J", 169_316, 357, -24, 269),
                   ("BBB-2013B", 403_266, 1_537, -9, 240)]
    assert store.count("events", "verb <> 'vle_click' OR count IS NULL") == 0


def test_oulad_students_are_pseudonymised(oulad, key):
    store, _ = oulad
    k = pseudonym(key, "oulad:11391")
    assert store.count("students", "student_key = ?", [k]) == 1
    assert store.con.execute("SELECT gender FROM students WHERE student_key = ?", [k]).fetchall() == [("male",)]
    attrs = json.loads(store.con.execute("SELECT attrs FROM students WHERE student_key = ?", [k]).fetchall()[0][0])
    assert attrs["region"] == "East Anglian Region" and attrs["imd_band"] == "90-100%"
    # the raw id lives in the vault only
    assert store.count("identity_vault_ids", "system = 'oulad' AND source_id = '11391' AND student_key = ?", [k]) == 1
    assert store.count("students", "student_key = '11391'") == 0


def test_reingest_same_file_is_unchanged(oulad, shared_data, key, counts):
    store, reports = oulad
    before = counts(store)
    for file, preset in [("courses.csv", "oulad_courses"), ("studentInfo.csv", "oulad_student_info")]:
        first = reports[f"{file}|{preset}"]
        [again] = ingest_paths(store, [shared_data / "oulad" / file], key, preset)
        assert again.status == "unchanged", again.message
        assert again.file_id == first.file_id
        assert (again.rows_read, again.accepted, again.quarantined, again.merged) == \
            (first.rows_read, first.accepted, first.quarantined, first.merged)
    assert counts(store) == before


# ---------------------------------------------------------------------------------------------- xAPI-Edu-Data
def test_xapi_every_preset_accepts_480(xapi):
    store, reports, source = xapi
    assert len(source) == 480
    assert len(reports) == 3
    for rep in reports.values():
        _assert_full(rep, 480)
        _assert_logged(store, rep)
    assert store.count("students") == 480
    assert store.count("events") == 4 * 480
    assert store.count("scores") == store.count("enrolments") == 480


def test_xapi_grade_bands_and_classes(xapi):
    """Class L/M/H becomes the middle of its band; GradeID-SectionID a class with its grade."""
    store, _, source = xapi
    bands = {"L": 34.5, "M": 79.5, "H": 95.0}
    want = sorted((bands[r["Class"]], {"F": "first", "S": "second"}[r["Semester"]]) for r in source)
    got = sorted(store.con.execute("SELECT s.score, a.term_id FROM scores s JOIN assessments a USING (assessment_id)")
                 .fetchall())
    assert got == want
    assert store.count("assessments") == len({(r["Semester"], r["Topic"]) for r in source})
    classes = dict(store.con.execute("SELECT class_id, grade FROM classes").fetchall())
    assert classes == {f"{r['GradeID']}-{r['SectionID']}": int(r["GradeID"][2:]) for r in source}


def test_xapi_values_survive(xapi):
    store, _, source = xapi
    assert dict(store.con.execute("SELECT gender, count(*) FROM students GROUP BY 1").fetchall()) == \
        {"male": 305, "female": 175}
    classes = dict(store.con.execute("SELECT json_extract_string(attrs, '$.Class'), count(*) FROM students "
                                     "GROUP BY 1").fetchall())
    assert classes == {"L": 127, "M": 211, "H": 142}
    verbs = {"raisedhands": "raised_hand", "VisITedResources": "resource_visit",
             "AnnouncementsView": "announcement_view", "Discussion": "forum_post"}
    got = {v: (n, s) for v, n, s in store.con.execute("SELECT verb, count(*), sum(count) FROM events GROUP BY 1").fetchall()}
    assert got == {verb: (480, sum(int(r[col]) for r in source)) for col, verb in verbs.items()}
    # every behaviour event belongs to a student created by the first preset
    assert store.count("events", "student_key NOT IN (SELECT student_key FROM students)") == 0
    assert store.con.execute("SELECT count(DISTINCT student_key) FROM events").fetchall()[0][0] == 480


# ---------------------------------------------------------------------------------------------- ASSISTments 2009
@pytest.fixture(scope="module")
def assist(shared_data, key, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("assist")
    a = shared_data / "assistments2009"
    files = [
        (a / "skill_builder_subset_pyBKT_examples.csv", "assistments_skill_builder"),
        (a / "piech_dkt_split" / "builder_train.csv", "assistments_dkt_split"),
        (a / "piech_dkt_split" / "builder_test.csv", "assistments_dkt_split"),
        (a / "piech_dkt_split" / "builder_train_preprocessed_pyBKT.csv", "assistments_pybkt_split"),
        (a / "piech_dkt_split" / "builder_test_preprocessed_pyBKT.csv", "assistments_pybkt_split"),
        (a / "dkvmn_assist2009_updated" / "assist2009_updated_skill_mapping.txt", "assistments_dkvmn_skills"),
        (a / "dkvmn_assist2009_updated" / "assist2009_updated_train.csv", "assistments_dkvmn_split"),
        (a / "dkvmn_assist2009_updated" / "assist2009_updated_test.csv", "assistments_dkvmn_split"),
    ]
    store = open_store(tmp / "assist.duckdb")
    reports = _ingest_in_order(store, files, key, tmp / "rejects")
    yield store, {k.split("|")[0]: v for k, v in reports.items()}
    store.close()


ASSIST_ROWS = {  # file → (records, distinct students) per SOURCE.md
    "skill_builder_subset_pyBKT_examples.csv": (10_791, 902),
    "builder_train.csv": (407_967, 3_361),
    "builder_test.csv": (117_567, 856),
    "builder_train_preprocessed_pyBKT.csv": (407_967, 533),   # user_id is the sequence length (pseudo-users)
    "builder_test_preprocessed_pyBKT.csv": (117_567, 262),
    "assist2009_updated_skill_mapping.txt": (110, None),
    "assist2009_updated_train.csv": (224_218, 2_921),
    "assist2009_updated_test.csv": (101_419, 1_230),
}


@pytest.mark.parametrize("file", list(ASSIST_ROWS))
def test_assistments_file_accepted_in_full(assist, file):
    store, reports = assist
    rows, students = ASSIST_ROWS[file]
    rep = reports[file]
    _assert_full(rep, rows)
    _assert_logged(store, rep)
    table = "items" if file.endswith(".txt") else "responses"
    assert store.count(table, "file_id = ?", [rep.file_id]) == rows
    if students is not None:
        n = store.con.execute("SELECT count(DISTINCT student_key) FROM responses WHERE file_id = ?",
                              [rep.file_id]).fetchall()[0][0]
        assert n == students


def test_assistments_raw_subset_values(assist):
    store, _ = assist
    got = store.con.execute("""SELECT skill, count(*), count(DISTINCT student_key), round(avg(correct::INT), 3)
                               FROM responses WHERE split = 'raw' GROUP BY 1 ORDER BY 1""").fetchall()
    assert got == [("Box and Whisker", 3_957, 505, 0.753), ("Table", 6_834, 713, 0.739)]
    assert store.con.execute("SELECT count(DISTINCT item_id) FROM responses WHERE split = 'raw'").fetchall()[0][0] == 678


def test_assistments_dkt_split_values(assist):
    store, _ = assist
    got = {s: (n, round(p, 3), k) for s, n, p, k in store.con.execute(
        """SELECT split, count(*), avg(correct::INT), count(DISTINCT skill) FROM responses
           WHERE split IN ('builder_train', 'builder_test') GROUP BY 1""").fetchall()}
    assert got == {"builder_train": (407_967, 0.677, 123), "builder_test": (117_567, 0.688, 120)}
    assert got["builder_train"][1] == pytest.approx(0.677, abs=5e-4)
    # the pyBKT files are the same attempts in long format
    p = dict(store.con.execute("""SELECT split, round(avg(correct::INT), 3) FROM responses
                                  WHERE split LIKE '%pyBKT' GROUP BY 1""").fetchall())
    assert p == {"builder_train_preprocessed_pyBKT": 0.677, "builder_test_preprocessed_pyBKT": 0.688}


def test_assistments_dkvmn_values(assist):
    store, _ = assist
    assert store.count("items") == 110
    kp = store.con.execute("SELECT knowledge_points FROM items WHERE item_id = '31'").fetchall()
    assert kp == [(["Circumference"],)]
    # every DKVMN response refers to a known skill item
    assert store.count("responses", "split LIKE 'assist2009%' AND item_id NOT IN (SELECT item_id FROM items)") == 0
    p = store.con.execute("SELECT avg(correct::INT) FROM responses WHERE split = 'assist2009_updated_test'").fetchall()[0][0]
    assert p == pytest.approx(0.66, abs=0.005)


# ---------------------------------------------------------------------------------------------- presets
def test_cli_presets_cover_every_shared_dataset(shared_data, run_cli_session):
    out = run_cli_session("presets", "--json")
    assert out.returncode == 0, out.stderr
    presets = {p["name"]: p for p in json.loads(out.stdout)}

    def matching(name: str) -> set[str]:
        return {n for n, p in presets.items() if any(fnmatch.fnmatch(name, m) for m in p["match"])}
    files = [f for f, _, _ in OULAD] + list(ASSIST_ROWS)
    for f in files:
        assert matching(f), f"no preset in `workbench presets` matches {f}"
    for f, preset, _ in OULAD:
        assert preset in matching(f)
    assert {"xapi_edu_students", "xapi_edu_behaviour", "xapi_edu_grades"} <= matching("xAPI-Edu-Data.csv")
    # the plain-text listing shows them too
    text = run_cli_session("presets", "--lang", "en")
    assert text.returncode == 0, text.stderr
    for name in ["oulad_student_info", "xapi_edu_behaviour", "assistments_skill_builder", "assistments_dkt_split",
                 "assistments_pybkt_split", "assistments_dkvmn_skills", "assistments_dkvmn_split"]:
        assert name in text.stdout
    assert set(TABLES) >= {p["table"] for p in presets.values() if p["table"]}
