"""Regression tests for fixes made after a review of the ingestion engine.

Each test pins one behaviour that was just fixed, with concrete row numbers, counts, codes and keys:
malformed CSV lines counted once and rows after them at their true lines; unpivot presets that keep
empty cells; corrected rejects that keep ``_row``-based ids; a ``_quarantine_id`` released only by
its own preset; ``resolve_and_release`` with a wrong key; U+2028 in JSON lines; presets that may not
copy identifiers out of the vault; one rejects file per (file, preset); a batch that goes on after an
unexpected error; short pseudonym keys.

Row numbers are the ones a person sees: header = row 1 for CSV, the line for JSON lines.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from workbench.identity import REVIEW_COLUMNS, PseudonymKeyError, load_key, pseudonym, write_review_file
from workbench.ingest import PresetError, ingest_file, ingest_paths, load_preset
from workbench.ingest import pipeline as pipeline_mod
from workbench.ingest.presets import parse_preset
from workbench.ingest.release import resolve_and_release
from workbench.store import open_store


def preset(text: str):
    """A preset from YAML text (no file needed)."""
    return parse_preset(yaml.safe_load(text))


def _quarantine(store, file_id):
    return store.con.execute("SELECT row_no, reasons, status FROM quarantine WHERE file_id = ? ORDER BY row_no",
                             [file_id]).fetchall()


# ---------------------------------------------------------------------------------------------- 1. malformed CSV lines
MINI_ACT = """
version: 1
name: mini_act
table: activities
fields:
  student_key: {from: 学号, required: true}
  kind: {from: 类型, required: true, map: {竞赛: 竞赛, 社团: 社团}}
  date: {from: 日期, type: date, required: true}
"""


def test_malformed_csv_lines_count_once_and_later_rows_keep_their_lines(store, key, tmp_path):
    path = tmp_path / "acts.csv"
    path.write_text("学号,类型,日期\n"                 # 1 header
                    "S001,竞赛,2025-10-01\n"           # 2 ok
                    "S002\n"                           # 3 too short (1 of 3 fields)
                    "S003,社团,2025-10-02\n"           # 4 ok
                    "S004,社团,2025-10-03,extra\n"     # 5 too long (4 of 3 fields)
                    "S005,竞赛,2025-10-04\n"           # 6 ok
                    "S006,飞行,2025-10-05\n"           # 7 unknown value
                    "S007,社团,2025-10-06\n",          # 8 ok
                    encoding="utf-8")
    rep = ingest_file(store, path, preset(MINI_ACT), key, rejects_dir=tmp_path / "rejects")
    assert rep.status == "ok", rep.message
    assert (rep.rows_read, rep.accepted, rep.quarantined, rep.merged) == (7, 4, 3, 0), rep.as_dict()
    assert rep.balanced
    assert rep.reasons == {"malformed_row": 2, "unknown_value": 1}
    got = [(row, [r["code"] for r in reasons], reasons[0]["column"]) for row, reasons, _ in
           _quarantine(store, rep.file_id)]
    assert [(row, codes) for row, codes, _ in got] == [(3, ["malformed_row"]), (5, ["malformed_row"]),
                                                       (7, ["unknown_value"])]
    assert got[2][2] == "类型"
    assert store.count("quarantine", "file_id = ? AND list_contains(list_transform(reasons, lambda x: x.code), "
                                     "'malformed_row')", [rep.file_id]) == 2
    assert sorted(r[0] for r in store.con.execute("SELECT student_key FROM activities").fetchall()) == \
        ["S001", "S003", "S005", "S007"]
    rej = pd.read_csv(rep.rejects[0], dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert rej["_row"].tolist() == ["3", "5", "7"]
    assert rej["_reason_code"].tolist() == ["malformed_row", "malformed_row", "unknown_value"]


# ---------------------------------------------------------------------------------------------- 2. unpivot keeps blanks
MINI_ROSTER = """
version: 1
name: mini_roster
identity: {system: school_no, mode: create, id: 学号}
table: students
fields:
  student_key: {from: 学号, student: school_no, required: true}
"""
PSYCH_HEADER = "学号,scale,date,q1,q2,q3,q4,q5,q6,q7,total\n"


@pytest.fixture
def psych(store, key, tmp_path):
    """Terms + a three-student roster, then a GAD-7 file whose row 3 has q3 blank."""
    (tmp_path / "terms.csv").write_text("term_id,name_zh,start_date,end_date,weeks\n"
                                        "2026-2027-1,2026-2027学年第一学期,2026-09-01,2027-01-20,20\n",
                                        encoding="utf-8")
    (tmp_path / "roster.csv").write_text("学号\n2026070101\n2026070102\n2026070103\n", encoding="utf-8")
    (tmp_path / "psych_scale.csv").write_text(PSYCH_HEADER +
                                              "2026070101,GAD-7,2026-10-10,1,0,2,1,0,1,0,5\n"   # 2 ok
                                              "2026070102,GAD-7,2026-10-10,1,0,,1,0,1,0,3\n"    # 3 q3 blank
                                              "2026070103,GAD-7,2026-10-10,0,0,0,0,0,0,0,0\n",  # 4 ok
                                              encoding="utf-8")
    for name, pr in [("terms.csv", load_preset("demo_terms")), ("roster.csv", preset(MINI_ROSTER))]:
        rep = ingest_file(store, tmp_path / name, pr, key)
        assert rep.status == "ok" and rep.accepted == {"terms.csv": 1, "roster.csv": 3}[name], rep.as_dict()
    rep = ingest_file(store, tmp_path / "psych_scale.csv", load_preset("demo_psych_scale"), key,
                      rejects_dir=tmp_path / "rejects")
    return SimpleNamespace(store=store, rep=rep)


def test_unpivot_blank_answer_is_quarantined_not_dropped(psych, key):
    store, rep = psych.store, psych.rep
    assert rep.status == "ok", rep.message
    assert (rep.rows_read, rep.accepted, rep.quarantined, rep.merged) == (3, 2, 1, 0), rep.as_dict()
    assert rep.rows_read == rep.accepted + rep.quarantined + rep.merged
    assert rep.reasons == {"missing_value": 1}
    [(row, reasons, status)] = _quarantine(store, rep.file_id)
    assert (row, [r["code"] for r in reasons], status) == (3, ["missing_value"], "open")
    raw = json.loads(store.con.execute("SELECT raw FROM quarantine WHERE file_id = ?", [rep.file_id]).fetchall()[0][0])
    assert raw["q3"] is None and raw["q4"] == "1" and raw["total"] == "3"
    # nothing of the incomplete answer sheet went in: 7 items for each of the two good students
    k2 = pseudonym(key, "school_no:2026070102")
    assert store.count("surveys", "student_key = ?", [k2]) == 0
    assert store.count("scale_scores", "student_key = ?", [k2]) == 0
    assert store.count("surveys") == 14 and store.count("scale_scores") == 2


def test_unpivot_blank_answer_names_the_source_column(psych):
    """The reason names the column the person must correct (q3), not the long column 'answer'."""
    [(_, reasons, _)] = _quarantine(psych.store, psych.rep.file_id)
    assert [(r["column"], r["code"]) for r in reasons] == [("q3", "missing_value")]
    rej = pd.read_csv(psych.rep.rejects[0], dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(zip(rej["_row"], rej["_columns"], rej["_reason_code"])) == [("3", "q3", "missing_value")]


# ---------------------------------------------------------------------------------------------- 3. _row-based ids
def _xapi_sample(shared_data: Path, folder: Path, name: str, edits: dict[tuple[int, str], str]) -> Path:
    """The header and lines 2..9 of xAPI-Edu-Data.csv (same line numbers), with ``(line, column) → value`` edits."""
    lines = (shared_data / "xapi_edu_data" / "xAPI-Edu-Data.csv").read_text(encoding="utf-8").splitlines()
    head = lines[0].split(",")
    rows = [ln.split(",") for ln in lines[1:9]]
    for (line, col), value in edits.items():
        rows[line - 2][head.index(col)] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(",".join(r) for r in [head] + rows) + "\n", encoding="utf-8")
    return path


def test_corrected_rejects_keep_row_based_student_ids(store, key, shared_data, tmp_path):
    original = shared_data / "xapi_edu_data" / "xAPI-Edu-Data.csv"
    rep = ingest_file(store, original, load_preset("xapi_edu_students"), key)
    assert (rep.status, rep.accepted) == ("ok", 480), rep.as_dict()
    sample = _xapi_sample(shared_data, tmp_path / "in", "xapi_sample.csv", {(6, "raisedhands"): "-5"})
    rep1 = ingest_file(store, sample, load_preset("xapi_edu_behaviour"), key, rejects_dir=tmp_path / "rejects")
    assert (rep1.rows_read, rep1.accepted, rep1.quarantined, rep1.merged) == (8, 7, 1, 0), rep1.as_dict()
    rej = pd.read_csv(rep1.rejects[0], dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert rej["_row"].tolist() == ["6"] and rej["raisedhands"].tolist() == ["-5"]
    assert (rej["_columns"].tolist(), rej["_reason_code"].tolist()) == (["raisedhands"], ["out_of_range"])
    rej.loc[rej["_row"] == "6", "raisedhands"] = "5"
    fixed = tmp_path / "fixed" / "xapi_sample.rejects.csv"
    fixed.parent.mkdir()
    rej.to_csv(fixed, index=False, encoding="utf-8-sig")
    rep2 = ingest_file(store, fixed, load_preset("xapi_edu_behaviour"), key)
    assert rep2.status == "ok", rep2.message
    assert (rep2.rows_read, rep2.accepted, rep2.quarantined, rep2.released) == (1, 1, 0, 1), rep2.as_dict()
    [(k6,)] = store.con.execute("SELECT student_key FROM identity_vault_ids WHERE system = 'xapi_edu' "
                                "AND source_id = '6'").fetchall()
    [(k2,)] = store.con.execute("SELECT student_key FROM identity_vault_ids WHERE system = 'xapi_edu' "
                                "AND source_id = '2'").fetchall()
    assert k6 == pseudonym(key, "xapi_edu:6") and k6 != k2
    got = sorted(store.con.execute("SELECT student_key, verb, count FROM events WHERE file_id = ?",
                                   [rep2.file_id]).fetchall())
    assert got == sorted([(k6, "raised_hand", 5), (k6, "resource_visit", 50), (k6, "announcement_view", 12),
                          (k6, "forum_post", 50)])
    assert store.con.execute("SELECT row_no, status FROM quarantine WHERE file_id = ?",
                             [rep1.file_id]).fetchall() == [(6, "released")]


# ---------------------------------------------------------------------------------------------- 4. release by own preset only
def test_quarantine_id_from_another_preset_is_not_released(store, key, tmp_path):
    path = tmp_path / "acts.csv"
    path.write_text("学号,类型,日期\nS001,竞赛,2025-10-01\nS002,飞行,2025-10-02\n", encoding="utf-8")
    rep = ingest_file(store, path, preset(MINI_ACT), key, rejects_dir=tmp_path / "rejects")
    assert [(r, s) for r, _, s in _quarantine(store, rep.file_id)] == [(3, "open")]
    rej = pd.read_csv(rep.rejects[0], dtype=str, encoding="utf-8-sig", keep_default_na=False)
    rej["类型"] = "社团"
    fixed = tmp_path / "fixed" / "acts.rejects.csv"
    fixed.parent.mkdir()
    rej.to_csv(fixed, index=False, encoding="utf-8-sig")
    other = preset(MINI_ACT.replace("name: mini_act", "name: other_act"))
    rep2 = ingest_file(store, fixed, other, key)
    assert rep2.status == "ok", rep2.message
    assert (rep2.accepted, rep2.quarantined, rep2.released) == (1, 0, 0), rep2.as_dict()
    assert [(r, s) for r, _, s in _quarantine(store, rep.file_id)] == [(3, "open")]
    assert store.con.execute("SELECT closed_by_file FROM quarantine WHERE file_id = ?",
                             [rep.file_id]).fetchall() == [(None,)]


# ---------------------------------------------------------------------------------------------- 5. resolve with a wrong key
T_ROSTER = """
version: 1
name: t_roster
identity: {system: school, mode: create, id: 学号, name: 姓名, class_name: 班级}
table: students
fields:
  student_key: {from: 学号, student: school, required: true}
"""
T_LMS = """
version: 1
name: t_lms
identity: {system: lms, mode: link, id: 账号, name: 姓名, class_name: 班级}
table: events
fields:
  student_key: {from: 账号, student: lms, required: true}
  verb: {const: login}
  ts: {from: 时间, type: timestamp, required: true}
"""


def test_resolve_and_release_with_wrong_key_writes_nothing(store, key, tmp_path, monkeypatch):
    presets = tmp_path / "presets"  # release_quarantine loads the entry's preset by name
    presets.mkdir()
    for name, text in [("t_roster", T_ROSTER), ("t_lms", T_LMS)]:
        (presets / f"{name}.yaml").write_text(text.lstrip(), encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_PRESETS", str(presets))
    roster, lms = tmp_path / "t_roster.csv", tmp_path / "t_lms.csv"
    roster.write_text("学号,姓名,班级\n2026001,张小明,初一（1）班\n", encoding="utf-8")
    lms.write_text("账号,姓名,班级,时间\nu9,赵无名,初一（1）班,2025-09-01 08:00:00\n", encoding="utf-8")
    assert ingest_file(store, roster, load_preset("t_roster"), key).status == "ok"
    rep = ingest_file(store, lms, load_preset("t_lms"), key)
    assert rep.identity == {"created": 0, "linked": 0, "review": 1}
    review = tmp_path / "review.csv"
    assert write_review_file(store.con, review) == 1
    with open(review, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[0]["decision"] = "new"
    with open(review, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=REVIEW_COLUMNS)
        w.writeheader()
        w.writerows(rows)

    def snapshot():
        return {t: sorted(store.con.execute(f"SELECT * FROM {t}").fetchall(), key=str)
                for t in ("identity_vault", "identity_vault_ids", "identity_vault_review", "quarantine", "events")}
    before = snapshot()
    with pytest.raises(PseudonymKeyError):
        resolve_and_release(store, review, bytes(range(1, 33)))
    assert snapshot() == before
    assert store.count("identity_vault_review", "status = 'pending'") == 1
    # the right key does the work (so the check above is not vacuous)
    out = resolve_and_release(store, review, key)
    assert (out["created"], out["released"]) == (1, 1)
    assert store.con.execute("SELECT student_key FROM identity_vault_ids WHERE system = 'lms' AND source_id = 'u9'"
                             ).fetchall() == [(pseudonym(key, "lms:u9"),)]
    assert store.count("events", "student_key = ?", [pseudonym(key, "lms:u9")]) == 1


# ---------------------------------------------------------------------------------------------- 6. U+2028 in JSON lines
TINY_XAPI = """
version: 1
name: tiny_xapi
reader: {format: xapi}
table: events
fields:
  student_key: {from: actor.account.name, required: true}
  verb: {from: verb.id, required: true, map: {"http://adlnet.gov/expapi/verbs/launched": login}}
  ts: {from: timestamp, type: timestamp, timezone: UTC, required: true}
  object_id: {from: object.id}
"""


def test_jsonl_line_with_unicode_line_separator_is_one_record(store, key, tmp_path):
    def stmt(who, verb, ts, obj):
        return json.dumps({"actor": {"account": {"name": who}}, "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
                           "timestamp": ts, "object": {"id": obj}}, ensure_ascii=False)
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join([
        stmt("S001", "launched", "2025-09-01T08:00:00Z", "course/1"),                # 1 ok
        stmt("S002", "launched", "2025-09-01T09:00:00Z", "课程\u2028第二行\u2029x"),  # 2 ok, raw U+2028/U+2029
        stmt("S003", "flew", "2025-09-01T10:00:00Z", "x"),                          # 3 unknown verb
        "{broken",                                                                   # 4 malformed
        stmt("S004", "launched", "not-a-time", "y"),                                # 5 bad timestamp
    ]) + "\n", encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")
    rep = ingest_file(store, path, preset(TINY_XAPI), key)
    assert rep.status == "ok", rep.message
    assert (rep.rows_read, rep.accepted, rep.quarantined, rep.merged) == (5, 2, 3, 0), rep.as_dict()
    got = [(row, [r["code"] for r in reasons]) for row, reasons, _ in _quarantine(store, rep.file_id)]
    assert got == [(3, ["unknown_value"]), (4, ["malformed_row"]), (5, ["bad_date"])]
    assert sorted(store.con.execute("SELECT student_key, object_id FROM events").fetchall()) == \
        [("S001", "course/1"), ("S002", "课程\u2028第二行\u2029x")]


# ---------------------------------------------------------------------------------------------- 7. identifiers stay in the vault
ROSTER_BASE = {
    "version": 1, "name": "pii_roster", "table": "students", "allow_extra_fields": True,
    "identity": {"system": "school_no", "mode": "create", "id": "学号", "name": "姓名", "national_id": "身份证号"},
    "fields": {"student_key": {"from": "学号", "student": "school_no", "required": True}},
}


def _roster_with(**fields):
    doc = json.loads(json.dumps(ROSTER_BASE))
    doc["fields"].update(fields)
    return doc


@pytest.mark.parametrize("fields,words", [
    ({"school_id": {"from": "学校", "lookup": {"table": "identity_vault", "column": "name", "value": "student_key"}}},
     "identity vault"),
    ({"school_id": {"from": "学校", "lookup": {"table": "identity_vault_ids", "column": "source_id"}}},
     "identity vault"),
    ({"attrs": {"object": ["班级", "姓名"]}}, "姓名"),
    ({"attrs": {"from": "身份证号"}}, "身份证号"),
    ({"school_id": {"concat": ["学校", "身份证号"]}}, "身份证号"),
], ids=["lookup_vault", "lookup_vault_ids", "object_name", "from_national_id", "concat_national_id"])
def test_preset_may_not_copy_identifiers_out_of_the_vault(fields, words):
    with pytest.raises(PresetError, match=words):
        parse_preset(_roster_with(**fields))


def test_check_only_field_may_read_the_national_id(store, key, tmp_path):
    doc = _roster_with(national_id_check={"from": "身份证号", "pattern": "[0-9]{17}[0-9Xx]", "required": True})
    pr = parse_preset(doc)
    assert pr.fields["national_id_check"].source == "身份证号"
    path = tmp_path / "roster.csv"
    path.write_text("学号,姓名,身份证号\n"
                    "2026001,张小明,11010120120304123X\n"   # 2 ok
                    "2026002,李华,1101012012\n", encoding="utf-8")  # 3 bad format
    rep = ingest_file(store, path, pr, key)
    assert (rep.accepted, rep.quarantined) == (1, 1), rep.as_dict()
    [(row, reasons, _)] = _quarantine(store, rep.file_id)
    assert (row, reasons[0]["code"], reasons[0]["column"], reasons[0]["value"]) == \
        (3, "bad_format", "身份证号", "«vault»")
    assert store.count("quarantine", "CAST(raw AS VARCHAR) LIKE '%1101012012%'") == 0
    assert store.count("students", "CAST(attrs AS VARCHAR) LIKE '%11010120120304123X%'") == 0


# ---------------------------------------------------------------------------------------------- 8. one rejects file per preset
def test_one_file_three_presets_write_three_rejects_files(store, key, shared_data, tmp_path):
    path = _xapi_sample(shared_data, tmp_path / "in", "xAPI-Edu-Data.csv",
                        {(4, "gender"): "X", (6, "raisedhands"): "-5"})
    reports = ingest_paths(store, [path], key, rejects_dir=tmp_path / "rejects")
    by = {r.preset: r for r in reports}
    assert [r.preset for r in reports] == ["xapi_edu_students", "xapi_edu_behaviour", "xapi_edu_grades"]
    assert all(r.status == "ok" for r in reports), [r.message for r in reports]
    names = {p: [Path(x).name for x in r.rejects] for p, r in by.items()}
    assert names == {p: [f"xAPI-Edu-Data.{p}.rejects.csv", f"xAPI-Edu-Data.{p}.rejects.xlsx"] for p in by}
    assert sorted(p.name for p in (tmp_path / "rejects").iterdir()) == sorted(sum(names.values(), []))

    def rejects(preset):
        df = pd.read_csv(by[preset].rejects[0], dtype=str, encoding="utf-8-sig", keep_default_na=False)
        return list(zip(df["_row"], df["_reason_code"]))
    assert rejects("xapi_edu_students") == [("4", "unknown_value")]
    # row 4's student was not created, so its counts and its grade wait for it; row 6 has a negative count
    assert rejects("xapi_edu_behaviour") == [("4", "; ".join(["unknown_student"] * 4)), ("6", "out_of_range")]
    assert rejects("xapi_edu_grades") == [("4", "unknown_student")]


# ---------------------------------------------------------------------------------------------- 9. batch goes on
def test_batch_goes_on_after_an_unexpected_error(store, key, tmp_path, monkeypatch):
    a, b = tmp_path / "a_acts.csv", tmp_path / "b_acts.csv"
    a.write_text("学号,类型,日期\nS001,竞赛,2025-10-01\n", encoding="utf-8")
    b.write_text("学号,类型,日期\nS002,社团,2025-10-02\nS003,社团,2025-10-03\n", encoding="utf-8")
    real = pipeline_mod._Ingest._write

    def write(self, fid, sha, size):
        if self.path.name == "a_acts.csv":
            raise RuntimeError("boom in write\nsecond line")
        return real(self, fid, sha, size)
    monkeypatch.setattr(pipeline_mod._Ingest, "_write", write)
    reports = ingest_paths(store, [a, b], key, preset(MINI_ACT))
    by = {r.file: r for r in reports}
    assert [r.file for r in reports] == ["a_acts.csv", "b_acts.csv"]
    assert by["a_acts.csv"].status == "failed"
    assert by["a_acts.csv"].message == f"{a}: RuntimeError: boom in write"
    assert (by["a_acts.csv"].rows_read, by["a_acts.csv"].accepted) == (0, 0)
    assert by["b_acts.csv"].status == "ok"
    assert (by["b_acts.csv"].rows_read, by["b_acts.csv"].accepted) == (2, 2)
    assert sorted(r[0] for r in store.con.execute("SELECT student_key FROM activities").fetchall()) == ["S002", "S003"]
    assert store.con.execute("SELECT file_name FROM ingest_log").fetchall() == [("b_acts.csv",)]


def test_batch_stops_on_a_pseudonym_key_error(store, key, tmp_path, monkeypatch):
    a, b = tmp_path / "a_acts.csv", tmp_path / "b_acts.csv"
    a.write_text("学号,类型,日期\nS001,竞赛,2025-10-01\n", encoding="utf-8")
    b.write_text("学号,类型,日期\nS002,社团,2025-10-02\n", encoding="utf-8")
    real = pipeline_mod._Ingest._write

    def write(self, fid, sha, size):
        if self.path.name == "a_acts.csv":
            raise PseudonymKeyError("wrong key")
        return real(self, fid, sha, size)
    monkeypatch.setattr(pipeline_mod._Ingest, "_write", write)
    with pytest.raises(PseudonymKeyError, match="wrong key"):
        ingest_paths(store, [b, a], key, preset(MINI_ACT))
    assert store.count("ingest_log") == 0 and store.count("activities") == 0
    # and a really different key stops the batch too
    monkeypatch.setattr(pipeline_mod._Ingest, "_write", real)
    assert ingest_file(store, b, preset(MINI_ACT), key).status == "ok"
    c = tmp_path / "c_acts.csv"
    c.write_text("学号,类型,日期\nS009,社团,2025-10-09\n", encoding="utf-8")
    with pytest.raises(PseudonymKeyError):
        ingest_paths(store, [a, c], bytes(range(1, 33)), preset(MINI_ACT))
    assert store.con.execute("SELECT file_name FROM ingest_log").fetchall() == [("b_acts.csv",)]


# ---------------------------------------------------------------------------------------------- 10. short keys
def test_short_key_from_env_is_refused(monkeypatch):
    monkeypatch.setenv("WORKBENCH_KEY", "ab" * 15)
    with pytest.raises(PseudonymKeyError, match="15 bytes"):
        load_key()
    monkeypatch.setenv("WORKBENCH_KEY", "ab" * 16)
    assert load_key() == bytes([0xab] * 16)


def test_short_key_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_KEY", raising=False)
    path = tmp_path / "short.key"
    path.write_text("cd" * 8 + "\n")
    path.chmod(0o600)
    with pytest.raises(PseudonymKeyError, match="8 bytes"):
        load_key(path)
    monkeypatch.setenv("WORKBENCH_KEY_FILE", str(path))
    with pytest.raises(PseudonymKeyError, match="8 bytes"):
        load_key()
    path.write_text("cd" * 16 + "\n")
    assert load_key(path) == bytes([0xcd] * 16)


def test_derived_rows_that_disagree_are_reported_not_silently_dropped(tmp_path, key):
    """An exam file defines its assessments; a second file giving one of them another maximum is said."""
    from workbench.ingest import ingest_paths
    from workbench.ingest.pipeline import ingest_file
    from workbench.demo import generate_demo_school
    ex = tmp_path / "ex"
    generate_demo_school(ex, tmp_path / "gt", students=30, weeks=4, events_per_week=2, seed=3)
    rows = pd.read_csv(ex / "unit_tests.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    subject, unit, date = rows.iloc[0][["科目", "单元", "测验日期"]]
    same = rows[(rows["科目"] == subject) & (rows["单元"] == unit) & (rows["测验日期"] == date)]
    later = same.tail(3).copy()  # three students' scores arrive in a second file …
    rows.drop(later.index).to_csv(tmp_path / "unit_tests_first.csv", index=False, encoding="utf-8-sig")
    later["满分"], later["得分"] = "150", "10"  # … which gives the same assessment another maximum
    later.to_csv(tmp_path / "unit_tests_later.csv", index=False, encoding="utf-8-sig")
    aid = f"2026-2027-1/{subject}/{unit}/{date}"
    with open_store(tmp_path / "s.duckdb") as store:
        ingest_paths(store, [ex / "terms.csv", ex / "roster.xlsx"], key)
        first = ingest_file(store, tmp_path / "unit_tests_first.csv", load_preset("demo_unit_tests"), key)
        assert first.status == "ok" and first.warnings == []
        stored = store.con.execute("SELECT max_score FROM assessments WHERE assessment_id = ?", [aid]).fetchall()
        rep = ingest_file(store, tmp_path / "unit_tests_later.csv", load_preset("demo_unit_tests"), key)
        assert rep.accepted == 3 and rep.balanced
        assert any("assessments: 1 derived record(s) disagree" in w and "stored" in w for w in rep.warnings), rep.warnings
        assert store.con.execute("SELECT max_score FROM assessments WHERE assessment_id = ?", [aid]).fetchall() == stored


def test_rejects_workbook_holds_control_characters(store, key, tmp_path):
    """A rejected value with a control character (which an xlsx cannot hold) is written as U+FFFD in the workbook
    and kept as it was in the CSV; the report does not fail."""
    import openpyxl
    path = tmp_path / "terms.csv"
    path.write_text("term_id,name_zh,start_date,end_date,weeks\n"
                    "2026-2027-1,2026-2027学年第一学期,2026-09-01,2027-01-20,20\n"
                    "2026-2027-2,第二\x07学期,2027-02-30,2027-07-10,20\n", encoding="utf-8")   # 3: no 30 February
    rep = ingest_file(store, path, load_preset("demo_terms"), key, rejects_dir=tmp_path / "rejects")
    assert (rep.accepted, rep.quarantined) == (1, 1), rep.as_dict()
    csv_path, xlsx_path = (tmp_path / "rejects" / "terms.demo_terms.rejects.csv", tmp_path / "rejects" / "terms.demo_terms.rejects.xlsx")
    assert "第二\x07学期" in csv_path.read_text(encoding="utf-8-sig")
    sheet = openpyxl.load_workbook(xlsx_path, read_only=True)["rejects"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[1][1] == 3 and "第二\ufffd学期" in rows[1] and rows[1][4]     # row 3, the text, a reason
    assert [r[0] for r in openpyxl.load_workbook(xlsx_path, read_only=True)["reasons"].iter_rows(values_only=True)][:2] == \
        ["file", "terms.csv"]
