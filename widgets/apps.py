"""The published apps, one function per role view: each reads the URL parameters and the verified viewer,
and shows only what :class:`workbench.reports.scoped.ScopedViews` returns for that viewer.

Every app starts the same way: the viewer comes from the server-signed token
(:func:`workbench.privacy.current_viewer`), the URL parameters are checked against what the viewer may
see, and anything refused becomes a refusal card (never data, never a traceback). Selects inside an app
offer only what is in scope, and their callbacks go through the same scoped views again.
"""
from __future__ import annotations

import html
from collections.abc import Callable

import ipyvuetify as v
import ipywidgets as w
import pandas as pd

from widgets.charts import ChartView
from workbench.apps import AppParamError, query_values
from workbench.labels import ui
from workbench.privacy import ScopeError, Viewer, current_viewer
from workbench.privacy.audit import AuditLog
from workbench.reports import charts
from workbench.reports.common import OVERALL, numeric
from workbench.reports.overview import overview
from workbench.reports.scoped import ScopedViews
from workbench.reports.text import join_list, tr
from workbench.store import find_store, open_store


def table_html(df: pd.DataFrame, columns: dict[str, str] | None = None, *, index: bool = False, cls: str = "") -> str:
    """An escaped HTML table (``columns``: which columns, with their headings)."""
    if columns:
        df = df[[c for c in columns if c in df.columns]].rename(columns=columns)
    if index:
        df = df.reset_index()
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(str(c))}</th>" for c in df.columns)
    rows = "".join("<tr>" + "".join(f"<td style='padding:2px 8px'>{html.escape(_cell(x))}</td>" for x in r) + "</tr>"
                   for r in df.itertuples(index=False))
    return f"<table class='wb-table {cls}' style='font-size:13px;border-collapse:collapse'><tr>{head}</tr>{rows}</table>"


def _cell(x) -> str:
    if isinstance(x, float):
        return "—" if pd.isna(x) else f"{x:.1f}" if not float(x).is_integer() else f"{x:.0f}"
    if isinstance(x, list | tuple):
        return "、".join(map(str, x))
    return "" if x is None else str(x)


def _card(title: str, *children, test_id: str = "") -> v.Card:
    return v.Card(variant="outlined", class_="mb-3", attributes={"data-test": test_id} if test_id else {},
                  children=[v.CardTitle(class_="text-subtitle-1", children=[title]), v.CardText(children=list(children))])


def _html(text: str) -> w.HTML:
    return w.HTML(value=text)


def warm_up() -> None:
    """Pay the first-call costs (fonts, chart machinery, the store's catalog) before a request arrives: a
    preheated kernel runs this while it waits, so the viewer does not."""
    import numpy as np
    charts.composite_histogram(np.linspace(20, 80, 30))
    charts.radar({"a": 50, "b": 60, "c": 70}, {"a": 50, "b": 50, "c": 50})
    charts.teaching_heatmap(pd.DataFrame(np.full((3, 3), 0.5), index=list("abc"), columns=list("xyz")))
    try:
        with open_store(find_store(), read_only=True) as s:
            s.con.execute("SELECT count(*) FROM enrolments").fetchone()
    except Exception:  # noqa: BLE001 - no store yet: the app itself will say so
        pass


def refusal(exc: Exception, lang: str = "zh") -> v.Alert:
    msg = exc.message(lang) if isinstance(exc, ScopeError | AppParamError) else str(exc)
    # "wb-app": a refusal can be the whole app (the first paint's copy gives way to it)
    return v.Alert(type="error", variant="tonal", class_="ma-4 wb-app", attributes={"data-test": "refused"},
                   children=[ui("app_refused", lang), " ", msg])


def _start(query: str | None, app: str, defaults: dict[str, str], choices: Callable[[ScopedViews], dict]):
    """(views, params) for a request, or a refusal card."""
    lang = query_values(query, {"lang": "zh"}).get("lang")
    lang = lang if lang in ("zh", "en") else "zh"
    audit = AuditLog()
    try:
        viewer: Viewer = current_viewer()
    except ScopeError as exc:
        return None, None, refusal(exc, lang)
    store = open_store(find_store(), read_only=True)
    try:
        term = query_values(query, {"term": ""}).get("term") or store.con.execute(
            "SELECT max(term_id) FROM enrolments").fetchone()[0]
        views = ScopedViews(store.con, viewer, term, lang=lang, audit=audit, app=app)
        try:
            params = query_values(query, {"lang": "zh", "term": term, **defaults},
                                  {"lang": ["zh", "en"], **choices(views)})
        except AppParamError as exc:
            if exc.key in ("class", "student"):        # a class or student outside the scope: say so, list nothing
                raise ScopeError(f"this {exc.key} is outside your scope", "该班级或学生不在您的权限范围内") from None
            raise
        views.store = store
        return views, params, None
    except (ScopeError, AppParamError, ValueError) as exc:
        audit.record(viewer.login, viewer.role, "refused", app, {"query": _safe_query(query), "why": str(exc)[:200]})
        store.close()
        return None, None, refusal(exc, lang)


def _safe_query(query: str | None) -> str:
    return "&".join(p for p in (query or "").split("&") if not p.startswith("token="))


# ---------------------------------------------------------------------------------------------- class dashboard
def class_dashboard(query: str | None = None, *, staged: bool = False) -> v.Container:
    """Subject and head teachers: one of their classes — distributions, segments, tags, alerts, students, then the
    teaching map, learning partners and resources.

    ``staged=True``: the returned app holds the first part only and has ``finish()``, which computes the slower
    second part (teaching map, recommendations), adds it and returns its cards — the notebook shows the first
    part (:func:`widgets.first_paint.first_paint`) before it calls ``finish()``."""
    views, p, refused = _start(query, "class_dashboard", {"class": ""},
                               lambda s: {"class": ["", *[c["class_id"] for c in s.classes()]]})
    if refused:
        refused.finish = list
        return refused
    classes = views.classes()
    if not classes:
        out = refusal(ScopeError("no class of yours has students this term", "本学期您的班级没有学生"), p["lang"])
        out.finish = list
        return out
    box = v.Html(tag="div", children=[])
    pick = v.Select(label=ui("app_class", p["lang"]), v_model=p["class"] or classes[0]["class_id"], density="compact",
                    items=[{"title": c["name"], "value": c["class_id"]} for c in classes], hide_details=True,
                    style_="max-width:260px", attributes={"data-test": "class-select"})

    def show(class_id: str, more: bool = True) -> None:
        try:
            d = views.class_dashboard(class_id, more=more)
            box.children = _class_view(views, d) + (_class_more(views, d) if more else [])
        except ScopeError as exc:
            box.children = [refusal(exc, p["lang"])]

    def finish() -> list:
        """The second part of the first class shown (once)."""
        if getattr(box, "_finished", True):
            return []
        box._finished = True
        try:
            more = _class_more(views, views.class_dashboard_more(pick.v_model))
        except ScopeError as exc:
            more = [refusal(exc, p["lang"])]
        box.children = [*box.children, *more]
        return more
    pick.observe(lambda c: show(c["new"]), "v_model")
    show(pick.v_model, more=not staged)
    box._finished = not staged
    app = v.Container(fluid=True, class_="wb-app", attributes={"data-test": "class-dashboard"}, children=[pick, box])
    app.finish = finish
    return app


def _class_view(views: ScopedViews, d: dict) -> list:
    """The class dashboard's first part: overview, segments, tags, alerts, students."""
    lang = views.lang
    labels = d["dimension_labels"]
    students = d["students"].rename(columns=labels)
    dims = d["dimensions"]
    refs = {"class_means": dict(zip(dims["label"], dims["class_mean"].map(numeric)))}
    out = [v.Html(tag="h2", class_="text-h5 mb-2", children=[tr("class_title", lang, name=d["class"]["name"])]),
           _card(tr("sec_distribution", lang), ChartView(charts.composite_histogram(
               d["students"][OVERALL].to_numpy(), d["grade_composite"], lang)), test_id="distribution"),
           _card(tr("sec_dimensions", lang), _html(table_html(dims, {"label": tr("col_dimension", lang),
                 "class_mean": tr("col_class_mean", lang), "grade_mean": tr("col_grade_mean", lang)})),
                 ChartView(charts.radar(refs["class_means"], None, dict(zip(dims["label"], dims["grade_mean"].map(numeric))),
                                        lang, title=tr("sec_dimensions", lang))), test_id="dimensions"),
           _card(tr("sec_segments", lang), _html(table_html(d["segments"], {"segment": "#", "description": "",
                 "students": tr("count_axis", lang)})), test_id="segments"),
           _card(tr("sec_tags", lang), _html(table_html(d["tags"], {"label": "", "students": tr("count_axis", lang)})),
                 test_id="tags")]
    if len(d["alerts"]):
        out.append(_card(tr("sec_alerts", lang), _html(table_html(d["alerts"], {"display": ui("app_student", lang), "level_label": tr("col_level", lang),
                                                                 "fired_on": tr("col_created", lang), "text": tr("col_rule", lang)})),
                         test_id="alerts"))
    cols = {"display": ui("app_student", lang), **{c: c for c in students.columns if c in labels.values()}}
    out.append(_card(tr("sec_cards", lang), _html(table_html(students, cols)), test_id="students"))
    return out


def _class_more(views: ScopedViews, d: dict) -> list:
    """The class dashboard's second part: the teaching map, learning partners, subjects and resources."""
    lang = views.lang
    out = []
    tm = d["teaching_map"]
    if not tm.get("empty"):
        out.append(_card(tr("sec_teaching", lang), ChartView(charts.teaching_heatmap(tm["grid"], lang)), test_id="teaching-map"))
    return out + _partner_cards(d, lang)


def _partner_cards(d: dict, lang: str) -> list:
    """Learning partners and the resource each student should start with (class dashboard)."""
    out = []
    pt = d.get("partners")
    if pt is not None:
        body = [_html(f"<p>{html.escape(pt['message'])}</p>")]
        if len(pt["table"]):
            body += [_html(table_html(pt["table"], {"group": tr("col_group", lang), "members": tr("col_members", lang),
                                                    "help": tr("col_help", lang),
                                                    "score": tr("col_complementarity", lang)})),
                     _html(f"<p class='text-caption'>{html.escape(tr('partners_note', lang))}</p>")]
        out.append(_card(tr("sec_partners", lang), *body, test_id="partners"))
    sub = d.get("subjects")
    if sub is not None and len(sub):
        out.append(_card(tr("sec_class_subjects", lang), _html(table_html(sub, {
            "display": ui("app_student", lang), "top1": "1", "top2": "2", "top3": "3",
            "together": tr("col_together", lang)})), test_id="class-subjects"))
    res = d.get("resources")
    if res is not None and len(res):
        out.append(_card(tr("sec_class_resources", lang), _html(table_html(res, {
            "display": ui("app_student", lang), "gap_rank": "#", "kp_name": tr("col_kp", lang),
            "level": tr("col_ability_level", lang), "title": tr("col_resource", lang)})), test_id="class-resources"))
    return out


def _subject_card(adv: dict, lang: str) -> v.Card:
    """Subject-choice advice: the summary, subjects with their intervals, the leading combinations."""
    if not adv.get("ok"):
        return _card(tr("sec_subjects", lang), _html(f"<p>{html.escape(adv.get('message') or '')}</p>"), test_id="subjects")
    subj = adv["subjects"]
    chart = charts.interval_chart([{"label": r["name"], "score": r["score"], "low": r["low"], "high": r["high"]} for r in subj],
                                  lang, hollow=[r["evidence"] != "direct" for r in subj])
    combos = pd.DataFrame([{"rank": c["rank"], "label": c["label"], "score": round(c["score"], 2),
                            "interval": f"{c['low']:.2f} – {c['high']:.2f}", "group": c["group"]}
                           for c in adv["combinations"][:6]])
    groups = "".join(f"<li>{html.escape(g['text'])}：{html.escape('、'.join(g['combinations']))}</li>"
                     for g in adv["groups"][:2])
    return _card(tr("sec_subjects", lang), _html(f"<p>{html.escape(adv['summary'])}</p>"), ChartView(chart),
                 _html(table_html(combos, {"rank": "#", "label": tr("col_combination", lang), "score": tr("col_score", lang),
                                           "interval": tr("col_interval", lang), "group": tr("col_group", lang)})),
                 _html(f"<ul>{groups}</ul>"), test_id="subjects")


def _recommend_cards(rec: dict, lang: str) -> list:
    """A student's recommended resources, wrong-question set and subject-choice advice."""
    res, wrong = rec["resources"], rec["wrong_questions"]
    out = [_card(tr("sec_resources", lang), _html(f"<p>{html.escape(res['message'])}</p>"),
                 _html(table_html(res["table"], {"kp_name": tr("col_kp", lang), "level": tr("col_ability_level", lang),
                                                 "title": tr("col_resource", lang), "minutes": tr("col_minutes", lang),
                                                 "reason": tr("col_reason", lang)})) if len(res["table"]) else _html(""),
                 test_id="resources")]
    if wrong["wrong_total"]:
        out.append(_card(tr("sec_wrong", lang),
                         _html(f"<p>{html.escape(tr('wrong_summary', lang, total=wrong['wrong_total'], open=wrong['wrong_open']))}</p>"),
                         _html(table_html(wrong["table"], {"item_id": tr("col_item", lang), "kp_names": tr("col_kp", lang),
                                                           "level": tr("col_ability_level", lang), "wrong": tr("col_wrong", lang),
                                                           "answers": tr("col_answers", lang), "status": tr("col_status", lang)})),
                         test_id="wrong-questions"))
    else:
        out.append(_card(tr("sec_wrong", lang), _html(f"<p>{html.escape(tr('no_wrong', lang))}</p>"), test_id="wrong-questions"))
    out.append(_subject_card(rec["subjects"], lang))
    return out


# ---------------------------------------------------------------------------------------------- one student
def _student_view(views: ScopedViews, r: dict, *, parent: bool = False) -> list:
    lang = views.lang
    dims = r["dimensions"].drop(index=OVERALL, errors="ignore")
    labels = list(dims["label"])
    radar = charts.radar(dict(zip(labels, dims["score"])), dict(zip(labels, dims["class_mean"].map(numeric))),
                         dict(zip(labels, dims["grade_mean"].map(numeric))), lang)
    gaps = r["knowledge"].get("root_gap_points") or []
    work = (r["work_on"] or [tr("nothing_below", lang)]) + ([tr("gaps_short", lang, points=join_list(gaps, lang))] if gaps else [])
    items = lambda xs: "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in xs) + "</ul>"  # noqa: E731
    out = [v.Html(tag="h2", class_="text-h5 mb-2", children=[f"{r['student']['display']} · {r['student']['class_name']}"]),
           _card(tr("sec_strengths", lang), _html(items(r["strengths"])), test_id="strengths"),
           _card(tr("sec_work_on", lang), _html(items(work)), test_id="work-on"),
           _card(tr("sec_radar", lang), ChartView(radar), test_id="radar")]
    if r["trends"] is not None and not r["trends"].empty:
        out.append(_card(tr("sec_trends", lang), ChartView(charts.trend_lines(r["trends"], lang)), test_id="trends"))
    k = r["knowledge"]
    if k["chapters"] is not None and not k["chapters"].empty:
        out.append(_card(tr("sec_mastery", lang), ChartView(charts.chapter_bars(
            k["chapters"], "student", "class_mean", lang, value_label=tr("this_student", lang),
            reference_label=tr("class_avg", lang))), _html(items(k["root_gaps"] or [tr("no_gaps", lang)])), test_id="mastery"))
    if r.get("recommend"):
        out += _recommend_cards(r["recommend"], lang)
    if not parent:
        out.append(_card(tr("sec_profile", lang), _html(items([
            tr("segment_line", lang, text=r.get("segment", "")),
            tr("tags_line", lang, text=join_list(r["tags"], lang) if r["tags"] else tr("no_tags", lang)),
            tr("explanation", lang, text=r["explanation"])])), test_id="profile"))
    if r.get("psychology_withheld"):
        out.append(v.Alert(type="info", variant="tonal", children=[ui("app_no_consent", lang)],
                           attributes={"data-test": "no-consent"}))
    return out


def student_profile(query: str | None = None) -> v.Container:
    """A teacher's view of one student of their classes (``?student=S-xxxxxx``)."""
    views, p, refused = _start(query, "student_profile", {"student": "", "class": ""},
                               lambda s: {"class": ["", *[c["class_id"] for c in s.classes()]]})
    if refused:
        return refused
    classes = views.classes()
    class_id = p["class"] or (classes[0]["class_id"] if classes else "")
    roster = views.roster(class_id) if class_id else pd.DataFrame({"display": []})
    box = v.Html(tag="div", children=[])
    codes = list(roster.index)
    pick = v.Select(label=ui("app_student", p["lang"]), density="compact", hide_details=True, style_="max-width:260px",
                    items=[{"title": f"{d} ({c})" if d != c else c, "value": c} for c, d in zip(codes, roster["display"])],
                    v_model=p["student"] or (codes[0] if codes else None), attributes={"data-test": "student-select"})

    def show(ref: str | None) -> None:
        try:
            box.children = _student_view(views, views.student_profile(ref)) if ref else []
        except ScopeError as exc:
            box.children = [refusal(exc, p["lang"])]
    pick.observe(lambda c: show(c["new"]), "v_model")
    show(pick.v_model)
    return v.Container(fluid=True, class_="wb-app", attributes={"data-test": "student-profile"}, children=[pick, box])


def parent_report(query: str | None = None) -> v.Container:
    """A parent's report on their own child: strengths first, plain words, no comparison with named classmates."""
    views, p, refused = _start(query, "parent_report", {}, lambda s: {})
    if refused:
        return refused
    try:
        r = views.parent_report()
    except (ScopeError, ValueError) as exc:
        return refusal(exc, p["lang"])
    return v.Container(fluid=True, class_="wb-app", attributes={"data-test": "parent-report"},
                       children=[*_student_view(views, r, parent=True),
                                 _html(f"<p class='text-caption'>{html.escape(ui('app_parent_note', p['lang']))}</p>")])


# ---------------------------------------------------------------------------------------------- psychology
def psychology_dashboard(query: str | None = None) -> v.Container:
    """The psychology teacher: emotion and psychology indicators of consenting students (others counted)."""
    views, p, refused = _start(query, "psychology_dashboard", {"class": ""},
                               lambda s: {"class": ["", *[c["class_id"] for c in s.classes()]]})
    if refused:
        return refused
    lang = p["lang"]
    d = views.psychology(p["class"] or None)
    cols = {"display": ui("app_student", lang), "emotion": tr("col_score", lang), "psy_gad7_latest": "GAD-7",
            "psy_gad7_max": "GAD-7 max", "emo_mood_mean": ui("app_mood", lang),
            "emo_negative_streak": ui("app_streak", lang)}
    return v.Container(fluid=True, class_="wb-app", attributes={"data-test": "psychology-dashboard"}, children=[
        v.Html(tag="h2", class_="text-h5 mb-2", children=[ui("app_psychology", lang)]),
        v.Alert(type="info", variant="tonal", class_="mb-3", attributes={"data-test": "withheld"},
                children=[ui("app_withheld", lang, n=d["withheld"], total=d["total"])]),
        _card(ui("app_psychology", lang), _html(table_html(d["students"], cols)), test_id="psychology-table")])


# ---------------------------------------------------------------------------------------------- overviews
def _overview_app(query: str | None, app: str, level: str) -> v.Container:
    views, p, refused = _start(query, app, {}, lambda s: {})
    if refused:
        return refused
    lang = p["lang"]
    schools = views.viewer.schools if level == "school" else ()
    o = overview(views.con, views.term, views.spec, level=level, schools=schools, hide=views.hide, lang=lang)
    units = o["units"].rename(columns={"name": "", "students": tr("count_axis", lang), **o["dimension_labels"]})
    g, s = o["gender"], o["segments"]
    return v.Container(fluid=True, class_="wb-app", attributes={"data-test": f"{level}-overview"}, children=[
        v.Html(tag="h2", class_="text-h5 mb-2", children=[ui(f"app_{level}_overview", lang)]),
        _card(ui("app_units", lang), _html(table_html(units)), test_id="units"),
        _card(ui("app_quality_map", lang), ChartView(charts.quality_map(o["quality"], lang)), test_id="quality-map"),
        _card(ui("app_by_gender", lang), _html(table_html(g["counts"], index=True, cls="wb-gender-counts")),
              _html(table_html(g["composite"], index=True, cls="wb-gender-means")), test_id="gender"),
        _card(tr("sec_segments", lang), _html(table_html(s["counts"], index=True)), test_id="segments"),
        _card(tr("sec_tags", lang), _html(table_html(o["tags"], index=True)), test_id="tags"),
        _html("<br>".join(html.escape(n) for n in o["notes"]))])


def school_overview(query: str | None = None) -> v.Container:
    return _overview_app(query, "school_overview", "school")


def district_overview(query: str | None = None) -> v.Container:
    return _overview_app(query, "district_overview", "district")


# ---------------------------------------------------------------------------------------------- alert inbox
def alert_inbox(query: str | None = None) -> v.Container:
    """Teachers, psychology teachers and counsellors: the alerts routed to their role, and what was done about them
    (recorded in the journal beside the store: app kernels hold the store read-only)."""
    from widgets.alerts import AlertInbox
    from workbench.alerts.journal import ActionJournal
    from widgets.alerts import STATUSES
    views, p, refused = _start(query, "alert_inbox", {"status": "open"}, lambda s: {"status": ["all", *STATUSES]})
    if refused:
        return refused
    try:
        return AlertInbox(views, ActionJournal(), status=p["status"])
    except ScopeError as exc:
        return refusal(exc, p["lang"])
