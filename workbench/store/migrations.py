"""Schema migrations: ``MIGRATIONS[v]`` upgrades a store from version ``v - 1`` to ``v``.

Version 0 is an empty file. A migration is a plain function of the DuckDB connection; each one
runs in a transaction together with the version bump, so a failed upgrade leaves the store as it was.
"""
from __future__ import annotations

from collections.abc import Callable

import duckdb

from workbench.store.schema import _TABLE_LIST, ddl


def _added_in(version: int, con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables and add the columns that schema ``version`` introduced (see ``since`` in schema.py)."""
    for table in _TABLE_LIST:
        if table.since == version:
            con.execute(ddl(table, version))
        elif table.since < version:
            for c in table.columns:
                if c.since == version:
                    con.execute(f'ALTER TABLE {table.name} ADD COLUMN "{c.name}" {c.type}')


def _v1(con: duckdb.DuckDBPyConnection) -> None:
    _added_in(1, con)
    con.execute("CREATE SEQUENCE IF NOT EXISTS quarantine_seq START 1")
    con.execute("CREATE SEQUENCE IF NOT EXISTS review_seq START 1")
    con.execute("CREATE SEQUENCE IF NOT EXISTS file_seq START 1")


def _v2(con: duckdb.DuckDBPyConnection) -> None:
    """Profile models (issue 3): ``profiles.spec_hash``, ``profile_students``, ``profile_runs``, ``indicator_values``."""
    _added_in(2, con)


def _v3(con: duckdb.DuckDBPyConnection) -> None:
    """Alerts and the intervention loop (issue 8): rule set and version, class, evidence dates, acknowledgement and
    feedback on ``alerts``; term, user, note visibility and outcome time on ``interventions``."""
    _added_in(3, con)
    con.execute("CREATE SEQUENCE IF NOT EXISTS alert_seq START 1")
    con.execute("CREATE SEQUENCE IF NOT EXISTS intervention_seq START 1")


def _v4(con: duckdb.DuckDBPyConnection) -> None:
    """Recommendations (issue 9): ``partner_groups``, so a new term's partners avoid last term's pairs."""
    _added_in(4, con)


MIGRATIONS: dict[int, Callable[[duckdb.DuckDBPyConnection], None]] = {1: _v1, 2: _v2, 3: _v3, 4: _v4}
