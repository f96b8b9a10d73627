"""Roles and what each may see: which apps, whose students, names or codes, psychology detail.

PIPL habits: minimisation (each role sees what its work needs), role-based access, and names only
where the role already knows the student. A *display name* is the masked form of a name (郭若欣 →
郭*欣), made inside the vault; raw names, national IDs and phone numbers never leave it.

>>> ROLES["parent"].apps, ROLES["parent"].names
(('parent_report',), True)
>>> ROLES["subject_teacher"].psychology, ROLES["psychology_teacher"].psychology
(False, True)
>>> mask_name("郭若欣"), mask_name("欧阳娜娜"), mask_name("李四")
('郭*欣', '欧**娜', '李*')
"""
from __future__ import annotations

from dataclasses import dataclass

# the scope a role's users are given in the users file
SCOPE_KINDS = ("classes", "student", "school", "district")


@dataclass(frozen=True)
class Role:
    id: str
    zh: str
    en: str
    apps: tuple[str, ...]          # voila_apps/<app>.ipynb the role may open
    scope: str                     # classes | student | school | district
    names: bool                    # display names (masked) instead of codes
    psychology: bool               # emotion/psychology detail (with the student's consent)

    def label(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


ROLES: dict[str, Role] = {r.id: r for r in [
    Role("subject_teacher", "任课教师", "subject teacher", ("class_dashboard", "student_profile", "alert_inbox"),
         "classes", True, False),
    Role("head_teacher", "班主任", "head teacher", ("class_dashboard", "student_profile", "alert_inbox"), "classes",
         True, False),
    Role("psychology_teacher", "心理教师", "psychology teacher", ("psychology_dashboard", "student_profile",
                                                                "alert_inbox"), "school", True, True),
    Role("counsellor", "心理辅导员", "counsellor", ("psychology_dashboard", "student_profile", "alert_inbox"), "school",
         True, True),
    Role("parent", "家长", "parent", ("parent_report",), "student", True, False),
    Role("school_admin", "学校管理员", "school administrator", ("school_overview",), "school", False, False),
    Role("district_admin", "区域管理员", "district administrator", ("district_overview", "school_overview"), "district",
         False, False),
    Role("researcher", "教研员", "teaching researcher", ("model_builder", "school_overview", "district_overview"),
         "district", False, False),
]}


def mask_name(name: str) -> str:
    """Surname and last character kept, the rest masked: 郭若欣 → 郭*欣; two characters: 李四 → 李*.
    Compound surnames are not guessed: 欧阳娜娜 → 欧**娜 (the first character is kept)."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
