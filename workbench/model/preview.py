"""Live preview for the model builder: what a spec would give, recomputed as fast as the user edits.

:class:`PreviewEngine` holds one term's indicator values (all of the catalogue's indicators, computed
once) and caches each indicator's normalised column per (normaliser, scope, missing policy): those do
not depend on weights, so moving a weight slider only re-averages cached columns. The steps are the
ones :class:`~workbench.model.estimator.ProfileModel` runs (shared functions, not a second copy), so a
preview's scores equal the fitted model's ``transform`` exactly (a test holds this).

Segments are the slow part (k-means over k = 2…6 with silhouettes); they are computed on request
(:meth:`PreviewEngine.segments`), not on every slider move.

>>> import numpy as np, pandas as pd
>>> from workbench.model.spec import spec_from_dict
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"acad_exam_mean": rng.normal(70, 10, 40), "emo_mood_mean": rng.normal(3.6, 0.4, 40),
...                   "psy_gad7_max": rng.integers(0, 21, 40).astype(float), "grade": 7},
...                  index=[f"S{i:05d}" for i in range(40)])
>>> spec = spec_from_dict({"version": 1, "id": "tiny", "dimensions": {
...     "academic": {"indicators": [{"id": "acad_exam_mean"}]},
...     "emotion": {"indicators": [{"id": "emo_mood_mean"}, {"id": "psy_gad7_max"}]}}})
>>> p = PreviewEngine(X).preview(spec)
>>> p.n_students, list(p.dimensions.columns), int(p.histogram.sum())
(40, ['academic', 'emotion', 'overall'], 40)
>>> PreviewEngine(X).rule_check("academic < 40 and", spec).ok
False
"""
from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.indicators.catalogue import Catalogue, load_catalogue
from workbench.model.estimator import (
    SCOPE_COLUMNS, _cronbach_alpha, _custom_dim_names, _segment_params, alpha_warnings, apply_indicator,
    dimension_scores, fit_indicator, scope_groups, select_indicators)
from workbench.model.expr import RuleError, parse_rule
from workbench.model.segments import Segmenter
from workbench.model.spec import ProfileSpec

BINS = np.arange(0, 101, 10)
REDUNDANT = 0.85          # dimensions correlated above this measure nearly the same thing
TOP = 5


@dataclass
class Preview:
    """What the spec gives on this term's students (scores 0–100)."""
    dimensions: pd.DataFrame                     # student_key × (dimensions…, overall)
    weights: dict[str, dict[str, float]]         # effective shares: each dimension's indicators sum to 1
    dimension_shares: dict[str, float]           # each dimension's share of the composite (sum 1)
    histogram: np.ndarray                        # composite counts in bins of 10 (0–10 … 90–100)
    reliability: dict[str, float | None]         # Cronbach's alpha per dimension
    correlation: pd.DataFrame                    # Spearman between dimension scores
    top: pd.DataFrame                            # display, overall, dimensions… (highest composite first)
    bottom: pd.DataFrame
    tag_counts: dict[str, int]
    excluded: dict[str, str]
    warnings: list[dict[str, str]] = field(default_factory=list)   # {"zh": …, "en": …}

    @property
    def n_students(self) -> int:
        return len(self.dimensions)

    def summary(self) -> dict[str, float]:
        o = self.dimensions["overall"].dropna()
        return {"mean": round(float(o.mean()), 2), "median": round(float(o.median()), 2),
                "sd": round(float(o.std()), 2), "students": int(len(o))}


@dataclass(frozen=True)
class RuleCheck:
    """A tag rule checked as it is typed: ``ok``, the message (zh/en) when not, how many students it selects."""
    ok: bool
    zh: str = ""
    en: str = ""
    count: int | None = None

    def message(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


class PreviewEngine:
    """Previews of specs over one term's indicator values.

    Parameters
    ----------
    features : indicator values, one row per student (index ``student_key``), plus the scope columns
        ``class_id``, ``grade``, ``school_id`` where known (``IndicatorFrame.values.join(scope)``).
    display : student_key → the text shown for a student in the top/bottom lists. Default: the
        pseudonymous display code; pass display names only where the viewer's role allows them.
    """

    def __init__(self, features: pd.DataFrame, *, display: Callable[[str], str] | None = None,
                 catalogue: Catalogue | None = None):
        from workbench.reports.common import display_code
        self.X = features
        self.display = display or display_code
        self.catalogue = catalogue or load_catalogue()
        self._columns: dict[tuple, np.ndarray] = {}
        self._groups: dict[str, pd.Series] = {}
        self._alpha: dict[tuple, float | None] = {}

    @classmethod
    def from_store(cls, con, term: str, *, progress=None, **kwargs) -> PreviewEngine:
        """Compute every catalogue indicator for ``term`` (a few seconds for a school) and wrap them."""
        from workbench.indicators import compute_indicators
        frame = compute_indicators(con, term, progress=progress)
        if frame.values.empty:
            raise ValueError(f"term {term!r} has no students in this store / 该学期没有学生数据")
        return cls(frame.values.join(frame.scope), **kwargs)

    # ------------------------------------------------------------------------------------
    def _scope(self, scope: str) -> pd.Series:
        if scope not in self._groups:
            self._groups[scope] = scope_groups(self.X, scope)
        return self._groups[scope]

    def _unsigned(self, iid: str, spec: ProfileSpec) -> np.ndarray:
        """The indicator on [0, 1] before its direction is applied (cached)."""
        key = (iid, spec.normaliser, spec.scope, spec.missing)
        if key not in self._columns:
            groups = self._scope(spec.scope)
            x = self.X[iid]
            fitted, med = fit_indicator(x, groups, spec.normaliser)
            u, _ = apply_indicator(fitted, med, x, groups, spec.missing)
            self._columns[key] = u.to_numpy(float)
        return self._columns[key]

    def normalised(self, spec: ProfileSpec, indicators: list[str], signs: Mapping[str, int]) -> pd.DataFrame:
        cols = {}
        for i in indicators:
            u = self._unsigned(i, spec)
            cols[i] = u if signs[i] > 0 else 1.0 - u
        return pd.DataFrame(cols, index=self.X.index)

    def scores(self, spec: ProfileSpec) -> tuple[pd.DataFrame, object, pd.DataFrame]:
        """(dimension scores with overall, the selection, the normalised indicators)."""
        sel = select_indicators(spec, self.X, self.catalogue)
        norm = self.normalised(spec, [i for w in sel.weights.values() for i in w], sel.signs)
        return dimension_scores(norm, sel.weights, sel.dimension_weights), sel, norm

    def preview(self, spec: ProfileSpec, *, top: int = TOP) -> Preview:
        """Scores, distribution, reliability, correlations, top/bottom students and tag counts for ``spec``."""
        dims, sel, norm = self.scores(spec)
        reliability = {}
        for d, w in sel.weights.items():
            key = (tuple((i, sel.signs[i]) for i in w), spec.normaliser, spec.scope, spec.missing)
            if key not in self._alpha:
                self._alpha[key] = _cronbach_alpha(norm[list(w)])
            reliability[d] = self._alpha[key]
        names = list(sel.weights)
        corr = dims[names].corr(method="spearman")
        overall = dims["overall"].to_numpy(float)
        hist, _ = np.histogram(overall[np.isfinite(overall)], bins=BINS)
        shares = {d: {i: wi / sum(w.values()) for i, wi in w.items()} for d, w in sel.weights.items()}
        total = sum(sel.dimension_weights.values())
        dshares = {d: (v / total if total else 0.0) for d, v in sel.dimension_weights.items()}
        warnings = [_split_message(t) for t in [*sel.excluded.values(), *sel.warnings, *alpha_warnings(spec, reliability)]]
        warnings += self._redundancy(corr)
        return Preview(dimensions=dims, weights=shares, dimension_shares=dshares, histogram=hist,
                       reliability=reliability, correlation=corr, top=self._ranked(dims, top, False),
                       bottom=self._ranked(dims, top, True), tag_counts=self._tag_counts(spec, dims),
                       excluded=dict(sel.excluded), warnings=warnings)

    def _redundancy(self, corr: pd.DataFrame) -> list[dict[str, str]]:
        out = []
        cols = list(corr.columns)
        for a in range(len(cols)):
            for b in range(a + 1, len(cols)):
                r = corr.iloc[a, b]
                if np.isfinite(r) and r > REDUNDANT:
                    da, db = (self.catalogue.dimension_short(c, "zh") for c in (cols[a], cols[b]))
                    ea, eb = (self.catalogue.dimension_short(c, "en") for c in (cols[a], cols[b]))
                    out.append({"zh": f"{da}与{db}高度相关（ρ = {r:.2f}），可能在重复计分",
                                "en": f"{ea} and {eb} are highly correlated (ρ = {r:.2f}); they may count the same "
                                      f"thing twice"})
        return out

    def _ranked(self, dims: pd.DataFrame, n: int, ascending: bool) -> pd.DataFrame:
        o = dims["overall"].dropna().sort_values(ascending=ascending, kind="stable")
        part = dims.loc[o.index[:n]].round(1)
        part.insert(0, "display", [self.display(k) for k in part.index])
        return part.reset_index(drop=True)

    # ------------------------------------------------------------------------------------ tags
    def _space(self, names, dims: pd.DataFrame) -> pd.DataFrame:
        cols = {}
        for n in names:
            if n in dims.columns:
                cols[n] = dims[n]
            elif n in self.X.columns:
                cols[n] = self.X[n].astype(float)
            else:
                cols[n] = pd.Series(np.nan, index=dims.index)
        return pd.DataFrame(cols, index=dims.index)

    def _tag_counts(self, spec: ProfileSpec, dims: pd.DataFrame) -> dict[str, int]:
        out = {}
        for t in spec.tags:
            rule = parse_rule(t["rule"])
            out[t["id"]] = int(rule.evaluate(self._space(rule.names, dims)).sum())
        return out

    def known_names(self, spec: ProfileSpec) -> set[str]:
        return {"overall"} | set(self.catalogue.indicators) | set(spec.dimensions)

    def rule_check(self, text: str, spec: ProfileSpec, dims: pd.DataFrame | None = None) -> RuleCheck:
        """Check a tag rule as typed and count the students it selects under ``spec``."""
        try:
            rule = parse_rule(text)
        except RuleError as exc:
            msg = str(exc)
            en, _, zh = msg.partition(" / ")
            return RuleCheck(False, f"{zh or '规则无法解析'}（{en}）", en)
        known = self.known_names(spec)
        for n in sorted(rule.names - known):
            close = difflib.get_close_matches(n, sorted(known), 1)
            hint_zh, hint_en = (f"，是不是 {close[0]}？", f"; did you mean {close[0]}?") if close else ("", "")
            return RuleCheck(False, f"未知字段 {n}{hint_zh}（可用维度编号、overall 或指标编号）",
                             f"unknown field {n!r}{hint_en} (use a dimension id, overall or an indicator id)")
        if dims is None:
            dims = self.scores(spec)[0]
        count = int(rule.evaluate(self._space(rule.names, dims)).sum())
        return RuleCheck(True, f"选中 {count} 名学生", f"selects {count} students", count)

    # ------------------------------------------------------------------------------------ on request
    def segments(self, spec: ProfileSpec, dims: pd.DataFrame | None = None) -> pd.DataFrame:
        """Segments as the spec's segmentation would make them: number, students, words (zh/en), centre."""
        if dims is None:
            dims = self.scores(spec)[0]
        cols = [c for c in dims.columns if c != "overall"]
        seg = Segmenter(**_segment_params(spec)).fit(dims[cols])
        labels = seg.predict(dims[cols])
        cat = self.catalogue
        words = seg.describe(cols, {d: (cat.dimension_short(d, "zh"), cat.dimension_short(d, "en")) for d in cols}
                             | _custom_dim_names(spec))
        means = dims[cols].groupby(labels.to_numpy()).mean().round(1)
        return pd.DataFrame([{"segment": s, "students": int((labels == s).sum()), "zh": words[s]["zh"],
                              "en": words[s]["en"], **means.loc[s].to_dict()} for s in sorted(words)])

    def student(self, spec: ProfileSpec, student_key: str, dims: pd.DataFrame | None = None) -> dict:
        """One student's dimension scores and the means of their scope group (for the radar)."""
        if dims is None:
            dims = self.scores(spec)[0]
        cols = [c for c in dims.columns if c != "overall"]
        groups = self._scope(spec.scope)
        same = groups == groups.loc[student_key]
        return {"display": self.display(student_key), "scores": dims.loc[student_key, cols].round(1).to_dict(),
                "group_means": dims.loc[same, cols].mean().round(1).to_dict() if same.sum() >= 10 else None,
                "scope": spec.scope, "scope_column": SCOPE_COLUMNS[spec.scope]}


def _split_message(text: str) -> dict[str, str]:
    """``source: path: english / 中文`` → {"zh": "path：中文", "en": "path: english"}."""
    parts = text.split(": ", 2)
    path, body = (parts[1], parts[2]) if len(parts) == 3 else ("", text)
    en, _, zh = body.partition(" / ")
    return {"zh": f"{path}：{zh or en}" if path else (zh or en), "en": f"{path}: {en}" if path else en}
