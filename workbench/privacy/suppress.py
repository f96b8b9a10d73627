"""Small-cell suppression for published tables: primary cells under 10 students, and the complementary
cells that would let a suppressed one be worked out from the totals.

A table of counts (rows × columns, e.g. school × subgroup) is published with its row and column totals.
Primary suppression hides every cell with 1–9 students (an empty cell discloses nobody and stays). If a
row (or column) then has exactly one hidden cell, that cell equals the total minus the others, so the
next smallest cell of that row (or column) is hidden too; this repeats until every line with a hidden
cell has at least two — the classic rule statistics offices use. A total itself under 10 is hidden with
its line. Means and shares over the same cells are hidden with the counts (a mean times its count is a
sum, so the same arithmetic would recover them).

>>> import pandas as pd
>>> counts = pd.DataFrame({"男": [120, 7, 60], "女": [118, 40, 61]}, index=["一中", "二中", "三中"])
>>> mask = suppression_mask(counts)
>>> mask.to_dict("list")
{'男': [False, True, True], '女': [False, True, True]}
>>> apply_mask(counts, mask).to_dict("list")
{'男': [120, '<10', '*'], '女': [118, '*', '*']}
"""
from __future__ import annotations

import numpy as np
import pandas as pd

MIN_CELL = 10
SUPPRESSED = "<10"           # a cell under 10 students
COMPLEMENTARY = "*"          # hidden so that a suppressed cell cannot be recomputed


def suppression_mask(counts: pd.DataFrame, *, min_cell: int = MIN_CELL, row_totals: bool = True,
                     column_totals: bool = True) -> pd.DataFrame:
    """True where a cell must not be published (primary and complementary). ``row_totals`` /
    ``column_totals``: whether the table is published with those margins (they are what makes
    complementary suppression necessary)."""
    n = counts.to_numpy(float)
    n = np.where(np.isfinite(n), n, 0.0)
    hide = (n > 0) & (n < min_cell)
    changed = True
    while changed:
        changed = False
        for axis, on in ((1, row_totals), (0, column_totals)):
            if not on:
                continue
            lines = range(n.shape[0]) if axis == 1 else range(n.shape[1])
            for i in lines:
                cells = n[i, :] if axis == 1 else n[:, i]
                hidden = hide[i, :] if axis == 1 else hide[:, i]
                if hidden.sum() != 1:
                    continue
                # the next smallest visible cell (an empty one too: 0 is a number that would give it away)
                candidates = np.where(~hidden)[0]
                if len(candidates) == 0:
                    continue
                j = candidates[np.argmin(cells[candidates])]
                if axis == 1:
                    hide[i, j] = True
                else:
                    hide[j, i] = True
                changed = True
    return pd.DataFrame(hide, index=counts.index, columns=counts.columns)


def primary_mask(counts: pd.DataFrame, *, min_cell: int = MIN_CELL) -> pd.DataFrame:
    n = counts.to_numpy(float)
    return pd.DataFrame((n > 0) & (n < min_cell), index=counts.index, columns=counts.columns)


def apply_mask(values: pd.DataFrame, mask: pd.DataFrame, counts: pd.DataFrame | None = None, *,
               min_cell: int = MIN_CELL) -> pd.DataFrame:
    """``values`` with hidden cells replaced: ``<10`` where the cell itself is small, ``*`` where it is hidden
    to protect another (``counts`` gives the cell sizes; default: ``values`` are the counts)."""
    sizes = (values if counts is None else counts).to_numpy(float)
    out = values.astype(object).copy()
    m = mask.reindex_like(values).fillna(False).to_numpy(bool)
    small = (sizes > 0) & (sizes < min_cell)
    arr = np.array(out.to_numpy(object), dtype=object, copy=True)
    arr[m & small] = SUPPRESSED
    arr[m & ~small] = COMPLEMENTARY
    return pd.DataFrame(arr, index=values.index, columns=values.columns)


def totals(counts: pd.DataFrame, *, min_cell: int = MIN_CELL) -> tuple[pd.Series, pd.Series]:
    """Row and column totals as published: a total under ``min_cell`` (but above 0) shows as ``<10``."""
    def show(s: pd.Series) -> pd.Series:
        return s.astype(object).where(~((s > 0) & (s < min_cell)), SUPPRESSED)
    return show(counts.sum(axis=1)), show(counts.sum(axis=0))
