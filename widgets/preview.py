"""The builder's live preview panel: numbers, charts and lists for the spec being edited.

The panel only displays a :class:`workbench.model.preview.Preview`; it computes nothing itself.
"""
from __future__ import annotations

import html

import ipyvuetify as v
import ipywidgets as w
import pandas as pd

from widgets.charts import ChartView
from workbench.indicators.catalogue import load_catalogue
from workbench.labels import ui
from workbench.model.estimator import ALPHA_WARN
from workbench.model.preview import Preview, PreviewEngine
from workbench.model.spec import ProfileSpec
from workbench.reports import charts


def dimension_names(spec: ProfileSpec, lang: str) -> dict[str, str]:
    cat = load_catalogue()
    out = {d: (d_spec["name"][lang] if isinstance(d_spec.get("name"), dict) else cat.dimension_short(d, lang))
           for d, d_spec in spec.dimensions.items()}
    out["overall"] = "综合" if lang == "zh" else "composite"
    return out


def _table(frame: pd.DataFrame, names: dict[str, str]) -> str:
    head = "".join(f"<th>{html.escape(names.get(c, '') if c != 'display' else '')}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in r) + "</tr>"
                   for r in frame.itertuples(index=False))
    return f'<table class="wb-table" style="font-size:12px;border-collapse:collapse"><tr>{head}</tr>{rows}</table>'


def _card(title: str, *children, test_id: str = "") -> v.Card:
    return v.Card(class_=f"mb-3 wb-{test_id}" if test_id else "mb-3", variant="outlined",
                  children=[v.CardTitle(class_="text-subtitle-1", children=[title]), v.CardText(children=list(children))])


class PreviewPanel(v.Sheet):
    """Distribution, reliability and warnings, correlation heatmap, a student's radar, top/bottom and tag counts."""

    def __init__(self, engine: PreviewEngine, lang: str = "zh"):
        super().__init__(class_="wb-preview")
        self.engine, self.lang = engine, lang
        self.spec: ProfileSpec | None = None
        self.preview: Preview | None = None
        self.picks: list[str] = []
        self.summary = w.HTML()
        self.histogram = ChartView(test_id="histogram")
        self.reliability = w.HTML()
        self.warnings = w.HTML()
        self.correlation = ChartView(test_id="correlation")
        self.student_select = v.Select(label=ui("mb_student", lang), items=[], v_model=None, density="compact",
                                       hide_details=True, class_="wb-student-select")
        self.student_select.observe(lambda change: self._draw_radar(), "v_model")
        self.radar = ChartView(test_id="radar")
        self.top = w.HTML()
        self.bottom = w.HTML()
        self.tag_counts = w.HTML()
        self.children = [
            v.Html(tag="h3", class_="text-h6 mb-2", children=[ui("mb_preview", lang)]),
            self.summary,
            _card(ui("mb_distribution", lang), self.histogram, test_id="dist"),
            _card(ui("mb_reliability", lang), self.reliability, self.warnings, test_id="reliability"),
            _card(ui("mb_correlation", lang), self.correlation, test_id="corr"),
            _card(ui("mb_student", lang), self.student_select, self.radar, test_id="student"),
            _card(ui("mb_top", lang) + " / " + ui("mb_bottom", lang), self.top, self.bottom, test_id="ranked"),
            _card(ui("mb_tags", lang), self.tag_counts, test_id="tag-counts"),
        ]

    # ------------------------------------------------------------------------------------
    def update(self, spec: ProfileSpec, *, charts_too: bool = True) -> Preview:
        lang = self.lang
        self.spec = spec
        p = self.preview = self.engine.preview(spec)
        names = dimension_names(spec, lang)
        s = p.summary()
        self.summary.value = f'<div class="wb-summary">{html.escape(ui("mb_summary", lang, n=s["students"], mean=s["mean"], median=s["median"], sd=s["sd"]))}</div>'
        chips = []
        for d, a in p.reliability.items():
            colour = "#888" if a is None else ("#2e7d32" if a >= 0.7 else "#ef6c00" if a >= ALPHA_WARN else "#c62828")
            val = "—" if a is None else f"{a:.2f}"
            chips.append(f'<span style="display:inline-block;margin:2px 6px 2px 0;padding:1px 8px;border-radius:10px;'
                         f'border:1px solid {colour};color:{colour}">{html.escape(names[d])} α = {val}</span>')
        self.reliability.value = "".join(chips)
        items = [html.escape(x[lang]) for x in p.warnings]
        self.warnings.value = ('<ul class="wb-warnings" style="color:#b26a00;margin:6px 0 0 16px">'
                               + "".join(f"<li>{x}</li>" for x in items) + "</ul>") if items else \
            f'<div class="wb-warnings" style="color:#2e7d32">{ui("mb_no_warnings", lang)}</div>'
        self.top.value = f"<b>{ui('mb_top', lang)}</b>" + _table(p.top, names)
        self.bottom.value = f"<b>{ui('mb_bottom', lang)}</b>" + _table(p.bottom, names)
        labels = {t["id"]: t["label"][lang] for t in spec.tags}
        self.tag_counts.value = "<br>".join(html.escape(ui("mb_tag_count", lang, label=labels[t], n=n))
                                            for t, n in p.tag_counts.items())
        keys = list(p.dimensions["overall"].dropna().sort_values(ascending=False).index)
        picks = keys[:5] + keys[-5:] if len(keys) > 10 else keys
        # the browser sees display codes only: the select's values are positions in ``self.picks``
        n = self.student_select.v_model
        shown = self.picks[n] if isinstance(n, int) and 0 <= n < len(self.picks) else None
        self.picks = picks
        if shown in picks and picks.index(shown) != n:
            self.student_select.v_model = picks.index(shown)
        items = [{"title": self.engine.display(k), "value": n} for n, k in enumerate(picks)]
        if self.student_select.items != items:
            self.student_select.items = items
            if self.student_select.v_model is None and picks:
                self.student_select.v_model = 0
        if charts_too:
            self.draw_charts()
        return p

    def draw_charts(self) -> None:
        p, spec, lang = self.preview, self.spec, self.lang
        if p is None:
            return
        names = dimension_names(spec, lang)
        self.histogram.show(charts.composite_histogram(p.dimensions["overall"].to_numpy(), lang=lang, group="all"))
        corr = p.correlation.rename(index=names, columns=names)
        self.correlation.show(charts.correlation_heatmap(corr, lang=lang) if len(corr) > 1 else None)
        self._draw_radar()

    def _draw_radar(self) -> None:
        n, p = self.student_select.v_model, self.preview
        key = self.picks[n] if isinstance(n, int) and 0 <= n < len(self.picks) else None
        if p is None or key is None:
            self.radar.show(None)
            return
        s = self.engine.student(self.spec, key, p.dimensions)
        names = dimension_names(self.spec, self.lang)
        scores = {names[d]: x for d, x in s["scores"].items()}
        ref = {names[d]: x for d, x in s["group_means"].items()} if s["group_means"] else None
        refs = {"class": {"class_means": ref}, "grade": {"grade_means": ref}}.get(s["scope"], {})  # no school-mean legend
        self.radar.show(charts.radar(scores, lang=self.lang, **refs))
