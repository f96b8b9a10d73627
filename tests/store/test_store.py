"""The store file: schema version, migrations on open, refusal of newer stores, path resolution, key check."""
from __future__ import annotations

import pytest

import workbench.store.connection as connection
import workbench.store.migrations as migrations
import workbench.store.schema as schema
from workbench.identity import PseudonymKeyError
from workbench.ingest import ingest_file
from workbench.ingest.presets import parse_preset
from workbench.store import SCHEMA_VERSION, TABLES, VAULT_TABLES, StoreVersionError, open_store


def test_fresh_store_has_version_and_every_table(store):
    assert store.schema_version() == SCHEMA_VERSION == 4
    assert store.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert set(TABLES) <= set(store.tables())
    for name, table in TABLES.items():
        cols = [r[0] for r in store.con.execute(f"DESCRIBE {name}").fetchall()]
        assert cols == table.column_names(), name
        assert store.count(name) == (1 if name == "workbench_meta" else 0), name
    assert set(VAULT_TABLES) == {t for t in TABLES if t.startswith("identity_vault")}


def test_reopen_keeps_data_and_does_not_rerun_migrations(tmp_path, monkeypatch):
    calls = []
    original = migrations.MIGRATIONS[1]

    def counted(con):
        calls.append(1)
        original(con)
    monkeypatch.setitem(migrations.MIGRATIONS, 1, counted)
    path = tmp_path / "s.duckdb"
    with open_store(path) as s:
        s.con.execute("INSERT INTO schools VALUES ('sch1', '第一中学', '海淀', NULL)")
    assert calls == [1]
    with open_store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.con.execute("SELECT name FROM schools").fetchall() == [("第一中学",)]
    with open_store(path, read_only=True) as s:
        assert s.count("schools") == 1
    assert calls == [1]


def test_newer_store_is_refused(tmp_path):
    path = tmp_path / "new.duckdb"
    with open_store(path) as s:
        s.set_meta("schema_version", "99")
    for read_only in (False, True):
        with pytest.raises(StoreVersionError) as err:
            open_store(path, read_only=read_only)
        msg = str(err.value)
        assert "99" in msg and str(path) in msg and "upgrade" in msg and f"up to {SCHEMA_VERSION}" in msg
    # the refusal closed its connection: the file can be opened again (and is untouched)
    import duckdb
    con = duckdb.connect(str(path))
    assert con.execute("SELECT value FROM workbench_meta WHERE key = 'schema_version'").fetchall() == [("99",)]
    con.close()


NEXT = SCHEMA_VERSION + 1


def _bump_to_next(monkeypatch, migration):
    """Pretend the package knows one more schema version (connection.py imported the names)."""
    monkeypatch.setitem(migrations.MIGRATIONS, NEXT, migration)
    assert connection.MIGRATIONS is migrations.MIGRATIONS
    monkeypatch.setattr(connection, "SCHEMA_VERSION", NEXT)
    monkeypatch.setattr(schema, "SCHEMA_VERSION", NEXT)


def test_older_store_is_upgraded_on_open(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    with open_store(path) as s:
        s.con.execute("INSERT INTO schools VALUES ('sch1', '第一中学', '海淀', NULL)")
    ran = []

    def nxt(con):
        ran.append(NEXT)
        con.execute("ALTER TABLE schools ADD COLUMN motto VARCHAR")
        con.execute("UPDATE schools SET motto = '求是'")
    _bump_to_next(monkeypatch, nxt)
    # a read-only open cannot upgrade
    with pytest.raises(StoreVersionError, match=f"upgrade from v{SCHEMA_VERSION}"):
        open_store(path, read_only=True)
    assert ran == []
    with open_store(path) as s:
        assert ran == [NEXT]
        assert s.schema_version() == NEXT
        assert s.con.execute("SELECT school_id, motto FROM schools").fetchall() == [("sch1", "求是")]
    with open_store(path) as s:  # already upgraded: nothing runs again
        assert s.schema_version() == NEXT
    assert ran == [NEXT]


def test_v1_store_gains_the_v2_profile_tables(tmp_path):
    """A store written by schema v1 (issue 2) is upgraded in place: data kept, profile tables added."""
    import duckdb
    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE workbench_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    migrations.MIGRATIONS[1](con)
    con.execute("INSERT INTO workbench_meta VALUES ('schema_version', '1')")
    con.execute("INSERT INTO profiles VALUES ('t1', 'm', 1, 'Sabc', 'overall', 50.0, now())")
    assert "spec_hash" not in [r[0] for r in con.execute("DESCRIBE profiles").fetchall()]
    con.close()
    with open_store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert [r[0] for r in s.con.execute("DESCRIBE profiles").fetchall()] == TABLES["profiles"].column_names()
        assert s.con.execute("SELECT dimension, score, spec_hash FROM profiles").fetchall() == [("overall", 50.0, None)]
        for t in ("profile_students", "profile_runs", "indicator_values"):
            assert [r[0] for r in s.con.execute(f"DESCRIBE {t}").fetchall()] == TABLES[t].column_names()


def test_v2_store_gains_the_v3_alert_columns(tmp_path):
    """A v2 store keeps its alerts and gains the v3 columns (issue 8), the id sequences and, at v4, the partner
    groups table (issue 9)."""
    import duckdb
    path = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE workbench_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    migrations.MIGRATIONS[1](con)
    migrations.MIGRATIONS[2](con)
    con.execute("INSERT INTO workbench_meta VALUES ('schema_version', '2')")
    con.execute("INSERT INTO alerts VALUES (1, 't1', 'Sabc', 'r', 'watch', 'head_teacher', NULL, 'open', now())")
    con.close()
    with open_store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION == 4
        assert "partner_groups" in s.tables()
        for t in ("alerts", "interventions", "partner_groups"):
            assert [r[0] for r in s.con.execute(f"DESCRIBE {t}").fetchall()] == TABLES[t].column_names()
        assert s.con.execute("SELECT rule_id, fired_on FROM alerts").fetchall() == [("r", None)]
        assert s.con.execute("SELECT nextval('alert_seq')").fetchone()[0] == 1


def test_failed_migration_leaves_store_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    with open_store(path):
        pass

    def broken_v2(con):
        con.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("migration failed halfway")
    _bump_to_next(monkeypatch, broken_v2)
    with pytest.raises(RuntimeError, match="halfway"):
        open_store(path)
    monkeypatch.undo()
    with open_store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert "half_done" not in s.tables()


def test_store_path_from_env_and_explicit(tmp_path, monkeypatch):
    env_path = tmp_path / "env" / "from_env.duckdb"
    monkeypatch.setenv("WORKBENCH_STORE", str(env_path))
    with open_store() as s:
        assert s.path == env_path
    assert env_path.exists()
    explicit = tmp_path / "explicit" / "x.duckdb"
    with open_store(explicit) as s:  # an explicit path wins over the variable
        assert s.path == explicit
    assert explicit.exists()
    monkeypatch.delenv("WORKBENCH_STORE")
    monkeypatch.chdir(tmp_path)
    with open_store() as s:
        assert s.path == connection.DEFAULT_STORE
    assert (tmp_path / "data" / "workbench.duckdb").exists()


def test_cli_honours_store_env_and_option(tmp_path, run_cli):
    src = tmp_path / "terms.csv"
    src.write_text("code_module,code_presentation,module_presentation_length\nAAA,2013J,268\n", encoding="utf-8")
    env_store = tmp_path / "env.duckdb"
    out = run_cli("ingest", src, "--preset", "oulad_courses", "--json", env={"WORKBENCH_STORE": str(env_store)})
    assert out.returncode == 0, out.stderr
    opt_store = tmp_path / "opt.duckdb"
    out = run_cli("ingest", src, "--preset", "oulad_courses", "--json", "--store", opt_store,
                  env={"WORKBENCH_STORE": str(env_store)})
    assert out.returncode == 0, out.stderr
    for path in (env_store, opt_store):
        with open_store(path) as s:
            assert s.count("classes") == 1
    assert not (tmp_path / "data").exists()


TINY = parse_preset({"name": "t_courses", "table": "classes",
                     "fields": {"class_id": {"from": "code", "required": True}, "name": {"from": "name"}}})


def test_second_key_is_refused(tmp_path, key, counts):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("code,name\nC1,一班\n", encoding="utf-8")
    b.write_text("code,name\nC2,二班\n", encoding="utf-8")
    with open_store(tmp_path / "s.duckdb") as s:
        assert ingest_file(s, a, TINY, key).status == "ok"
        before = counts(s)
        other = bytes(reversed(key))
        with pytest.raises(PseudonymKeyError, match="different key"):
            ingest_file(s, b, TINY, other)
        assert counts(s) == before
        rep = ingest_file(s, b, TINY, key)  # the right key still works
        assert rep.status == "ok" and s.count("classes") == 2


def test_cli_refuses_second_key(tmp_path, run_cli):
    src = tmp_path / "courses.csv"
    src.write_text("code_module,code_presentation,module_presentation_length\nAAA,2013J,268\n", encoding="utf-8")
    src2 = tmp_path / "courses2.csv"
    src2.write_text("code_module,code_presentation,module_presentation_length\nBBB,2013J,268\n", encoding="utf-8")
    st = tmp_path / "s.duckdb"
    assert run_cli("ingest", src, "--preset", "oulad_courses", "--store", st).returncode == 0
    out = run_cli("ingest", src2, "--preset", "oulad_courses", "--store", st, env={"WORKBENCH_KEY": "ab" * 32})
    assert out.returncode != 0
    assert "different key" in out.stderr + out.stdout
    with open_store(st) as s:
        assert s.count("classes") == 1


def _pool(store) -> int:
    return store.con.execute("SELECT current_setting('block_allocator_memory')").fetchall()[0][0]


def test_block_pool_is_off_by_default_and_set_by_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(connection.ENV_BLOCK_POOL, raising=False)
    with open_store(tmp_path / "a.duckdb") as s:
        assert _pool(s) == "0 bytes"
    monkeypatch.setenv(connection.ENV_BLOCK_POOL, "60%")
    with open_store(tmp_path / "b.duckdb") as s:
        limit = s.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert _pool(s) not in ("0 bytes", limit)                # 60 % of it, in DuckDB's own units
        with open_store(tmp_path / "b.duckdb") as again:         # the same database again: the pool stays
            assert _pool(again) == _pool(s)
    monkeypatch.setenv(connection.ENV_BLOCK_POOL, "256MB")
    with open_store(tmp_path / "c.duckdb") as s:
        assert _pool(s) in ("244.1 MiB", "256.0 MiB")
    monkeypatch.setenv(connection.ENV_BLOCK_POOL, "a lot")
    with pytest.raises(ValueError, match="WORKBENCH_DUCKDB_BLOCK_POOL='a lot'"):
        open_store(tmp_path / "d.duckdb")
    monkeypatch.setenv(connection.ENV_BLOCK_POOL, "0")
    with open_store(tmp_path / "d.duckdb") as s:   # the refused open left no connection behind
        assert s.schema_version() == SCHEMA_VERSION and _pool(s) == "0 bytes"
