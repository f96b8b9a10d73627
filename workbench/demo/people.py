"""The roster of true students: classes, names, birth dates, national IDs, 学号, LMS accounts.

Students are ordered by grade, class and 学号, so every class is a contiguous index range.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .names import AREA_CODES, PHONE_PREFIXES, id_check_digit, random_given, random_surnames
from .term import GRADE_ZH, rng_for


@dataclass
class People:
    n: int
    grade: np.ndarray          # int per student (7/8/9)
    cls: np.ndarray            # class index per student
    class_code: np.ndarray     # per class: G7C1 ...
    class_name: np.ndarray     # per class: 七年级(1)班
    class_grade: np.ndarray
    class_start: np.ndarray    # first student index of each class (+ n at the end)
    teacher: np.ndarray
    room: np.ndarray
    surname: np.ndarray
    given: np.ndarray
    name: np.ndarray
    male: np.ndarray
    birth: np.ndarray          # datetime64[D]
    national_id: np.ndarray
    phone: np.ndarray
    school_no: np.ndarray
    enrol_year: np.ndarray
    account: np.ndarray
    same_name_pairs: np.ndarray  # (pairs, 2) student indexes

    @property
    def gender(self) -> np.ndarray:
        return np.where(self.male, "男", "女")


def _hex8(x: np.ndarray) -> np.ndarray:
    h = np.asarray(x, dtype=">u4").tobytes().hex().encode()
    return np.frombuffer(h, dtype="S8").astype("U8")


def _fmix32(x: np.ndarray) -> np.ndarray:
    """MurmurHash3 finaliser: a bijection on 32-bit integers (so accounts never collide)."""
    x = x.astype(np.uint64) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & 0xFFFFFFFF
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & 0xFFFFFFFF
    x ^= x >> 16
    return x.astype(np.uint32)


def accounts_for(seed: int, idx: np.ndarray) -> np.ndarray:
    salt = (int(seed) * 2654435761) & 0xFFFFFFFF
    return np.strings.add("lms_", _hex8(_fmix32(np.asarray(idx, dtype=np.uint64) ^ salt)))


def _classes(students: int, classes: int | None):
    n_cls = classes if classes else max(3, round(students / 40))
    n_cls = max(3, min(int(n_cls), students))
    per_grade = [n_cls // 3 + (1 if g < n_cls % 3 else 0) for g in range(3)]
    grade = np.repeat([7, 8, 9], per_grade)
    number = np.concatenate([np.arange(1, k + 1) for k in per_grade])
    sizes = np.full(n_cls, students // n_cls) + (np.arange(n_cls) < students % n_cls)
    return grade, number, sizes


def _national_ids(rng, seed: int, birth: np.ndarray, male: np.ndarray) -> np.ndarray:
    codes = np.array([c for c, _ in AREA_CODES])
    p = np.array([w for _, w in AREA_CODES])
    area = rng.choice(len(codes), len(birth), p=p / p.sum())
    day = birth.astype(np.int64) - birth.astype(np.int64).min()
    key = (area.astype(np.int64) * 100_000 + day) * 2 + male
    order = np.lexsort((np.arange(len(key)), key))
    sk = key[order]
    starts = np.r_[0, np.nonzero(np.diff(sk))[0] + 1]
    rank = np.arange(len(sk)) - np.repeat(starts, np.diff(np.r_[starts, len(sk)]))
    if rank.max(initial=0) >= 499:
        raise ValueError("too many students share one birth date and area for unique IDs")
    offset = ((sk * 2654435761 + int(seed)) % 499).astype(np.int64)
    slot = np.empty(len(key), dtype=np.int64)
    slot[order] = (offset + rank * 37) % 499
    seq = np.where(male, 2 * slot + 1, 2 * slot + 2)
    ymd = np.strings.replace(birth.astype("U10"), "-", "")
    first17 = np.strings.add(np.strings.add(codes[area], ymd), np.strings.zfill(seq.astype("U3"), 3))
    return np.strings.add(first17, id_check_digit(first17))


def _dedupe_names(rng, cls, surname, given, male, frozen):
    """Regenerate given names until no two students of a class share a full name (except frozen)."""
    for _ in range(50):
        name = np.strings.add(surname, given)
        order = np.lexsort((np.arange(len(name)), name, cls))
        same = (cls[order][1:] == cls[order][:-1]) & (name[order][1:] == name[order][:-1])
        dup = order[1:][same]
        dup = dup[~frozen[dup]]
        if len(dup) == 0:
            return given
        given[dup] = random_given(rng, male[dup])
    raise RuntimeError("could not make names unique within classes")


def build_people(seed: int, students: int, classes: int | None = None) -> People:
    rng = rng_for(seed, "people")
    c_grade, c_no, sizes = _classes(students, classes)
    n_cls = len(c_grade)
    class_start = np.r_[0, np.cumsum(sizes)]
    cls = np.repeat(np.arange(n_cls), sizes)
    grade = c_grade[cls]
    n = students
    male = rng.random(n) < 0.52
    # birth dates: grade g was born between 1 Sep (2020-g) and 31 Aug (2021-g); ~3% a year off
    start = np.array([np.datetime64(f"{2020 - g}-09-01") for g in (7, 8, 9)])
    birth = start[grade - 7] + rng.integers(0, 365, n)
    off = rng.random(n)
    birth = birth + np.where(off < 0.02, -365, 0) + np.where(off > 0.99, 365, 0)
    surname = random_surnames(rng, n)
    given = random_given(rng, male)
    # planted real namesakes: two different students of one class with the same name
    n_pairs = max(2, round(0.005 * n))
    pair_classes = rng.choice(n_cls, n_pairs, replace=n_pairs > n_cls)
    pairs, frozen = [], np.zeros(n, dtype=bool)
    for c in pair_classes:
        members = np.arange(class_start[c], class_start[c + 1])
        members = members[~frozen[members]]
        g = male[members]
        pool = members[g] if g.sum() >= 2 else members[~g]
        if len(pool) < 2:
            continue
        a, b = rng.choice(pool, 2, replace=False)
        surname[b] = surname[a]
        given[b] = given[a]
        if birth[a] == birth[b]:
            birth[b] = birth[b] + 37
        frozen[[a, b]] = True
        pairs.append((min(a, b), max(a, b)))
    given = _dedupe_names(rng, cls, surname, given, male, frozen)
    name = np.strings.add(surname, given)
    national_id = _national_ids(rng, seed, birth, male)
    pre = np.array(PHONE_PREFIXES)[rng.integers(0, len(PHONE_PREFIXES), n)]
    phone = np.strings.add(pre, np.strings.zfill(rng.integers(0, 10**8, n).astype("U8"), 8))
    enrol = 2026 - (grade - 7)
    width = max(2, len(str(int(c_no.max()))))
    seq = np.arange(n) - class_start[cls] + 1
    school_no = np.strings.add(np.strings.add(np.strings.add(
        enrol.astype("U4"), np.strings.zfill(grade.astype("U2"), 2)),
        np.strings.zfill(c_no[cls].astype("U6"), width)), np.strings.zfill(seq.astype("U6"), max(2, len(str(int(sizes.max()))))))
    class_code = np.strings.add(np.strings.add(np.strings.add("G", c_grade.astype("U1")), "C"),
                                c_no.astype("U6"))
    gz = np.array([GRADE_ZH[g] for g in (7, 8, 9)])[c_grade - 7]
    class_name = np.strings.add(np.strings.add(np.strings.add(gz, "("), c_no.astype("U6")), ")班")
    teacher = np.strings.add(random_surnames(rng, n_cls), "老师")
    building = np.array(["A", "B", "C"])[c_grade - 7]
    room = np.strings.add(building, (100 * ((c_no - 1) // 10 + 1) + (c_no - 1) % 10 + 1).astype("U6"))
    return People(n=n, grade=grade, cls=cls, class_code=class_code, class_name=class_name,
                  class_grade=c_grade, class_start=class_start, teacher=teacher, room=room,
                  surname=surname, given=given, name=name, male=male, birth=birth,
                  national_id=national_id, phone=phone, school_no=school_no, enrol_year=enrol,
                  account=accounts_for(seed, np.arange(n)),
                  same_name_pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2))
