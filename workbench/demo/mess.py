"""Planted mess: bad rows in the exports and identity noise in the LMS user list.

Every planted bad row is returned as a record (file, row, column, reason, value) where ``row``
counts like a spreadsheet: header = row 1, first data row = row 2.  The handful of faults per file
is fixed (independent of the number of students); each fault lands in a chunk and position drawn
from the seed.  ``lms_events.csv`` also gets ~0.1% exact duplicate lines (an export glitch).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .names import name_variant
from .people import People
from .term import rng_for

FAULTS = {
    "exam_scores.csv": [("negative_score", "成绩", 2), ("score_above_max", "成绩", 3), ("bad_type", "成绩", 3),
                        ("duplicate_conflict", "成绩", 4), ("unknown_student", "学号", 2),
                        ("missing_value", "学号", 1), ("bad_date", "考试日期", 2),
                        ("date_outside_term", "考试日期", 2)],
    "unit_tests.csv": [("negative_score", "得分", 2), ("score_above_max", "得分", 2), ("bad_date", "测验日期", 2),
                       ("date_outside_term", "测验日期", 1), ("missing_value", "学号", 1), ("bad_type", "得分", 1),
                       ("unknown_student", "学号", 1), ("duplicate_exact", "", 1)],
    "attendance.csv": [("unknown_value", "状态", 4), ("bad_date", "日期", 1), ("date_outside_term", "日期", 1),
                       ("unknown_student", "学号", 1), ("missing_value", "学号", 1), ("bad_type", "迟到分钟", 2),
                       ("duplicate_exact", "", 2)],
    "responses.csv": [("bad_date", "answered_at", 1), ("date_outside_term", "answered_at", 1),
                      ("unknown_student", "学号", 1), ("bad_type", "duration_s", 1), ("unknown_value", "correct", 2),
                      ("missing_value", "item_id", 1), ("duplicate_exact", "", 2)],
    "lms_events.csv": [("unknown_student", "account", 3)],
}
EVENT_DUP_RATE = 0.001
VALUES = {
    ("bad_type", "成绩"): ["缺考", "九十", "八十五"], ("bad_type", "得分"): ["缺考", "优"],
    ("bad_type", "迟到分钟"): ["十分钟", "半小时"], ("bad_type", "duration_s"): ["约两分钟", "2分"],
    ("bad_date", "考试日期"): ["2026/13/45", "下周一", "2026/11/31"],
    ("bad_date", "测验日期"): ["2026-13-45", "下周一", "2026-09-31"],
    ("bad_date", "日期"): ["2026-02-30", "下周一", "2026-10-32"],
    ("bad_date", "answered_at"): ["2026-09-31 19:20:00", "昨天 19:20"],
    ("date_outside_term", "考试日期"): ["2025/06/01", "2027/03/15"],
    ("date_outside_term", "测验日期"): ["2025-06-01", "2027-03-15"],
    ("date_outside_term", "日期"): ["2025-06-02", "2027-03-15"],
    ("date_outside_term", "answered_at"): ["2025-06-01 20:15:00", "2027-03-15 19:40:00"],
    ("unknown_value", "状态"): ["迟道", "出勤了", "早退", "出席"], ("unknown_value", "correct"): ["2", "3"],
}


def plan_faults(seed: int, n_chunks: int) -> dict:
    """file -> list of (reason, column, chunk, u) for every individual planted fault."""
    rng = rng_for(seed, "mess")
    plan = {}
    for file, faults in FAULTS.items():
        plan[file] = [(r, c, int(rng.integers(n_chunks)), float(rng.random()))
                      for r, c, k in faults for _ in range(k)]
    return plan


class Unknowns:
    """Makes 学号 / accounts that exist nowhere in the roster."""

    def __init__(self, people: People):
        self.school_nos = set(people.school_no.tolist())
        self.accounts = set(people.account.tolist())

    def school_no(self, rng, like: str) -> str:
        for _ in range(1000):
            cand = like[:-2] + str(int(rng.integers(91, 100)))
            if cand not in self.school_nos:
                self.school_nos.add(cand)
                return cand
            like = like[:-3] + str(int(rng.integers(0, 10))) + like[-2:]
        raise RuntimeError("no unknown school number found")

    def account(self, rng) -> str:
        while True:
            cand = "lms_" + bytes(rng.integers(0, 256, 4, dtype=np.uint8)).hex()
            if cand not in self.accounts:
                self.accounts.add(cand)
                return cand


def _pick(n, u, eligible, used):
    i = int(u * n)
    for k in range(n):
        j = (i + k) % n
        if j not in used and (eligible is None or eligible[j]):
            used.add(j)
            return j
    return None  # tiny tables: the fault is skipped rather than doubled up on a row


def _value(rng, reason, column, row: dict, unknowns: Unknowns) -> str:
    if reason == "negative_score":
        return f"-{int(rng.integers(1, 16))}"
    if reason == "score_above_max":
        return str(int(row["满分"]) + int(rng.integers(1, 31)))
    if reason == "missing_value":
        return ""
    if reason == "unknown_student":
        return unknowns.account(rng) if column == "account" else unknowns.school_no(rng, row[column])
    opts = VALUES[(reason, column)]
    return opts[int(rng.integers(len(opts)))]


def _set_cells(table: pa.Table, column: str, rows: list[int], values: list[str]) -> pa.Table:
    col = table[column].combine_chunks()
    if col.type != pa.string():
        col = pc.cast(col, pa.string())
    mask = np.zeros(table.num_rows, dtype=bool)
    order = np.argsort(rows)
    mask[np.asarray(rows)[order]] = True
    new = pc.replace_with_mask(col, pa.array(mask), pa.array([values[i] for i in order], pa.string()))
    return table.set_column(table.column_names.index(column), column, new)


def apply_faults(table: pa.Table, faults: list, rng, file: str, row_offset: int, unknowns: Unknowns,
                 dup_rate: float = 0.0) -> tuple[pa.Table, list]:
    """Plant ``faults`` (reason, column, u) into one chunk's table; returns table and records."""
    n = table.num_rows
    if n == 0 or (not faults and dup_rate == 0):
        return table, []
    used: set[int] = set()
    cells: dict[str, tuple[list, list]] = {}
    inplace, copies = [], []  # (row, column, reason, value) / (src, column, reason, value)
    for reason, column, u in faults:
        eligible = None
        if column == "迟到分钟":
            eligible = np.asarray(table["状态"].to_numpy(zero_copy_only=False) == "迟到")
        j = _pick(n, u, eligible, used)
        if j is None:
            continue
        if reason in ("duplicate_exact", "duplicate_conflict"):
            value = ""
            if reason == "duplicate_conflict":
                old, full = float(table["成绩"][j].as_py()), int(table["满分"][j].as_py())
                new = old + int(rng.choice([-1, 1])) * int(rng.integers(3, 16))
                new = new if 0 <= new <= full else old - 10 if old >= 10 else old + 10
                value = str(int(new)) if new == int(new) else str(new)
            copies.append((j, column, reason, value))
            continue
        row = {c: table[c][j].as_py() for c in table.column_names}
        value = _value(rng, reason, column, row, unknowns)
        cells.setdefault(column, ([], []))
        cells[column][0].append(j)
        cells[column][1].append(value)
        inplace.append((j, column, reason, value))
    for column, (rows, values) in cells.items():
        table = _set_cells(table, column, rows, values)
    if dup_rate > 0:
        k = int(rng.binomial(n, dup_rate))
        free = np.ones(n, dtype=bool)
        free[list(used)] = False
        free = np.nonzero(free)[0]
        picked = np.sort(free[rng.choice(len(free), min(k, len(free)), replace=False)])
        copies += [(int(j), "", "duplicate_exact", "") for j in picked]
    if not copies:
        return table, [(file, row_offset + j + 2, c, r, v) for j, c, r, v in inplace]
    src = np.array([c[0] for c in copies], dtype=np.int64)
    extra = table.take(pa.array(src))
    conf = [(i, c[3]) for i, c in enumerate(copies) if c[2] == "duplicate_conflict"]
    if conf:
        extra = _set_cells(extra, "成绩", [i for i, _ in conf], [v for _, v in conf])
    ins = np.minimum(n, src + 1 + rng.geometric(0.08, len(src)) - 1)
    keys = np.r_[2 * np.arange(n) + 1, 2 * ins]
    order = np.argsort(keys, kind="stable")
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = np.arange(len(order))
    out = pa.concat_tables([table, extra.cast(table.schema)]).take(pa.array(order))
    records = [(file, row_offset + int(pos[j]) + 2, c, r, v) for j, c, r, v in inplace]
    records += [(file, row_offset + int(pos[n + i]) + 2, c[1], c[2], c[3]) for i, c in enumerate(copies)]
    return out, records


def lms_users(seed: int, people: People, protected: np.ndarray) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """The LMS user list with identity noise; returns (users, identity_cases, case per student)."""
    rng = rng_for(seed, "identity")
    n = people.n
    case = np.full(n, "exact", dtype=object)
    pairs = people.same_name_pairs.ravel()
    case[pairs] = "ambiguous_same_name"
    free = np.setdiff1d(np.arange(n), np.r_[pairs, protected])
    k_var = min(len(free), round(0.03 * n))
    variant = rng.choice(free, k_var, replace=False)
    case[variant] = "name_variant"
    rest = np.setdiff1d(free, variant)
    k_miss = min(len(rest), max(0, round(0.10 * n) - len(pairs)))
    case[rng.choice(rest, k_miss, replace=False)] = "missing_birth_date"
    display = people.name.astype(object)
    for i in np.sort(variant):
        display[i] = name_variant(rng, str(people.surname[i]), str(people.given[i]))[0]
    no_birth = (case == "ambiguous_same_name") | (case == "missing_birth_date")
    order = np.argsort(people.account)
    users = pa.table({
        "account": pa.array(people.account[order]),
        "display_name": pa.array(display[order].astype(str)),
        "class_name": pa.array(people.class_name[people.cls[order]]),
        "birth_date": pa.array(people.birth[order], mask=no_birth[order]),
    })
    cases = pa.table({"account": pa.array(people.account[order]),
                      "school_no_true": pa.array(people.school_no[order]),
                      "case": pa.array(case[order].astype(str))})
    return users, cases, case.astype(str)
