"""A store compacted in student order holds the same rows, keeps its keys, and gives the same indicators, now computed
with every query of the families marked sliced run slice by slice (each slice reading its own row groups)."""
from __future__ import annotations

import json
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tests.scale.conftest import TERM
from workbench.cli import main
from workbench.indicators import compute as compute_mod
from workbench.indicators import compute_indicators
from workbench.store import open_store
from workbench.store import compact as compact_mod
from workbench.store.compact import FACT_TABLES, META_KEY, clustered_tables, compact_store


@pytest.fixture(scope="module")
def compacted(small_store, tmp_path_factory):
    """A copy of the small school's store, compacted with `workbench compact`; the rows of every fact table before."""
    path = tmp_path_factory.mktemp("compact") / "s.duckdb"
    shutil.copy(small_store, path)
    with open_store(path, read_only=True) as s:
        before = {t: s.con.execute(f"SELECT * FROM {t}").df() for t in FACT_TABLES if t in s.tables()}
        assert clustered_tables(s.con) == set()
    r = CliRunner().invoke(main, ["compact", "--store", str(path), "--quiet"])
    assert r.exit_code == 0, r.output
    assert "fresh file:" in r.output and not path.with_name(path.name + ".fresh").exists()
    return path, before, r.output


def test_compaction_keeps_every_row_and_orders_them_by_student(compacted):
    path, before, output = compacted
    with open_store(path, read_only=True) as s:
        for table, rows in before.items():
            after = s.con.execute(f"SELECT * FROM {table}").df()
            assert len(after) == len(rows) > 0, table
            assert f"{table}" in output and f"{len(rows):,} rows" in output
            # the same multiset of rows (every column), now in key order
            cols = list(rows.columns)
            assert list(after.columns) == cols
            pd.testing.assert_frame_equal(rows.sort_values(cols, ignore_index=True), after.sort_values(cols, ignore_index=True))
            keys = after["student_key"].dropna().tolist()
            assert keys == sorted(keys), table
        meta = json.loads(s.con.execute("SELECT value FROM workbench_meta WHERE key = ?", [META_KEY]).fetchone()[0])
        assert meta == {t: len(r) for t, r in before.items()}
        assert clustered_tables(s.con) == set(before)


def test_compaction_keeps_the_primary_keys(compacted):
    path, before, _ = compacted
    with open_store(path) as s:
        row = s.con.execute("SELECT * FROM scores LIMIT 1").fetchall()[0]
        with pytest.raises(duckdb.ConstraintException):
            s.con.execute(f"INSERT INTO scores VALUES ({', '.join('?' * len(row))})", list(row))


def test_a_compacted_store_gives_the_same_indicators_with_the_sliced_families_in_slices(small_store, compacted,
                                                                                         monkeypatch):
    path, _, _ = compacted
    with open_store(small_store, read_only=True) as s:
        plain = compute_indicators(s.con, TERM, weekly=True)
    seen: dict[str, list] = {}
    real = compute_mod._family_query
    monkeypatch.setattr(compute_mod, "_family_query",
                        lambda cat, fam, *a, **k: seen.setdefault(fam, []).append(a[2:] or (k.get("part"),))
                        or real(cat, fam, *a, **k))
    monkeypatch.setattr(compute_mod, "CLUSTERED_SLICE_STUDENTS", 50)   # 118 students → 3 slices
    with open_store(path, read_only=True) as s:
        comp = compute_indicators(s.con, TERM, weekly=True)
    cat = compute_mod.load_catalogue()
    # the families marked sliced run every query in slices, also those that keep a few numbers per student (the
    # weekly accuracy behind a trend), which in an unordered store scan the answers once; the others run whole
    for fam in ("responses", "activity_gaps", "mood_runs"):
        assert cat.families[fam].sliced and len(seen[fam]) % 3 == 0 and None not in {p for (p,) in seen[fam]}, fam
    for fam in ("events", "scores", "homework"):
        assert not cat.families[fam].sliced and {p for (p,) in seen[fam]} == {None}, fam
    with open_store(small_store, read_only=True) as s:
        seen.clear()
        monkeypatch.setattr(compute_mod, "SLICE_STUDENTS", 50)
        compute_indicators(s.con, TERM, ["acad_accuracy_trend"])
    assert {p for (p,) in seen["responses"]} == {None}   # unordered: the average's one scan
    assert plain.values.index.equals(comp.values.index) and list(plain.values.columns) == list(comp.values.columns)
    same = np.isclose(plain.values.to_numpy(float), comp.values.to_numpy(float), rtol=1e-9, atol=1e-12, equal_nan=True)
    assert same.all(), plain.values.columns[~same.all(axis=0)].tolist()
    keys = ["indicator_id", "student_key", "week"]
    w, v = plain.weekly.set_index(keys).sort_index()["value"], comp.weekly.set_index(keys).sort_index()["value"]
    assert len(w) > 1000 and w.index.equals(v.index) and np.allclose(w, v, equal_nan=True)


def test_a_table_that_grew_since_counts_as_unordered_again(compacted, tmp_path):
    path, before, _ = compacted
    copy = tmp_path / "grown.duckdb"
    shutil.copy(path, copy)
    with open_store(copy) as s:
        n = len(before["surveys"])
        s.con.execute(f"INSERT INTO surveys SELECT * FROM surveys LIMIT {n // 5}")   # +20 %: appended at the end
        assert "surveys" not in clustered_tables(s.con) and "events" in clustered_tables(s.con)
        compact_store(s.con, ("surveys",))
        assert "surveys" in clustered_tables(s.con)


def _sequences(path) -> dict[str, int]:
    with open_store(path, read_only=True) as s:
        return dict(s.con.execute("SELECT sequence_name, last_value FROM duckdb_sequences()").fetchall())


def test_the_fresh_file_gives_the_space_back_and_keeps_everything_else(small_store, tmp_path):
    """`workbench compact` without --keep-file: the file shrinks to about the store's own size; every table (the vault
    too), the sequences and the schema come through, and the store takes the next file as before."""
    kept, fresh = tmp_path / "kept.duckdb", tmp_path / "fresh.duckdb"
    for p in (kept, fresh):
        shutil.copy(small_store, p)
    assert CliRunner().invoke(main, ["compact", "--store", str(kept), "--quiet", "--keep-file"]).exit_code == 0
    r = CliRunner().invoke(main, ["compact", "--store", str(fresh), "--quiet"])
    assert r.exit_code == 0, r.output
    assert fresh.stat().st_size < 0.75 * kept.stat().st_size, (fresh.stat().st_size, kept.stat().st_size)
    assert _sequences(fresh) == _sequences(kept) and _sequences(fresh)["file_seq"] > 0
    with open_store(kept, read_only=True) as a, open_store(fresh, read_only=True) as b:
        tables = a.tables()
        assert set(b.tables()) == set(tables) and "identity_vault" in tables
        for t in tables:   # every row of every table, in the same order (the facts stay in student order)
            pd.testing.assert_frame_equal(a.con.execute(f"SELECT * FROM {t}").df(), b.con.execute(f"SELECT * FROM {t}").df(),
                                          obj=t)
        assert clustered_tables(b.con) == clustered_tables(a.con) != set()
    with open_store(fresh) as s:   # the next file gets the next id; nothing collides with what the copy holds
        fid = s.con.execute("SELECT nextval('file_seq')").fetchone()[0]
        assert fid == _sequences(kept)["file_seq"] + 1
        assert s.con.execute("SELECT count(*) FROM ingest_log WHERE file_id >= ?", [fid]).fetchone()[0] == 0


def test_without_room_for_the_fresh_file_the_compacted_store_stays(small_store, tmp_path, monkeypatch):
    path = tmp_path / "s.duckdb"
    shutil.copy(small_store, path)
    monkeypatch.setattr(compact_mod.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12, 1000))
    r = CliRunner().invoke(main, ["compact", "--store", str(path), "--quiet"])
    assert r.exit_code == 0
    assert "GB free on its disk" in r.output and "fresh file" not in r.output
    assert not path.with_name(path.name + ".fresh").exists()
    with open_store(path, read_only=True) as s:
        assert clustered_tables(s.con) >= {"events", "responses"}
