"""What ingestion tells people: the accounting table and the rejects report (CSV + xlsx).

The rejects CSV has one row per rejected or merged source row: ``_file``, ``_row`` (as seen in
Excel or an editor), ``_columns``, ``_values``, ``_reason_zh``, ``_reason_en``, ``_reason_code``,
``_status`` (quarantined | merged) and ``_quarantine_id``, followed by the row's original columns. Correct the values in place and ingest
the file again with the same preset: rows that now pass leave quarantine. The xlsx has the same
sheet plus a ``reasons`` sheet with one line per (row, column, reason).
"""
from __future__ import annotations

import os

import pandas as pd

from workbench.sqltext import MASK, q
from workbench.labels import reason_text, ui


XLSX_MAX_ROWS = 20_000  # the workbook is for people to read and correct; the CSV holds every row


def write_rejects(job, fid: int) -> list[str]:
    """Write ``<stem>.rejects.csv`` and ``.xlsx`` for file ``fid`` of ingest ``job``; returns the paths.

    Nothing is written when every row was accepted. The workbook keeps the first ``XLSX_MAX_ROWS`` rows of
    each sheet (a district's file can reject more rows than a sheet holds, and openpyxl writes ≈ 10k rows a
    second) and then says, on an ``about`` sheet, that the CSV has them all.
    """
    # only the columns the preset reads; names, national IDs and phones stay in the vault («vault»): a
    # corrected file gets them back from identity_vault_quarantine through its _quarantine_id
    con, path, rawrows, raw_cols = job.con, job.path, job.rawrows, job.kept_cols
    hidden = set(job.preset.pii_columns())
    cols = "".join(f", r.{q(c)}" for c in raw_cols)
    bad = con.execute(f"""SELECT b.qid, b._line, b.errs{cols} FROM wb_q_{fid} b JOIN {rawrows} r USING (_rid)
                          ORDER BY b._line""").fetchall()
    merged = con.execute(f"""SELECT m._line, d.other{cols} FROM wb_merged_{fid} m LEFT JOIN {rawrows} r USING (_rid)
                             JOIN (SELECT _rid, min(other) AS other FROM wb_dup_{fid} GROUP BY _rid) d USING (_rid)
                             ORDER BY m._line""").fetchall()
    malformed = con.execute(f"""SELECT quarantine_id, row_no, reasons, v.raw FROM quarantine q
        LEFT JOIN identity_vault_quarantine v USING (quarantine_id)
        WHERE q.file_id = {fid} AND list_contains(list_transform(reasons, lambda x: x.code), 'malformed_row')""").fetchall()
    if not bad and not merged and not malformed:
        return []
    rows, detail = [], []

    def add(qid: object, line: int, errs: list[dict], values: tuple, status: str) -> None:
        values = tuple(MASK if c in hidden and v is not None else v for c, v in zip(raw_cols, values))
        errs = [{**e, "value": MASK} if e["column"] in hidden else e for e in errs]
        rows.append({"_file": path.name, "_row": line, "_columns": "; ".join(e["column"] for e in errs),
                     "_values": "; ".join(str(e["value"]) for e in errs),
                     "_reason_zh": "; ".join(reason_text(e["code"], "zh") for e in errs),
                     "_reason_en": "; ".join(reason_text(e["code"], "en") for e in errs),
                     "_reason_code": "; ".join(e["code"] for e in errs), "_status": status, "_quarantine_id": qid, **dict(zip(raw_cols, values))})
        for e in errs:
            detail.append({"file": path.name, "row": line, "column": e["column"], "value": e["value"], "code": e["code"],
                           "reason_zh": reason_text(e["code"], "zh"), "reason_en": reason_text(e["code"], "en"),
                           "status": status})
    for qid, line, errs, *values in bad:
        add(qid, line, errs, tuple(values), "quarantined")
    for qid, line, errs, _text in malformed:  # the line's text may hold anything: it stays in the vault
        add(qid, line, errs, tuple(), "quarantined")
    for line, other, *values in merged:
        add(None, line, [{"column": "*", "value": f"= {other}", "code": "duplicate_exact"}], tuple(values), "merged")
    frame = pd.DataFrame(rows).sort_values("_row", kind="stable")
    out_dir = job.rejects_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{path.stem}.{job.preset.name}"  # one file can feed several presets
    csv_path = out_dir / f"{stem}.rejects.csv"
    xlsx_path = out_dir / f"{stem}.rejects.xlsx"
    for p in (csv_path, xlsx_path):  # readable by the coordinator only, from the first byte
        p.touch(mode=0o600, exist_ok=True)
        os.chmod(p, 0o600)
    frame.to_csv(csv_path, index=False, encoding="utf-8-sig")
    with pd.ExcelWriter(xlsx_path, engine="openpyxl") as xw:
        frame.head(XLSX_MAX_ROWS).to_excel(xw, sheet_name="rejects", index=False)
        pd.DataFrame(detail).head(XLSX_MAX_ROWS).to_excel(xw, sheet_name="reasons", index=False)
        if len(frame) > XLSX_MAX_ROWS or len(detail) > XLSX_MAX_ROWS:
            pd.DataFrame({"说明 / note": [
                f"本工作簿只列出前 {XLSX_MAX_ROWS:,} 行（共 {len(frame):,} 行，{len(detail):,} 条原因）；完整列表见 {csv_path.name}",
                f"This workbook shows the first {XLSX_MAX_ROWS:,} rows of {len(frame):,} ({len(detail):,} reasons); "
                f"every row is in {csv_path.name}"]}).to_excel(xw, sheet_name="about", index=False)
    return [str(csv_path), str(xlsx_path)]


COLUMNS = ["file", "preset", "rows_read", "accepted", "quarantined", "merged", "released", "status"]


def accounting_table(reports: list, lang: str = "zh") -> str:
    """The accounting of several files as a plain-text table with a total line."""
    head = [ui(c, lang) for c in COLUMNS]
    body = [[r.file, r.preset, r.rows_read, r.accepted, r.quarantined, r.merged, r.released,
             ui(r.status, lang) if r.status == "unchanged" else r.status] for r in reports]
    tot = [ui("total", lang), "", *(sum(r[i] for r in body) for i in range(2, 7)), ""]
    table = [head] + body + [tot]
    widths = [max(_w(str(row[i])) for row in table) for i in range(len(head))]

    def fmt(row: list) -> str:
        return "  ".join(_pad(str(v), widths[i], isinstance(v, int)) for i, v in enumerate(row))
    lines = [fmt(head), "  ".join("-" * w for w in widths)] + [fmt(r) for r in body] + \
        ["  ".join("-" * w for w in widths), fmt(tot)]
    for r in reports:
        lines += [f"! {r.file}: {w}" for w in r.warnings]
        if r.status == "failed":
            lines.append(f"✗ {r.message}")
        elif r.reasons:
            reasons = ", ".join(f"{reason_text(k, lang)} ×{v}" for k, v in sorted(r.reasons.items()))
            lines.append(f"• {r.file}: {reasons}" + (f" → {r.rejects[0]}" if r.rejects else ""))
    return "\n".join(lines)


def _w(text: str) -> int:
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - _w(text))
    return gap + text if right else text + gap
