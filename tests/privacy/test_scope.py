"""Scope checks on the demo school: the classes, students (by display code) and schools a URL may name, per role."""
from __future__ import annotations

import pytest

from workbench.privacy import ScopeError, Viewer
from workbench.privacy.scope import ScopeIndex, check_query, class_in_scope, display_code, student_for_code
from workbench.student_keys import key_hex


@pytest.fixture(scope="module")
def index(demo_school) -> ScopeIndex:
    return ScopeIndex.from_store(demo_school["store"])


def _in(index: ScopeIndex, class_id: str) -> list[str]:
    return sorted(k for k, cs in index.students.items() if class_id in cs)


def test_index_reads_the_demo_school(index):
    assert index.schools == ("DEMO01",) and len(index.classes) == 12 and len(index.students) == 478
    assert all(len(index.keys_for_code(display_code(k))) >= 1 for k in index.students)


def test_teacher_parent_and_admin_scopes(index):
    g7c1, g7c2, g9c3 = _in(index, "G7C1"), _in(index, "G7C2"), _in(index, "G9C3")
    head = Viewer("li_t", "head_teacher", classes=("G7C1",))
    subject = Viewer("wang_t", "subject_teacher", classes=("G7C1", "G7C2"))
    parent = Viewer("mum", "parent", student=g7c1[0])
    admin = Viewer("admin", "school_admin", schools=("DEMO01",))
    other_admin = Viewer("admin2", "school_admin", schools=("OTHER",))
    district = Viewer("district", "district_admin")

    check_query(head, f"class=G7C1&student={display_code(g7c1[3])}&lang=en", index)
    check_query(subject, f"class=G7C2&student={display_code(g7c2[0])}", index)
    check_query(parent, f"student={display_code(g7c1[0])}", index)
    check_query(parent, f"student={g7c1[0]}", index)                     # the whole pseudonym is a code too
    check_query(admin, "class=G9C3&school=DEMO01", index)
    check_query(district, f"school=DEMO01&student={display_code(g9c3[0])}", index)
    refused = [
        (head, "class=G7C2"), (head, "class=G7C1&class=G7C2"), (head, "class_id=G7C2"), (head, "cl%61ss=G7C2"),
        (head, f"student={display_code(g7c2[0])}"), (head, "school=DEMO01"), (head, "class=G7C9"),
        (subject, "class=G9C3"), (parent, f"student={display_code(g7c1[1])}"), (parent, "class=G7C1"),
        (parent, "student=2026070101"), (parent, "student=郭若欣"), (admin, "class=NOPE"),
        (other_admin, "class=G7C1"), (other_admin, "school=DEMO01"), (admin, "school=OTHER"),
    ]
    for viewer, query in refused:
        with pytest.raises(ScopeError):
            check_query(viewer, query, index)
        assert not (query.startswith("class=") and class_in_scope(viewer, query.split("=")[1], index))


def test_student_for_code_stays_inside_the_scope(index):
    g7c1, g9c3 = _in(index, "G7C1"), _in(index, "G9C3")
    head = Viewer("li_t", "head_teacher", classes=("G7C1",))
    assert student_for_code(head, display_code(g7c1[2]), index) == g7c1[2]
    assert student_for_code(head, "S-" + key_hex(g7c1[2])[:12], index) == g7c1[2]       # a longer prefix works
    with pytest.raises(ScopeError, match="outside your scope"):
        student_for_code(head, display_code(g9c3[0]), index)
    with pytest.raises(ScopeError, match="outside your scope"):
        student_for_code(head, "S-zzzzzz", index)
    # two students sharing a display code: ambiguous for a viewer who sees both, never resolved silently
    twin = "S" + key_hex(g9c3[0])[:6] + "f" * 18   # an older store's form of key
    index2 = ScopeIndex(dict(index.classes), {**index.students, twin: ("G9C3",)}, index.schools)
    psych = Viewer("xin", "psychology_teacher")
    with pytest.raises(ScopeError, match="more than one student"):
        student_for_code(psych, display_code(g9c3[0]), index2)
    assert student_for_code(psych, twin[:14], index2) == twin
