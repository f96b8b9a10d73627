"""Behaviour of the demo-school generator on a small run (120 students, 6 weeks)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import yaml

from workbench.demo import generate_demo_school
from workbench.demo.names import TRADITIONAL

SMALL = dict(students=120, weeks=6, events_per_week=20)
ENCODINGS = {"exam_scores.csv": "gb18030", "unit_tests.csv": "utf-8-sig", "attendance.csv": "utf-8-sig",
             "lms_users.csv": "utf-8-sig"}
GRAPH = Path(__file__).resolve().parents[2] / "knowledge_graphs" / "math_junior.yaml"
SCORE_FULL = {"语文": 120, "数学": 120, "英语": 120}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    out = {}
    for key, seed in (("a", 7), ("b", 7), ("c", 8)):
        ex, gt = base / key / "exports", base / key / "truth"
        calls = []
        summary = generate_demo_school(ex, gt, seed=seed, progress=lambda *a: calls.append(a), **SMALL)
        out[key] = {"ex": ex, "gt": gt, "summary": summary, "calls": calls}
    return out


@pytest.fixture(scope="module")
def run(runs):
    return runs["a"]


def read_rows(path: Path) -> list[list[str]]:
    """All rows including the header (row 1), decoded with the file's encoding."""
    text = path.read_bytes().decode(ENCODINGS.get(path.name, "utf-8"))
    return list(csv.reader(io.StringIO(text)))


def table(path: Path) -> list[dict]:
    rows = read_rows(path)
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def truth(run, name):
    return table(run["gt"] / name)


def test_deterministic_and_seed_sensitive(runs):
    a, b, c = runs["a"], runs["b"], runs["c"]
    names = sorted(p.name for p in a["ex"].iterdir())
    assert names == sorted(p.name for p in b["ex"].iterdir())
    for name in names:  # xlsx too: workbook properties and zip timestamps are fixed
        assert (a["ex"] / name).read_bytes() == (b["ex"] / name).read_bytes(), name
    for p in a["gt"].iterdir():
        assert p.read_bytes() == (b["gt"] / p.name).read_bytes(), p.name
    for name in ("lms_events.csv", "exam_scores.csv", "responses.csv", "lms_users.csv", "mood_checkins.jsonl"):
        assert (a["ex"] / name).read_bytes() != (c["ex"] / name).read_bytes(), name
    assert a["summary"] == json.loads((a["gt"] / "summary.json").read_text(encoding="utf-8"))


def test_files_exist_and_row_counts_match_summary(run):
    files = run["summary"]["files"]
    expected = {"roster.xlsx", "terms.csv", "lms_users.csv", "lms_events.csv", "exam_scores.csv", "unit_tests.csv",
                "items.csv", "responses.csv", "attendance.csv", "interest_inventory.xlsx", "psych_scale.csv",
                "mood_checkins.jsonl", "activities.csv", "consents.csv"}
    assert set(files) == expected
    for name, n in files.items():
        path = run["ex"] / name
        if name.endswith(".xlsx"):
            wb = openpyxl.load_workbook(path, read_only=True)
            assert sum(1 for _ in wb.worksheets[0].iter_rows()) - 1 == n, name
        elif name.endswith(".jsonl"):
            assert len(path.read_bytes().splitlines()) == n
        else:
            assert len(read_rows(path)) - 1 == n, name
        assert n > 0
    for name, n in run["summary"]["ground_truth_files"].items():
        assert len(read_rows(run["gt"] / name)) - 1 == n
    assert run["calls"] and run["calls"][-1][1] == run["calls"][-1][2]


def test_encodings_and_headers(run):
    raw = (run["ex"] / "exam_scores.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("gb18030").startswith("学号,姓名,科目,考试,考试日期,成绩,满分\r\n")
    for name in ("lms_users.csv", "unit_tests.csv", "attendance.csv"):
        assert (run["ex"] / name).read_bytes().startswith(b"\xef\xbb\xbf"), name
    for name in ("lms_events.csv", "responses.csv", "terms.csv", "items.csv", "psych_scale.csv"):
        assert not (run["ex"] / name).read_bytes().startswith(b"\xef\xbb\xbf"), name
    assert read_rows(run["ex"] / "lms_events.csv")[0] == [
        "account", "ts", "verb", "object_id", "subject", "duration_s", "on_time", "target_account"]
    terms = table(run["ex"] / "terms.csv")
    assert terms == [{"term_id": "2026-2027-1", "name_zh": "2026-2027学年第一学期", "start_date": "2026-09-01",
                      "end_date": "2026-10-12", "weeks": "6"}]


def _id_ok(nid: str) -> bool:
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * k for c, k in zip(nid[:17], w)) % 11] == nid[17]


def test_roster_identity_fields(run):
    students = truth(run, "students.csv")
    assert len({s["national_id"] for s in students}) == len(students) == 120
    for s in students:
        nid = s["national_id"]
        assert len(nid) == 18 and _id_ok(nid)
        assert nid[6:14] == s["birth_date"].replace("-", "")
        assert int(nid[16]) % 2 == (1 if s["gender"] == "男" else 0)
        assert re.fullmatch(r"lms_[0-9a-f]{8}", s["lms_account"])
        born = int(s["birth_date"][:4])
        assert {"7": (2012, 2015), "8": (2011, 2014), "9": (2010, 2013)}[s["grade"]][0] <= born
    wb = openpyxl.load_workbook(run["ex"] / "roster.xlsx")
    assert wb.sheetnames == ["学生名单", "班级"]
    sheet = list(wb["学生名单"].iter_rows(values_only=True))
    assert sheet[0] == ("学号", "姓名", "性别", "出生日期", "身份证号", "年级", "班级", "家长电话", "入学年份")
    dates = [r[3] for r in sheet[1:]]
    assert sum(isinstance(d, dt.datetime) for d in dates) == len(dates) - 1  # one planted text date
    assert all(isinstance(r[4], str) and isinstance(r[7], str) and re.fullmatch(r"1[3589]\d{9}", r[7])
               for r in sheet[1:])
    classes = list(wb["班级"].iter_rows(values_only=True))
    assert classes[0] == ("班级代码", "班级", "年级", "班主任", "教室")
    assert [c[0] for c in classes[1:]] == ["G7C1", "G8C1", "G9C1"]
    assert classes[1][1] == "七年级(1)班" and classes[1][3].endswith("老师")


def test_identity_cases(run):
    students = {s["school_no"]: s for s in truth(run, "students.csv")}
    users = {u["account"]: u for u in table(run["ex"] / "lms_users.csv")}
    cases = truth(run, "identity_cases.csv")
    assert len(cases) == len(users) == 120
    kinds = defaultdict(list)
    for c in cases:
        kinds[c["case"]].append(c)
        s, u = students[c["school_no_true"]], users[c["account"]]
        assert s["lms_account"] == c["account"] and u["class_name"] == s["class_name"]
        if c["case"] == "exact":
            assert u["display_name"] == s["name"] and u["birth_date"] == s["birth_date"]
        elif c["case"] == "name_variant":
            assert u["display_name"] != s["name"]
            norm = u["display_name"].replace(" ", "").replace("\u3000", "")
            back = {v: k for k, v in TRADITIONAL.items()}
            assert "".join(back.get(ch, ch) for ch in norm) == s["name"]
        else:
            assert u["birth_date"] == ""
            namesakes = [x for x in students.values() if x["name"] == s["name"] and x["class_name"] == s["class_name"]]
            assert len(namesakes) == (2 if c["case"] == "ambiguous_same_name" else 1)
    assert len(kinds["ambiguous_same_name"]) == 4
    assert kinds["name_variant"] and kinds["missing_birth_date"]


def _is_number(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


def _date(x: str):
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y-%m-%d %H:%M:%S"):
        try:
            return dt.datetime.strptime(x, fmt).date()
        except ValueError:
            pass
    return None


def _detect(name: str, rows: list[list[str]], known: set[str], start, end) -> dict[int, str]:
    """An independent validator: row number -> the fault found in that row."""
    head, found, seen, keys = rows[0], {}, set(), {}
    col = {h: i for i, h in enumerate(head)}
    id_col = "account" if name == "lms_events.csv" else "学号"
    date_col = {"exam_scores.csv": "考试日期", "unit_tests.csv": "测验日期", "attendance.csv": "日期",
                "responses.csv": "answered_at", "lms_events.csv": "ts"}[name]
    score = {"exam_scores.csv": "成绩", "unit_tests.csv": "得分"}.get(name)
    for i, r in enumerate(rows[1:], start=2):
        line = tuple(r)
        d = _date(r[col[date_col]])
        if line in seen:
            found[i] = "duplicate_exact"
        elif r[col[id_col]] == "" or ("item_id" in col and r[col["item_id"]] == ""):
            found[i] = "missing_value"
        elif r[col[id_col]] not in known:
            found[i] = "unknown_student"
        elif d is None:
            found[i] = "bad_date"
        elif not start <= d <= end:
            found[i] = "date_outside_term"
        elif score and not _is_number(r[col[score]]):
            found[i] = "bad_type"
        elif score and float(r[col[score]]) < 0:
            found[i] = "negative_score"
        elif score and float(r[col[score]]) > float(r[col["满分"]]):
            found[i] = "score_above_max"
        elif name == "attendance.csv" and r[col["状态"]] not in {"出勤", "迟到", "缺勤", "请假"}:
            found[i] = "unknown_value"
        elif name == "attendance.csv" and r[col["迟到分钟"]] and not r[col["迟到分钟"]].isdigit():
            found[i] = "bad_type"
        elif name == "responses.csv" and not r[col["duration_s"]].isdigit():
            found[i] = "bad_type"
        elif name == "responses.csv" and r[col["correct"]] not in {"0", "1"}:
            found[i] = "unknown_value"
        elif name == "exam_scores.csv":
            key = (r[0], r[2], r[3])
            if key in keys and keys[key] != r[col["成绩"]]:
                found[i] = "duplicate_conflict"
            keys.setdefault(key, r[col["成绩"]])
        seen.add(line)
    return found


def test_planted_errors_are_exactly_the_bad_rows(run):
    planted = truth(run, "planted_errors.csv")
    students = truth(run, "students.csv")
    known = {s["school_no"] for s in students} | {s["lms_account"] for s in students}
    by_file = defaultdict(dict)
    for p in planted:
        by_file[p["file"]][int(p["row"])] = p
    reasons = {p["reason"] for p in planted}
    assert reasons == {"negative_score", "score_above_max", "bad_date", "date_outside_term", "unknown_student",
                       "bad_type", "missing_value", "unknown_value", "duplicate_exact", "duplicate_conflict"}
    start, end = dt.date(2026, 9, 1), dt.date(2026, 10, 12)
    for name in ("exam_scores.csv", "unit_tests.csv", "attendance.csv", "responses.csv", "lms_events.csv"):
        rows = read_rows(run["ex"] / name)
        found = _detect(name, rows, known, start, end)
        assert found == {r: p["reason"] for r, p in by_file[name].items()}, name
        for r, p in by_file[name].items():
            if p["column"]:
                assert rows[r - 1][rows[0].index(p["column"])] == p["value"]
    events = by_file["lms_events.csv"].values()
    assert {p["reason"] for p in events} == {"duplicate_exact", "unknown_student"}
    ws = openpyxl.load_workbook(run["ex"] / "roster.xlsx")["学生名单"]
    roster = {int(r): p for r, p in by_file["roster.xlsx"].items()}
    assert sorted(p["reason"] for p in roster.values()) == ["bad_date", "missing_value"]
    for r, p in roster.items():
        cell = ws.cell(row=r, column=[c.value for c in ws[1]].index(p["column"]) + 1).value
        assert (cell is None) if p["reason"] == "missing_value" else (isinstance(cell, str) and _date(cell) is None)


def test_mood_checkins_are_xapi(run):
    accounts = {s["lms_account"] for s in truth(run, "students.csv")}
    lines = (run["ex"] / "mood_checkins.jsonl").read_text(encoding="utf-8").splitlines()
    ids = set()
    for line in lines:
        st = json.loads(line)
        assert st["actor"]["account"]["name"] in accounts
        assert st["actor"]["account"]["homePage"] == "https://lms.demo.school"
        assert st["verb"]["id"] == "http://adlnet.gov/expapi/verbs/answered"
        assert 1 <= st["result"]["score"]["raw"] <= 5
        assert dt.datetime.fromisoformat(st["timestamp"]).utcoffset() == dt.timedelta(hours=8)
        ids.add(st["id"])
    assert len(ids) == len(lines)
    school_days = 25
    assert 0.75 < len(lines) / (120 * school_days) < 0.95


def _exam_z(run):
    """z-score of each (student, exam) averaged over subjects, standardised per grade/subject/exam."""
    rows = [r for r in table(run["ex"] / "exam_scores.csv") if _is_number(r["成绩"]) and r["学号"]]
    groups = defaultdict(list)
    for r in rows:
        groups[(r["学号"][4:6], r["科目"], r["考试"])].append(float(r["成绩"]))
    stats = {k: (np.mean(v), np.std(v) + 1e-9) for k, v in groups.items()}
    z = defaultdict(list)
    for r in rows:
        m, s = stats[(r["学号"][4:6], r["科目"], r["考试"])]
        z[(r["学号"], r["考试"])].append((float(r["成绩"]) - m) / s)
    return {k: float(np.mean(v)) for k, v in z.items()}, rows


def test_anxiety_episodes_precede_grade_drop(run):
    episodes = truth(run, "episodes.csv")
    z, _ = _exam_z(run)
    exams = ["月考一", "期中考试", "月考二", "期末考试"]
    anx = [e for e in episodes if e["kind"] == "anxiety_episode"]
    drops = {e["school_no"]: e for e in episodes if e["kind"] == "grade_drop"}
    assert len(anx) == len(drops) >= 5
    diffs = []
    for e in anx:
        d = drops[e["school_no"]]
        assert e["start_date"] <= e["end_date"] < d["start_date"]
        exam = d["detail"].split(":")[0]
        others = [z[(e["school_no"], x)] for x in exams if x != exam and (e["school_no"], x) in z]
        diffs.append(z[(e["school_no"], exam)] - np.mean(others))
    assert np.mean(diffs) < -0.4
    psych = table(run["ex"] / "psych_scale.csv")
    inside = [int(p["total"]) for p in psych for e in anx
              if p["学号"] == e["school_no"] and e["start_date"] <= p["date"] <= e["end_date"]]
    assert inside and np.mean(inside) > 10 > np.mean([int(p["total"]) for p in psych])


def test_strong_subjects_score_higher(run):
    students = truth(run, "students.csv")
    _, rows = _exam_z(run)
    pct = defaultdict(list)
    for r in rows:
        pct[(r["学号"], r["科目"])].append(float(r["成绩"]) / float(r["满分"]))
    wins = total = 0
    for s in students:
        if not s["strong_subjects"]:
            continue
        strong = s["strong_subjects"].split(";")
        mine = {k[1]: np.mean(v) for k, v in pct.items() if k[0] == s["school_no"]}
        if not mine or any(x not in mine for x in strong):
            continue
        total += 1
        wins += np.mean([mine[x] for x in strong]) > np.mean([v for k, v in mine.items() if k not in strong])
    assert total >= 15 and wins / total > 0.8


def test_engagement_drops_show_in_events(run):
    episodes = [e for e in truth(run, "episodes.csv") if e["kind"] == "engagement_drop_3d"]
    acct = {s["school_no"]: s["lms_account"] for s in truth(run, "students.csv")}
    per_day = defaultdict(int)
    for ev in table(run["ex"] / "lms_events.csv"):
        per_day[(ev["account"], ev["ts"][:10])] += 1
    assert episodes
    ratio = []
    first = dt.date(2026, 9, 1)
    school = [d.isoformat() for d in (first + dt.timedelta(days=i) for i in range(42))
              if d.weekday() < 5 and not dt.date(2026, 10, 1) <= d <= dt.date(2026, 10, 7)]
    for e in episodes:
        a = acct[e["school_no"]]
        normal = np.mean([per_day.get((a, d), 0) for d in school])
        inside = [per_day.get((a, d), 0) for d in school if e["start_date"] <= d <= e["end_date"]]
        assert len(inside) == 3
        ratio.append(np.mean(inside) / normal)
    assert np.mean(ratio) < 0.7  # expected about 0.35; days are noisy at 20 events a week


def test_knowledge_graph_and_items(run):
    graph = yaml.safe_load(GRAPH.read_text(encoding="utf-8"))
    assert graph["version"] == 1 and graph["subject"] == "math" and graph["items"] == []
    kps = {k["id"]: k for k in graph["knowledge_points"]}
    assert len(kps) == len(graph["knowledge_points"]) >= 40
    strands = {"数与代数", "图形与几何", "统计与概率", "综合与实践"}
    for k in kps.values():
        assert k["strand"] in strands and k["ability_level"] in {"understand", "apply", "transfer"}
        assert k["grade"] in (7, 8, 9) and k["name"]["zh"] and k["name"]["en"] and k["chapter"]["zh"]
        assert all(p in kps and kps[p]["grade"] <= k["grade"] for p in k["prerequisites"])
    state = {}

    def visit(node):  # DFS cycle check
        if state.get(node) == 1:
            raise AssertionError(f"cycle through {node}")
        if state.get(node) != 2:
            state[node] = 1
            for p in kps[node]["prerequisites"]:
                visit(p)
            state[node] = 2

    for node in kps:
        visit(node)
    items = table(run["ex"] / "items.csv")
    two = sum(";" in i["knowledge_points"] for i in items)
    assert 0.08 < two / len(items) < 0.25
    assert all(all(k in kps for k in i["knowledge_points"].split(";")) for i in items)
    item_ids = {i["item_id"] for i in items}
    resp = table(run["ex"] / "responses.csv")
    assert sum(r["item_id"] not in item_ids for r in resp) == sum(r["item_id"] == "" for r in resp) == 1
    per_week = len(resp) / 120 / 6
    assert 18 < per_week < 45        # ~25 practice answers a week, plus the pre-checks (compressed into 6 weeks here)


def test_planted_prerequisite_gaps(run):
    """About one student in five has a gap: a prerequisite of something taught this term, never learnt,
    on solid ground beneath it, and revealed by the pre-check questions before its dependants are taught."""
    gaps = truth(run, "prerequisite_gaps.csv")
    assert 10 <= len(gaps) <= 40 and len({g["school_no"] for g in gaps}) == len(gaps)
    kps = {k["id"]: k for k in yaml.safe_load(GRAPH.read_text(encoding="utf-8"))["knowledge_points"]}
    final = {(m["school_no"], m["kp_id"]): (float(m["mastery_start"]), float(m["mastery_end"]))
             for m in truth(run, "kp_mastery.csv")}

    def ancestors(k):
        out, todo = set(), list(kps[k]["prerequisites"])
        while todo:
            a = todo.pop()
            if a not in out:
                out.add(a)
                todo += kps[a]["prerequisites"]
        return out

    item_kps = {i["item_id"]: i["knowledge_points"].split(";") for i in table(run["ex"] / "items.csv")}
    answers = {}
    for r in table(run["ex"] / "responses.csv"):
        for k in item_kps.get(r["item_id"], []):
            answers.setdefault((r["学号"], k), []).append(int(r["correct"] or 0))
    for g in gaps:
        start, end = final[(g["school_no"], g["kp_id"])]
        assert start < 0.16 and end < 0.3 and float(g["mastery_end"]) == end
        assert all(final[(g["school_no"], a)][0] >= 0.85 for a in ancestors(g["kp_id"]))
        deps = g["dependants"].split(";")
        assert deps and all(g["kp_id"] in ancestors(d) for d in deps)
        assert set(g["weak_dependants"].split(";") if g["weak_dependants"] else []) <= set(deps)
        assert len(answers[(g["school_no"], g["kp_id"])]) >= 4
    right = [np.mean(answers[(g["school_no"], g["kp_id"])]) for g in gaps]
    assert np.mean(right) < 0.35            # about the guessing rate


def test_mastery_grows_and_drives_correctness(run):
    mastery = truth(run, "kp_mastery.csv")
    start = np.array([float(m["mastery_start"]) for m in mastery])
    end = np.array([float(m["mastery_end"]) for m in mastery])
    assert (end >= start - 1e-9).all() and (end - start).mean() > 0.05
    final = {(m["school_no"], m["kp_id"]): float(m["mastery_end"]) for m in mastery}
    items = {i["item_id"]: i["knowledge_points"].split(";")[0] for i in table(run["ex"] / "items.csv")}
    hi, lo = [], []
    for r in table(run["ex"] / "responses.csv"):
        m = final.get((r["学号"], items.get(r["item_id"], "")))
        if m is not None and r["correct"] in ("0", "1"):
            (hi if m > 0.7 else lo if m < 0.4 else []).append(int(r["correct"]))
    assert np.mean(hi) > np.mean(lo) + 0.2


def test_other_exports_are_well_formed(run):
    att = table(run["ex"] / "attendance.csv")
    assert {a["状态"] for a in att} >= {"出勤", "迟到", "请假"}
    assert all(a["迟到分钟"].isdigit() for a in att if a["状态"] == "迟到" and a["迟到分钟"] not in ("十分钟", "半小时"))
    wb = openpyxl.load_workbook(run["ex"] / "interest_inventory.xlsx", read_only=True)
    rows = list(wb["兴趣调查"].iter_rows(values_only=True))
    assert rows[0] == ("学号", "填写日期", "兴趣_语文", "兴趣_数学", "兴趣_英语", "兴趣_物理", "兴趣_道德与法治",
                       "兴趣_历史", "兴趣_地理", "兴趣_生物", "社团偏好")
    assert all(v is None or 1 <= v <= 5 for r in rows[1:] for v in r[2:10])
    assert {r[10] for r in rows[1:]} <= {"科技", "艺术", "体育", "文学", "志愿"}
    psych = table(run["ex"] / "psych_scale.csv")
    assert all(int(p["total"]) == sum(int(p[f"q{i}"]) for i in range(1, 8)) for p in psych)
    assert {p["scale"] for p in psych} == {"GAD-7"}
    acts = table(run["ex"] / "activities.csv")
    assert {a["类型"] for a in acts} == {"社团", "志愿服务", "竞赛"}
    events = table(run["ex"] / "lms_events.csv")
    hw = [e for e in events if e["verb"] == "homework_submit"]
    assert hw and all(e["on_time"] in ("0", "1") for e in hw)
    assert all(e["on_time"] == "" for e in events if e["verb"] != "homework_submit")
    social = [e for e in events if e["verb"] in ("forum_reply", "like")]
    cls = {s["lms_account"]: s["class_code"] for s in truth(run, "students.csv")}
    assert np.mean([cls[e["account"]] == cls[e["target_account"]] for e in social if e["account"] in cls]) > 0.75
