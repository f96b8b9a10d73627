"""Show a report in a notebook: the class report and the student report, section by section.

The notebooks (``notebooks/class_report.ipynb``, ``notebooks/student_report.ipynb``) hold only a
``parameters`` cell and one call per section::

    report = render.ClassReport.open(store, term, class_id, spec, lang=lang, output_dir=output_dir)
    report.overview()

:meth:`ClassReport.open` prepares the term first when the store lacks the spec's profile
(:func:`workbench.runs.prepare_term`), then reads everything through one read-only connection and
closes it, so a kernel never holds the store while it draws. This is the only module of
``workbench.reports`` that uses IPython's display (not a widget library).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import HTML, Markdown, display

from workbench.knowledge.graph import KnowledgeGraph
from workbench.model.spec import ProfileSpec
from workbench.reports import charts
from workbench.recommend.service import class_recommendations_view, student_recommendations
from workbench.reports.common import OVERALL, as_spec, display_code, fmt_score, numeric
from workbench.reports.data import class_alerts, class_cards, class_growth, class_overview, class_teaching_map
from workbench.reports.student import DEFAULT_GRAPH, as_graph, student_report
from workbench.reports.text import join_list, tr
from workbench.store import find_store, open_store

CARD_STYLE = ("display:inline-block;vertical-align:top;width:15.5em;margin:0 .5em .5em 0;padding:.45em .6em;"
              "border:1px solid #d0d7de;border-radius:6px;font-size:90%;line-height:1.45")


# ------------------------------------------------------------------------------------------ helpers
def ensure_prepared(store: str | Path | None, term: str, spec: ProfileSpec | str) -> list[str]:
    """Compute the term's profile (and mastery, previous term) when the store lacks it; what was computed."""
    from workbench.runs import is_prepared, prepare_term
    path = find_store(store or None)
    if not path.exists():
        raise FileNotFoundError(f"store {path} does not exist / 数据库文件不存在")
    if is_prepared(path, term, spec):
        return []
    return prepare_term(path, term, spec).computed


def _md(text: str) -> None:
    display(Markdown(text))


def _cell(v: Any, percent: bool = False) -> Any:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "—"
    if isinstance(v, float):
        return f"{100 * v:.0f}%" if percent else f"{v:.1f}"
    return v


def _table(df: pd.DataFrame, columns: dict[str, str], percent: tuple[str, ...] = ("share", "share_lacking")) -> None:
    """A frame as an HTML table with the given columns renamed (in this order): floats to one decimal,
    shares as percentages, suppressed cells as they are."""
    out = pd.DataFrame({name: [_cell(v, c in percent) for v in df[c]] for c, name in columns.items() if c in df.columns})
    display(HTML(out.to_html(index=False, escape=True, border=0)))


def _bullets(lines: list[str]) -> None:
    if lines:
        _md("\n".join(f"- {line}" for line in lines))


def _out_dir(output_dir: str | Path | None) -> Path | None:
    if not output_dir:
        return None
    path = Path(output_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


# ------------------------------------------------------------------------------------------ class report
@dataclass
class ClassReport:
    """The class report's data, built once; each method displays one section."""
    term: str
    class_id: str
    lang: str
    overview_data: dict[str, Any]
    teaching: dict[str, Any]
    alert_rows: pd.DataFrame
    growth_data: dict[str, Any]
    card_rows: pd.DataFrame
    computed: list[str] = field(default_factory=list)
    recommend: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    @classmethod
    def open(cls, store: str | Path | None, term: str, class_id: str, spec: ProfileSpec | str = "whole_person", *,
             lang: str = "zh", output_dir: str | Path | None = "",
             graph: KnowledgeGraph | str = DEFAULT_GRAPH) -> ClassReport:
        """Prepare the term when needed and read the class's data (``store`` empty = the default store)."""
        spec, graph = as_spec(spec), as_graph(graph)
        computed = ensure_prepared(store, term, spec)
        with open_store(find_store(store or None), read_only=True) as s:
            con = s.con
            overview = class_overview(con, term, class_id, spec, lang)
            report = cls(term, class_id, lang, overview, class_teaching_map(con, term, class_id, graph, lang),
                         class_alerts(con, term, class_id, lang=lang), class_growth(con, term, class_id, spec, lang=lang),
                         class_cards(con, term, class_id, spec, lang, graph=graph, overview=overview), computed)
            keys = [k for (k,) in con.execute("SELECT DISTINCT student_key FROM enrolments WHERE term_id = $t AND "
                                              "class_id = $c ORDER BY 1", {"t": term, "c": class_id}).fetchall()]
            codes = {k: display_code(k) for k in keys}
            report.recommend = class_recommendations_view(con, term, class_id, keys, codes, lang=lang)
        out = _out_dir(output_dir)
        if out is not None:
            path = out / f"class_report_{term}_{class_id}.csv"
            report.card_rows.to_csv(path, encoding="utf-8-sig")
            report.files.append(path)
        return report

    def title(self) -> None:
        v, lang = self.overview_data, self.lang
        _md(f"# {tr('class_title', lang, name=v['class']['name'])}\n\n"
            + tr("subtitle", lang, term=self.term, spec=v["spec"]["name"], version=v["spec"]["version"],
                 students=v["class"]["students"]))

    def overview(self) -> None:
        v, lang = self.overview_data, self.lang
        _md(f"## {tr('sec_overview', lang)}\n\n### {tr('sec_distribution', lang)}")
        display(charts.composite_histogram(v["students"][OVERALL], v["grade_composite"], lang))
        _md(f"### {tr('sec_dimensions', lang)}")
        _table(v["dimensions"], {"label": tr("col_dimension", lang), "class_mean": tr("col_class_mean", lang),
                                 "grade_mean": tr("col_grade_mean", lang), "difference": tr("col_difference", lang),
                                 "class_n": tr("col_students", lang)})
        _md(f"### {tr('sec_segments', lang)}")
        _table(v["segments"], {"segment": tr("col_segment", lang), "description": tr("col_description", lang),
                               "students": tr("col_students", lang), "share": tr("col_share", lang)})
        if len(v["scatter_dims"]) == 2:
            x, y = v["scatter_dims"]
            display(charts.segment_scatter(v["students"], x, y, v["dimension_labels"][x], v["dimension_labels"][y], lang))
        if len(v["tags"]):
            _md(f"### {tr('sec_tags', lang)}")
            _table(v["tags"], {"label": tr("col_tag", lang), "students": tr("col_students", lang)})
        _md(f"**{tr('sec_notes', lang)}**")
        _bullets(v["notes"])

    def teaching_map(self) -> None:
        t, lang = self.teaching, self.lang
        _md(f"## {tr('sec_teaching', lang)}")
        if t["empty"]:
            _md(t["message"])
            return
        _md(f"### {tr('sec_lacking', lang)}")
        if len(t["lacking"]):
            _table(t["lacking"], {"name": tr("col_kp", lang), "chapter": tr("col_chapter", lang),
                                  "students_with_evidence": tr("col_with_evidence", lang),
                                  "lacking": tr("col_lacking", lang), "share_lacking": tr("col_share_lacking", lang)})
        else:
            _md(t["message"])
        if t["grid"] is not None and t["grid"].size:
            display(charts.teaching_heatmap(t["grid"], lang))
        if len(t["chapters"]):
            display(charts.chapter_bars(t["chapters"], "mean", lang=lang))

    def alerts(self) -> None:
        """Shown only when the class has alerts."""
        if self.alert_rows.empty:
            return
        lang = self.lang
        _md(f"## {tr('sec_alerts', lang)}")
        _table(self.alert_rows, {"code": tr("col_code", lang), "level_label": tr("col_level", lang),
                                 "fired_on": tr("col_created", lang), "text": tr("col_rule", lang),
                                 "status": tr("col_status", lang)})

    def growth(self) -> None:
        """Shown only when a previous term has a profile of the same spec."""
        g, lang = self.growth_data, self.lang
        if not g["compared"]:
            return
        _md(f"## {tr('sec_growth', lang)}")
        if g["table"] is None:
            _md(g["message"])
            return
        _md(tr("growth_then_now", lang, previous=g["previous_term"], students=g["students"]))
        _table(g["table"], {"label": tr("col_dimension", lang), "then": tr("col_then", lang),
                            "now": tr("col_now", lang), "change": tr("col_change", lang),
                            "students": tr("col_students", lang)})
        display(charts.growth_bars(g["table"], lang))
        _md(f"*{g['note']}*")

    def partners(self) -> None:
        """Learning partners, the resource each student starts with, and the leading subject combinations."""
        r, lang = self.recommend, self.lang
        p = r["partners"]
        _md(f"## {tr('sec_partners', lang)}\n\n{p['message']}")
        if len(p["table"]):
            _table(p["table"], {"group": tr("col_group", lang), "members": tr("col_members", lang),
                                "help": tr("col_help", lang), "score": tr("col_complementarity", lang)})
            _md(f"*{tr('partners_note', lang)}*")
        if len(r["resources"]):
            _md(f"## {tr('sec_class_resources', lang)}")
            _table(r["resources"], {"display": tr("col_code", lang), "kp_name": tr("col_kp", lang),
                                    "level": tr("col_ability_level", lang), "title": tr("col_resource", lang)})
        if len(r["subjects"]):
            _md(f"## {tr('sec_class_subjects', lang)}")
            _table(r["subjects"], {"display": tr("col_code", lang), "top1": "1", "top2": "2", "top3": "3",
                                   "together": tr("col_together", lang)})

    def cards(self) -> None:
        lang = self.lang
        _md(f"## {tr('sec_cards', lang)}")
        parts = []
        for code, r in self.card_rows.iterrows():
            lines = [f"<b>{html.escape(str(code))}</b> · {tr('col_composite', lang)} <b>{fmt_score(r['composite'])}</b>",
                     html.escape(str(r["segment"]))]
            for key, col in (("col_strengths", "strengths"), ("col_work_on", "work_on"), ("col_tags", "tags")):
                if r[col]:
                    lines.append(f"{tr(key, lang)}：{html.escape(str(r[col]))}" if lang == "zh"
                                 else f"{tr(key, lang)}: {html.escape(str(r[col]))}")
            parts.append(f'<div style="{CARD_STYLE}">' + "<br>".join(lines) + "</div>")
        display(HTML("<div>" + "".join(parts) + "</div>"))

    def show(self) -> None:
        """Every section in order."""
        for section in (self.title, self.overview, self.teaching_map, self.alerts, self.growth, self.partners, self.cards):
            section()


def class_report(term: str, class_id: str, spec: ProfileSpec | str = "whole_person", store: str | Path | None = "",
                 output_dir: str | Path | None = "", lang: str = "zh") -> ClassReport:
    """Open and show the whole class report (the notebook's parameters, in its order)."""
    report = ClassReport.open(store, term, class_id, spec, lang=lang, output_dir=output_dir)
    report.show()
    return report


# ------------------------------------------------------------------------------------------ student report
@dataclass
class StudentReport:
    """The student report's data (for the student and the parents); each method displays one section."""
    lang: str
    data: dict[str, Any]
    computed: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @classmethod
    def open(cls, store: str | Path | None, term: str, student_key: str, spec: ProfileSpec | str = "whole_person", *,
             lang: str = "zh", output_dir: str | Path | None = "",
             graph: KnowledgeGraph | str = DEFAULT_GRAPH) -> StudentReport:
        if not student_key:
            raise ValueError("student_key is empty / " + tr("no_student_key", "zh"))
        spec = as_spec(spec)
        computed = ensure_prepared(store, term, spec)
        with open_store(find_store(store or None), read_only=True) as s:
            report = cls(lang, student_report(s.con, term, student_key, spec, lang, graph=graph), computed)
            report.data["recommend"] = student_recommendations(s.con, term, student_key, lang=lang)
        out = _out_dir(output_dir)
        if out is not None:
            path = out / f"student_report_{term}_{report.data['student']['code']}.csv"
            report.data["dimensions"].to_csv(path, encoding="utf-8-sig")
            report.files.append(path)
        return report

    def title(self) -> None:
        d, lang = self.data, self.lang
        dims = d["dimensions"]
        overall = dims.loc[OVERALL] if OVERALL in dims.index else None
        lines = [f"# {tr('student_title', lang, code=d['student']['code'])}",
                 tr("student_subtitle", lang, class_name=d["student"]["class_name"], term=d["term"],
                    spec=d["spec"]["name"], version=d["spec"]["version"])]
        if overall is not None:
            lines.append(tr("composite_line", lang, score=fmt_score(overall["score"]),
                            class_mean=fmt_score(overall["class_mean"]), grade_mean=fmt_score(overall["grade_mean"])))
        _md("\n\n".join(lines))

    def radar(self) -> None:
        d, lang = self.data, self.lang
        dims = d["dimensions"].drop(index=OVERALL, errors="ignore")
        _md(f"## {tr('sec_radar', lang)}")
        labels = list(dims["label"])
        display(charts.radar(dict(zip(labels, dims["score"])), dict(zip(labels, dims["class_mean"].map(numeric))),
                             dict(zip(labels, dims["grade_mean"].map(numeric))), lang))
        _table(d["dimensions"], {"label": tr("col_dimension", lang), "score": tr("col_score", lang),
                                 "class_mean": tr("col_class_mean", lang), "grade_mean": tr("col_grade_mean", lang)})

    def strengths(self) -> None:
        """Strengths first, then what to work on (dimensions, then where knowledge gaps start)."""
        d, lang = self.data, self.lang
        _md(f"## {tr('sec_strengths', lang)}")
        _bullets(d["strengths"])
        _md(f"## {tr('sec_work_on', lang)}")
        gaps = d["knowledge"].get("root_gap_points") or []
        _bullets((d["work_on"] or [tr("nothing_below", lang)])
                 + ([tr("gaps_short", lang, points=join_list(gaps, lang))] if gaps else []))

    def trends(self) -> None:
        d, lang = self.data, self.lang
        _md(f"## {tr('sec_trends', lang)}")
        if d["trends"] is None or d["trends"].empty:
            _md(tr("no_trends", lang))
            return
        display(charts.trend_lines(d["trends"], lang))
        _md(f"*{tr('trend_note', lang, n=10)}*")

    def mastery(self) -> None:
        k, lang = self.data["knowledge"], self.lang
        _md(f"## {tr('sec_mastery', lang)}")
        if k["chapters"] is None or k["chapters"].empty:
            _md(k["message"])
            return
        display(charts.chapter_bars(k["chapters"], "student", "class_mean", lang, value_label=tr("this_student", lang),
                                    reference_label=tr("class_avg", lang)))
        _bullets(k["root_gaps"] or [tr("no_gaps", lang)])

    def recommendations(self) -> None:
        """Resources for the root gaps, the wrong-question set and subject-choice advice (with its uncertainty)."""
        rec, lang = self.data["recommend"], self.lang
        res, wrong, adv = rec["resources"], rec["wrong_questions"], rec["subjects"]
        _md(f"## {tr('sec_resources', lang)}\n\n{res['message']}")
        if len(res["table"]):
            _table(res["table"], {"kp_name": tr("col_kp", lang), "level": tr("col_ability_level", lang),
                                  "title": tr("col_resource", lang), "reason": tr("col_reason", lang)})
        _md(f"## {tr('sec_wrong', lang)}")
        if wrong["wrong_total"]:
            _md(tr("wrong_summary", lang, total=wrong["wrong_total"], open=wrong["wrong_open"]))
            _table(wrong["table"], {"item_id": tr("col_item", lang), "kp_names": tr("col_kp", lang),
                                    "level": tr("col_ability_level", lang), "wrong": tr("col_wrong", lang),
                                    "status": tr("col_status", lang)})
        else:
            _md(tr("no_wrong", lang))
        _md(f"## {tr('sec_subjects', lang)}")
        if not adv.get("ok"):
            _md(adv.get("message") or "")
            return
        _md(adv["summary"])
        display(charts.interval_chart([{"label": r["name"], "score": r["score"], "low": r["low"], "high": r["high"]}
                                       for r in adv["subjects"]], lang,
                                      hollow=[r["evidence"] != "direct" for r in adv["subjects"]]))
        _bullets([f"{g['text']}：{'、'.join(g['combinations'])}" if lang == "zh" else f"{g['text']}: {', '.join(g['combinations'])}"
                  for g in adv["groups"][:3]])

    def profile(self) -> None:
        d, lang = self.data, self.lang
        _md(f"## {tr('sec_profile', lang)}")
        _bullets([tr("segment_line", lang, text=d["segment"]),
                  tr("tags_line", lang, text=join_list(d["tags"], lang) if d["tags"] else tr("no_tags", lang)),
                  tr("explanation", lang, text=d["explanation"])])

    def growth(self) -> None:
        """Shown only when a previous term has a profile of the same spec."""
        g, lang = self.data["growth"], self.lang
        if not g["compared"]:
            return
        _md(f"## {tr('sec_growth', lang)}")
        if g["table"] is None:
            _md(g["message"])
            return
        _md(tr("growth_student", lang, previous=g["previous_term"]))
        _bullets(g["sentences"])
        _table(g["table"], {"label": tr("col_dimension", lang), "then": tr("col_then", lang), "now": tr("col_now", lang),
                            "change": tr("col_change", lang)})
        display(charts.growth_bars(g["table"], lang))
        _md(f"*{g['note']}*")

    def notes(self) -> None:
        _md(f"**{tr('sec_notes', self.lang)}**")
        _bullets(self.data["notes"])

    def show(self) -> None:
        for section in (self.title, self.radar, self.strengths, self.trends, self.mastery, self.recommendations,
                        self.profile, self.growth, self.notes):
            section()


def student_report_view(term: str, student_key: str, spec: ProfileSpec | str = "whole_person",
                        store: str | Path | None = "", output_dir: str | Path | None = "",
                        lang: str = "zh") -> StudentReport:
    """Open and show the whole student report (the notebook's parameters, in its order)."""
    report = StudentReport.open(store, term, student_key, spec, lang=lang, output_dir=output_dir)
    report.show()
    return report
