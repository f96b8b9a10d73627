"""The rejects workbook writer: what openpyxl and pandas read back is what was written."""
from __future__ import annotations

import math
import zipfile

import openpyxl
import pandas as pd
import pytest

from workbench.ingest.xlsx import MAX_CELL, write_xlsx


def test_values_come_back_as_written(tmp_path):
    path = tmp_path / "r.xlsx"
    rows = [
        ("学生身份待确认", 3, 2.5, True, None, "  leading and trailing  "),
        ("a < b & c > d", -7, 1e-12, False, "«vault»", 'quote " and apostrophe \''),
        ("bell\x07 and nul\x00", 2**53, math.nan, None, "", "tab\tnew\nline"),
    ]
    write_xlsx(path, [("rejects", ["文本", "int", "float", "bool", "maybe", "spaces"], rows),
                      ("about", ["说明 / note"], [("see the CSV",)])])
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == ["rejects", "about"]
    got = list(wb["rejects"].iter_rows(values_only=True))
    assert got[0] == ("文本", "int", "float", "bool", "maybe", "spaces")
    assert got[1] == rows[0]
    assert got[2] == rows[1]
    # control characters XML cannot hold become U+FFFD; NaN (no xlsx number) is text; "" is an empty string cell
    assert got[3] == ("bell\ufffd and nul\ufffd", 2**53, "nan", None, "", "tab\tnew\nline")
    assert list(wb["about"].iter_rows(values_only=True)) == [("说明 / note",), ("see the CSV",)]
    frames = pd.read_excel(path, sheet_name=None)
    assert list(frames) == ["rejects", "about"] and len(frames["rejects"]) == 3
    assert openpyxl.load_workbook(path)["rejects"].freeze_panes == "A2"   # the header stays in view


def test_long_text_is_cut_to_an_excel_cell_and_rows_stream(tmp_path):
    path = tmp_path / "big.xlsx"
    n = 25_000
    write_xlsx(path, [("s", ["i", "text"], ((i, "x" * (MAX_CELL + 10) if i == 0 else f"row {i}") for i in range(n)))])
    ws = openpyxl.load_workbook(path, read_only=True)["s"]
    got = list(ws.iter_rows(values_only=True))
    assert len(got) == n + 1 and got[-1] == (n - 1, f"row {n - 1}")
    assert len(got[1][1]) == MAX_CELL
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        assert {"[Content_Types].xml", "xl/workbook.xml", "xl/styles.xml", "xl/worksheets/sheet1.xml"} <= set(z.namelist())


@pytest.mark.parametrize("names", [[], ["a", "a"], ["x" * 32], ["a/b"]])
def test_bad_sheet_names_are_refused(tmp_path, names):
    with pytest.raises(ValueError, match="sheet names"):
        write_xlsx(tmp_path / "x.xlsx", [(n, ["h"], []) for n in names])
    assert not (tmp_path / "x.xlsx").exists()
