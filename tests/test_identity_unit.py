"""One-ID: name normalisation, keyed pseudonyms, the key file, and the roster → LMS linking flow."""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from workbench.identity import (REVIEW_COLUMNS, PseudonymKeyError, apply_review_decisions, init_key, load_key,
                                normalize_name, pseudonym, write_review_file)
from workbench.ingest import ingest_file, load_preset
from workbench.privacy.scope import display_code
from workbench.store import open_store
from workbench.student_keys import KEY_ALPHABET, fresh_pseudonym, is_student_key, key_hex

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_identity_module_imports_on_its_own():
    """Regression: identity ↔ ingest once imported each other in a cycle, so importing identity first failed."""
    out = subprocess.run([sys.executable, "-c", "import workbench.identity"], capture_output=True, text=True,
                         cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------------------------------------- names
@pytest.mark.parametrize("raw,norm", [
    ("张小明", "张小明"),
    (" 张 小明 ", "张小明"),              # spaces, inside and around
    ("张\u3000小明", "张小明"),            # ideographic (full-width) space
    ("張小明", "张小明"),                  # traditional → simplified
    ("劉德華", "刘德华"),
    ("陳 嘉 欣", "陈嘉欣"),
    ("ＺＨＡＮＧ　Ｗｅｉ", "ZHANGWei"),     # full-width Latin letters and space
    ("李华（２）", "李华(2)"),              # full-width digits and brackets
    ("阿卜杜拉·买买提", "阿卜杜拉买买提"),  # middle dot in minority names
    ("", ""),
    (None, ""),
])
def test_normalize_name(raw, norm):
    assert normalize_name(raw) == norm


def test_normalize_name_keeps_different_people_apart():
    assert normalize_name("王芳") != normalize_name("汪芳")
    assert normalize_name("張偉") == normalize_name("张伟")


# ---------------------------------------------------------------------------------------------- pseudonyms
IDS = ["school_no:2026070101", "oulad:11391", "lms:zhangxm", "tiny:S001", "assistments:64525", "xapi:480"]


def test_pseudonym_is_deterministic_and_shaped(key):
    for anchor in IDS:
        p = pseudonym(key, anchor)
        assert p == pseudonym(key, anchor)
        # 12 characters: DuckDB keeps the string inline (no pointer to chase in a GROUP BY)
        assert re.fullmatch(r"S[0-9A-Za-z]{11}", p) and is_student_key(p)
    assert len({pseudonym(key, a) for a in IDS}) == len(IDS)
    # the first 64 bits of HMAC-SHA256 of the anchor under the key, in base 62
    import hashlib
    import hmac
    digest = hmac.new(key, IDS[0].encode(), hashlib.sha256).hexdigest()
    assert key_hex(pseudonym(key, IDS[0])) == digest[:16]
    assert int(digest[:16], 16) == sum(KEY_ALPHABET.index(c) * 62 ** i for i, c in enumerate(reversed(pseudonym(key, IDS[0])[1:])))


def test_older_stores_keys_are_still_keys_and_keep_their_display_code(key):
    """A store made before the 12-character keys keeps ``S`` + 24 hex digits of the same HMAC; both forms are keys
    and read to the same leading hex digits, so a student's display code does not change with the form."""
    import hashlib
    import hmac
    for anchor in IDS:
        legacy = "S" + hmac.new(key, anchor.encode(), hashlib.sha256).hexdigest()[:24]
        assert is_student_key(legacy)
        assert key_hex(legacy)[:16] == key_hex(pseudonym(key, anchor))
        assert display_code(legacy) == display_code(pseudonym(key, anchor))
    for not_key in ["2026070101", "S-abc123", "S" + "g" * 24, "S12345", "S" + "a" * 12, None, 17]:
        assert not is_student_key(not_key), not_key


def test_a_new_student_never_gets_a_key_already_taken(key):
    """If the anchor's pseudonym is taken (another student's: p ≈ 3e-8 for a million students), the next one of
    ``anchor#2``, ``anchor#3`` … is used; deterministic, and a free pseudonym is the anchor's own."""
    a = IDS[0]
    assert fresh_pseudonym(key, a, set()) == pseudonym(key, a)
    taken = {pseudonym(key, a)}
    second = fresh_pseudonym(key, a, taken)
    assert second == pseudonym(key, a + "#2") and second not in taken and is_student_key(second)
    taken.add(second)
    assert fresh_pseudonym(key, a, taken) == pseudonym(key, a + "#3")


def test_pseudonym_depends_on_key(key):
    other = bytes(reversed(key))
    for anchor in IDS:
        assert pseudonym(key, anchor) != pseudonym(other, anchor)


def test_pseudonym_never_contains_raw_id(key):
    for anchor in IDS:
        raw_id = anchor.split(":", 1)[1]
        p = pseudonym(key, anchor)
        assert raw_id not in p and anchor not in p


# ---------------------------------------------------------------------------------------------- key file
def test_init_key_creates_0600_and_load_key_reads_it(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_KEY", raising=False)
    path = init_key(tmp_path / "cfg" / "pseudonym.key")
    assert path.exists()
    assert path.stat().st_mode & 0o777 == 0o600
    text = path.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", text)
    k = load_key(path)
    assert isinstance(k, bytes) and len(k) == 32 and k.hex() == text
    assert init_key(path) == path and path.read_text().strip() == text  # never overwritten
    monkeypatch.setenv("WORKBENCH_KEY_FILE", str(path))
    assert load_key() == k


def test_load_key_refuses_world_readable_file(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_KEY", raising=False)
    path = init_key(tmp_path / "pseudonym.key")
    path.chmod(0o644)
    with pytest.raises(PseudonymKeyError, match="readable by others"):
        load_key(path)
    path.chmod(0o640)
    with pytest.raises(PseudonymKeyError, match="chmod 600"):
        load_key(path)


def test_load_key_missing_file_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_KEY", raising=False)
    with pytest.raises(PseudonymKeyError, match="workbench key init"):
        load_key(tmp_path / "nope.key")
    monkeypatch.setenv("WORKBENCH_KEY", "0f" * 32)
    assert load_key() == bytes.fromhex("0f" * 32)


# ---------------------------------------------------------------------------------------------- roster → LMS
ROSTER_PRESET = """\
version: 1
name: t_roster
source: t
match: ["t_roster*.csv"]
order: 10
identity: {system: school, mode: create, id: 学号, name: 姓名, birth_date: 出生日期, class_name: 班级}
table: students
fields:
  student_key: {from: 学号, student: school, required: true}
"""
LMS_PRESET = """\
version: 1
name: t_lms
source: t
match: ["t_lms*.csv"]
order: 40
identity: {system: lms, mode: link, id: 账号, name: 姓名, birth_date: 出生日期, class_name: 班级}
table: events
fields:
  student_key: {from: 账号, student: lms, required: true}
  verb: {const: login}
  ts: {from: 时间, type: timestamp, required: true}
"""


@pytest.fixture
def linked(tmp_path, key, monkeypatch):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "t_roster.yaml").write_text(ROSTER_PRESET, encoding="utf-8")
    (presets / "t_lms.yaml").write_text(LMS_PRESET, encoding="utf-8")
    monkeypatch.setenv("WORKBENCH_PRESETS", str(presets))
    roster = tmp_path / "t_roster.csv"
    roster.write_text("学号,姓名,出生日期,班级\n"
                      "2026001,张小明,2012-03-04,初一（1）班\n"
                      "2026002,李华,2012-05-06,初一（1）班\n"
                      "2026003,王芳,2012-07-08,初一（2）班\n"
                      "2026004,王芳,2012-09-10,初一（2）班\n", encoding="utf-8")
    lms = tmp_path / "t_lms.csv"
    lms.write_text("账号,姓名,出生日期,班级,时间\n"
                   "u1,李华,2012-05-06,初一（1）班,2025-09-01 08:00:00\n"   # exact name + class + birth
                   "u2,張小明,2012-03-04,初一（1）班,2025-09-01 08:05:00\n"  # traditional variant of 张小明
                   "u3,王芳,,初一（2）班,2025-09-01 08:10:00\n"             # two 王芳 in that class
                   "u1,李华,2012-05-06,初一（1）班,2025-09-02 08:00:00\n", encoding="utf-8")
    store = open_store(tmp_path / "s.duckdb")
    r1 = ingest_file(store, roster, load_preset("t_roster"), key)
    r2 = ingest_file(store, lms, load_preset("t_lms"), key)
    k = {sid: pseudonym(key, f"school:{sid}") for sid in ("2026001", "2026002", "2026003", "2026004")}
    yield SimpleNamespace(store=store, roster=r1, lms=r2, k=k, tmp=tmp_path)
    store.close()


def _links(store, system="lms"):
    return dict(store.con.execute("SELECT source_id, student_key FROM identity_vault_ids WHERE system = ?",
                                  [system]).fetchall())


def _reviews(store):
    return {r[0]: r[1:] for r in store.con.execute(
        "SELECT source_id, reason, candidates, status FROM identity_vault_review ORDER BY review_id").fetchall()}


def test_exact_match_links_automatically(linked):
    assert linked.roster.identity == {"created": 4, "linked": 0, "review": 0}
    assert linked.lms.identity == {"created": 0, "linked": 1, "review": 2}
    assert _links(linked.store) == {"u1": linked.k["2026002"]}
    how = linked.store.con.execute("SELECT matched_by FROM identity_vault_ids WHERE source_id = 'u1'").fetchall()
    assert how == [("name+class+birth",)]
    # both of u1's logins are accepted, under 李华's key; nobody was created by the LMS
    assert linked.store.count("events", "student_key = ?", [linked.k["2026002"]]) == 2
    assert linked.store.count("identity_vault") == 4


def test_variants_and_homonyms_go_to_review(linked):
    reviews = _reviews(linked.store)
    assert reviews["u2"] == ("name_variant", [linked.k["2026001"]], "pending")
    reason, cands, status = reviews["u3"]
    assert reason == "ambiguous" and status == "pending"
    assert sorted(cands) == sorted([linked.k["2026003"], linked.k["2026004"]])
    assert "u2" not in _links(linked.store) and "u3" not in _links(linked.store)  # never auto-linked
    q = linked.store.con.execute("SELECT row_no, reasons FROM quarantine ORDER BY row_no").fetchall()
    assert [(r, [x["code"] for x in reasons]) for r, reasons in q] == [(3, ["identity_pending"]),
                                                                        (4, ["identity_pending"])]
    lms = linked.lms
    assert (lms.rows_read, lms.accepted, lms.quarantined, lms.merged) == (4, 2, 2, 0)


def _fill(path: Path, decisions: dict[str, str]) -> None:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["decision"] = decisions(r) if callable(decisions) else decisions.get(r["source_id"], "")
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=REVIEW_COLUMNS)
        w.writeheader()
        w.writerows(rows)


def _pick(linked):
    """u2 → candidate 1 (张小明); u3 → whichever candidate is 王芳 born 2012-09-10 (student 2026004)."""
    def decide(row):
        if row["source_id"] == "u2":
            return "1"
        for i in (1, 2, 3):
            if row[f"candidate_{i}"].endswith(linked.k["2026004"]):
                return str(i)
        raise AssertionError(f"2026004 is not a candidate: {row}")
    return decide


def test_review_file_round_trip_links_them(linked, key):
    path = linked.tmp / "review.csv"
    assert write_review_file(linked.store.con, path) == 2
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == REVIEW_COLUMNS
    assert {r["source_id"]: r["reason"] for r in rows} == {"u2": "name_variant", "u3": "ambiguous"}
    u2 = next(r for r in rows if r["source_id"] == "u2")
    assert u2["candidate_1"].startswith("张小明 | 2012-03-04 | 初一（1）班 | ")
    _fill(path, _pick(linked))
    con = linked.store.con
    con.execute("BEGIN TRANSACTION")
    out = apply_review_decisions(con, path, key)
    con.execute("COMMIT")
    assert (out["linked"], out["created"], out["rejected"], out["skipped"]) == (2, 0, 0, 0)
    assert _links(linked.store) == {"u1": linked.k["2026002"], "u2": linked.k["2026001"], "u3": linked.k["2026004"]}


def _hand_review_file(linked, path: Path) -> None:
    """The review file as write_review_file documents it, built directly from identity_vault_review."""
    con = linked.store.con
    rows = con.execute("""SELECT review_id, system, source_id, name, birth_date, class_name, reason, candidates
                          FROM identity_vault_review WHERE status = 'pending' ORDER BY review_id""").fetchall()
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(REVIEW_COLUMNS)
        for r in rows:
            cands = list(r[7])[:3]
            w.writerow(list(r[:7]) + cands + [""] * (3 - len(cands)) + [""])


def test_apply_review_decisions_links_them(linked, key):
    path = linked.tmp / "review.csv"
    _hand_review_file(linked, path)
    _fill(path, _pick(linked))
    con = linked.store.con
    con.execute("BEGIN TRANSACTION")
    out = apply_review_decisions(con, path, key)
    con.execute("COMMIT")
    assert (out["linked"], out["created"], out["rejected"], out["skipped"]) == (2, 0, 0, 0)
    assert sorted(out["resolved_ids"]) == [("lms", "u2"), ("lms", "u3")]
    assert _links(linked.store) == {"u1": linked.k["2026002"], "u2": linked.k["2026001"], "u3": linked.k["2026004"]}
    assert {s for _, _, s in _reviews(linked.store).values()} == {"resolved"}
    # a second application changes nothing (the reviews are no longer pending)
    con.execute("BEGIN TRANSACTION")
    again = apply_review_decisions(con, path, key)
    con.execute("COMMIT")
    assert (again["linked"], again["skipped"]) == (0, 2)


def test_resolve_and_release_brings_waiting_rows_in(linked, key):
    from workbench.ingest.release import resolve_and_release
    path = linked.tmp / "review.csv"
    _hand_review_file(linked, path)
    _fill(path, _pick(linked))
    out = resolve_and_release(linked.store, path, key)
    assert out["linked"] == 2 and out["released"] == 2
    st = linked.store
    assert dict(st.con.execute("SELECT row_no, status FROM quarantine WHERE file_id = ?",
                               [linked.lms.file_id]).fetchall()) == {3: "released", 4: "released"}
    assert st.count("events", "student_key = ?", [linked.k["2026001"]]) == 1
    assert st.count("events", "student_key = ?", [linked.k["2026004"]]) == 1
    assert st.count("events") == 4


def test_bad_decision_is_refused(linked, key):
    path = linked.tmp / "review.csv"
    _hand_review_file(linked, path)
    _fill(path, {"u2": "7"})
    with pytest.raises(ValueError, match="decision"):
        apply_review_decisions(linked.store.con, path, key)
