"""Writing the export files: chunked CSV in a chosen encoding, JSON lines, reproducible xlsx,
and ground-truth tables (CSV, or Parquet for big runs)."""
from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FIXED_TIME = dt.datetime(2026, 9, 1, 8, 0, 0)
BOM = "\ufeff".encode("utf-8")


class CsvSink:
    """Appends pyarrow tables to one CSV file; header written by hand (never quoted).

    ``encoding`` is ``utf-8``, ``utf-8-sig`` (UTF-8 with BOM) or ``gb18030``; ``eol`` the line end.
    Values must not contain commas, quotes or newlines (the demo data never does).
    """

    def __init__(self, path: Path, columns: list[str], encoding: str = "utf-8", eol: str = "\n"):
        self.path, self.columns, self.encoding, self.eol = Path(path), list(columns), encoding, eol
        self.rows = 0
        self._fh = open(self.path, "wb")
        if encoding == "utf-8-sig":
            self._fh.write(BOM)
        self._write_text(",".join(self.columns) + "\n")

    def _write_text(self, text: str) -> None:
        if self.eol != "\n":
            text = text.replace("\n", self.eol)
        enc = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        self._fh.write(text.encode(enc))

    def append(self, table: pa.Table) -> int:
        if table.column_names != self.columns:
            raise ValueError(f"{self.path.name}: columns {table.column_names} != {self.columns}")
        if table.num_rows == 0:
            return 0
        buf = pa.BufferOutputStream()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none"))
        data = buf.getvalue().to_pybytes()
        if self.encoding in ("utf-8", "utf-8-sig") and self.eol == "\n":
            self._fh.write(data)
        else:
            self._write_text(data.decode("utf-8"))
        self.rows += table.num_rows
        return table.num_rows

    def close(self) -> None:
        self._fh.close()


class LineSink:
    """JSON-lines file fed with arrays of ready-made lines (each ending in a newline)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows = 0
        self._fh = open(self.path, "wb")

    def append(self, lines: pa.Array) -> int:
        if len(lines):
            if lines.type != pa.string():
                lines = lines.cast(pa.string())
            off = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
            self._fh.write(lines.buffers()[2].to_pybytes()[off[0]:off[-1]])
        self.rows += len(lines)
        return len(lines)

    def close(self) -> None:
        self._fh.close()


class TableSink:
    """Ground-truth table: CSV (UTF-8) or, when ``parquet``, a Parquet file written in row groups."""

    def __init__(self, directory: Path, stem: str, parquet: bool):
        self.parquet, self.rows = parquet, 0
        self.path = Path(directory) / f"{stem}.{'parquet' if parquet else 'csv'}"
        self._writer = None
        self._csv: CsvSink | None = None

    def append(self, table: pa.Table) -> None:
        if self.parquet:
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, table.schema)
            self._writer.write_table(table.cast(self._writer.schema))
        else:
            if self._csv is None:
                self._csv = CsvSink(self.path, table.column_names)
            self._csv.append(table)
        self.rows += table.num_rows

    def close(self, empty_schema: pa.Schema | None = None) -> None:
        if self._writer is None and self._csv is None and empty_schema is not None:
            self.append(empty_schema.empty_table())
        if self._writer is not None:
            self._writer.close()
        if self._csv is not None:
            self._csv.close()


def _cell_value(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def write_xlsx(path: Path, sheets: list[tuple[str, pa.Table, dict, dict]]) -> None:
    """Write sheets (name, table, {column: number_format}, {(row, column): value}) with fixed
    workbook metadata and zip timestamps, so the same content gives byte-identical files.
    Overrides replace single cells (planted faults such as a birth date typed as text)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    wb.properties.creator = "Profile Workbench demo generator"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    for name, table, formats, overrides in sheets:
        ws = wb.create_sheet(name)
        ws.append(table.column_names)
        cols = []
        for c in table.column_names:
            arr = table[c]
            if pa.types.is_date(arr.type):
                cols.append([None if x is None else dt.date.fromisoformat(str(x)) for x in arr.to_pylist()])
            else:
                cols.append(arr.to_pylist())
        for (i, c), v in overrides.items():
            cols[table.column_names.index(c)][i] = v
        fmts = [formats.get(c) for c in table.column_names]
        for row in zip(*cols):
            out = []
            for v, f in zip(row, fmts):
                v = _cell_value(v)
                if f is None or v is None or (isinstance(v, str) and f != "@"):
                    out.append(v)
                else:
                    cell = WriteOnlyCell(ws, value=v)
                    cell.number_format = f
                    out.append(cell)
            ws.append(out)
    raw = io.BytesIO()
    wb.save(raw)
    _normalise_zip(raw.getvalue(), path)


def _normalise_zip(data: bytes, path: Path) -> None:
    src = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(2026, 9, 1, 8, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" at save time
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-09-01T08:00:00Z", data)
            dst.writestr(fixed, data)


def concat(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
