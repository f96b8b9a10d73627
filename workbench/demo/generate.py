"""Orchestration: build the school, then write every export chunk by chunk (whole classes per
chunk, so peers are always in the same chunk), then the ground truth and the summary."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import truth
from .events import simulate_events
from .exports import CsvSink, LineSink, TableSink, concat, write_xlsx
from .kgraph import build_curriculum, items_table
from .latent import build_latent
from .learning import simulate_learning
from .mess import EVENT_DUP_RATE, Unknowns, _set_cells, apply_faults, lms_users, plan_faults
from .people import build_people
from .school import attendance, exam_scores, unit_tests
from .term import GRADE_ZH, TERM_ID, TERM_NAME, SUBJECTS, Term, rng_for
from .wellbeing import activities, consents, interest_inventory, mood_checkins, psych_scale

BIG = 50_000
EVENTS_PER_CHUNK = 2_000_000
# platform actions per student per week: ~240 matches the design's scale (≈10^7 events a term for ≈2,000
# students) and gives a three-day engagement drop enough signal to be told from day-to-day noise (at 60 a
# week even a detector that knows the planted pattern reaches precision ≈ 0.1 at recall 0.9; issue 8)
EVENTS_PER_WEEK = 240

COLUMNS = {
    "lms_events.csv": ["account", "ts", "verb", "object_id", "subject", "duration_s", "on_time", "target_account"],
    "responses.csv": ["学号", "item_id", "answered_at", "correct", "duration_s", "attempt"],
    "exam_scores.csv": ["学号", "姓名", "科目", "考试", "考试日期", "成绩", "满分"],
    "unit_tests.csv": ["学号", "科目", "单元", "测验日期", "得分", "满分"],
    "attendance.csv": ["学号", "日期", "状态", "迟到分钟"],
    "psych_scale.csv": ["学号", "scale", "date"] + [f"q{i}" for i in range(1, 8)] + ["total"],
    "activities.csv": ["学号", "类型", "名称", "日期", "时长小时", "获奖"],
}
ENCODING = {"exam_scores.csv": "gb18030", "unit_tests.csv": "utf-8-sig", "attendance.csv": "utf-8-sig"}
INVENTORY_COLUMNS = ["学号", "填写日期"] + [f"兴趣_{s}" for s in SUBJECTS] + ["社团偏好"]


def _chunks(people, weeks: int, events_per_week: float) -> list[tuple[int, int]]:
    target = int(np.clip(EVENTS_PER_CHUNK / max(1.0, weeks * events_per_week), 500, 5000))
    out, lo = [], 0
    starts = people.class_start
    for c in range(len(starts) - 1):
        if starts[c + 1] - lo >= target or c == len(starts) - 2:
            out.append((lo, int(starts[c + 1])))
            lo = int(starts[c + 1])
    return out


def _roster(people) -> tuple[pa.Table, pa.Table]:
    students = pa.table({
        "学号": pa.array(people.school_no), "姓名": pa.array(people.name), "性别": pa.array(people.gender),
        "出生日期": pa.array(people.birth), "身份证号": pa.array(people.national_id),
        "年级": pa.array(np.array([GRADE_ZH[g] for g in (7, 8, 9)])[people.grade - 7]),
        "班级": pa.array(people.class_name[people.cls]), "家长电话": pa.array(people.phone),
        "入学年份": pa.array(people.enrol_year)})
    classes = pa.table({"班级代码": pa.array(people.class_code), "班级": pa.array(people.class_name),
                        "年级": pa.array(people.class_grade), "班主任": pa.array(people.teacher),
                        "教室": pa.array(people.room)})
    return students, classes


def generate_demo_school(exports_dir, ground_truth_dir, students: int = 480, seed: int = 20260901,
                         classes: int | None = None, weeks: int = 18, events_per_week: float = EVENTS_PER_WEEK,
                         progress=None) -> dict:
    """Generate the demo school 示范中学 (DEMO01) for term 2026-2027-1 and return a summary.

    Writes the exports (roster.xlsx, terms.csv, lms_users.csv, lms_events.csv, exam_scores.csv
    [GB18030], unit_tests.csv, items.csv, responses.csv, attendance.csv, interest_inventory.xlsx,
    psych_scale.csv, mood_checkins.jsonl, activities.csv, consents.csv) to ``exports_dir`` and the ground truth
    (students, episodes, kp_mastery, prerequisite_gaps, planted_errors, identity_cases,
    summary.json) to
    ``ground_truth_dir``.  Same seed and parameters => byte-identical files.

    ``classes=None`` means ``max(3, round(students / 40))`` classes over grades 7-9.
    ``progress(step, done, total)`` is called per file and per chunk of students; nothing is printed.

    Large runs: when ``students > 50_000`` the xlsx files are written as CSV (UTF-8 with BOM,
    same columns) instead — ``roster.csv`` (sheet 学生名单), ``classes.csv`` (sheet 班级) and
    ``interest_inventory.csv`` — and the ground-truth tables are Parquet (``.parquet``).  Data is
    generated in chunks of whole classes, so memory stays bounded.
    """
    if students < 3:
        raise ValueError("the demo school needs at least 3 students (one per grade)")
    exports, gt_dir = Path(exports_dir), Path(ground_truth_dir)
    exports.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda *a: None)
    big = students > BIG
    term = Term(weeks)
    people = build_people(seed, students, classes)
    lat = build_latent(seed, people, term)
    cur = build_curriculum(seed, weeks)
    chunks = _chunks(people, weeks, events_per_week)
    plan = plan_faults(seed, len(chunks))
    unknowns = Unknowns(people)
    files: dict[str, int] = {}
    records: list = []
    steps = 4 + len(chunks) + 1
    report("setup", 1, steps)

    # roster faults: one bad birth date, one missing 学号 (never a namesake student)
    rrng = rng_for(seed, "mess", 1)
    cand = np.setdiff1d(np.arange(people.n), people.same_name_pairs.ravel())
    bad_birth, no_id = (int(x) for x in rrng.choice(cand, 2, replace=False))
    users, cases, case = lms_users(seed, people, np.array([bad_birth, no_id]))
    roster, class_sheet = _roster(people)
    bad_text = str(people.birth[bad_birth])[:4] + "-02-30"  # a date that does not exist
    roster_name = "roster.csv" if big else "roster.xlsx"
    records += [(roster_name, bad_birth + 2, "出生日期", "bad_date", bad_text),
                (roster_name, no_id + 2, "学号", "missing_value", "")]
    if big:
        roster = _set_cells(_set_cells(roster, "出生日期", [bad_birth], [bad_text]), "学号", [no_id], [""])
        for name, table in (("roster.csv", roster), ("classes.csv", class_sheet)):
            sink = CsvSink(exports / name, table.column_names, "utf-8-sig")
            files[name] = sink.append(table)
            sink.close()
    else:
        text = {"学号": "@", "身份证号": "@", "家长电话": "@", "出生日期": "yyyy-mm-dd"}
        overrides = {(bad_birth, "出生日期"): bad_text, (no_id, "学号"): None}
        write_xlsx(exports / "roster.xlsx", [("学生名单", roster, text, overrides), ("班级", class_sheet, {}, {})])
        files["roster.xlsx"] = roster.num_rows
    report(roster_name, 2, steps)

    terms = pa.table({"term_id": [TERM_ID], "name_zh": [TERM_NAME], "start_date": [term.start],
                      "end_date": [term.end], "weeks": [weeks]})
    for name, table, enc in (("terms.csv", terms, "utf-8"), ("lms_users.csv", users, "utf-8-sig"),
                             ("items.csv", pa.table(items_table(cur)), "utf-8"),
                             ("consents.csv", consents(seed, people, term), "utf-8-sig")):
        sink = CsvSink(exports / name, table.column_names, enc)
        files[name] = sink.append(table)
        sink.close()
    report("lms_users.csv", 3, steps)

    sinks = {name: CsvSink(exports / name, cols, ENCODING.get(name, "utf-8"),
                           "\r\n" if name == "exam_scores.csv" else "\n") for name, cols in COLUMNS.items()}
    mood = LineSink(exports / "mood_checkins.jsonl")
    inv_sink = CsvSink(exports / "interest_inventory.csv", INVENTORY_COLUMNS, "utf-8-sig") if big else None
    inv_tables = []
    kp_sink = TableSink(gt_dir, "kp_mastery", big)
    gap_sink = TableSink(gt_dir, "prerequisite_gaps", big)
    counters = {"POST-": 1, "QA-": 1}
    for ci, (lo, hi) in enumerate(chunks):
        mult = lat.day_multiplier(term, slice(lo, hi))
        learn = simulate_learning(seed, ci, lo, hi, people, lat, cur, term, mult)
        tables = {
            "lms_events.csv": simulate_events(seed, ci, lo, hi, people, lat, term, events_per_week, mult, counters),
            "responses.csv": truth.responses_table(people, cur, lo, learn),
            "exam_scores.csv": exam_scores(seed, ci, lo, hi, people, lat, term, learn)[0],
            "unit_tests.csv": unit_tests(seed, ci, lo, hi, people, lat, term, learn),
            "attendance.csv": attendance(seed, ci, lo, hi, people, lat, term, mult),
            "psych_scale.csv": psych_scale(seed, ci, lo, hi, people, lat, term),
            "activities.csv": activities(seed, ci, lo, hi, people, lat, term),
        }
        for fi, (name, table) in enumerate(tables.items()):
            faults = [(r, c, u) for r, c, ch, u in plan.get(name, []) if ch == ci]
            frng = rng_for(seed, "mess", 100 + ci, fi)
            dup = EVENT_DUP_RATE if name == "lms_events.csv" else 0.0
            table, rec = apply_faults(table, faults, frng, name, sinks[name].rows, unknowns, dup)
            records += rec
            sinks[name].append(table)
        mood.append(mood_checkins(seed, ci, lo, hi, people, lat, term, mult))
        inv = interest_inventory(seed, ci, lo, hi, people, lat, term)
        if big:
            inv_sink.append(inv)
        else:
            inv_tables.append(inv)
        kp_sink.append(truth.kp_mastery_table(people, cur, lo, hi, learn))
        gap_sink.append(truth.prerequisite_gaps_table(people, cur, lo, learn))
        report("students", hi, people.n)
    for name, sink in sinks.items():
        sink.close()
        files[name] = sink.rows
    mood.close()
    files["mood_checkins.jsonl"] = mood.rows
    if big:
        inv_sink.close()
        files["interest_inventory.csv"] = inv_sink.rows
    else:
        inv = concat(inv_tables)
        write_xlsx(exports / "interest_inventory.xlsx", [("兴趣调查", inv, {"填写日期": "yyyy-mm-dd"}, {})])
        files["interest_inventory.xlsx"] = inv.num_rows
    kp_sink.close()
    gap_sink.close()
    report("ground_truth", steps - 1, steps)

    gt_files = truth.write_ground_truth(gt_dir, big, people, lat, term, case, records, cases,
                                        bad_birth, no_id)
    gt_files[kp_sink.path.name] = kp_sink.rows
    gt_files[gap_sink.path.name] = gap_sink.rows
    summary = truth.summary(seed, people, term, events_per_week, files, gt_files, records, case, lat,
                            roster_name, class_sheet.num_rows, big, len(chunks))
    with open(gt_dir / "summary.json", "w", encoding="utf-8") as fh:
        json.dump(summary, fh, ensure_ascii=False, indent=2, sort_keys=False)
        fh.write("\n")
    report("done", steps, steps)
    return summary
