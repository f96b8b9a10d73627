"""Scope checks that need the store: does a class, a school or a student named in a URL lie in a viewer's scope?

The published apps take whom they show from the URL: ``class`` (or ``class_id``), ``student`` and
``school``. A student is named by a display code (``S-`` and the first six hex digits of the pseudonym,
as in every report) or a longer prefix of the pseudonym when six digits are ambiguous — never a name, a
school number or a national ID. :class:`ScopeIndex` holds what the checks need (class → school,
student → classes, code → students), loaded from the store once and refreshed when the store changes;
:func:`check_query` is what ``workbench serve`` runs before a notebook starts, and
:func:`student_for_code` is how an app turns a code back into a ``student_key`` inside the viewer's scope.

>>> index = ScopeIndex(classes={"G7C1": "DEMO01", "G7C2": "DEMO01"}, schools=("DEMO01",),
...                    students={"Sabc123000000000000000000": ("G7C1",), "Sdef456000000000000000000": ("G7C2",)})
>>> teacher = Viewer("li_t", "head_teacher", classes=("G7C1",))
>>> check_query(teacher, "class=G7C1&student=S-abc123", index) is None
True
>>> check_query(teacher, "class=G7C1&class=G7C2", index)
Traceback (most recent call last):
...
workbench.privacy.viewer.ScopeError: this class is outside your scope / 该班级不在您的权限范围内
>>> parent = Viewer("p1", "parent", student="Sdef456000000000000000000")
>>> student_for_code(parent, "S-abc123", index)
Traceback (most recent call last):
...
workbench.privacy.viewer.ScopeError: this student is outside your scope / 该学生不在您的权限范围内
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from workbench.privacy.viewer import ScopeError, Viewer
from workbench.student_keys import is_student_key, key_hex

CLASS_KEYS = ("class", "class_id")
STUDENT_KEYS = ("student",)
SCHOOL_KEYS = ("school",)
CODE_RE = re.compile(r"^S-?([0-9a-f]{6,24})$")


def display_code(student_key: str) -> str:
    """``S-`` and the first six hex digits of the pseudonym's bits (reports show students so; the same code for a
    student whether the store's keys are 12 characters or an older store's 25, see :func:`workbench.student_keys.key_hex`)."""
    return "S-" + key_hex(str(student_key))[:6]


@dataclass
class ScopeIndex:
    """Class → school, student → classes (any term) and the schools of a store; codes are built on demand."""
    classes: dict[str, str] = field(default_factory=dict)
    students: dict[str, tuple[str, ...]] = field(default_factory=dict)
    schools: tuple[str, ...] = ()
    stamp: tuple[float, int] | None = None          # (mtime, size) of the store it was read from
    _codes: dict[str, list[str]] | None = field(default=None, repr=False)

    @classmethod
    def from_store(cls, path: str | os.PathLike[str]) -> ScopeIndex:
        import duckdb
        st = os.stat(path)
        con = duckdb.connect(str(path), read_only=True)
        try:
            classes = dict(con.execute("SELECT class_id, school_id FROM classes").fetchall())
            schools = tuple(r[0] for r in con.execute("SELECT school_id FROM schools ORDER BY 1").fetchall())
            rows = con.execute("SELECT student_key, list(DISTINCT class_id ORDER BY class_id) FROM enrolments "
                               "GROUP BY 1").fetchall()
        finally:
            con.close()
        return cls(classes, {k: tuple(v) for k, v in rows}, schools, (st.st_mtime, st.st_size))

    def keys_for_code(self, code: str) -> list[str]:
        """Pseudonyms whose hex digits start with the code's (``S-abc123`` or a longer prefix), or the pseudonym itself."""
        code = (code or "").strip()
        if is_student_key(code) and code in self.students:
            return [code]
        m = CODE_RE.match(code)
        if not m:
            return []
        if self._codes is None:
            self._codes = {}
            for key in self.students:
                self._codes.setdefault(display_code(key), []).append(key)
        digits = m.group(1)
        return [k for k in self._codes.get("S-" + digits[:6], []) if key_hex(k).startswith(digits)]


def viewer_schools(viewer: Viewer, index: ScopeIndex) -> tuple[str, ...]:
    """The schools a school- or district-scoped viewer covers: those listed, or every school for a district
    viewer with none listed, or the store's only school for a school viewer with none listed."""
    if viewer.schools:
        return viewer.schools
    if viewer.spec.scope == "district" or len(index.schools) == 1:
        return index.schools
    return ()


def class_in_scope(viewer: Viewer, class_id: str, index: ScopeIndex) -> bool:
    if class_id not in index.classes:
        return False
    if viewer.spec.scope in ("school", "district"):
        return index.classes[class_id] in viewer_schools(viewer, index)
    return viewer.allows_class(class_id)


def student_in_scope(viewer: Viewer, student_key: str, index: ScopeIndex) -> bool:
    classes = index.students.get(student_key, ())
    if viewer.spec.scope == "student":
        return student_key == viewer.student
    if viewer.spec.scope in ("school", "district"):
        return any(index.classes.get(c) in viewer_schools(viewer, index) for c in classes)
    return viewer.allows_student(student_key, classes)


def student_for_code(viewer: Viewer, code: str, index: ScopeIndex) -> str:
    """The one student in the viewer's scope with display code ``code``; :class:`ScopeError` when none is (the
    message never says whether the code exists), or when two are (use a longer prefix of the pseudonym)."""
    keys = [k for k in index.keys_for_code(code) if student_in_scope(viewer, k, index)]
    if not keys:
        raise ScopeError("this student is outside your scope", "该学生不在您的权限范围内")
    if len(keys) > 1:
        raise ScopeError("this code names more than one student; use a longer code",
                         "该编号对应多名学生，请使用更长的编号")
    return keys[0]


def check_query(viewer: Viewer, query: str | None, index: ScopeIndex) -> None:
    """Raise :class:`ScopeError` unless every class, student and school named in the query string (every value
    of ``class``/``class_id``, ``student``, ``school``, parsed exactly as the apps parse it) is in scope."""
    parsed = parse_qs((query or "").lstrip("?"), keep_blank_values=True)
    for key in CLASS_KEYS:
        for value in parsed.get(key, []):
            if not class_in_scope(viewer, value.strip(), index):
                raise ScopeError("this class is outside your scope", "该班级不在您的权限范围内")
    for key in STUDENT_KEYS:
        for value in parsed.get(key, []):
            student_for_code(viewer, value.strip(), index)
    for key in SCHOOL_KEYS:
        for value in parsed.get(key, []):
            if viewer.spec.scope not in ("school", "district") or value.strip() not in viewer_schools(viewer, index):
                raise ScopeError("this school is outside your scope", "该学校不在您的权限范围内")
