"""Ground-truth tables (students, episodes, kp_mastery, prerequisite_gaps, planted_errors,
identity_cases) and the run summary."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from .exports import TableSink
from .kgraph import Curriculum
from .latent import CLUBS, DROP_MULT, Latent
from .learning import LearningResult, _closure
from .people import People
from .term import EXAMS, SCHOOL_ID, SUBJECT_EN, SUBJECTS, TERM_ID, Term

ERROR_SCHEMA = pa.schema([("file", pa.string()), ("row", pa.int64()), ("column", pa.string()),
                          ("reason", pa.string()), ("value", pa.string())])
EPISODE_SCHEMA = pa.schema([("school_no", pa.string()), ("kind", pa.string()), ("start_date", pa.date32()),
                            ("end_date", pa.date32()), ("subject", pa.string()), ("detail", pa.string())])


def responses_table(people: People, cur: Curriculum, lo: int, learn: LearningResult) -> pa.Table:
    r = learn.responses
    return pa.table({
        "学号": pa.array(people.school_no[lo + r["student"]]),
        "item_id": pa.array(cur.item_ids[r["item"]]),
        "answered_at": pa.array(r["ts"].astype("datetime64[s]")),
        "correct": pa.array(r["correct"].astype(np.int64)),
        "duration_s": pa.array(r["duration"]),
        "attempt": pa.array(r["attempt"]),
    })


def kp_mastery_table(people: People, cur: Curriculum, lo: int, hi: int, learn: LearningResult) -> pa.Table:
    grade = people.grade[lo:hi]
    s, k = np.nonzero(cur.kp_grade[None, :] <= grade[:, None])
    return pa.table({
        "school_no": pa.array(people.school_no[lo + s]),
        "kp_id": pa.array(cur.kp_ids[k]),
        "mastery_start": pa.array(np.round(learn.mastery_start[s, k], 4)),
        "mastery_end": pa.array(np.round(learn.mastery_end[s, k], 4)),
    })


def prerequisite_gaps_table(people: People, cur: Curriculum, lo: int, learn: LearningResult) -> pa.Table:
    """One row per planted gap: the student, the gap point, its true mastery, and the points taught to
    the student's grade this term that depend on it (``dependants``; ``weak_dependants`` are those whose
    true end-of-term mastery is below 0.5)."""
    idx = np.nonzero(learn.gap >= 0)[0]
    anc = _closure(cur.prereq)
    deps, weak = [], []
    for i in idx:
        g, k = people.grade[lo + i], learn.gap[i]
        d = np.nonzero(anc[:, k] & (cur.kp_grade == g) & (cur.intro_week >= 0))[0]
        deps.append(";".join(cur.kp_ids[d]))
        weak.append(";".join(cur.kp_ids[d[learn.mastery_end[i, d] < 0.5]]))
    return pa.table({
        "school_no": pa.array(people.school_no[lo + idx], pa.string()),
        "kp_id": pa.array(cur.kp_ids[learn.gap[idx]], pa.string()),
        "mastery_start": pa.array(np.round(learn.mastery_start[idx, learn.gap[idx]], 4), pa.float64()),
        "mastery_end": pa.array(np.round(learn.mastery_end[idx, learn.gap[idx]], 4), pa.float64()),
        "dependants": pa.array(deps, pa.string()),
        "weak_dependants": pa.array(weak, pa.string()),
    })


def _students(people: People, lat: Latent, case: np.ndarray, bad_birth: int, no_id: int) -> pa.Table:
    n = people.n
    strong = np.array([";".join(np.array(SUBJECTS)[row]) for row in lat.strong], dtype=object)
    flags = [[] for _ in range(n)]
    for i in people.same_name_pairs.ravel():
        flags[i].append("same_name_pair")
    for i in np.nonzero(lat.drop_sd >= 0)[0]:
        flags[i].append("engagement_drop")
    for i in np.nonzero(lat.anx_start >= 0)[0]:
        flags[i].append("anxiety_episode")
    flags[bad_birth].append("roster_bad_birth_date")
    flags[no_id].append("roster_missing_school_no")
    cols = {
        "true_id": pa.array(np.strings.add("S", np.strings.zfill(np.arange(1, n + 1).astype("U8"), 7))),
        "school_no": pa.array(people.school_no), "national_id": pa.array(people.national_id),
        "lms_account": pa.array(people.account), "name": pa.array(people.name),
        "class_code": pa.array(people.class_code[people.cls]), "class_name": pa.array(people.class_name[people.cls]),
        "grade": pa.array(people.grade), "gender": pa.array(people.gender), "birth_date": pa.array(people.birth),
        "ability": pa.array(np.round(lat.ability, 4)),
    }
    for j, en in enumerate(SUBJECT_EN):
        cols[f"ability_{en}"] = pa.array(np.round(lat.subj[:, j], 4))
    for j, en in enumerate(SUBJECT_EN):
        cols[f"interest_{en}"] = pa.array(np.round(lat.interest[:, j], 4))
    cols |= {
        "strong_subjects": pa.array(strong.astype(str)),
        "engagement_base": pa.array(np.round(lat.eng_base, 4)),
        "engagement_slope": pa.array(np.round(lat.eng_slope, 4)),
        "anxiety_trait": pa.array(np.round(lat.anxiety, 4)),
        "friend_group": pa.array(lat.friend),
        "club": pa.array(np.array([c for c, _ in CLUBS] + [""])[lat.club]),
        "identity_case": pa.array(case),
        "flags": pa.array([";".join(f) for f in flags]),
    }
    return pa.table(cols)


def _episodes(people: People, lat: Latent, term: Term) -> pa.Table:
    sd = term.school_days
    d = np.nonzero(lat.drop_sd >= 0)[0]
    a = np.nonzero(lat.anx_start >= 0)[0]
    ex = lat.anx_exam[a]
    first = np.array([x[0] for x in term.exam_days])
    last = np.array([x[-1] for x in term.exam_days])
    drop_detail = "activity x" + "/x".join(f"{m:.2f}" for m in DROP_MULT[:3]) + " on three school days"
    rows = {
        "school_no": np.r_[people.school_no[d], people.school_no[a], people.school_no[a]],
        "kind": np.r_[np.full(len(d), "engagement_drop_3d"), np.full(len(a), "anxiety_episode"),
                      np.full(len(a), "grade_drop")],
        "start_date": np.r_[sd[lat.drop_sd[d]], term.days[lat.anx_start[a]], first[ex]],
        "end_date": np.r_[sd[lat.drop_sd[d] + 2], term.days[lat.anx_end[a]], last[ex]],
        "subject": np.full(len(d) + 2 * len(a), ""),
        "detail": np.r_[np.full(len(d), drop_detail),
                        np.strings.add("precedes ", np.array(EXAMS)[ex]),
                        np.strings.add(np.array(EXAMS)[ex], ": all subjects about -1 SD")],
    }
    order = np.lexsort((rows["kind"], rows["start_date"], rows["school_no"]))
    return pa.table({k: pa.array(v[order]) for k, v in rows.items()}, schema=EPISODE_SCHEMA)


def write_ground_truth(gt_dir: Path, big: bool, people, lat, term, case, records, cases,
                       bad_birth: int, no_id: int) -> dict:
    out = {}
    errors = sorted(records, key=lambda r: (r[0], r[1]))
    err = pa.table({k: pa.array([r[i] for r in errors], ERROR_SCHEMA.field(k).type)
                    for i, k in enumerate(ERROR_SCHEMA.names)}, schema=ERROR_SCHEMA)
    for stem, table in (("students", _students(people, lat, case, bad_birth, no_id)),
                        ("episodes", _episodes(people, lat, term)),
                        ("planted_errors", err), ("identity_cases", cases)):
        sink = TableSink(gt_dir, stem, big)
        sink.append(table)
        sink.close()
        out[sink.path.name] = sink.rows
    return out


def summary(seed, people: People, term: Term, events_per_week, files, gt_files, records, case,
            lat: Latent, roster_name: str, n_classes: int, big: bool, n_chunks: int) -> dict:
    episodes = {"engagement_drop_3d": int((lat.drop_sd >= 0).sum()),
                "anxiety_episode": int((lat.anx_start >= 0).sum()),
                "grade_drop": int((lat.anx_start >= 0).sum())}
    return {
        "seed": int(seed), "students": int(people.n), "school_id": SCHOOL_ID, "term_id": TERM_ID,
        "term_start": term.start.isoformat(), "term_end": term.end.isoformat(), "weeks": term.weeks,
        "school_days": int(len(term.school_days)), "classes": n_classes,
        "students_per_grade": {str(g): int((people.grade == g).sum()) for g in (7, 8, 9)},
        "events_per_week": events_per_week, "chunks": n_chunks, "large_mode": big,
        "exams": [{"name": e, "dates": [str(d) for d in term.exam_days[i]]} for i, e in enumerate(EXAMS)],
        "psych_waves": [str(d) for d in term.psych_days],
        "files": files,
        "sheets": ({roster_name: {"学生名单": files.get(roster_name, 0), "班级": n_classes},
                    "interest_inventory.xlsx": {"兴趣调查": files.get("interest_inventory.xlsx", 0)}}
                   if not big else {}),
        "ground_truth_files": gt_files,
        "planted_bad_rows": len(records),
        "planted_by_reason": dict(sorted(Counter(r[3] for r in records).items())),
        "planted_by_file": dict(sorted(Counter(r[0] for r in records).items())),
        "identity_cases": dict(sorted(Counter(case.tolist()).items())),
        "episodes": episodes,
        "students_with_strong_subjects": int(lat.strong.any(axis=1).sum()),
    }
