"""Chart widgets show the same matplotlib SVG as the reports: radar, teaching-map heatmap, trend lines, correlation."""
from __future__ import annotations

import re

import pandas as pd

from widgets.charts import ChartView, heatmap_view, radar_view, trend_view
from workbench.reports import charts
from workbench.reports.data import class_teaching_map
from workbench.reports.student import student_report

TERM = "2026-2027-1"


def test_heatmap_of_the_class_teaching_map(demo_con):
    tm = class_teaching_map(demo_con, TERM, "G7C1")
    view = heatmap_view(tm["grid"])
    assert view.value.count("<svg") == 1 and 'class="wb-chart"' in view.value
    # one image cell per point × student, drawn inline (no data: URL a strict CSP would block)
    assert "data:image" not in view.value and view.value.startswith('<div class="wb-chart"><svg style="max-width:100%')
    report_svg = charts.teaching_heatmap(tm["grid"]).svg                           # the report's chart, unchanged
    assert view.value.replace('<svg style="max-width:100%;height:auto" ', "<svg ") in \
        f'<div class="wb-chart">{report_svg[report_svg.find("<svg"):]}</div>'
    assert report_svg.count("<path") == view.value.count("<path")


def test_radar_and_trends_of_a_student(demo_con):
    key = demo_con.execute("SELECT min(student_key) FROM enrolments WHERE term_id = $t AND class_id = 'G7C1'",
                           {"t": TERM}).fetchone()[0]
    rep = student_report(demo_con, TERM, key)
    radar = radar_view({"学业": 70, "投入": 55, "兴趣": 40, "情绪": 65, "社交": 50},
                       {"学业": 50, "投入": 50, "兴趣": 50, "情绪": 50, "社交": 50}, scope="class")
    assert "学业" in radar.value and "班级平均" in radar.value
    trends = rep["trends"]
    assert isinstance(trends, pd.DataFrame) and not trends.empty
    tv = trend_view(trends, lang="en")
    labels = set(trends["label"])
    assert all(lbl in tv.value for lbl in labels)


def test_correlation_heatmap_writes_every_value():
    corr = pd.DataFrame([[1.0, 0.42, -0.1], [0.42, 1.0, 0.86], [-0.1, 0.86, 1.0]],
                        index=["学业", "投入", "社交"], columns=["学业", "投入", "社交"])
    svg = charts.correlation_heatmap(corr).svg
    assert "data:image" not in svg and "<image" not in svg               # vector only: a strict CSP allows it
    assert {"0.42", "0.86", "-0.10", "1.00"} <= set(re.findall(r"-?\d\.\d\d", svg))
    assert "维度之间的相关" in svg and "How the dimensions correlate" in charts.correlation_heatmap(corr, lang="en").svg
    empty = ChartView(None, empty="—")
    assert "wb-chart-empty" in empty.value
