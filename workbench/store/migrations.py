"""Schema migrations: ``MIGRATIONS[v]`` upgrades a store from version ``v - 1`` to ``v``.

Version 0 is an empty file. A migration is a plain function of the DuckDB connection; each one
runs in a transaction together with the version bump, so a failed upgrade leaves the store as it was.
"""
from __future__ import annotations

from collections.abc import Callable

import duckdb

from workbench.store.schema import _TABLE_LIST, ddl


def _v1(con: duckdb.DuckDBPyConnection) -> None:
    for table in _TABLE_LIST:
        con.execute(ddl(table))
    con.execute("CREATE SEQUENCE IF NOT EXISTS quarantine_seq START 1")
    con.execute("CREATE SEQUENCE IF NOT EXISTS review_seq START 1")
    con.execute("CREATE SEQUENCE IF NOT EXISTS file_seq START 1")


MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {1: _v1}
