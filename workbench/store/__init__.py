"""The embedded DuckDB store: one file, schema-versioned, upgraded on open.

>>> import tempfile, os
>>> with open_store(os.path.join(tempfile.mkdtemp(), "s.duckdb")) as store:
...     store.schema_version()
4
"""
from __future__ import annotations

from workbench.store.connection import Store, StoreVersionError, default_store_path, find_store, open_store
from workbench.store.schema import SCHEMA_VERSION, TABLES, VAULT_TABLES

__all__ = ["Store", "StoreVersionError", "open_store", "default_store_path", "find_store", "SCHEMA_VERSION",
           "TABLES", "VAULT_TABLES"]
