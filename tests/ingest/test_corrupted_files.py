"""A deliberately corrupted set of small exports: every bad row is named, every file balances.

Two kinds of files: hand-made OULAD-shaped CSVs read with the shipped OULAD presets, and files for
tiny custom presets (GB18030 roster with Chinese headers, activities as CSV / xlsx / Parquet, an xAPI
JSON-lines log) loaded from a temporary ``$WORKBENCH_PRESETS`` folder.

Row numbers are the ones a person sees: header = row 1 for CSV and xlsx, the line for JSON lines,
the record number (first = 1) for Parquet.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import pandas as pd
import pytest

from workbench.identity import pseudonym
from workbench.ingest import PresetError, ingest_file, ingest_paths, load_preset
from workbench.labels import reason_text
from workbench.store import TABLES, open_store

# ---------------------------------------------------------------------------------------------- presets
TINY_PRESETS = {
    "tiny_roster": """
version: 1
name: tiny_roster
source: tiny
title: {zh: 小型花名册, en: tiny roster}
match: ["tiny_roster*.csv"]
order: 10
identity: {system: tiny, mode: create, id: 学号, name: 姓名, birth_date: 出生日期, class_name: 班级}
table: students
fields:
  student_key: {from: 学号, student: tiny, required: true}
  gender: {from: 性别, map: {男: male, 女: female}}
  attrs: {object: [班级, 备注]}
""",
    "tiny_activity": """
version: 1
name: tiny_activity
source: tiny
title: {zh: 小型活动记录, en: tiny activities}
match: ["tiny_activity*"]
order: 40
table: activities
fields:
  student_key: {from: 学号, student: tiny, required: true}
  kind: {from: 类型, required: true}
  name: {from: 名称}
  date: {from: 日期, type: date, required: true}
  hours: {from: 时长, type: double, min: 0, max: 24}
""",
    "tiny_xapi": """
version: 1
name: tiny_xapi
source: tiny
title: {zh: 小型 xAPI 日志, en: tiny xAPI log}
match: ["tiny_xapi*.jsonl"]
order: 40
reader: {format: xapi}
table: events
fields:
  student_key: {from: actor.account.name, student: tiny, required: true}
  verb: {from: verb.id, required: true, map: {"http://adlnet.gov/expapi/verbs/launched": login,
                                              "http://adlnet.gov/expapi/verbs/completed": homework_submit}}
  ts: {from: timestamp, type: timestamp, timezone: UTC, required: true}
  object_id: {from: object.id}
""",
}


def write_presets(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in TINY_PRESETS.items():
        (folder / f"{name}.yaml").write_text(text.lstrip(), encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------------------------- files
OULAD_INFO_HEADER = ("code_module,code_presentation,id_student,gender,region,highest_education,imd_band,age_band,"
                     "num_of_prev_attempts,studied_credits,disability,final_result\n")


def write_oulad(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "courses.csv": "code_module,code_presentation,module_presentation_length\nAAA,2013J,268\nBBB,2014B,240\n",
        "assessments.csv": ("code_module,code_presentation,id_assessment,assessment_type,date,weight\n"
                            "AAA,2013J,1752,TMA,19,10\n"       # 2 ok
                            "AAA,2013J,1753,CMA,54,20\n"       # 3 ok
                            "AAA,2013J,1754,Quiz,60,20\n"      # 4 unknown assessment_type
                            "ZZZ,2013J,1755,TMA,70,20\n"),     # 5 unknown class ZZZ-2013J
        "studentInfo.csv": (OULAD_INFO_HEADER +
                            "AAA,2013J,11391,M,East Anglian Region,HE Qualification,90-100%,55<=,0,240,N,Pass\n"   # 2
                            "AAA,2013J,28400,F,Scotland,HE Qualification,20-30%,35-55,0,60,N,Pass\n"              # 3
                            "AAA,2013J,28400,F,Scotland,HE Qualification,20-30%,35-55,0,60,N,Pass\n"              # 4 exact dup
                            "AAA,2013J,11391,M,East Anglian Region,HE Qualification,90-100%,55<=,0,240,N,Fail\n"  # 5 conflict
                            "AAA,2013J,30268,F,North Western Region,A Level,30-40%,35-55,0,60,Y,Withdrawn,EXTRA\n"  # 6 13 fields
                            "BBB,2014B,31604,F,South East Region,A Level,50-60%,35-55,0,60,N,Distinction\n"),     # 7
        "studentAssessment.csv": ("id_assessment,id_student,date_submitted,is_banked,score\n"
                                  "1752,11391,18,0,78\n"     # 2 ok
                                  "1752,28400,22,0,-5\n"     # 3 negative score
                                  "1753,28400,50,0,140\n"    # 4 above 100
                                  "1753,99999,20,0,60\n"     # 5 unknown student
                                  "9999,31604,20,0,60\n"     # 6 unknown assessment
                                  "1753,11391,51,0,\n"),     # 7 ok (missing score is allowed)
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return {n: folder / n for n in files}


def write_tiny(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    p = {}
    # GB18030, Chinese headers and values; 䶮 (U+4DAE) needs a four-byte GB18030 sequence
    p["roster"] = folder / "tiny_roster.csv"
    p["roster"].write_bytes(("学号,姓名,性别,出生日期,班级,备注\n"
                             "S001,张小明,男,2012-03-04,初一（1）班,数学课代表\n"
                             "S002,刘䶮,男,2012-05-06,初一（1）班,喜欢《红楼梦》\n"
                             "S003,王芳,女,2012-07-08,初一（2）班,\n"
                             "S004,欧阳娜娜,未知,2012-08-09,初一（2）班,性别填写错误\n").encode("gb18030"))
    p["activity_csv"] = folder / "tiny_activity.csv"
    p["activity_csv"].write_text("学号,类型,名称,日期,时长\n"
                                 "S001,竞赛,数学竞赛,2025-10-01,2\n"       # 2 ok
                                 "S002,社团,合唱团,2025-13-45,1.5\n"      # 3 bad date (month 13)
                                 "S003,志愿,图书馆,昨天,3\n"              # 4 bad date (a word)
                                 "S003,志愿,图书馆,2025-10-02,-1\n"       # 5 negative hours
                                 "S003,志愿,图书馆,2025-10-03,30\n"       # 6 hours above 24
                                 "S999,志愿,图书馆,2025-10-03,1\n"        # 7 unknown student
                                 "S002,社团,合唱团,2025-10-04,1.5\n"      # 8 ok
                                 "S002,社团,合唱团,2025-10-04,1.5\n",     # 9 exact duplicate of 8
                                 encoding="utf-8")
    p["activity_xlsx"] = folder / "tiny_activity.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["学号", "类型", "名称", "日期", "时长"])
    ws.append(["S001", "竞赛", "物理竞赛", dt.datetime(2025, 11, 1), 2])   # 2 ok (a real Excel date)
    ws.append(["S002", "社团", "篮球", "2025/02/30", 1])                    # 3 bad date (Feb 30)
    ws.append(["S003", "社团", "篮球", dt.datetime(2025, 11, 2), -3])       # 4 negative hours
    wb.save(p["activity_xlsx"])
    p["activity_parquet"] = folder / "tiny_activity.parquet"
    pd.DataFrame({"学号": ["S001", "S002", "S404"], "类型": ["志愿"] * 3, "名称": ["敬老院"] * 3,
                  "日期": ["2025-12-01"] * 3, "时长": ["2", "abc", "1"]}).to_parquet(p["activity_parquet"])
    p["xapi"] = folder / "tiny_xapi.jsonl"
    stmt = lambda who, verb, ts, obj: json.dumps({"actor": {"account": {"name": who}},  # noqa: E731
                                                  "verb": {"id": f"http://adlnet.gov/expapi/verbs/{verb}"},
                                                  "timestamp": ts, "object": {"id": obj}})
    p["xapi"].write_text("\n".join([
        stmt("S001", "launched", "2025-09-01T08:00:00Z", "course/1"),       # 1 ok
        stmt("S002", "completed", "not-a-time", "hw/1"),                     # 2 bad timestamp
        '{"actor": {"account": {"name": "S003"}}, "verb": ',                 # 3 broken JSON
        stmt("S003", "flew", "2025-09-01T09:00:00+08:00", "x"),             # 4 unknown verb
        stmt("S002", "completed", "2025-09-02T10:30:00+08:00", "hw/1"),     # 5 ok
    ]) + "\n", encoding="utf-8")
    return p


# (file, row, column, code); column None = not checked (a malformed line has no column)
EXPECTED_BAD = [
    ("assessments.csv", 4, "assessment_type", "unknown_value"),
    ("assessments.csv", 5, "code_module,code_presentation", "unknown_class"),
    ("studentInfo.csv", 5, "student_key,class_id,term_id", "duplicate_conflict"),
    ("studentInfo.csv", 6, None, "malformed_row"),
    ("studentAssessment.csv", 3, "score", "negative_score"),
    ("studentAssessment.csv", 4, "score", "score_above_max"),
    ("studentAssessment.csv", 5, "id_student", "unknown_student"),
    ("studentAssessment.csv", 6, "id_assessment", "unknown_assessment"),
    ("tiny_roster.csv", 5, "性别", "unknown_value"),
    ("tiny_activity.csv", 3, "日期", "bad_date"),
    ("tiny_activity.csv", 4, "日期", "bad_date"),
    ("tiny_activity.csv", 5, "时长", "out_of_range"),
    ("tiny_activity.csv", 6, "时长", "out_of_range"),
    ("tiny_activity.csv", 7, "学号", "unknown_student"),
    ("tiny_activity.xlsx", 3, "日期", "bad_date"),
    ("tiny_activity.xlsx", 4, "时长", "out_of_range"),
    ("tiny_activity.parquet", 2, "时长", "bad_type"),
    ("tiny_activity.parquet", 3, "学号", "unknown_student"),
    ("tiny_xapi.jsonl", 2, "timestamp", "bad_date"),
    ("tiny_xapi.jsonl", 3, None, "malformed_row"),
    ("tiny_xapi.jsonl", 4, "verb.id", "unknown_value"),
]

# file → (rows_read, accepted, quarantined, merged)
EXPECTED_ACCOUNTING = {
    "courses.csv": (2, 2, 0, 0),
    "assessments.csv": (4, 2, 2, 0),
    "studentInfo.csv": (6, 3, 2, 1),
    "studentAssessment.csv": (6, 2, 4, 0),
    "tiny_roster.csv": (4, 3, 1, 0),
    "tiny_activity.csv": (8, 2, 5, 1),
    "tiny_activity.xlsx": (3, 1, 2, 0),
    "tiny_activity.parquet": (3, 1, 2, 0),
    "tiny_xapi.jsonl": (5, 2, 3, 0),
}


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory, key):
    """Every corrupted file ingested once into one store (OULAD-shaped files, then the tiny presets)."""
    tmp = tmp_path_factory.mktemp("corrupt")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_PRESETS", str(write_presets(tmp / "presets")))
        oulad = write_oulad(tmp / "oulad")
        tiny = write_tiny(tmp / "tiny")
        store = open_store(tmp / "store.duckdb")
        jobs = [(oulad["courses.csv"], "oulad_courses"), (oulad["assessments.csv"], "oulad_assessments"),
                (oulad["studentInfo.csv"], "oulad_student_info"),
                (oulad["studentAssessment.csv"], "oulad_student_assessment"),
                (tiny["roster"], "tiny_roster"), (tiny["activity_csv"], "tiny_activity"),
                (tiny["activity_xlsx"], "tiny_activity"), (tiny["activity_parquet"], "tiny_activity"),
                (tiny["xapi"], "tiny_xapi")]
        reports = {}
        for path, preset in jobs:
            rep = ingest_file(store, path, load_preset(preset), key, rejects_dir=tmp / "rejects")
            reports[path.name] = rep
        yield SimpleNamespace(store=store, reports=reports, tmp=tmp, tiny=tiny, oulad=oulad)
        store.close()


def _quarantine(store, file_name):
    return store.con.execute("SELECT row_no, reasons, status FROM quarantine WHERE file_name = ? ORDER BY row_no",
                             [file_name]).fetchall()


@pytest.mark.parametrize("file", list(EXPECTED_ACCOUNTING))
def test_accounting_balances(corrupt, file):
    rep = corrupt.reports[file]
    assert rep.status == "ok", rep.message
    assert (rep.rows_read, rep.accepted, rep.quarantined, rep.merged) == EXPECTED_ACCOUNTING[file], rep.as_dict()
    assert rep.rows_read == rep.accepted + rep.quarantined + rep.merged and rep.balanced
    store = corrupt.store
    assert store.count("quarantine", "file_id = ?", [rep.file_id]) == rep.quarantined
    assert store.count(load_preset(rep.preset).table, "file_id = ?", [rep.file_id]) == rep.accepted
    logged = store.con.execute("SELECT rows_read, accepted, quarantined, merged FROM ingest_log WHERE file_id = ?",
                               [rep.file_id]).fetchall()
    assert logged == [EXPECTED_ACCOUNTING[file]]


@pytest.mark.parametrize("file", sorted({f for f, *_ in EXPECTED_BAD}))
def test_each_bad_row_has_exactly_one_named_reason(corrupt, file):
    expected = sorted((row, col, code) for f, row, col, code in EXPECTED_BAD if f == file)
    got = _quarantine(corrupt.store, file)
    assert [r[0] for r in got] == [e[0] for e in expected], f"quarantined rows of {file}: {got}"
    for (row, reasons, status), (_, col, code) in zip(got, expected):
        assert status == "open"
        assert len(reasons) == 1, f"{file} row {row}: {reasons}"
        assert reasons[0]["code"] == code, f"{file} row {row}: {reasons}"
        if col is not None:
            assert reasons[0]["column"] == col, f"{file} row {row}: {reasons}"
    rep = corrupt.reports[file]
    want = {}
    for _, _, code in expected:
        want[code] = want.get(code, 0) + 1
    if rep.merged:
        want["duplicate_exact"] = rep.merged
    assert rep.reasons == want


def test_identifiers_are_masked_in_quarantine(corrupt):
    """Raw student ids never reach the quarantine table; they are kept in the vault."""
    store = corrupt.store
    [(raw, reasons, qid)] = store.con.execute(
        "SELECT raw, reasons, quarantine_id FROM quarantine WHERE file_name = 'studentAssessment.csv' AND row_no = 5"
    ).fetchall()
    assert json.loads(raw)["id_student"] == "«vault»"
    assert reasons[0]["value"] == "«vault»"
    vault = store.con.execute("SELECT raw FROM identity_vault_quarantine WHERE quarantine_id = ?", [qid]).fetchall()
    assert json.loads(vault[0][0])["id_student"] == "99999"
    assert store.count("quarantine", "CAST(raw AS VARCHAR) LIKE '%99999%'") == 0


def test_good_rows_land_with_real_values(corrupt, key):
    store = corrupt.store
    k11391, k28400 = pseudonym(key, "oulad:11391"), pseudonym(key, "oulad:28400")
    assert dict(store.con.execute("SELECT student_key, final_result FROM enrolments").fetchall()) == \
        {k11391: "pass", k28400: "pass", pseudonym(key, "oulad:31604"): "distinction"}
    assert sorted(store.con.execute("SELECT assessment_id, student_key, score FROM scores").fetchall(),
                  key=str) == sorted([("1752", k11391, 78.0), ("1753", k11391, None)], key=str)
    assert sorted(r[0] for r in store.con.execute("SELECT assessment_id FROM assessments").fetchall()) == ["1752", "1753"]
    acts = store.con.execute("SELECT name, date, hours, file_id FROM activities ORDER BY date").fetchall()
    assert [(a[0], a[1], a[2]) for a in acts] == [
        ("数学竞赛", dt.date(2025, 10, 1), 2.0), ("合唱团", dt.date(2025, 10, 4), 1.5),
        ("物理竞赛", dt.date(2025, 11, 1), 2.0), ("敬老院", dt.date(2025, 12, 1), 2.0)]
    ev = store.con.execute("SELECT verb, ts, object_id FROM events ORDER BY ts").fetchall()
    assert ev == [("login", dt.datetime(2025, 9, 1, 8, 0), "course/1"),
                  ("homework_submit", dt.datetime(2025, 9, 2, 2, 30), "hw/1")]  # +08:00 → UTC


def test_gb18030_round_trips_without_mojibake(corrupt, key):
    store, rep = corrupt.store, corrupt.reports["tiny_roster.csv"]
    assert rep.encoding == "gb18030"
    vault = dict(store.con.execute("SELECT name, class_name FROM identity_vault WHERE anchor LIKE 'tiny:%'").fetchall())
    # S004's row was rejected (性别 未知), so no identity settles from it; its name waits, readable, in the vault
    assert vault == {"张小明": "初一（1）班", "刘䶮": "初一（1）班", "王芳": "初一（2）班"}
    waiting = [json.loads(r[0]) for r in store.con.execute("SELECT raw FROM identity_vault_quarantine").fetchall()]
    assert {"学号": "S004", "姓名": "欧阳娜娜"}.items() <= next(w for w in waiting if w.get("学号") == "S004").items()
    attrs = store.con.execute("SELECT attrs FROM students WHERE student_key = ?",
                              [pseudonym(key, "tiny:S002")]).fetchall()
    assert json.loads(attrs[0][0]) == {"班级": "初一（1）班", "备注": "喜欢《红楼梦》"}
    # the rejected row's Chinese value is readable in the rejects report
    rej = pd.read_csv(rep.rejects[0], dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert rej.loc[0, "_values"] == "未知" and rej.loc[0, "备注"] == "性别填写错误"


def test_rejects_reports_exist_with_zh_and_en_reasons(corrupt):
    rep = corrupt.reports["studentAssessment.csv"]
    csv_path, xlsx_path = map(Path, rep.rejects)
    assert csv_path.name == "studentAssessment.oulad_student_assessment.rejects.csv" and csv_path.exists()
    assert xlsx_path.name == "studentAssessment.oulad_student_assessment.rejects.xlsx" and xlsx_path.exists()
    rej = pd.read_csv(csv_path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    meta = [c for c in rej.columns if c.startswith("_")]
    documented = ["_file", "_row", "_columns", "_values", "_reason_zh", "_reason_en", "_status", "_quarantine_id"]
    assert [c for c in meta if c in documented] == documented  # in this order (other _ columns may be added)
    original = ["id_assessment", "id_student", "date_submitted", "is_banked", "score"]
    assert list(rej.columns[len(meta):]) == original  # the row's own columns follow
    assert rej["_row"].tolist() == ["3", "4", "5", "6"]
    assert rej["_reason_zh"].tolist() == [reason_text(c, "zh") for c in
                                          ("negative_score", "score_above_max", "unknown_student", "unknown_assessment")]
    assert rej["_reason_en"].tolist() == ["negative score", "score above the maximum",
                                          reason_text("unknown_student", "en"), reason_text("unknown_assessment", "en")]
    assert rej["_reason_zh"][0] == "分数为负"
    wb = openpyxl.load_workbook(xlsx_path, read_only=True)
    assert wb.sheetnames == ["rejects", "reasons"]
    reasons = list(wb["reasons"].iter_rows(values_only=True))
    head = reasons[0]
    rows = [dict(zip(head, r)) for r in reasons[1:]]
    assert [(r["row"], r["column"], r["code"], r["reason_zh"], r["reason_en"]) for r in rows][:2] == [
        (3, "score", "negative_score", "分数为负", "negative score"),
        (4, "score", "score_above_max", "分数超过满分", "score above the maximum")]
    # merged exact duplicates are listed too, marked as merged
    info = pd.read_csv(corrupt.reports["studentInfo.csv"].rejects[0], dtype=str, encoding="utf-8-sig",
                       keep_default_na=False)
    merged = info[info["_status"] == "merged"]
    assert merged["_row"].tolist() == ["4"] and merged["_reason_en"].tolist() == ["exact duplicate row (merged)"]


def test_corrected_rejects_leave_quarantine(tmp_path, key):
    """Correct values in the rejects CSV, ingest it with the same preset: those rows are released."""
    files = write_oulad(tmp_path / "oulad")
    rejects = tmp_path / "rejects"
    with open_store(tmp_path / "store.duckdb") as store:
        for name, preset in [("courses.csv", "oulad_courses"), ("assessments.csv", "oulad_assessments"),
                             ("studentInfo.csv", "oulad_student_info"),
                             ("studentAssessment.csv", "oulad_student_assessment")]:
            rep = ingest_file(store, files[name], load_preset(preset), key, rejects_dir=rejects)
        first_fid = rep.file_id
        before = dict(store.con.execute("SELECT row_no, quarantine_id FROM quarantine WHERE file_id = ?",
                                        [first_fid]).fetchall())
        assert sorted(before) == [3, 4, 5, 6]
        rej = pd.read_csv(rejects / "studentAssessment.oulad_student_assessment.rejects.csv", dtype=str, encoding="utf-8-sig",
                          keep_default_na=False)
        rej.loc[rej["_row"] == "3", "score"] = "5"          # was -5
        rej.loc[rej["_row"] == "4", "score"] = "14"         # was 140
        rej.loc[rej["_row"] == "5", "id_student"] = "31604"  # was the unknown 99999
        # row 6 (unknown assessment 9999) is left as it was
        fixed = tmp_path / "fixed" / "studentAssessment.rejects.csv"
        fixed.parent.mkdir()
        rej.to_csv(fixed, index=False, encoding="utf-8-sig")
        rep2 = ingest_file(store, fixed, load_preset("oulad_student_assessment"), key, rejects_dir=tmp_path / "rej2")
        assert rep2.status == "ok", rep2.message
        assert (rep2.rows_read, rep2.accepted, rep2.quarantined, rep2.merged, rep2.released) == (4, 3, 1, 0, 3)
        assert rep2.balanced
        status = dict(store.con.execute("SELECT row_no, status FROM quarantine WHERE file_id = ?", [first_fid]).fetchall())
        assert status == {3: "released", 4: "released", 5: "released", 6: "superseded"}
        closed = {r[0] for r in store.con.execute("SELECT closed_by_file FROM quarantine WHERE file_id = ?",
                                                  [first_fid]).fetchall()}
        assert closed == {rep2.file_id}
        still = store.con.execute("SELECT reasons FROM quarantine WHERE file_id = ? AND status = 'open'",
                                  [rep2.file_id]).fetchall()
        assert [r[0][0]["code"] for r in still] == ["unknown_assessment"]
        k = lambda sid: pseudonym(key, f"oulad:{sid}")  # noqa: E731
        got = sorted(store.con.execute("SELECT assessment_id, student_key, score FROM scores WHERE file_id = ?",
                                       [rep2.file_id]).fetchall())
        assert got == sorted([("1752", k(28400), 5.0), ("1753", k(28400), 14.0), ("1753", k(31604), 60.0)])
        assert store.count("scores") == 5


# ---------------------------------------------------------------------------------------------- whole-file problems
@pytest.fixture
def base(tmp_path, key, monkeypatch):
    """A store holding the tiny roster (closed, so the CLI can open it), plus bad files next to it."""
    monkeypatch.setenv("WORKBENCH_PRESETS", str(write_presets(tmp_path / "presets")))
    tiny = write_tiny(tmp_path / "tiny")
    bad = tmp_path / "bad"
    bad.mkdir()
    latin1 = bad / "tiny_activity_latin1.csv"
    latin1.write_bytes("学号,类型,名称,日期,时长\n".encode("utf-8") + "S001,café,résumé,2025-10-01,1\n".encode("latin-1"))
    nodate = bad / "tiny_activity_nodate.csv"
    nodate.write_text("学号,类型,名称,时长\nS001,竞赛,数学竞赛,1\n", encoding="utf-8")
    path = tmp_path / "store.duckdb"
    with open_store(path) as s:
        [rep] = ingest_paths(s, [tiny["roster"]], key, "tiny_roster")
        assert rep.status == "ok", rep.message
    return SimpleNamespace(store_path=path, latin1=latin1, nodate=nodate, good=tiny["activity_csv"], tmp=tmp_path)


def _counts(path: Path) -> dict[str, int]:
    with open_store(path) as s:
        return {t: s.count(t) for t in TABLES}


WHOLE_FILE = {  # case → (file attribute, preset, words the message must contain)
    "wrong_encoding": ("latin1", "tiny_activity", ["UTF-8", "GB18030", "0xe9"]),
    "missing_column": ("nodate", "tiny_activity", ["missing required column", "日期"]),
    "unknown_preset": ("good", "no_such_preset", ["no_such_preset"]),
}
@pytest.mark.parametrize("case", list(WHOLE_FILE))
def test_whole_file_problem_fails_and_changes_nothing(base, key, case):
    attr, preset, words = WHOLE_FILE[case]
    path = getattr(base, attr)
    before = _counts(base.store_path)
    with open_store(base.store_path) as s:
        [rep] = ingest_paths(s, [path], key, preset, rejects_dir=base.tmp / "rejects")
    assert rep.status == "failed"
    assert (rep.rows_read, rep.accepted, rep.quarantined, rep.merged) == (0, 0, 0, 0)
    for w in words:
        assert w in rep.message, rep.message
    assert _counts(base.store_path) == before
    assert path.name in rep.message, rep.message


def test_unknown_preset_is_a_preset_error(base):
    with pytest.raises(PresetError, match="no_such_preset"):
        load_preset("no_such_preset")


@pytest.mark.parametrize("case", ["wrong_encoding", "missing_column"])
def test_cli_whole_file_problem_exit_2(base, run_cli, case):
    attr, preset, words = WHOLE_FILE[case]
    path = getattr(base, attr)
    before = _counts(base.store_path)
    out = run_cli("ingest", path, "--preset", preset, "--store", base.store_path, "--rejects", base.tmp / "rej")
    assert out.returncode == 2, out.stdout + out.stderr
    text = out.stdout + out.stderr
    assert path.name in text
    for w in words:
        assert w in text
    assert _counts(base.store_path) == before


def test_cli_unknown_preset_exit_2(base, run_cli):
    before = _counts(base.store_path)
    out = run_cli("ingest", base.good, "--preset", "no_such_preset", "--store", base.store_path)
    assert _counts(base.store_path) == before
    text = out.stdout + out.stderr
    assert "no_such_preset" in text
    assert out.returncode == 2, text
    assert base.good.name in text


def test_cli_mixed_batch_ingests_good_file_and_exits_2(base, run_cli):
    """One bad file does not stop the others; the exit code still says something failed."""
    out = run_cli("ingest", base.good, base.latin1, "--preset", "tiny_activity", "--store", base.store_path,
                  "--rejects", base.tmp / "rej", "--json")
    assert out.returncode == 2, out.stderr
    reports = {r["file"]: r for r in json.loads(out.stdout)}
    assert reports["tiny_activity_latin1.csv"]["status"] == "failed"
    good = reports["tiny_activity.csv"]
    assert good["status"] == "ok" and good["balanced"] is True
    assert (good["rows_read"], good["accepted"], good["quarantined"], good["merged"]) == (8, 2, 5, 1)
    assert _counts(base.store_path)["activities"] == 2


def test_presets_found_from_file_names_and_run_in_order(tmp_path, key):
    """No --preset: each file's preset comes from its name, rosters before the records that need them."""
    files = write_oulad(tmp_path / "oulad")
    stray = tmp_path / "oulad" / "notes_2025.csv"
    stray.write_text("a,b\n1,2\n", encoding="utf-8")
    given = [files["studentAssessment.csv"], stray, files["studentInfo.csv"], files["assessments.csv"],
             files["courses.csv"]]
    with open_store(tmp_path / "s.duckdb") as s:
        reports = ingest_paths(s, given, key, rejects_dir=tmp_path / "rejects")
        by_file = {r.file: r for r in reports}
        assert by_file["notes_2025.csv"].status == "failed"
        assert "notes_2025.csv" in by_file["notes_2025.csv"].message
        ok = [r for r in reports if r.status == "ok"]
        assert [r.preset for r in ok] == ["oulad_courses", "oulad_assessments", "oulad_student_info",
                                          "oulad_student_assessment"]
        for r in ok:
            assert (r.rows_read, r.accepted, r.quarantined, r.merged) == EXPECTED_ACCOUNTING[r.file]
