"""The one door of the published apps to the data: every view checks the viewer's role and scope first.

:class:`ScopedViews` wraps the report builders for a :class:`~workbench.privacy.Viewer`. Classes and students
outside the viewer's scope raise :class:`~workbench.privacy.ScopeError` (so a widget callback cannot reach
them either); the emotion dimension and the tags built on it are left out of every view but the
psychology teacher's, and there only for students whose family consented; display names (masked, 郭*欣)
replace codes where the role allows; each view of a student's identity or psychology data is audited.
Students are referred to by display code (``S-`` + six characters of the pseudonym), never by key.

>>> from workbench.privacy import Viewer
>>> views = ScopedViews(None, Viewer("li_t", "head_teacher", classes=("G7C1",)), "2026-2027-1")
>>> views.hide
frozenset({'emotion'})
"""
from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from workbench.model.spec import ProfileSpec
from workbench.privacy import ScopeError, Viewer, mask_name
from workbench.privacy.audit import AuditLog
from workbench.recommend.service import class_recommendations_view, student_recommendations
from workbench.reports.common import MIN_CELL, OVERALL, as_spec, class_info, display_code, student_scores
from workbench.reports.data import class_alerts, class_overview, class_teaching_map
from workbench.reports.redact import psychology_dimensions
from workbench.reports.student import student_report

PSYCHOLOGY_INDICATORS = ("psy_gad7_latest", "psy_gad7_max", "emo_mood_mean", "emo_negative_share",
                         "emo_negative_streak", "emo_mood_variability")


class ScopedViews:
    """The views an app may show to ``viewer`` for ``term`` (profile model ``spec``)."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None, viewer: Viewer, term: str,
                 spec: ProfileSpec | str = "whole_person", *, lang: str = "zh", audit: AuditLog | None = None,
                 app: str = ""):
        self.con, self.viewer, self.term, self.lang, self.app = con, viewer, term, lang, app
        self.spec = as_spec(spec)
        self.audit = audit
        self._shown: dict[tuple[str, str], dict[str, str]] = {}   # (class, lang) → names shown (class_dashboard)
        self.hide = frozenset() if viewer.spec.psychology else psychology_dimensions(self.spec)
        if app:
            viewer.require_app(app)

    # ------------------------------------------------------------------------------------ who is in scope
    def classes(self) -> list[dict[str, Any]]:
        """The term's classes the viewer may open (name, grade, students)."""
        rows = self.con.execute("""SELECT DISTINCT e.class_id FROM enrolments e WHERE e.term_id = $t ORDER BY 1""",
                                {"t": self.term}).fetchall()
        return [class_info(self.con, self.term, c) for (c,) in rows if self.viewer.allows_class(c)]

    def _class_keys(self, class_id: str) -> list[str]:
        return [k for (k,) in self.con.execute("SELECT DISTINCT student_key FROM enrolments WHERE term_id = $t AND "
                                               "class_id = $c ORDER BY 1", {"t": self.term, "c": class_id}).fetchall()]

    def _classes_of(self, key: str) -> list[str]:
        return [c for (c,) in self.con.execute("SELECT DISTINCT class_id FROM enrolments WHERE term_id = $t AND "
                                               "student_key = $k", {"t": self.term, "k": key}).fetchall()]

    def _resolve(self, ref: str) -> str:
        """The student_key behind a display code, among the students the viewer may see."""
        v = self.viewer
        if v.spec.scope == "student":
            if ref not in (None, "", display_code(v.student)):
                raise ScopeError("this student is outside your scope", "该学生不在您的权限范围内")
            return v.student
        keys = [k for c in ([x["class_id"] for x in self.classes()]) for k in self._class_keys(c)] \
            if v.spec.scope == "classes" else \
            [k for (k,) in self.con.execute("SELECT DISTINCT student_key FROM enrolments WHERE term_id = $t",
                                            {"t": self.term}).fetchall()]
        found = [k for k in keys if display_code(k) == ref]
        if len(found) != 1:
            raise ScopeError("this student is outside your scope", "该学生不在您的权限范围内")
        v.require_student(found[0], self._classes_of(found[0]))
        return found[0]

    def names(self, keys: list[str], *, what: str) -> dict[str, str]:
        """key → what the viewer sees: a masked display name where the role allows it (audited), else the code."""
        if not self.viewer.spec.names or not keys:
            return {k: display_code(k) for k in keys}
        rows = dict(self.con.execute("SELECT student_key, name FROM identity_vault WHERE list_contains($k, student_key)",
                                     {"k": keys}).fetchall())
        self._audit("view_identity", what, {"students": len(keys)})
        return {k: (mask_name(rows[k]) if rows.get(k) else display_code(k)) for k in keys}

    def consented(self, keys: list[str]) -> set[str]:
        """Students whose family's latest answer for psychology data is yes (no answer = no)."""
        rows = self.con.execute("""SELECT student_key, arg_max(granted, recorded_at) FROM consents
                                   WHERE purpose = 'psychology' AND list_contains($k, student_key) GROUP BY 1""",
                                {"k": keys}).fetchall()
        return {k for k, g in rows if g}

    def _audit(self, action: str, target: str, detail: dict | None = None) -> None:
        if self.audit is not None:
            self.audit.record(self.viewer.login, self.viewer.role, action, target, {"app": self.app, **(detail or {})})

    def roster(self, class_id: str) -> pd.DataFrame:
        """The class's students as the viewer sees them: index display code, column ``display``."""
        self.viewer.require_class(class_id)
        keys = self._class_keys(class_id)
        shown = self.names(keys, what=f"class {class_id}")
        return pd.DataFrame({"display": [shown[k] for k in keys]}, index=pd.Index([display_code(k) for k in keys],
                                                                                   name="code")).sort_index()

    # ------------------------------------------------------------------------------------ views
    def class_dashboard(self, class_id: str, *, more: bool = True) -> dict[str, Any]:
        """Class overview (without emotion detail), its teaching map and alerts, learning partners and the
        resource each student should start with, students by display name. ``more=False`` leaves out the
        teaching map and the recommendations (the slower half), which :meth:`class_dashboard_more` gives: an app
        shows the first half while it computes the second."""
        self.viewer.require_class(class_id)
        view = class_overview(self.con, self.term, class_id, self.spec, self.lang, hide=self.hide)
        keys = list(view["students"]["student_key"])
        shown = self.names(keys, what=f"class {class_id}")
        view["students"].insert(0, "display", [shown[k] for k in keys])
        view["students"] = view["students"].drop(columns=["student_key"])
        alerts = class_alerts(self.con, self.term, class_id, self.viewer.role, self.lang)
        alerts.insert(1, "display", [shown.get(k, c) for k, c in zip(alerts["student_key"], alerts["code"])])
        view["alerts"] = alerts.drop(columns=["student_key"])
        self._shown[(class_id, self.lang)] = shown
        if more:
            view |= self.class_dashboard_more(class_id)
        return view

    def class_dashboard_more(self, class_id: str) -> dict[str, Any]:
        """The second half of :meth:`class_dashboard`: ``teaching_map`` and the recommendations."""
        self.viewer.require_class(class_id)
        shown = self._shown.get((class_id, self.lang))
        if shown is None:
            self.class_dashboard(class_id, more=False)
            shown = self._shown[(class_id, self.lang)]
        view = {"teaching_map": class_teaching_map(self.con, self.term, class_id, lang=self.lang)}
        members = self._class_keys(class_id)
        extra = [k for k in members if k not in shown]          # enrolled but without a profile row
        names = shown | (self.names(extra, what=f"class {class_id}") if extra else {})
        view |= class_recommendations_view(self.con, self.term, class_id, members, names, lang=self.lang)
        return view

    def student_profile(self, ref: str | None = None) -> dict[str, Any]:
        """One student's profile for a teacher (or a parent: their child): radar data, trends, mastery, tags and
        explanation, recommendations (resources, wrong questions, subject-choice advice); emotion detail only for
        the psychology role and only with consent."""
        key = self._resolve(ref)
        hide = self.hide
        if not hide and key not in self.consented([key]):
            hide = psychology_dimensions(self.spec)
        rep = student_report(self.con, self.term, key, self.spec, self.lang, hide=hide)
        rep["student"]["display"] = self.names([key], what=display_code(key))[key]
        rep["recommend"] = student_recommendations(self.con, self.term, key, lang=self.lang)
        rep["psychology_shown"] = not hide
        rep["psychology_withheld"] = bool(hide) and self.viewer.spec.psychology
        self._audit("view_student", display_code(key))
        if not hide:
            self._audit("view_psychology", display_code(key))
        return rep

    def parent_report(self) -> dict[str, Any]:
        """The parent's own child: strengths first, plain words, no ranking against classmates."""
        if self.viewer.spec.scope != "student":
            raise ScopeError("the parent report is for parents", "家长报告仅供家长查看")
        rep = self.student_profile(None)
        rep.pop("segment", None)              # a segment compares with classmates: not for parents
        return rep

    def psychology(self, class_id: str | None = None) -> dict[str, Any]:
        """Emotion and psychology indicators of the students in scope whose families consented (others are
        counted, not shown); every student shown is audited."""
        if not self.viewer.spec.psychology:
            raise ScopeError("psychology data is for the psychology teacher", "心理数据仅限心理教师查看")
        classes = [class_id] if class_id else [c["class_id"] for c in self.classes()]
        for c in classes:
            self.viewer.require_class(c)
        keys = sorted({k for c in classes for k in self._class_keys(c)})
        ok = self.consented(keys)
        shown = [k for k in keys if k in ok]
        vals = self.con.execute("""SELECT student_key, indicator_id, value FROM indicator_values
                                   WHERE term_id = $t AND week IS NULL AND list_contains($i, indicator_id)
                                     AND list_contains($k, student_key)""",
                                {"t": self.term, "i": list(PSYCHOLOGY_INDICATORS), "k": shown}).df() \
            if shown else pd.DataFrame(columns=["student_key", "indicator_id", "value"])
        table = vals.pivot_table(index="student_key", columns="indicator_id", values="value", aggfunc="first") \
            .reindex(index=shown, columns=list(PSYCHOLOGY_INDICATORS))
        scores = student_scores(self.con, self.term, self.spec, students=shown) if shown else pd.DataFrame()
        if "emotion" in scores.columns:
            table.insert(0, "emotion", scores["emotion"].reindex(shown).round(1))
        names = self.names(shown, what=f"psychology {class_id or 'all'}")
        table.insert(0, "display", [names[k] for k in shown])
        for k in shown:
            self._audit("view_psychology", display_code(k))
        order = table.sort_values("psy_gad7_max", ascending=False, na_position="last") if len(table) else table
        return {"students": order.reset_index(drop=True), "withheld": len(keys) - len(shown), "total": len(keys),
                "classes": classes}

    def composite_of(self, class_id: str) -> pd.Series:
        self.viewer.require_class(class_id)
        s = student_scores(self.con, self.term, self.spec, class_id=class_id)
        return s[OVERALL] if len(s) >= MIN_CELL else s[OVERALL].iloc[0:0]

    # ------------------------------------------------------------------------------------ alerts
    def alert_inbox(self, status: str | None = None, journal: Any = None) -> pd.DataFrame:
        """The alerts routed to the viewer's role for the students in scope, newest first, with ``display``
        (masked names where the role allows); emotion values only for psychology roles with consent (audited)."""
        from workbench.alerts.inbox import alert_rows
        v = self.viewer
        if v.role not in ("subject_teacher", "head_teacher", "psychology_teacher", "counsellor", "parent"):
            raise ScopeError("alerts are routed to teachers, counsellors and parents", "预警仅推送给教师、辅导员和家长")
        classes = [c["class_id"] for c in self.classes()] if v.spec.scope == "classes" else None
        keys = [v.student] if v.spec.scope == "student" else None
        rows = alert_rows(self.con, self.term, v.role, class_ids=classes, student_keys=keys, lang=self.lang,
                          status=None, journal=journal)
        consented = self.consented(sorted(set(rows["student_key"]))) if v.spec.psychology and len(rows) else set()
        if consented:
            rows = alert_rows(self.con, self.term, v.role, class_ids=classes, student_keys=keys, lang=self.lang,
                              consented=consented, journal=journal)
            for k in sorted(set(rows.loc[rows["student_key"].isin(consented), "student_key"])):
                self._audit("view_psychology", display_code(k), {"what": "alerts"})
        if status is not None:
            rows = rows[rows["status"] == status].reset_index(drop=True)
        shown = self.names(sorted(set(rows["student_key"])), what="alert inbox")
        rows.insert(1, "display", [shown[k] for k in rows["student_key"]])
        return rows
