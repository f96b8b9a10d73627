"""Rows leave quarantine by going through the same pipeline again.

Two ways in: a person corrects a rejects CSV and ingests it (``_quarantine_id`` ties each row
to its entry), or a person resolves identity reviews and :func:`release_quarantine` rebuilds the
waiting rows (masked values from ``quarantine`` + identifiers from the vault) into a temporary
rejects file and ingests it with the original preset.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from workbench.identity import apply_review_decisions, check_key
from workbench.ingest.pipeline import FileReport, ingest_file
from workbench.ingest.presets import load_preset
from workbench.store import Store


def release_quarantine(store: Store, key: bytes, codes: tuple[str, ...] = ("identity_pending", "unknown_student"),
                       ) -> list[FileReport]:
    """Re-ingest open quarantine entries that failed only for the given reason codes."""
    con = store.con
    code_list = "[" + ", ".join(f"'{c}'" for c in codes) + "]"
    rows = con.execute(f"""SELECT q.quarantine_id, q.file_name, q.preset, q.raw, v.raw, q.row_no FROM quarantine q
        LEFT JOIN identity_vault_quarantine v USING (quarantine_id)
        WHERE q.status = 'open' AND len(list_filter(q.reasons, lambda x: NOT list_contains({code_list}, x.code))) = 0
        ORDER BY q.quarantine_id""").fetchall()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for qid, file_name, preset, raw, vault_raw, row_no in rows:
        record = json.loads(raw)
        record.update(json.loads(vault_raw) if vault_raw else {})
        if "_text" in record:  # a malformed line cannot be rebuilt into columns
            continue
        record.update({"_quarantine_id": qid, "_file": file_name, "_row": row_no})  # where it first came from
        groups.setdefault((preset, file_name), []).append(record)
    reports = []
    with tempfile.TemporaryDirectory(prefix="wb_release_") as tmp:
        for (preset_name, file_name), records in groups.items():
            path = Path(tmp) / f"{Path(file_name).stem}.release.rejects.csv"
            pd.DataFrame.from_records(records).to_csv(path, index=False, encoding="utf-8-sig")
            reports.append(ingest_file(store, path, load_preset(preset_name), key))
    return reports


def resolve_and_release(store: Store, review_file: str | Path, key: bytes) -> dict[str, Any]:
    """Apply a filled identity review file, then release the rows that were waiting for it."""
    con = store.con
    con.execute("BEGIN TRANSACTION")
    try:
        check_key(con, key)  # a wrong key must not write a single pseudonym
        out = apply_review_decisions(con, review_file, key)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    reports = release_quarantine(store, key) if out["resolved_ids"] else []
    out["released"] = sum(r.released for r in reports)
    out["reports"] = reports
    return out
