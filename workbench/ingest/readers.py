"""Readers: every supported file becomes one all-VARCHAR DuckDB table plus its malformed lines.

Each reader creates table ``name`` with the file's columns as VARCHAR and two more columns:
``_row`` (a unique record number used for accounting) and ``_line`` (the row a person sees:
for CSV and Excel the header is row 1, so the first data row is row 2; for JSON lines the line
number). Encodings are detected, never guessed silently: UTF-8 (with or without BOM) first, then
GB18030; a file that is neither is refused with the offset of the first bad byte.
"""
from __future__ import annotations

import codecs
import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd


class FileProblem(Exception):
    """A whole-file problem: the file is refused and nothing is written."""


@dataclass
class ReadResult:
    """A raw table (all VARCHAR) in file order; ``rowid`` is the record id (0-based)."""
    table: str
    columns: list[str]
    rows: int
    encoding: str
    malformed: list[dict[str, Any]] = field(default_factory=list)  # {line, column, message, text}
    first_line: int = 2          # line of the first data row (CSV/xlsx: 2, header is line 1)
    has_line_column: bool = False
    rid: str = "rowid"           # the column holding the record id (``_rid`` when it is carried explicitly)

    def line_sql(self, alias: str) -> str:
        """SQL for the line a person sees, for a row of the raw table under ``alias``."""
        if self.has_line_column:
            return f"{alias}._line"
        base = f"({alias}.{self.rid} + {self.first_line})"
        if not self.malformed:
            return base
        # rows after a rejected line move down by one: count the rejected lines before this row
        return f"({base} + (SELECT count(*) FROM {self.table}_mal m WHERE m.adj <= {base}))"


CHUNK = 1 << 24


def detect_encoding(path: Path) -> str:
    """``utf-8-sig``, ``utf-8`` or ``gb18030``; raises :class:`FileProblem` otherwise.

    >>> p = Path(tempfile.mkdtemp()) / "x.csv"; _ = p.write_bytes("学号\\n".encode("gb18030"))
    >>> detect_encoding(p)
    'gb18030'
    """
    with open(path, "rb") as fh:
        head = fh.read(3)
    bom = head == codecs.BOM_UTF8
    first_error = None
    for enc in ("utf-8", "gb18030"):
        decoder = codecs.getincrementaldecoder(enc)()
        offset = 0
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    decoder.decode(chunk)
                    offset += len(chunk)
                decoder.decode(b"", final=True)
            return "utf-8-sig" if (enc == "utf-8" and bom) else enc
        except UnicodeDecodeError as exc:
            if first_error is None:
                first_error = (offset + exc.start, exc.object[exc.start:exc.start + 1])
    pos, byte = first_error or (0, b"")
    raise FileProblem(f"cannot decode as UTF-8 or GB18030 (first bad byte 0x{byte.hex()} at offset {pos}); "
                      f"save it as UTF-8 or GB18030 / 文件编码无法识别，请另存为 UTF-8 或 GB18030")


def _transcode(path: Path, encoding: str) -> Path:
    fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="wb_utf8_")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out, \
            open(path, encoding=encoding, newline="") as src:
        while chunk := src.read(CHUNK):
            out.write(chunk)
    return Path(tmp)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _finish(con: duckdb.DuckDBPyConnection, name: str, encoding: str,
            malformed: list[dict[str, Any]]) -> ReadResult:
    cols = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall() if r[0] not in ("_row", "_line")]
    rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    return ReadResult(name, cols, rows, encoding, malformed, has_line_column=True)


def csv_columns(src: Path, options: dict[str, Any]) -> list[str] | None:
    """The column names :func:`csv_scan` will give ``src``, or None when DuckDB must sniff them."""
    if options.get("columns"):
        return list(options["columns"])
    return _header(src, options.get("delimiter", ",")) if options.get("header", True) else None


def csv_scan(src: Path, name: str, options: dict[str, Any]) -> str:
    """The ``read_csv(...)`` call for ``src`` (all VARCHAR, strict, malformed lines to ``{name}_rej``)."""
    delim = options.get("delimiter", ",")
    header = bool(options.get("header", True))
    args = [f"delim={_sql_str(delim)}", "quote='\"'", "escape='\"'", f"header={str(header).lower()}",
            "all_varchar=true", "strict_mode=true", "store_rejects=true", "auto_detect=true",
            f"rejects_table='{name}_rej'", f"rejects_scan='{name}_scan'"]
    names = csv_columns(src, options)
    if names:  # no sniffing: one odd line near the top must not refuse the whole file
        cols = ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in names)
        args = [a for a in args if not a.startswith(("all_varchar", "auto_detect"))] + \
            [f"columns={{{cols}}}", "auto_detect=false"]
    return f"read_csv({_sql_str(str(src))}, {', '.join(args)})"


def _header(src: Path, delim: str) -> list[str] | None:
    """Column names from the first line (empty and repeated names made unique as DuckDB would)."""
    import csv
    try:
        with open(src, encoding="utf-8-sig", newline="") as fh:
            first = next(csv.reader(fh, delimiter=delim), None)
    except UnicodeDecodeError:
        return None  # not UTF-8: DuckDB reports it, and the file is transcoded
    if not first:
        return None
    names, seen = [], set()
    for i, n in enumerate(c.strip() for c in first):
        n = n or f"column{i}"
        while n in seen:
            n += "_"
        seen.add(n)
        names.append(n)
    return names


def csv_rejects(con: duckdb.DuckDBPyConnection, name: str) -> list:
    """Rejected lines of the last scan made with :func:`csv_scan` under ``name`` (and clean up)."""
    rej = con.execute(f"SELECT line, column_name, error_type, csv_line, error_message FROM {name}_rej "
                      f"ORDER BY line").fetchall()
    con.execute(f"DROP TABLE IF EXISTS {name}_rej; DROP TABLE IF EXISTS {name}_scan")
    return rej


def malformed_of(rej: list) -> list[dict[str, Any]]:
    """One record per rejected line (DuckDB reports a short line once per missing column)."""
    by_line: dict[int, dict[str, Any]] = {}
    for line, column, kind, text, message in rej:
        m = by_line.setdefault(int(line), {"line": int(line), "columns": [], "message": f"{kind}: {message}",
                                           "text": text})
        if column:
            m["columns"].append(column)
    for m in by_line.values():
        m["column"] = ", ".join(m.pop("columns"))
    return sorted(by_line.values(), key=lambda m: m["line"])


def register_malformed(con: duckdb.DuckDBPyConnection, name: str, malformed: list[dict[str, Any]]) -> None:
    """Table ``{name}_mal`` of line shifts, so the k-th kept row can be mapped back to its line."""
    adj = [m["line"] - i for i, m in enumerate(sorted(malformed, key=lambda m: m["line"]))]
    con.register(f"{name}_adj", pd.DataFrame({"adj": pd.Series(adj, dtype="int64")}))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_mal AS SELECT * FROM {name}_adj")
    con.unregister(f"{name}_adj")


def _read_csv_utf8(con: duckdb.DuckDBPyConnection, src: Path, name: str, options: dict[str, Any]) -> list:
    try:
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT * FROM {csv_scan(src, name, options)}")
    except duckdb.Error as exc:
        raise FileProblem(f"cannot read as CSV: {str(exc).splitlines()[0]}") from None
    return csv_rejects(con, name)


def read_csv(con: duckdb.DuckDBPyConnection, path: Path, name: str, options: dict[str, Any]) -> ReadResult:
    """CSV through DuckDB; UTF-8 is validated by DuckDB itself, other encodings are detected then."""
    with open(path, "rb") as fh:
        encoding = "utf-8-sig" if fh.read(3) == codecs.BOM_UTF8 else "utf-8"
    rej = _read_csv_utf8(con, path, name, options)
    if any(r[2] == "INVALID ENCODING" for r in rej):
        con.execute(f"DROP TABLE {name}")
        encoding = detect_encoding(path)  # raises FileProblem when neither UTF-8 nor GB18030
        src = _transcode(path, encoding)
        try:
            rej = _read_csv_utf8(con, src, name, options)
        finally:
            os.unlink(src)
    malformed = malformed_of(rej)
    first = 2 if options.get("header", True) else 1
    cols = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
    rows = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
    if physical_lines(path) != first - 1 + rows + len(malformed):
        # blank lines or quoted values spanning lines: find each record's own first line
        if _attach_lines(con, name, path, encoding, options, first, malformed, rows):
            return ReadResult(name, cols, rows, encoding, malformed, first_line=first, has_line_column=True)
    if malformed:
        register_malformed(con, name, malformed)
    return ReadResult(name, cols, rows, encoding, malformed, first_line=first)


def physical_lines(path: Path) -> int:
    n, last = 0, b""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (1 if last not in (b"\n", b"") else 0)


def _attach_lines(con: duckdb.DuckDBPyConnection, name: str, path: Path, encoding: str, options: dict[str, Any],
                  first: int, malformed: list[dict[str, Any]], rows: int) -> bool:
    """Add ``_line`` (the record's first physical line) to table ``name``; False if records do not line up."""
    import csv
    starts, prev = [], 0
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=options.get("delimiter", ","))
        for rec in reader:
            start, prev = prev + 1, reader.line_num
            if rec and any(cell.strip() for cell in rec):
                starts.append(start)
    bad = {m["line"] for m in malformed}
    starts = [s for s in starts[first - 1:] if s not in bad]
    if len(starts) != rows:
        return False
    con.register(f"{name}_lines", pd.DataFrame({"k": range(rows), "_line": pd.Series(starts, dtype="int64")}))
    con.execute(f"""CREATE TEMP TABLE {name}_l AS SELECT r.*, l._line FROM (SELECT rowid AS _k, * FROM {name}) r
                    JOIN {name}_lines l ON l.k = r._k ORDER BY r._k""")
    con.unregister(f"{name}_lines")
    con.execute(f"DROP TABLE {name}")
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT * EXCLUDE (_k) FROM {name}_l ORDER BY _k")
    con.execute(f"DROP TABLE {name}_l")
    return True


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d") if value.time() == dt.time(0) else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text.strip() else None


def read_xlsx(con: duckdb.DuckDBPyConnection, path: Path, name: str, options: dict[str, Any]) -> ReadResult:
    import openpyxl
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException …
        raise FileProblem(f"cannot open as an Excel workbook: {exc}") from None
    sheet = options.get("sheet")
    if sheet is not None and sheet not in wb.sheetnames:
        raise FileProblem(f"sheet {sheet!r} not found (sheets: {', '.join(wb.sheetnames)})")
    ws = wb[sheet] if sheet is not None else wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise FileProblem("the sheet is empty")
    cols = [str(h).strip() if h is not None else f"column{i}" for i, h in enumerate(header)]
    data, lines = [], []
    for i, row in enumerate(rows, start=2):
        cells = [_cell(v) for v in row[:len(cols)]]
        if all(c is None for c in cells):
            continue
        data.append(cells + [None] * (len(cols) - len(cells)))
        lines.append(i)
    wb.close()
    frame = pd.DataFrame(data, columns=cols, dtype=object).astype("string")
    frame["_row"] = pd.Series(lines, dtype="int64")
    frame["_line"] = frame["_row"]
    return _from_frame(con, frame, name, "xlsx")


def _from_frame(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, name: str, encoding: str,
                malformed: list[dict[str, Any]] | None = None) -> ReadResult:
    con.register(f"{name}_df", frame)
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT * EXCLUDE (_row) FROM {name}_df ORDER BY _row")
    con.unregister(f"{name}_df")
    return _finish(con, name, encoding, malformed or [])


def read_parquet(con: duckdb.DuckDBPyConnection, path: Path, name: str, options: dict[str, Any]) -> ReadResult:
    try:
        con.execute(f"CREATE TEMP TABLE {name} AS SELECT COLUMNS(* EXCLUDE (file_row_number))::VARCHAR, "
                    f"(file_row_number + 1)::BIGINT AS _line FROM read_parquet({_sql_str(str(path))}, "
                    f"file_row_number=true) ORDER BY file_row_number")
    except duckdb.Error as exc:
        raise FileProblem(f"cannot read as Parquet: {str(exc).splitlines()[0]}") from None
    return _finish(con, name, "parquet", [])


def _flatten(obj: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, list):
        out[prefix] = json.dumps(obj, ensure_ascii=False)
    else:
        out[prefix] = None if obj is None else str(obj)
    return out


JSONL_BATCH = 100_000  # records parsed in Python before they go to DuckDB (bounds the reader's memory)


def read_jsonl(con: duckdb.DuckDBPyConnection, path: Path, name: str, options: dict[str, Any]) -> ReadResult:
    """xAPI statements (or any JSON objects), one per line, flattened to dotted column names.

    The file is read line by line and handed to DuckDB ``JSONL_BATCH`` records at a time (a district's mood
    check-ins are gigabytes: read whole, a 3 GB file took the process past 22 GB and the kernel killed it).
    A file that is one JSON array is parsed whole.
    """
    encoding = detect_encoding(path)
    malformed: list[dict[str, Any]] = []
    stage, columns = f"{name}_stage", []
    records: list[dict[str, Any]] = []
    lines: list[int] = []

    def flush() -> None:
        frame = pd.DataFrame.from_records(records).astype("string") if records else pd.DataFrame()
        frame["_row"] = pd.Series(lines, dtype="int64")
        frame["_line"] = frame["_row"]
        new = [c for c in frame.columns if c not in columns and c not in ("_row", "_line")]
        con.register(f"{name}_df", frame)
        try:
            if not columns and not con.execute(f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{stage}'"
                                               ).fetchall()[0][0]:
                con.execute(f"CREATE TEMP TABLE {stage} AS SELECT * FROM {name}_df")
            else:
                for c in new:
                    con.execute(f"ALTER TABLE {stage} ADD COLUMN {_ident(c)} VARCHAR")
                con.execute(f"INSERT INTO {stage} BY NAME SELECT * FROM {name}_df")
        finally:
            con.unregister(f"{name}_df")
        columns.extend(new)
        records.clear()
        lines.clear()

    with open(path, encoding=encoding, newline="\n") as fh:  # lines end at \n only: U+2028 is text, not a line end
        head = fh.read(4096)
        fh.seek(0)
        if head.lstrip().startswith("["):  # a JSON array of statements
            try:
                items = json.loads(fh.read())
            except json.JSONDecodeError as exc:
                raise FileProblem(f"not valid JSON: {exc}") from None
            for i, item in enumerate(items, start=1):
                records.append(_flatten(item))
                lines.append(i)
                if len(records) >= JSONL_BATCH:
                    flush()
        else:
            for i, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                    if not isinstance(obj, dict):
                        raise ValueError("a JSON object is expected")
                except ValueError as exc:
                    malformed.append({"line": i, "column": "", "message": f"invalid JSON: {exc}",
                                      "text": line.rstrip("\n")[:500]})
                    continue
                records.append(_flatten(obj))
                lines.append(i)
                if len(records) >= JSONL_BATCH:
                    flush()
    if records or not columns:
        flush()
    cols = "".join(f"{_ident(c)}, " for c in columns)
    con.execute(f"CREATE TEMP TABLE {name} AS SELECT {cols}_line FROM {stage} ORDER BY _row")
    con.execute(f"DROP TABLE {stage}")
    return _finish(con, name, encoding, malformed)


def read_kt_triples(con: duckdb.DuckDBPyConnection, path: Path, name: str, options: dict[str, Any]) -> ReadResult:
    """Knowledge-tracing sequences, three lines per student: length, skill ids, correctness.

    Each attempt becomes one record (``seq_no``, ``position``, ``skill``, ``correct``); ``_line`` is
    the line of the skill list. A triple whose three lines disagree is one malformed record.
    """
    encoding = detect_encoding(path)
    with open(path, encoding=encoding) as fh:
        raw = [ln.strip() for ln in fh]
    seq, pos, skills, correct, rows, lines, malformed = [], [], [], [], [], [], []
    i, seq_no, record = 0, 0, 0
    while i < len(raw):
        if not raw[i]:
            i += 1
            continue
        seq_no += 1
        trip = raw[i:i + 3]
        ok = len(trip) == 3 and trip[0].rstrip(",").isdigit()
        sk = [s for s in trip[1].split(",") if s != ""] if ok else []
        co = [c for c in trip[2].split(",") if c != ""] if ok else []
        if not ok or not (int(trip[0].rstrip(",")) == len(sk) == len(co)):
            record += 1
            malformed.append({"line": i + 1, "column": "", "text": " | ".join(trip)[:500],
                              "message": "sequence lines disagree (length, skills, answers)"})
            i += 3
            continue
        for p, (s, c) in enumerate(zip(sk, co), start=1):
            record += 1
            seq.append(str(seq_no)), pos.append(str(p)), skills.append(s), correct.append(c)
            rows.append(record), lines.append(i + 2)
        i += 3
    frame = pd.DataFrame({"seq_no": seq, "position": pos, "skill": skills, "correct": correct}, dtype="string")
    frame["_row"] = pd.Series(rows, dtype="int64")
    frame["_line"] = pd.Series(lines, dtype="int64")
    return _from_frame(con, frame, name, encoding, malformed)


READERS = {"csv": read_csv, "txt": read_csv, "tsv": read_csv, "xlsx": read_xlsx, "parquet": read_parquet,
           "jsonl": read_jsonl, "json": read_jsonl, "xapi": read_jsonl, "kt_triples": read_kt_triples}


def reader_format(path: Path, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The format ``path`` is read as, and the reader options that apply to it.

    A ``.csv`` file that carries the columns of a rejects report is read as CSV even when the preset's
    reader is another format, so corrected rejects can always go back in.
    """
    fmt = options.get("format") or path.suffix.lstrip(".").lower()
    suffix = path.suffix.lstrip(".").lower()
    if suffix == "csv" and path.name.endswith(".rejects.csv"):
        fmt, options = "csv", {k: v for k, v in options.items() if k not in ("delimiter", "header", "columns")}
    elif suffix in ("xlsx", "parquet", "jsonl") and fmt != suffix:
        fmt = suffix
    return fmt, options


def read_file(con: duckdb.DuckDBPyConnection, path: Path, name: str, options: dict[str, Any]) -> ReadResult:
    """Read ``path`` into temp table ``name`` with the reader the preset or the file suffix names
    (see :func:`reader_format`)."""
    if not path.exists():
        raise FileProblem("file not found")
    fmt, options = reader_format(path, options)
    reader = READERS.get(fmt)
    if reader is None:
        raise FileProblem(f"unsupported file type {fmt!r} (csv, xlsx, parquet, jsonl, kt_triples)")
    return reader(con, path, name, options)
