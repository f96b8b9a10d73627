"""Report charts: matplotlib figures rendered once to SVG and returned as :class:`SVGChart`.

An :class:`SVGChart` has ``_repr_svg_``, so a notebook shows it and nbconvert puts it in the HTML.
Text stays text (``svg.fonttype = 'none'``) with a CJK-first font list, so the reader's browser
draws the Chinese labels with its own fonts; the server needs no CJK font (matplotlib's warnings
about glyphs missing from its own font are silenced: it only uses that font to measure). Figures
are made without pyplot on the Agg canvas and cleared after rendering, so hundreds of reports in
one kernel do not pile up figures.

Inputs are plain data (numbers, Series, the frames of :mod:`workbench.reports.data`); cells
suppressed as ``"<10"`` are simply not drawn.

>>> chart = radar({"学业": 80, "情绪": 55, "社交": 60}, {"学业": 60, "情绪": 50, "社交": 50})
>>> "<svg" in chart.svg and "学业" in chart.svg
True
"""
from __future__ import annotations

import io
import math
import unicodedata
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from workbench.reports.common import MIN_CELL
from workbench.reports.text import tr

FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei",
         "Hiragino Sans GB", "SimHei", "DejaVu Sans"]
STYLE = {"svg.fonttype": "none", "svg.hashsalt": "profile-workbench", "font.family": "sans-serif",
         "font.sans-serif": FONTS, "font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
         "axes.titlesize": 11, "legend.fontsize": 9, "legend.frameon": False}
PALETTE = ["#3b6fb6", "#e07b39", "#4c9a63", "#b8485b", "#8a6bbf", "#8c8c8c"]
STUDENT, CLASS, GRADE = "#3b6fb6", "#e07b39", "#8c8c8c"


class SVGChart:
    """A rendered chart: ``svg`` text; shown by IPython through ``_repr_svg_``."""

    def __init__(self, svg: str, title: str = ""):
        self.svg, self.title = svg, title

    def _repr_svg_(self) -> str:
        return self.svg

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.svg, encoding="utf-8")
        return path

    def __repr__(self) -> str:
        return f"SVGChart({self.title!r}, {len(self.svg)} chars)"


def _em(text: str) -> float:
    """Rough width of ``text`` in em: wide (CJK) characters 1, others 0.6 (matplotlib cannot measure
    glyphs it has no font for, so margins for long labels are set from this)."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.6 for c in str(text))


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
    return fig


def _render(fig: Figure, title: str = "") -> SVGChart:
    buf = io.StringIO()
    with matplotlib.rc_context(STYLE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
        warnings.filterwarnings("ignore", message=r"findfont")
        fig.savefig(buf, format="svg", metadata={"Date": None})
    fig.clear()
    return SVGChart(buf.getvalue(), title)


def _numbers(values) -> np.ndarray:
    return pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(float)


def _styled(draw):
    """Run a drawing function with the report style (fonts, spines) in force."""
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
            return draw(*args, **kwargs)
    wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = draw.__name__, draw.__doc__, draw
    return wrapper


# ------------------------------------------------------------------------------------------ class charts
@_styled
def composite_histogram(scores: Sequence[float], grade: Mapping | None = None, lang: str = "zh",
                        title: str = "", group: str = "class") -> SVGChart:
    """Histogram of the class's composite scores (0–100, bins of 10) with the class mean (from MIN_CELL
    students on), and the grade's median and middle half (``grade``: q25, median, q75 as in
    ``class_overview()["grade_composite"]``; suppressed values are not drawn)."""
    x = _numbers(scores)
    x = x[np.isfinite(x)]
    fig = _figure(6.4, 3.2)
    ax = fig.add_subplot()
    g = {k: _numbers([v])[0] for k, v in (grade or {}).items() if k in ("q25", "median", "q75")}
    if np.isfinite(g.get("q25", np.nan)) and np.isfinite(g.get("q75", np.nan)):
        ax.axvspan(g["q25"], g["q75"], color=GRADE, alpha=0.18, label=tr("grade_band", lang))
    if np.isfinite(g.get("median", np.nan)):
        ax.axvline(g["median"], color=GRADE, ls="--", lw=1.5, label=tr("grade_median", lang))
    bars, mean = ("this_class", "class_avg") if group == "class" else ("all_students", "all_avg")
    ax.hist(x, bins=np.arange(0, 101, 10), color=STUDENT, alpha=0.85, edgecolor="white", label=tr(bars, lang))
    if len(x) >= MIN_CELL:                               # a mean over fewer students is not shown
        ax.axvline(float(x.mean()), color=CLASS, lw=2, label=f"{tr(mean, lang)} {x.mean():.0f}")
    ax.set_xlim(0, 100)
    ax.set_xlabel(tr("score_axis", lang))
    ax.set_ylabel(tr("count_axis", lang))
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title or tr("sec_distribution", lang))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.subplots_adjust(left=0.09, right=0.66, bottom=0.16, top=0.88)
    return _render(fig, title or tr("sec_distribution", lang))


@_styled
def segment_scatter(students: pd.DataFrame, x: str, y: str, x_label: str = "", y_label: str = "",
                    lang: str = "zh", title: str = "") -> SVGChart:
    """Students on the two dimensions that separate the segments most, coloured by segment
    (``students`` as in ``class_overview()["students"]``: columns x, y, segment, segment_text)."""
    fig = _figure(5.6, 3.8)
    ax = fig.add_subplot()
    for n, (seg, part) in enumerate(students.groupby("segment", sort=True)):
        label = str(part["segment_text"].iloc[0]) if "segment_text" in part else str(seg)
        ax.scatter(part[x].astype(float), part[y].astype(float), s=28, alpha=0.85, color=PALETTE[n % len(PALETTE)],
                   label=f"{seg}: {label}", edgecolors="white", linewidths=0.5)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel(x_label or x)
    ax.set_ylabel(y_label or y)
    ax.set_title(title or tr("sec_segments", lang))
    lines = students["segment"].nunique()
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.16))
    height = 3.4 + 0.2 * lines
    fig.set_figheight(height)
    fig.subplots_adjust(left=0.1, right=0.95, bottom=(0.75 + 0.2 * lines) / height, top=1 - 0.35 / height)
    return _render(fig, title or tr("sec_segments", lang))


@_styled
def teaching_heatmap(grid: pd.DataFrame, lang: str = "zh", title: str = "") -> SVGChart:
    """Knowledge point (rows) × student (columns) mastery, red = not mastered, green = mastered,
    grey = insufficient evidence (``class_teaching_map()["grid"]``)."""
    rows, cols = grid.shape
    label_em = max([_em(i) for i in grid.index] + [4])
    left_in = 0.3 + label_em * 0.13
    width = min(14.0, left_in + 0.5 + max(cols, 4) * 0.2)
    height = 1.3 + max(rows, 2) * 0.24
    fig = _figure(width, height)
    ax = fig.add_subplot()
    data = np.ma.masked_invalid(grid.to_numpy(float))
    cmap = matplotlib.colormaps["RdYlGn"]
    # vector cells (pcolormesh), not an embedded PNG (imshow): no data: URL for a strict CSP to block
    im = ax.pcolormesh(np.arange(cols + 1) - 0.5, np.arange(rows + 1) - 0.5, data, cmap=cmap, vmin=0, vmax=1)
    ax.set_facecolor("#dddddd")                              # masked cells (no evidence) show grey
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_yticks(range(rows), [str(i) for i in grid.index], fontsize=8)
    ax.set_xticks(range(cols), [str(c) for c in grid.columns], rotation=90, fontsize=6)
    ax.tick_params(length=0)
    for s in ax.spines.values():
        s.set_visible(False)
    cb = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    cb.solids.set_rasterized(False)                          # matplotlib rasterises long colour bars
    cb.solids.set_edgecolor("face")                          # no seams between the bar's cells
    cb.set_label(tr("col_mastery", lang))
    ax.set_title(title or tr("sec_teaching", lang))
    fig.subplots_adjust(left=min(0.6, left_in / width), right=0.93, bottom=0.6 / height + 0.05, top=1 - 0.45 / height)
    return _render(fig, title or tr("sec_teaching", lang))


@_styled
def chapter_bars(chapters: pd.DataFrame, value: str = "mean", reference: str | None = None, lang: str = "zh",
                 title: str = "", value_label: str = "", reference_label: str = "") -> SVGChart:
    """Mean mastery per chapter as horizontal bars (0–100 %), optionally with a reference marker per
    chapter (the class mean beside a student), and the 50 % / 80 % lines (weak / mastered). Chapters
    with nothing to draw (suppressed) are left out."""
    df = chapters.copy()
    if "chapter" in df.columns:
        df = df.set_index("chapter")
    drawn = np.isfinite(_numbers(df[value]))
    if reference is not None and reference in df.columns:
        drawn |= np.isfinite(_numbers(df[reference]))
    df = df[drawn]
    v = _numbers(df[value]) * 100
    n = len(df)
    label_em = max([_em(i) for i in df.index] + [4])
    width = 6.4
    fig = _figure(width, 1.1 + 0.38 * max(n, 2))
    ax = fig.add_subplot()
    pos = np.arange(n)[::-1]
    ax.barh(pos, np.nan_to_num(v), color=STUDENT, height=0.6, label=value_label or None)
    if reference is not None and reference in df.columns:
        r = _numbers(df[reference]) * 100
        ok = np.isfinite(r)
        ax.scatter(r[ok], pos[ok], marker="D", color=CLASS, zorder=3, s=30, label=reference_label or None)
    for p, val in zip(pos, v):
        if np.isfinite(val):
            inside = val >= 15
            ax.text(val - 1 if inside else val + 1, p, f"{val:.0f}%", va="center", ha="right" if inside else "left",
                    fontsize=8, color="white" if inside else "black")
    ax.axvline(50, color=GRADE, ls=":", lw=1)
    ax.axvline(80, color=GRADE, ls="--", lw=1)
    ax.set_yticks(pos, [str(i) for i in df.index])
    ax.set_xlim(0, 100)
    ax.set_xlabel(tr("col_mastery", lang) + " (%)")
    ax.set_title(title or tr("sec_chapters", lang))
    legend = bool(value_label or reference_label)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.subplots_adjust(left=min(0.55, (0.3 + label_em * 0.13) / width), right=0.8 if legend else 0.96, bottom=0.3 / (0.5 + 0.38 * max(n, 2)) + 0.1,
                        top=0.88)
    return _render(fig, title or tr("sec_chapters", lang))


# ------------------------------------------------------------------------------------------ student charts
@_styled
def radar(scores: Mapping[str, float], class_means: Mapping[str, float] | None = None,
          grade_means: Mapping[str, float] | None = None, lang: str = "zh", title: str = "") -> SVGChart:
    """The student's dimension scores (0–100) against the class and grade means (suppressed means are
    left out)."""
    labels = list(scores)
    k = len(labels)
    fig = _figure(6.6, 4.6)
    if k < 3:                      # a radar needs three axes: bars instead
        ax = fig.add_subplot()
        ax.bar(range(k), _numbers(scores.values()), color=STUDENT, width=0.5, label=tr("this_student", lang))
        for ref, colour, name in ((class_means, CLASS, "class_avg"), (grade_means, GRADE, "grade_avg")):
            if ref:
                ax.scatter(range(k), _numbers(ref.get(lbl) for lbl in labels), color=colour, marker="D", zorder=3,
                           label=tr(name, lang))
        ax.set_xticks(range(k), labels)
        ax.set_ylim(0, 100)
    else:
        ax = fig.add_subplot(projection="polar")
        angles = np.linspace(0, 2 * math.pi, k, endpoint=False)
        closed = np.append(angles, angles[0])
        for ref, colour, name, style in ((grade_means, GRADE, "grade_avg", ":"), (class_means, CLASS, "class_avg", "--"),
                                         (scores, STUDENT, "this_student", "-")):
            if not ref:
                continue
            vals = _numbers(ref.get(lbl) for lbl in labels)
            if not np.isfinite(vals).all():
                continue
            vals = np.append(vals, vals[0])
            ax.plot(closed, vals, color=colour, ls=style, lw=2 if name == "this_student" else 1.5, label=tr(name, lang))
            if name == "this_student":
                ax.fill(closed, vals, color=colour, alpha=0.15)
        ax.set_xticks(angles, labels)
        ax.set_ylim(0, 100)
        ax.set_yticks([25, 50, 75], ["25", "50", "75"], fontsize=7, color=GRADE)
    ax.set_title(title or tr("sec_radar", lang), pad=22)
    ax.legend(loc="upper left", bbox_to_anchor=(1.12, 1.08))
    side = min(0.25, 0.03 + max(_em(x) for x in labels) * 0.012) if labels else 0.1
    fig.subplots_adjust(left=side, right=0.98 - side - 0.1, bottom=0.1, top=0.84)
    return _render(fig, title or tr("sec_radar", lang))


@_styled
def trend_lines(trends: pd.DataFrame, lang: str = "zh", title: str = "", columns: int = 3) -> SVGChart:
    """Weekly series, one small panel per indicator: the student (solid) and the class mean (dashed)
    (``student_report()["trends"]``: indicator, label, unit, week, value, class_mean)."""
    groups = list(trends.groupby("indicator", sort=False))
    n = max(len(groups), 1)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig = _figure(3.0 * cols + 0.4, 2.3 * rows + 0.5)
    for i, (_, part) in enumerate(groups):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.plot(part["week"], part["value"].astype(float), color=STUDENT, marker="o", ms=3, lw=1.6,
                label=tr("this_student", lang))
        if "class_mean" in part and part["class_mean"].notna().any():
            ax.plot(part["week"], part["class_mean"].astype(float), color=CLASS, ls="--", lw=1.2, label=tr("class_avg", lang))
        unit = str(part["unit"].iloc[0]) if "unit" in part else ""
        ax.set_title(f"{part['label'].iloc[0]}" + (f"（{unit}）" if lang == "zh" and unit else f" ({unit})" if unit else ""),
                     fontsize=9)
        ax.set_xlabel(tr("col_week", lang), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if i == 0:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(title or tr("sec_trends", lang), fontsize=11)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.12, top=1 - 0.55 / (2.3 * rows + 0.5), hspace=0.7, wspace=0.3)
    return _render(fig, title or tr("sec_trends", lang))


@_styled
def growth_bars(table: pd.DataFrame, lang: str = "zh", title: str = "") -> SVGChart:
    """Scores then and now per dimension (``table``: label, then, now, as from the growth builders)."""
    then, now = _numbers(table["then"]), _numbers(table["now"])
    labels = [str(x) for x in table["label"]]
    pos = np.arange(len(labels))
    fig = _figure(max(4.8, 1.0 + 1.0 * len(labels)), 3.2)
    ax = fig.add_subplot()
    ax.bar(pos - 0.2, np.nan_to_num(then), width=0.4, color=GRADE, label=tr("col_then", lang))
    ax.bar(pos + 0.2, np.nan_to_num(now), width=0.4, color=STUDENT, label=tr("col_now", lang))
    ax.set_xticks(pos, labels, fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel(tr("score_axis", lang))
    ax.set_title(title or tr("sec_growth", lang))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.subplots_adjust(left=0.1, right=0.82, bottom=0.16, top=0.88)
    return _render(fig, title or tr("sec_growth", lang))


@_styled
def interval_chart(rows: Sequence[Mapping], lang: str = "zh", title: str = "", hollow: Sequence[bool] | None = None) -> SVGChart:
    """Scores with their 90 % intervals as dots and whiskers, best first (``rows``: label, score, low, high);
    ``hollow`` marks estimates without direct evidence (drawn as open circles). Used for subject-choice advice,
    where a ranking without its uncertainty would read as a verdict."""
    labels = [str(r["label"]) for r in rows]
    score, low, high = (_numbers(r[k] for r in rows) for k in ("score", "low", "high"))
    n = len(labels)
    label_em = max([_em(x) for x in labels] + [4])
    width = 6.4
    fig = _figure(width, 0.9 + 0.34 * max(n, 2))
    ax = fig.add_subplot()
    pos = np.arange(n)[::-1]
    ax.hlines(pos, low, high, color=STUDENT, lw=2, alpha=0.6)
    open_ = np.array(list(hollow) if hollow is not None else [False] * n, dtype=bool)
    ax.scatter(score[~open_], pos[~open_], color=STUDENT, zorder=3, s=28)
    ax.scatter(score[open_], pos[open_], facecolor="white", edgecolor=STUDENT, zorder=3, s=28)
    ax.axvline(0, color=GRADE, ls=":", lw=1)
    ax.set_yticks(pos, labels)
    ax.set_xlabel(tr("interval_axis", lang))
    ax.set_title(title or tr("sec_subjects", lang))
    fig.subplots_adjust(left=min(0.5, (0.3 + label_em * 0.13) / width), right=0.96,
                        bottom=0.45 / (0.9 + 0.34 * max(n, 2)) + 0.08, top=0.88)
    return _render(fig, title or tr("sec_subjects", lang))


@_styled
def correlation_heatmap(corr: pd.DataFrame, lang: str = "zh", title: str = "") -> SVGChart:
    """Correlations between dimensions (−1 … 1, blue = together, red = opposite), the value in each cell
    (``ProfileModel.dimension_correlation_`` or a builder preview's ``correlation``, labels as given)."""
    k = len(corr)
    side = 1.6 + 0.55 * max(k, 2)
    label_em = max([_em(c) for c in corr.index] + [3])
    fig = _figure(side + label_em * 0.12, side)
    ax = fig.add_subplot()
    data = corr.to_numpy(float)
    im = ax.pcolormesh(np.arange(k + 1) - 0.5, np.arange(k + 1) - 0.5, np.ma.masked_invalid(data), cmap="RdBu",
                       vmin=-1, vmax=1)
    ax.set_xlim(-0.5, k - 0.5)
    ax.set_ylim(k - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xticks(range(k), [str(c) for c in corr.columns], rotation=30, ha="right")
    ax.set_yticks(range(k), [str(c) for c in corr.index])
    for r in range(k):
        for c in range(k):
            if np.isfinite(data[r, c]):
                ax.text(c, r, f"{data[r, c]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(data[r, c]) > 0.6 else "black")
    for sp in ax.spines.values():
        sp.set_visible(False)
    ax.tick_params(length=0)
    cb = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.03)
    cb.solids.set_rasterized(False)
    cb.solids.set_edgecolor("face")
    ax.set_title(title or tr("sec_correlation", lang))
    fig.subplots_adjust(left=min(0.45, 0.12 + label_em * 0.035), bottom=0.2, top=0.88, right=0.84)
    return _render(fig, title or tr("sec_correlation", lang))


@_styled
def quality_map(means: pd.DataFrame, lang: str = "zh", title: str = "") -> SVGChart:
    """Units (classes or schools, rows) × dimensions: mean scores 0–100 as colour with the value written in;
    suppressed cells (``<10`` or ``*``) are grey with their mark (a regional quality map, 区域质量地图)."""
    rows, cols = means.shape
    data = means.apply(lambda c: pd.to_numeric(c, errors="coerce")).to_numpy(float)
    label_em = max([_em(i) for i in means.index] + [4])
    width = min(12.0, 1.2 + label_em * 0.13 + cols * 1.0)
    height = 1.3 + max(rows, 2) * 0.32
    fig = _figure(width, height)
    ax = fig.add_subplot()
    ax.set_facecolor("#dddddd")
    im = ax.pcolormesh(np.arange(cols + 1) - 0.5, np.arange(rows + 1) - 0.5, np.ma.masked_invalid(data),
                       cmap="RdYlGn", vmin=30, vmax=70)
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xticks(range(cols), [str(c) for c in means.columns])
    ax.set_yticks(range(rows), [str(i) for i in means.index])
    raw = means.to_numpy(object)
    for r in range(rows):
        for c in range(cols):
            txt = f"{data[r, c]:.1f}" if np.isfinite(data[r, c]) else str(raw[r, c])
            ax.text(c, r, txt, ha="center", va="center", fontsize=8)
    ax.tick_params(length=0)
    for sp in ax.spines.values():
        sp.set_visible(False)
    cb = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    cb.solids.set_rasterized(False)
    cb.solids.set_edgecolor("face")
    ax.set_title(title or tr("sec_quality_map", lang))
    fig.subplots_adjust(left=min(0.5, (0.3 + label_em * 0.13) / width), right=0.95, bottom=0.12, top=1 - 0.45 / height)
    return _render(fig, title or tr("sec_quality_map", lang))
