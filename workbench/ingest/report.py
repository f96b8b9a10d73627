"""What ingestion tells people: the accounting table and the rejects report (CSV + xlsx).

The rejects CSV has one row per rejected or merged source row: ``_file``, ``_row`` (as seen in
Excel or an editor), ``_columns``, ``_values``, ``_reason_zh``, ``_reason_en``, ``_reason_code``,
``_status`` (quarantined | merged) and ``_quarantine_id``, followed by the row's original columns. Correct the values in place and ingest
the file again with the same preset: rows that now pass leave quarantine. The xlsx has the same
sheet plus a ``reasons`` sheet with one line per (row, column, reason).
"""
from __future__ import annotations

import codecs
import os
import shutil

from workbench.ingest.xlsx import write_xlsx
from workbench.labels import REASONS, reason_text, ui
from workbench.sqltext import MASK, lit, q


XLSX_MAX_ROWS = 20_000  # the workbook is for people to read and correct; the CSV holds every row


def write_rejects(job, fid: int) -> list[str]:
    """Write ``<stem>.rejects.csv`` and ``.xlsx`` for file ``fid`` of ingest ``job``; returns the paths.

    Nothing is written when every row was accepted. The report is built and written by DuckDB (a district's
    file can reject millions of rows: the CSV streams, Python never holds them). The workbook keeps the first
    ``XLSX_MAX_ROWS`` rows of each sheet (a sheet holds about a million rows, and it is for a person to read and
    correct) and then says, on an ``about`` sheet, that the CSV has them all.
    """
    # only the columns the preset reads; names, national IDs and phones stay in the vault («vault»): a
    # corrected file gets them back from identity_vault_quarantine through its _quarantine_id
    con, path, rawrows, raw_cols = job.con, job.path, job.rawrows, job.kept_cols
    hidden = [c for c in job.preset.pii_columns()]
    table = f"wb_rej_{fid}"
    mask = lit(MASK)
    hidden_sql = "[" + ", ".join(lit(c) for c in hidden) + "]::VARCHAR[]"

    def reason(lang: str) -> str:
        cases = " ".join(f"WHEN {lit(code)} THEN {lit(reason_text(code, lang))}" for code in REASONS)
        return f"CASE e.code {cases} ELSE e.code END"

    def joined(expr: str) -> str:
        return f"array_to_string(list_transform(errs, lambda e: {expr}), '; ')"
    value = f"CASE WHEN list_contains({hidden_sql}, e.column) THEN {mask} ELSE coalesce(e.value, '') END"
    raw = "".join(f", CASE WHEN r.{q(c)} IS NOT NULL THEN {mask} END AS {q(c)}" if c in hidden else f", r.{q(c)}"
                  for c in raw_cols)
    nulls = "".join(f", NULL::VARCHAR AS {q(c)}" for c in raw_cols)
    # one row per rejected (quarantined or malformed) or merged source row, as the CSV shows it
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT {lit(path.name)} AS _file, _row, {joined('e.column')} AS _columns, {joined(value)} AS _values,
               {joined(reason('zh'))} AS _reason_zh, {joined(reason('en'))} AS _reason_en, {joined('e.code')} AS _reason_code,
               _status, _quarantine_id, errs, _k, * EXCLUDE (_row, _status, _quarantine_id, errs, _k)
        FROM (SELECT b._line AS _row, 'quarantined' AS _status, b.qid AS _quarantine_id, b.errs, 0 AS _k{raw}
              FROM wb_q_{fid} b JOIN {rawrows} r USING (_rid)
              UNION ALL BY NAME
              SELECT q.row_no AS _row, 'quarantined' AS _status, q.quarantine_id AS _quarantine_id, q.reasons AS errs,
                     1 AS _k{nulls} FROM quarantine q
              WHERE q.file_id = {fid} AND list_contains(list_transform(q.reasons, lambda x: x.code), 'malformed_row')
              UNION ALL BY NAME
              SELECT m._line AS _row, 'merged' AS _status, NULL::BIGINT AS _quarantine_id,
                     [{{'column': '*', 'value': '= ' || d.other, 'code': 'duplicate_exact'}}] AS errs,
                     2 AS _k{raw} FROM wb_merged_{fid} m LEFT JOIN {rawrows} r USING (_rid)
              JOIN (SELECT _rid, min(other) AS other FROM wb_dup_{fid} GROUP BY _rid) d USING (_rid))
        ORDER BY _row, _k""")
    n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if not n:
        return []
    out_dir = job.rejects_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{path.stem}.{job.preset.name}"  # one file can feed several presets
    csv_path = out_dir / f"{stem}.rejects.csv"
    xlsx_path = out_dir / f"{stem}.rejects.xlsx"
    for p in (csv_path, xlsx_path):  # readable by the coordinator only, from the first byte
        p.touch(mode=0o600, exist_ok=True)
        os.chmod(p, 0o600)
    columns = ["_file", "_row", "_columns", "_values", "_reason_zh", "_reason_en", "_reason_code", "_status",
               "_quarantine_id", *raw_cols]
    body = csv_path.with_name(csv_path.name + ".part")
    body.touch(mode=0o600, exist_ok=True)
    try:  # DuckDB writes the rows; the file starts with a BOM so that Excel reads the Chinese as UTF-8
        con.execute(f"COPY (SELECT {', '.join(q(c) for c in columns)} FROM {table} ORDER BY _row, _k) TO {lit(str(body))} "
                    f"(FORMAT csv, HEADER)")
        with open(csv_path, "wb") as dst, open(body, "rb") as src:
            dst.write(codecs.BOM_UTF8)
            shutil.copyfileobj(src, dst, 1 << 22)
    finally:
        body.unlink(missing_ok=True)
    head = con.execute(f"SELECT {', '.join(q(c) for c in columns)} FROM {table} ORDER BY _row, _k "
                       f"LIMIT {XLSX_MAX_ROWS}").fetchall()
    detail_cols = ["file", "row", "column", "value", "code", "reason_zh", "reason_en", "status"]
    detail = con.execute(f"""SELECT _file AS file, _row AS row, e.column AS "column", {value} AS value, e.code AS code,
            {reason('zh')} AS reason_zh, {reason('en')} AS reason_en, _status AS status
        FROM (SELECT _file, _row, _status, unnest(errs) AS e, generate_subscripts(errs, 1) AS _i, _n
              FROM (SELECT *, row_number() OVER (ORDER BY _row, _k) AS _n FROM {table}) WHERE _n <= {XLSX_MAX_ROWS + 1})
        ORDER BY _n, _i LIMIT {XLSX_MAX_ROWS}""").fetchall()
    n_detail = con.execute(f"SELECT sum(len(errs)) FROM {table}").fetchone()[0]
    con.execute(f"DROP TABLE {table}")
    sheets = [("rejects", columns, head), ("reasons", detail_cols, detail)]
    if n > XLSX_MAX_ROWS or n_detail > XLSX_MAX_ROWS:
        sheets.append(("about", ["说明 / note"], [
            (f"本工作簿只列出前 {XLSX_MAX_ROWS:,} 行（共 {n:,} 行，{n_detail:,} 条原因）；完整列表见 {csv_path.name}",),
            (f"This workbook shows the first {XLSX_MAX_ROWS:,} rows of {n:,} ({n_detail:,} reasons); "
             f"every row is in {csv_path.name}",)]))
    write_xlsx(xlsx_path, sheets)
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
