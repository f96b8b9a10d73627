"""The fused CSV path writes exactly what the general path writes.

Plain CSV presets (one target table; no identity section, unpivot or derive) are read, typed and
checked in one DuckDB scan that keeps the raw text of failing rows only. These tests ingest the same
files twice, once with the fused path and once with it turned off, and compare everything a person
or a later stage can see: every canonical table (quarantine ids aside, which are handed out in no
fixed order within a file), each report, and the rejects files. They also pin the fused path's own
accounting on a hand-made file with one bad row of each kind, and check that files the fused scan
cannot take as they are (not UTF-8, records over several lines, blank lines) still go the general way.
"""
from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest
import yaml

from workbench.identity import pseudonym
from workbench.ingest import ingest_file, ingest_paths
from workbench.ingest import pipeline as pipeline_mod
from workbench.ingest.presets import parse_preset
from workbench.sqltext import q
from workbench.store import TABLES, open_store

VOLATILE = {"created_at", "ingested_at", "linked_at", "path", "computed_at", "quarantine_id"}


@pytest.fixture
def fused_log(monkeypatch):
    """Preset names for which the fused path was taken (``_prepare_fused`` returned True)."""
    taken: list[str] = []
    original = pipeline_mod._Ingest._prepare_fused

    def spy(self):
        ok = original(self)
        if ok:
            taken.append(self.preset.name)
        return ok
    monkeypatch.setattr(pipeline_mod._Ingest, "_prepare_fused", spy)
    return taken


def store_contents(con) -> dict[str, list]:
    """Every canonical table as a sorted list of rows (volatile columns and quarantine ids left out);
    quarantine rows carry their vault entry so that the pair is compared together."""
    out = {}
    for t in TABLES:
        cols = [r[0] for r in con.execute(f"DESCRIBE {t}").fetchall() if r[0] not in VOLATILE]
        if t == "quarantine":
            rows = con.execute(f"SELECT {', '.join(f'CAST(q.{q(c)} AS VARCHAR)' for c in cols)}, CAST(v.raw AS VARCHAR) "
                               f"FROM quarantine q LEFT JOIN identity_vault_quarantine v USING (quarantine_id)").fetchall()
        elif t == "identity_vault_quarantine":
            rows = con.execute("SELECT count(*) FROM identity_vault_quarantine").fetchall()
        else:
            rows = con.execute(f"SELECT {', '.join(f'CAST({q(c)} AS VARCHAR)' for c in cols)} FROM {t}").fetchall()
        out[t] = sorted(rows, key=repr)
    return out


def report_view(rep) -> dict:
    d = rep.as_dict()
    d.pop("seconds")
    d["rejects"] = [Path(p).name for p in d["rejects"]]
    return d


def rejects_view(folder: Path) -> dict[str, list]:
    """Rejects files without the quarantine id column (the ids are not fixed, see above)."""
    out = {}
    for p in sorted(folder.glob("*")):
        if p.suffix == ".csv":
            with open(p, encoding="utf-8-sig", newline="") as fh:
                sheets = {"rejects": list(csv.reader(fh))}
        else:
            wb = openpyxl.load_workbook(p, read_only=True)
            sheets = {ws.title: [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]
                      for ws in wb.worksheets}
        for name, rows in sheets.items():
            if rows and "_quarantine_id" in rows[0]:
                i = rows[0].index("_quarantine_id")
                rows = [r[:i] + r[i + 1:] for r in rows]
            out[f"{p.name}:{name}"] = rows
    return out


def ingest_both(tmp_path: Path, key: bytes, run, monkeypatch) -> tuple[tuple, tuple]:
    """``run(store, rejects_dir)`` → reports, once fused and once general; (reports, contents, rejects) each."""
    results = []
    for fused in (True, False):
        monkeypatch.setattr(pipeline_mod, "FUSED_CSV", fused)
        root = tmp_path / ("fused" if fused else "general")
        with open_store(root / "store.duckdb") as store:
            reports = run(store, root / "rejects")
            results.append(([report_view(r) for r in reports], store_contents(store.con), rejects_view(root / "rejects")))
    monkeypatch.setattr(pipeline_mod, "FUSED_CSV", True)
    return results[0], results[1]


# ---------------------------------------------------------------------------------------------- the demo school
def test_demo_school_same_through_fused_and_general_path(tmp_path, key, monkeypatch, fused_log):
    from workbench.demo import generate_demo_school
    ex = tmp_path / "exports"
    generate_demo_school(ex, tmp_path / "truth", students=60, weeks=4, events_per_week=6, seed=11)
    files = sorted(p for p in ex.iterdir() if p.is_file())
    fused, general = ingest_both(tmp_path, key, lambda store, rj: ingest_paths(store, files, key, rejects_dir=rj),
                                 monkeypatch)
    assert {"demo_lms_events", "demo_attendance", "demo_activities", "demo_responses", "demo_items",
            "demo_terms"} <= set(fused_log)
    assert fused[0] == general[0]
    for t in fused[1]:
        assert fused[1][t] == general[1][t], t
    assert fused[2] == general[2]
    events = next(r for r in fused[0] if r["preset"] == "demo_lms_events")
    # the planted problems of the event log are there: unknown and pending accounts, exact duplicates
    assert events["balanced"] and events["rows_read"] == events["accepted"] + events["quarantined"] + events["merged"]
    assert events["merged"] > 0 and events["reasons"]["duplicate_exact"] == events["merged"]
    assert events["reasons"].get("identity_pending", 0) + events["reasons"].get("unknown_student", 0) > 0
    merged = [r for r in fused[2]["lms_events.demo_lms_events.rejects.csv:rejects"] if "merged" in r]
    assert merged and all(any(v.startswith("lms_") or v == "«vault»" for v in r) for r in merged)


# ---------------------------------------------------------------------------------------------- one bad row of each kind
EVENTS = """
version: 1
name: fused_events
table: events
fields:
  student_key: {from: account, student: lms, required: true}
  ts: {from: ts, type: timestamp, required: true}
  verb: {from: verb, required: true, map: {login: login, video_play: video_play}}
  duration_s: {from: duration_s, type: double, min: 0, max: 86400}
  on_time: {from: on_time, type: bool}
  target_key: {from: target_account, student: lms, optional_student: true}
"""

ROWS = [
    "account,ts,verb,duration_s,on_time,target_account,note",  # 1 header (note: a column the preset does not read)
    "u1,2026-09-01 08:00:00,login,,,,a",                       # 2 ok
    "u2,2026-09-01 08:01:00,video_play,30,true,u1,b",           # 3 ok
    "u9,2026-09-01 08:02:00,login,,,,c",                       # 4 unknown student
    "u1,2026-09-31 08:03:00,login,,,,d",                       # 5 bad timestamp
    "u1,2026-09-01 08:04:00,dance,-5,maybe,,e",                # 6 unknown verb + out of range + bad bool
    "u2,2026-09-01 08:05:00,login,,,,f,extra",                 # 7 malformed (8 fields)
    "u2,2026-09-01 08:01:00,video_play,30,true,u1,g",           # 8 exact duplicate of row 3
    ",2026-09-01 08:06:00,login,,,,h",                         # 9 missing account
    "u1,2026-09-01 08:07:00, login ,,yes,nobody,i",             # 10 ok (trimmed; unknown target becomes NULL)
]


def _accounts(store, key: bytes) -> None:
    """LMS accounts u1 and u2 are known; any other is not."""
    store.con.execute("INSERT INTO identity_vault_ids VALUES ('lms', 'u1', ?, 'test', now(), NULL), "
                      "('lms', 'u2', ?, 'test', now(), NULL)", [pseudonym(key, "lms:u1"), pseudonym(key, "lms:u2")])


@pytest.mark.parametrize("bom", [False, True])
def test_fused_path_counts_and_names_every_bad_row(tmp_path, key, monkeypatch, fused_log, bom):
    src = tmp_path / "events.csv"
    src.write_text("\n".join(ROWS) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    preset = parse_preset(yaml.safe_load(EVENTS))

    def run(store, rejects):
        _accounts(store, key)
        return [ingest_file(store, src, preset, key, rejects_dir=rejects)]
    fused, general = ingest_both(tmp_path, key, run, monkeypatch)
    assert fused_log == ["fused_events"]
    assert fused == general
    [rep] = fused[0]
    assert rep["encoding"] == ("utf-8-sig" if bom else "utf-8")
    assert (rep["rows_read"], rep["accepted"], rep["quarantined"], rep["merged"]) == (9, 3, 5, 1)
    assert rep["reasons"] == {"unknown_student": 1, "bad_date": 1, "unknown_value": 2, "out_of_range": 1,
                              "malformed_row": 1, "missing_value": 1, "duplicate_exact": 1}
    rejects = fused[2]["events.fused_events.rejects.csv:rejects"]
    head, body = rejects[0], rejects[1:]
    by_row = {r[head.index("_row")]: r for r in body}
    assert sorted(by_row, key=int) == ["4", "5", "6", "7", "8", "9"]
    code = head.index("_reason_code")
    assert by_row["4"][code] == "unknown_student" and by_row["5"][code] == "bad_date"
    assert by_row["6"][code] == "unknown_value; out_of_range; unknown_value"
    assert by_row["6"][head.index("_columns")] == "verb; duration_s; on_time"
    assert by_row["6"][head.index("_values")] == "dance; -5; maybe"
    assert by_row["7"][code] == "malformed_row" and by_row["9"][code] == "missing_value"
    assert by_row["8"][head.index("_status")] == "merged" and by_row["8"][head.index("_values")] == "= row 3"
    # a merged row is shown as it was written (the fused path fetches it again for the report)
    assert [by_row["8"][head.index(c)] for c in ("account", "ts", "verb", "duration_s", "target_account")] == \
        ["u2", "2026-09-01 08:01:00", "video_play", "30", "u1"]
    assert "note" not in head  # only the columns the preset reads
    quarantine = {r[3]: r for r in fused[1]["quarantine"]}  # row_no → row (row_no is the 4th column)
    assert set(quarantine) == {"4", "5", "6", "7", "9"}
    assert '"verb":"dance"' in quarantine["6"][6] and '"account":"«vault»"' in quarantine["6"][6]
    assert quarantine["4"][-1] == '{"account":"u9","target_account":null}'  # the identifier, in the vault only
    events = fused[1]["events"]  # student_key, ts, term_day, term_id, class_id, verb, …, on_time (9), target_key
    assert sorted((e[1], e[5], e[9], e[10]) for e in events) == [
        ("2026-09-01 08:00:00", "login", None, None),
        ("2026-09-01 08:01:00", "video_play", "true", pseudonym(key, "lms:u1")),
        ("2026-09-01 08:07:00", "login", "true", None)]


def test_fused_path_duplicates_of_stored_rows_are_merged(tmp_path, key, monkeypatch, fused_log):
    """The second file repeats rows of the first: merged against the store, the same as the general path."""
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("\n".join(ROWS[:4]) + "\n", encoding="utf-8")
    second.write_text("\n".join(ROWS[:1] + ROWS[2:4] + ROWS[9:]) + "\n", encoding="utf-8")
    preset = parse_preset(yaml.safe_load(EVENTS))

    def run(store, rejects):
        _accounts(store, key)
        return [ingest_file(store, p, preset, key, rejects_dir=rejects) for p in (first, second)]
    fused, general = ingest_both(tmp_path, key, run, monkeypatch)
    assert fused == general and fused_log == ["fused_events", "fused_events"]
    rep = fused[0][1]
    assert (rep["rows_read"], rep["accepted"], rep["quarantined"], rep["merged"]) == (3, 1, 1, 1)
    assert rep["reasons"] == {"duplicate_exact": 1, "unknown_student": 1}


@pytest.mark.parametrize("case", ["gb18030", "multiline", "blank_lines"])
def test_files_the_fused_scan_cannot_take_go_the_general_way(tmp_path, key, monkeypatch, fused_log, case):
    src = tmp_path / "events.csv"
    rows = list(ROWS[:7]) + ROWS[8:]
    if case == "gb18030":
        rows[4] = rows[4].replace(",d", ",备注")
        src.write_bytes(("\n".join(rows) + "\n").encode("gb18030"))
    elif case == "multiline":
        rows[2] = rows[2].replace(",b", ',"two\nlines"')
        src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    else:
        src.write_text("\n".join(rows[:3] + [""] + rows[3:]) + "\n\n", encoding="utf-8")
    preset = parse_preset(yaml.safe_load(EVENTS))

    def run(store, rejects):
        _accounts(store, key)
        return [ingest_file(store, src, preset, key, rejects_dir=rejects)]
    fused, general = ingest_both(tmp_path, key, run, monkeypatch)
    assert fused_log == [] and fused == general
    [rep] = fused[0]
    assert rep["balanced"] and (rep["rows_read"], rep["accepted"], rep["quarantined"], rep["merged"]) == (8, 3, 5, 0)
    assert rep["encoding"] == ("gb18030" if case == "gb18030" else "utf-8")
    rejects = fused[2]["events.fused_events.rejects.csv:rejects"]
    rows_seen = sorted(int(r[rejects[0].index("_row")]) for r in rejects[1:])
    assert rows_seen == {"gb18030": [4, 5, 6, 7, 8], "multiline": [5, 6, 7, 8, 9],
                         "blank_lines": [5, 6, 7, 8, 9]}[case]


LOOKUP = """
version: 1
name: fused_lookup
table: events
fields:
  student_key: {from: account, student: lms, required: true}
  ts: {from: ts, type: timestamp, required: true}
  verb: {from: verb, required: true}
  class_id: {from: class, lookup: {table: classes, column: name, value: class_id, reason: unknown_class}}
  count: {from: clicks, type: int, min: 0}
"""


def test_fused_path_lookups_give_the_looked_up_value(tmp_path, key, monkeypatch, fused_log):
    """A lookup that returns another column (class name → class id) through the ENUM, as the join does."""
    src = tmp_path / "clicks.csv"
    src.write_text("account,ts,verb,class,clicks\n"
                   "u1,2026-09-01 08:00:00,click,七(1)班,3\n"      # 2 ok → C1
                   "u2,2026-09-01 08:00:00,click,七(2)班,2.0\n"    # 3 ok → C2
                   "u1,2026-09-01 08:00:01,click,八(9)班,1\n"      # 4 unknown class
                   "u2,2026-09-01 08:00:02,click,,-1\n"           # 5 no class (fine), negative count
                   "u9,2026-09-01 08:00:03,click,七(1)班,1.5\n",   # 6 unknown student, not an integer
                   encoding="utf-8")
    preset = parse_preset(yaml.safe_load(LOOKUP))

    def run(store, rejects):
        _accounts(store, key)
        store.con.execute("INSERT INTO classes (class_id, name) VALUES ('C1', '七(1)班'), ('C2', '七(2)班')")
        return [ingest_file(store, src, preset, key, rejects_dir=rejects)]
    fused, general = ingest_both(tmp_path, key, run, monkeypatch)
    assert fused == general and fused_log == ["fused_lookup"]
    [rep] = fused[0]
    assert (rep["rows_read"], rep["accepted"], rep["quarantined"]) == (5, 2, 3)
    assert rep["reasons"] == {"unknown_class": 1, "out_of_range": 1, "unknown_student": 1, "bad_type": 1}
    events = fused[1]["events"]  # … class_id is the 5th column, count the 12th
    assert sorted((e[4], e[11]) for e in events) == [("C1", "3"), ("C2", "2")]


def test_order_guard_refuses_a_plan_with_a_join(store):
    """The one-scan check runs only when DuckDB plans it as a scan under projections (row order kept)."""
    from workbench.ingest.validate import _keeps_order
    con = store.con
    con.execute("CREATE TEMP TABLE wb_t (a VARCHAR)")
    assert _keeps_order(con, "CREATE TEMP TABLE wb_x AS SELECT CASE lower(a) WHEN 'y' THEN TRUE END FROM wb_t")
    many = ", ".join(f"'{i}'" for i in range(12))
    assert not _keeps_order(con, f"CREATE TEMP TABLE wb_x AS SELECT a IN ({many}) FROM wb_t")
    assert not _keeps_order(con, "CREATE TEMP TABLE wb_x AS SELECT x.a FROM wb_t x JOIN wb_t y USING (a)")


def test_the_rejects_workbook_is_capped_and_says_so(tmp_path, key, monkeypatch):
    """A district's file can reject more rows than a sheet holds: the CSV keeps all, the workbook the first N."""
    from workbench.ingest import report as report_mod
    monkeypatch.setattr(report_mod, "XLSX_MAX_ROWS", 3)
    src = tmp_path / "events.csv"
    src.write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    with open_store(tmp_path / "s.duckdb") as store:
        _accounts(store, key)
        rep = ingest_file(store, src, parse_preset(yaml.safe_load(EVENTS)), key, rejects_dir=tmp_path / "rj")
    csv_path, xlsx_path = map(Path, rep.rejects)
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        assert len(list(csv.reader(fh))) - 1 == 6            # 5 quarantined + 1 merged
    wb = openpyxl.load_workbook(xlsx_path, read_only=True)
    assert wb.sheetnames == ["rejects", "reasons", "about"]
    assert [len(list(wb[s].iter_rows())) - 1 for s in ("rejects", "reasons")] == [3, 3]
    note = [r[0] for r in wb["about"].iter_rows(values_only=True)]
    assert "前 3 行（共 6 行" in note[1] and "first 3 rows of 6" in note[2] and csv_path.name in note[2]


def test_cell_guard_equals_trim_on_every_kind_of_edge():
    """``sqltext.cell`` skips ``trim`` for plain ASCII cells; it must give what ``NULLIF(trim(x), '')`` gives."""
    import duckdb

    from workbench.sqltext import cell
    values = ["S001", " S001", "S001 ", "  ", "", None, "\tS001\t", "S 001", "\u00a0S001", "S001\u3000", "\u3000",
              "张 三", " 张三", "张三\u00a0", "\u2009x\u2009", "x\u202f", "é", " é ", "\u1680", "a\nb", "\n"]
    con = duckdb.connect()
    con.execute("CREATE TABLE raw (x VARCHAR)")
    con.executemany("INSERT INTO raw VALUES (?)", [[v] for v in values])
    got = con.execute(f"SELECT x, {cell('raw.x')} AS fast, NULLIF(trim(raw.x), '') AS slow FROM raw").fetchall()
    assert [(x, fast) for x, fast, _ in got] == [(x, slow) for x, _, slow in got]
    assert sum(fast != x for x, fast, _ in got if x is not None) >= 10  # the values do exercise trimming


def test_scalar_lookup_filter_passes_every_key_and_stops_most_others():
    """The Bloom filter in front of the ENUM cast must never stop a known key (a student would be 'unknown')."""
    import duckdb

    from workbench.ingest.validate import _enum_code, _scalar_lookup
    con = duckdb.connect()
    con.execute("CREATE TABLE ids AS SELECT 'lms' || lpad(CAST(i AS VARCHAR), 6, '0') AS k, 'key' || i AS v FROM range(5000) t(i)")
    bits = _scalar_lookup(con, "wb_t_lk", "SELECT k, v FROM ids", ["v"])
    assert bits >= 16 * 5000
    code = _enum_code("x", "wb_t_lk", bits)
    known = con.execute(f"SELECT count(*), count({code}) FROM (SELECT k AS x FROM ids)").fetchone()
    assert known == (5000, 5000)
    got = con.execute(f"SELECT getvariable('wb_t_lk_v')[{code} + 1] FROM (SELECT 'lms004321' AS x)").fetchone()[0]
    assert got == "key4321"
    passed = con.execute(f"SELECT count(*) FILTER (WHERE get_bit(getvariable('wb_t_lk_bits'), "
                         f"CAST(hash(x) % {bits} AS INTEGER)) = 1), count({code}) FROM "
                         f"(SELECT 'tch' || i AS x FROM range(100000) t(i))").fetchone()
    assert passed[1] == 0 and passed[0] < 100000 * 0.1  # unknown ids: none found, few reach the slow cast


def test_fused_path_student_with_two_accounts_and_pending_ones(tmp_path, key, monkeypatch, fused_log):
    """One scan finds students by their ids' ENUM codes and joins the keys in later; a student with two LMS
    accounts (the same key) must still make the same event under both an exact duplicate, and accounts waiting
    for review must still be 'identity_pending' (and, as a target, NULL), as the general path says."""
    rows = ["account,ts,verb,duration_s,on_time,target_account",
            "u1,2026-09-01 08:00:00,login,,,",            # 2 ok
            "u1b,2026-09-01 08:00:00,login,,,",           # 3 the same student, the same event: merged
            "u2,2026-09-01 08:01:00,video_play,30,true,p1",  # 4 ok, target waits for review → NULL
            "p1,2026-09-01 08:02:00,login,,,",            # 5 identity_pending
            "u2,2026-09-01 08:01:00,video_play,30,true,p2",  # 6 the same as 4 (both targets NULL): merged
            "zz,2026-09-01 08:03:00,login,,,"]            # 7 unknown_student
    src = tmp_path / "events.csv"
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    preset = parse_preset(yaml.safe_load(EVENTS))

    def run(store, rejects):
        _accounts(store, key)
        store.con.execute("INSERT INTO identity_vault_ids VALUES ('lms', 'u1b', ?, 'test', now(), NULL)",
                          [pseudonym(key, "lms:u1")])
        store.con.execute("INSERT INTO identity_vault_review (review_id, system, source_id, status) VALUES "
                          "(1, 'lms', 'p1', 'pending'), (2, 'lms', 'p2', 'pending')")
        return [ingest_file(store, src, preset, key, rejects_dir=rejects)]
    fused, general = ingest_both(tmp_path, key, run, monkeypatch)
    assert fused_log == ["fused_events"] and fused == general
    [rep] = fused[0]
    assert (rep["rows_read"], rep["accepted"], rep["quarantined"], rep["merged"]) == (6, 2, 2, 2)
    assert rep["reasons"] == {"identity_pending": 1, "unknown_student": 1, "duplicate_exact": 2}
