"""Chart widgets: the report charts of :mod:`workbench.reports.charts` (matplotlib, SVG) shown live.

One chart library everywhere: notebooks and the HTML reports show the same :class:`SVGChart` objects
these widgets display, so a radar or a heatmap looks the same in JupyterLab, in Voila and on paper.
The SVG is inline (no ``data:`` URL), so a strict Content-Security-Policy does not block it.
"""
from __future__ import annotations

import re

import ipywidgets as w

from workbench.reports.charts import SVGChart


class ChartView(w.HTML):
    """An HTML widget holding one chart; :meth:`show` replaces it (``None`` shows ``empty``)."""

    def __init__(self, chart: SVGChart | None = None, *, empty: str = "", test_id: str = "", **kwargs):
        super().__init__(**kwargs)
        self.empty = empty
        if test_id:
            self.add_class(f"wb-{test_id}")
        self.show(chart)

    def show(self, chart: SVGChart | None) -> None:
        if chart is None:
            self.value = f'<div class="wb-chart-empty">{self.empty}</div>'
            return
        # scale down to the card's width (the viewBox keeps the proportions), never up
        svg = re.sub(r"<svg ", '<svg style="max-width:100%;height:auto" ', chart.svg[chart.svg.find("<svg"):], count=1)
        self.value = f'<div class="wb-chart">{svg}</div>'



def radar_view(scores: dict, reference: dict | None = None, *, scope: str = "grade", lang: str = "zh") -> ChartView:
    from workbench.reports.charts import radar
    ref = {"class_means": reference} if scope == "class" else {"grade_means": reference}
    return ChartView(radar(scores, lang=lang, **ref))


def heatmap_view(grid, *, lang: str = "zh") -> ChartView:
    """The class teaching map (knowledge point × student mastery)."""
    from workbench.reports.charts import teaching_heatmap
    return ChartView(teaching_heatmap(grid, lang=lang))


def trend_view(trends, *, lang: str = "zh") -> ChartView:
    """Weekly trend lines (``student_report()["trends"]``)."""
    from workbench.reports.charts import trend_lines
    return ChartView(trend_lines(trends, lang=lang))
