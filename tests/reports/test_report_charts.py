"""Charts: valid SVG whose labels are text (Chinese included, drawn by the reader's fonts), no warnings about
glyphs the server's font lacks, suppressed values left out, no figure left behind in pyplot."""
from __future__ import annotations

import sys
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from workbench.reports import charts
from workbench.reports.common import SUPPRESSED

SVG = "{http://www.w3.org/2000/svg}"


def _texts(chart: charts.SVGChart) -> list[str]:
    root = ET.fromstring(chart.svg)                        # well-formed XML
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _draw(fn, *args, **kwargs) -> charts.SVGChart:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chart = fn(*args, **kwargs)
    assert not [w for w in caught if "Glyph" in str(w.message) or "findfont" in str(w.message)], caught
    assert isinstance(chart, charts.SVGChart) and chart._repr_svg_() == chart.svg
    assert 'font-family' in chart.svg and "Noto Sans CJK SC" in chart.svg     # the browser chooses a CJK font
    assert "<path" in chart.svg and 'd="M' in chart.svg
    return chart


@pytest.fixture(scope="module")
def students():
    rng = np.random.default_rng(0)
    n = 40
    seg = rng.integers(1, 3, n)
    return pd.DataFrame({"behaviour": rng.uniform(0, 100, n), "social": rng.uniform(0, 100, n),
                         "overall": rng.uniform(20, 80, n), "segment": seg,
                         "segment_text": np.where(seg == 1, "投入强、社交强", "投入弱、社交弱")},
                        index=[f"S-{i:06x}" for i in range(n)])


def test_class_charts_carry_chinese_labels_as_text(students):
    hist = _draw(charts.composite_histogram, students["overall"], {"q25": 40.0, "median": 50.0, "q75": 60.0})
    assert {"综合得分分布", "学生人数", "本班", "年级中位数"} <= set(_texts(hist))
    assert any(t.startswith("班级平均") for t in _texts(hist))
    few = _draw(charts.composite_histogram, students["overall"][:6], {"q25": SUPPRESSED, "median": 50.0, "q75": 60.0})
    assert not any(t.startswith("班级平均") for t in _texts(few)) and "年级中间一半（25%–75%）" not in _texts(few)
    scatter = _draw(charts.segment_scatter, students, "behaviour", "social", "学习行为", "社会交往")
    assert {"学习行为", "社会交往", "1: 投入强、社交强", "2: 投入弱、社交弱"} <= set(_texts(scatter))
    grid = pd.DataFrame(np.random.default_rng(1).uniform(0, 1, (4, 6)), index=["数轴", "相反数与绝对值", "有理数的加减法", "合并同类项"],
                        columns=list(students.index[:6]))
    grid.iloc[0, 0] = np.nan                                  # insufficient evidence
    heat = _draw(charts.teaching_heatmap, grid)
    assert {"数轴", "合并同类项", "S-000000", "掌握程度"} <= set(_texts(heat))
    bars = _draw(charts.chapter_bars, pd.DataFrame({"chapter": ["有理数", "整式的加减"], "mean": [0.84, SUPPRESSED]}))
    assert {"有理数", "84%"} <= set(_texts(bars)) and "整式的加减" not in _texts(bars)   # a suppressed mean: not drawn


def test_student_charts_and_suppressed_means():
    scores = {"学业表现": 78.0, "学习行为": 40.0, "兴趣特长": 55.0, "情绪与心理": 62.0, "社会交往": 30.0}
    full = _draw(charts.radar, scores, dict.fromkeys(scores, 50.0), dict.fromkeys(scores, 49.0))
    assert set(scores) | {"本人", "班级平均", "年级平均"} <= set(_texts(full))
    hidden = _draw(charts.radar, scores, dict.fromkeys(scores, SUPPRESSED), dict.fromkeys(scores, 49.0))
    assert "班级平均" not in _texts(hidden) and "年级平均" in _texts(hidden)     # a suppressed mean is not drawn
    two = _draw(charts.radar, {"学业": 60.0, "情绪": 40.0}, {"学业": 50.0, "情绪": 50.0}, lang="en")
    assert {"学业", "情绪", "this student", "class mean"} <= set(_texts(two))
    trends = pd.DataFrame({"indicator": ["emo_mood_mean"] * 3 + ["beh_actions"] * 3, "label": ["情绪均值"] * 3 + ["平台操作次数"] * 3,
                           "unit": ["分（1–5）"] * 3 + ["次"] * 3, "week": [1, 2, 3] * 2,
                           "value": [3.2, 3.8, np.nan, 40, 52, 61], "class_mean": [3.6, 3.7, 3.5, np.nan, np.nan, np.nan]})
    lines = _draw(charts.trend_lines, trends)
    assert {"每周变化", "情绪均值（分（1–5））", "平台操作次数（次）", "周"} <= set(_texts(lines))
    growth = _draw(charts.growth_bars, pd.DataFrame({"label": ["学业表现", "综合得分"], "then": [50.0, 48.0],
                                                      "now": [58.0, SUPPRESSED]}))
    assert {"成长轨迹", "上学期", "本学期", "学业表现"} <= set(_texts(growth))


def test_charts_leave_no_figures_behind(students):
    had_pyplot = "matplotlib.pyplot" in sys.modules
    for _ in range(3):
        _draw(charts.composite_histogram, students["overall"])
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot          # figures are made without pyplot
    if had_pyplot:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []
