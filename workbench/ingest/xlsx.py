"""A small streaming xlsx writer for the rejects workbook: sheets of plain values, header row frozen.

openpyxl (even write-only) serialises each cell through its XML tree and cost ≈ 10 s per 20,000 rows × 20
columns: more than half of a 10k-student ingest went into two rejects workbooks. Here each row is one
formatted string (inline strings, so no shared-string table to build), and the zip is deflated at level 1:
the same two sheets take ≈ 0.7 s. Everything else about xlsx (styles, formulas, dates as serial numbers) is
left out on purpose; files people hand in are still read with openpyxl.

Values: ``None`` leaves the cell empty, ``bool`` is a boolean, ``int``/``float`` a number (NaN and ±inf are
written as text, which xlsx numbers cannot hold), anything else its ``str``. Characters XML cannot carry
(control characters, U+FFFE/U+FFFF) become U+FFFD and text is cut at Excel's 32,767 characters per cell.
"""
from __future__ import annotations

import math
import re
import zipfile
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path

MAX_CELL = 32_767
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

Sheet = tuple[str, Sequence[str], Iterable[Sequence[object]]]


def column_letter(i: int) -> str:
    """The spreadsheet name of the 0-based column ``i``.

    >>> [column_letter(i) for i in (0, 25, 26, 701, 702)]
    ['A', 'Z', 'AA', 'ZZ', 'AAA']
    """
    s, i = "", i + 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _text(v: str) -> str:
    if len(v) > MAX_CELL:
        v = v[:MAX_CELL]
    return _ILLEGAL.sub("\ufffd", v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(ref: str, v: object) -> str:
    if isinstance(v, bool):
        return f'<c r="{ref}" t="b"><v>{int(v)}</v></c>'
    if isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)):
        return f'<c r="{ref}"><v>{v!r}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{_text(str(v))}</t></is></c>'


def _sheet_parts(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterable[str]:
    letters: list[str] = []
    yield (f'{_XML}<worksheet {_NS}><sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
           f'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews><sheetData>')
    for n, row in enumerate(chain([header], rows), 1):
        if len(row) > len(letters):
            letters += [column_letter(i) for i in range(len(letters), len(row))]
        yield f'<row r="{n}">' + "".join(_cell(f"{c}{n}", v) for c, v in zip(letters, row) if v is not None) + "</row>"
    yield "</sheetData></worksheet>"


def write_xlsx(path: str | Path, sheets: Sequence[Sheet]) -> None:
    """Write ``sheets`` (name, header, rows) to the workbook ``path`` (replaced if it exists)."""
    names = [name for name, _, _ in sheets]
    if not names or len(set(names)) != len(names) or any(len(n) > 31 or re.search(r"[\[\]:*?/\\]", n) for n in names):
        raise ValueError(f"sheet names must be distinct, at most 31 characters, without []:*?/\\ : {names}")
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                        f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, len(names) + 1))
    content_types = (f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                     '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                     '<Default Extension="xml" ContentType="application/xml"/>'
                     '<Override PartName="/xl/workbook.xml" ContentType="application/'
                     'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                     '<Override PartName="/xl/styles.xml" ContentType="application/'
                     f'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>{overrides}</Types>')
    root_rels = (f'{_XML}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" Type="{_REL_NS}/officeDocument" '
                 'Target="xl/workbook.xml"/></Relationships>')
    workbook = (f'{_XML}<workbook {_NS} xmlns:r="{_REL_NS}"><sheets>'
                + "".join(f'<sheet name="{_text(n)}" sheetId="{i}" r:id="rId{i}"/>' for i, n in enumerate(names, 1))
                + "</sheets></workbook>")
    wb_rels = (f'{_XML}<Relationships xmlns="{_PKG_REL}">'
               + "".join(f'<Relationship Id="rId{i}" Type="{_REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                         for i in range(1, len(names) + 1))
               + f'<Relationship Id="rId{len(names) + 1}" Type="{_REL_NS}/styles" Target="styles.xml"/></Relationships>')
    styles = (f'{_XML}<styleSheet {_NS}><fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
              '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
              '</fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
              '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
              '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
              '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", root_rels)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/_rels/workbook.xml.rels", wb_rels)
        z.writestr("xl/styles.xml", styles)
        for i, (_, header, rows) in enumerate(sheets, 1):
            with z.open(f"xl/worksheets/sheet{i}.xml", "w") as fh:
                buf: list[str] = []
                for part in _sheet_parts(header, rows):
                    buf.append(part)
                    if len(buf) >= 2000:
                        fh.write("".join(buf).encode("utf-8"))
                        buf.clear()
                fh.write("".join(buf).encode("utf-8"))
