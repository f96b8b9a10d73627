"""Opening the store: path resolution, schema version check and upgrade."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb

from workbench.store.migrations import MIGRATIONS
from workbench.store.schema import SCHEMA_VERSION

ENV_STORE = "WORKBENCH_STORE"
DEFAULT_STORE = Path("data") / "workbench.duckdb"
# DuckDB's block allocator, for a batch process that owns one big store (a district's term run, the scale
# benchmark): with ``$WORKBENCH_DUCKDB_BLOCK_POOL`` (``60%`` of DuckDB's memory limit, ``8GB``) DuckDB keeps a pool of
# its 256 KB blocks instead of handing them back to the OS and faulting (zeroing) them in again. At 1M students a
# term's indicators spent a fifth of their CPU time in the kernel, mostly zeroing pages; with the pool 11 % less
# time, at 100k 5–10 % (docs/scale.md). Off by default: a database with a pool keeps the blocks it has used until it
# is closed (four small databases after the same work: 1.9 GB resident, without the pool 0.64 GB), and the test
# suite's process, holding several open, could no longer fork Spark's JVM ("Cannot allocate memory").
ENV_BLOCK_POOL = "WORKBENCH_DUCKDB_BLOCK_POOL"
DEFAULT_BLOCK_POOL = "0"


class StoreVersionError(RuntimeError):
    """The store was written by a newer Profile Workbench than this one."""


PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_store_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``path`` if given, else ``$WORKBENCH_STORE``, else ``data/workbench.duckdb``.

    >>> default_store_path("x.duckdb").name
    'x.duckdb'
    """
    if path:
        return Path(path)
    return Path(os.environ.get(ENV_STORE) or DEFAULT_STORE)


def find_store(path: str | os.PathLike[str] | None = None) -> Path:
    """Like :func:`default_store_path`, but when neither a path nor ``$WORKBENCH_STORE`` is given and the working
    directory has no store, the project's ``data/workbench.duckdb`` (the one ``make demo`` builds) if it exists —
    so a notebook opened from ``notebooks/`` or an app served from ``voila_apps/`` finds it. For reading:
    :func:`open_store` itself never looks elsewhere, so it never writes into another folder's store."""
    found = default_store_path(path)
    if not path and not os.environ.get(ENV_STORE) and not found.exists() and (PROJECT_ROOT / DEFAULT_STORE).exists():
        return PROJECT_ROOT / DEFAULT_STORE
    return found


def _block_pool(con: duckdb.DuckDBPyConnection) -> None:
    """Give the connection's database its block pool when ``$WORKBENCH_DUCKDB_BLOCK_POOL`` asks for one (see
    :data:`ENV_BLOCK_POOL`). DuckDB never lowers it while the database is open: when the same file is opened again in
    this process with a smaller one, the larger one stays."""
    size = os.environ.get(ENV_BLOCK_POOL, DEFAULT_BLOCK_POOL).strip()
    if size in ("", "0"):
        return
    try:
        con.execute(f"SET block_allocator_memory = '{size}'")
    except duckdb.Error as exc:
        if "cannot be reduced" not in str(exc):
            raise ValueError(f"{ENV_BLOCK_POOL}={size!r}: {exc} (e.g. 60% or 8GB) / 块内存池设置无效") from None


class Store:
    """A DuckDB connection on the store file with the schema at ``SCHEMA_VERSION``.

    Use as a context manager, or call :meth:`close`. ``store.con`` is the DuckDB connection.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, read_only: bool = False):
        self.path = default_store_path(path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.exists():
            raise FileNotFoundError(f"store {self.path} does not exist")
        self.con = duckdb.connect(str(self.path), read_only=read_only)
        try:
            _block_pool(self.con)
        except ValueError:
            self.con.close()
            raise
        self._upgrade(read_only)

    # -- schema version -------------------------------------------------------------------
    def schema_version(self) -> int:
        has_meta = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'workbench_meta'").fetchall()[0][0]
        if not has_meta:
            return 0
        row = next(iter(self.con.execute("SELECT value FROM workbench_meta WHERE key = 'schema_version'").fetchall()), None)
        return int(row[0]) if row else 0

    def _upgrade(self, read_only: bool) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            self.con.close()
            raise StoreVersionError(
                f"store {self.path} has schema version {version}, but this Profile Workbench knows only "
                f"up to {SCHEMA_VERSION}; upgrade the package (pip install -U profile-workbench) "
                f"/ 该数据库由更新版本的工作台创建（版本 {version}），请先升级工作台")
        if version == SCHEMA_VERSION:
            return
        if read_only:
            raise StoreVersionError(f"store {self.path} needs an upgrade from v{version}; open it writable once")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            self.con.execute("BEGIN TRANSACTION")
            try:
                MIGRATIONS[target](self.con)
                self.set_meta("schema_version", str(target))
                self.con.execute("COMMIT")
            except Exception:
                self.con.execute("ROLLBACK")
                raise

    # -- small helpers ----------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = next(iter(self.con.execute("SELECT value FROM workbench_meta WHERE key = ?", [key]).fetchall()), None)
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO workbench_meta VALUES (?, ?)", [key, value])

    def count(self, table: str, where: str = "", params: list[Any] | None = None) -> int:
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")
        return int(self.con.execute(sql, params or []).fetchall()[0][0])

    def tables(self) -> list[str]:
        return [r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1").fetchall()]

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Store:
    """Open (creating or upgrading) the store at ``path`` (see :func:`default_store_path`)."""
    return Store(path, read_only=read_only)
