"""ProfileModel: a scikit-learn estimator that turns indicator values into a composite profile.

``fit`` learns, per scope group, how to normalise each indicator, which indicators have data
(others are excluded and the weights renormalised), how reliable each dimension is (Cronbach's
alpha), how the dimensions correlate, and the segments. ``transform`` returns the dimension scores
and the composite on 0–100; :meth:`ProfileModel.profile` returns everything a report needs:
normalised values, tags, segment and an explanation in words, per student.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"acad_score_z": rng.normal(size=60), "acad_exam_mean": rng.normal(70, 10, 60),
...                   "emo_mood_mean": rng.normal(3.6, 0.4, 60), "psy_gad7_max": rng.integers(0, 21, 60)},
...                  index=[f"S{i}" for i in range(60)]).assign(grade=7)
>>> from workbench.model.spec import spec_from_dict
>>> spec = spec_from_dict({"version": 1, "id": "tiny", "dimensions": {
...     "academic": {"indicators": [{"id": "acad_score_z"}, {"id": "acad_exam_mean"}]},
...     "emotion": {"indicators": [{"id": "emo_mood_mean"}, {"id": "psy_gad7_max"}]}},
...     "segments": {"k": 2}})
>>> model = ProfileModel(spec).fit(X)
>>> model.get_params()["spec"] == spec, list(model.transform(X).columns)
(True, ['academic', 'emotion', 'overall'])
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from workbench.indicators.catalogue import load_catalogue
from workbench.model.expr import parse_rule
from workbench.model.normalise import ALL, NORMALISERS
from workbench.model.segments import Segmenter
from workbench.model.spec import ProfileSpec, load_spec, spec_from_dict

SCOPE_COLUMNS = {"class": "class_id", "grade": "grade", "school": "school_id"}
SCOPE_WORDS = {"class": ("班级", "class"), "grade": ("年级", "grade"), "school": ("全校", "school")}
ALPHA_WARN = 0.6
TOP_FACTORS = 3


@dataclass
class ProfileResult:
    """Everything :meth:`ProfileModel.profile` knows about each student (index = student_key)."""
    indicators: pd.DataFrame     # raw indicator values
    normalised: pd.DataFrame     # [0, 1], direction-adjusted (1 = favourable), NaN = not used
    dimensions: pd.DataFrame     # 0–100 per dimension, and overall
    tags: pd.DataFrame           # bool per tag id
    segment: pd.Series           # 1..k (1 = strongest centre)
    segment_zh: pd.Series
    segment_en: pd.Series
    explanation_zh: pd.Series
    explanation_en: pd.Series
    imputed: pd.Series           # list of indicator ids imputed for the student

    def tag_lists(self) -> pd.Series:
        cols = list(self.tags.columns)
        return self.tags.apply(lambda r: [c for c in cols if r[c]], axis=1) if cols else \
            pd.Series([[] for _ in range(len(self.tags))], index=self.tags.index)


def as_spec(spec: ProfileSpec | dict | str | Path) -> ProfileSpec:
    if isinstance(spec, ProfileSpec):
        return spec
    if isinstance(spec, dict):
        return spec_from_dict(spec)
    return load_spec(spec)


class ProfileModel(TransformerMixin, BaseEstimator):
    """Composite profile model defined by a :class:`~workbench.model.spec.ProfileSpec`.

    Parameters
    ----------
    spec : ProfileSpec, dict, or a spec file / shipped spec name. The only parameter:
        ``get_params()`` is ``{"spec": spec}``; the segmentation seed lives in the spec.
    """

    def __init__(self, spec: ProfileSpec | dict | str | Path | None = None):
        self.spec = spec

    # ------------------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None) -> ProfileModel:
        spec = as_spec(self.spec)
        cat = load_catalogue()
        X = self._frame(X)
        self.spec_ = spec
        sel = select_indicators(spec, X, cat)
        self.weights_, self.signs_, self.excluded_ = sel.weights, sel.signs, sel.excluded
        self.warnings_ = list(sel.warnings)
        self.dimension_weights_ = sel.dimension_weights
        self.indicators_ = [i for w in self.weights_.values() for i in w]
        groups = self._groups(X)
        self.normalisers_, self.medians_ = {}, {}
        for i in self.indicators_:
            self.normalisers_[i], self.medians_[i] = fit_indicator(X[i], groups, spec.normaliser)
        norm, raw_u, imputed = self._normalise(X)
        dims = self._dimensions(norm)
        self.reliability_ = {d: _cronbach_alpha(norm[list(w)]) for d, w in self.weights_.items()}
        self.warnings_ += alpha_warnings(spec, self.reliability_)
        self.dimension_correlation_ = dims[list(self.weights_)].corr(method="spearman")
        self.segmenter_ = Segmenter(**_segment_params(spec)).fit(dims[list(self.weights_)])
        self.segment_labels_ = self.segmenter_.describe(
            list(self.weights_), {d: (cat.dimension_short(d, "zh"), cat.dimension_short(d, "en"))
                                  for d in self.weights_} | _custom_dim_names(spec))
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = np.array(list(X.columns), dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Dimension scores and ``overall`` on 0–100 (one row per student)."""
        self._check_fitted()
        norm, _, _ = self._normalise(self._frame(X))
        return self._dimensions(norm)

    def predict(self, X: pd.DataFrame) -> pd.Series:
        """Segment number per student (1 = the segment with the strongest centre)."""
        return self.segmenter_.predict(self.transform(X)[list(self.weights_)])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        self._check_fitted()
        return np.array([*self.weights_, "overall"], dtype=object)

    # ------------------------------------------------------------------------------------
    def profile(self, X: pd.DataFrame) -> ProfileResult:
        """All per-student outputs: indicators, normalised values, scores, tags, segment, explanation."""
        self._check_fitted()
        X = self._frame(X)
        norm, raw_u, imputed = self._normalise(X)
        dims = self._dimensions(norm)
        tags = self._tags(X, dims)
        seg = self.segmenter_.predict(dims[list(self.weights_)])
        zh, en = self._explain(X, norm, raw_u, imputed)
        return ProfileResult(
            indicators=X[[c for c in X.columns if c not in SCOPE_COLUMNS.values()]], normalised=norm,
            dimensions=dims, tags=tags, segment=seg,
            segment_zh=seg.map(lambda s: self.segment_labels_[s]["zh"]),
            segment_en=seg.map(lambda s: self.segment_labels_[s]["en"]),
            explanation_zh=zh, explanation_en=en,
            imputed=imputed.apply(lambda r: [c for c in imputed.columns if r[c]], axis=1)
            if len(imputed.columns) else pd.Series([[] for _ in range(len(X))], index=X.index))

    def report(self) -> dict:
        """Reliability, correlations, exclusions, warnings and segments, as plain data."""
        self._check_fitted()
        return {"spec_id": self.spec_.id, "spec_hash": self.spec_.hash,
                "reliability": {d: (None if a is None else round(a, 4)) for d, a in self.reliability_.items()},
                "dimension_correlation": self.dimension_correlation_.round(4).to_dict(),
                "excluded_indicators": self.excluded_, "warnings": self.warnings_,
                "segments": {str(k): v for k, v in self.segment_labels_.items()},
                "n_segments": self.segmenter_.n_segments_, "segment_method": self.segmenter_.method}

    # ------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "weights_"):
            from sklearn.exceptions import NotFittedError
            raise NotFittedError("call fit before transform / 请先 fit")

    @staticmethod
    def _frame(X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a DataFrame indexed by student_key with one column per indicator")
        return X

    def _groups(self, X: pd.DataFrame) -> pd.Series:
        return scope_groups(X, self.spec_.scope)

    def _normalise(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        groups = self._groups(X)
        norm, raw_u, imputed = {}, {}, {}
        for i in self.indicators_:
            x = X[i] if i in X.columns else pd.Series(np.nan, index=X.index)
            u, miss = apply_indicator(self.normalisers_[i], self.medians_[i], x, groups, self.spec_.missing)
            if miss is not None:
                imputed[i] = miss
            raw_u[i] = u
            norm[i] = u if self.signs_[i] > 0 else 1.0 - u
        idx = X.index
        return (pd.DataFrame(norm, index=idx), pd.DataFrame(raw_u, index=idx),
                pd.DataFrame(imputed, index=idx, dtype=bool) if imputed else pd.DataFrame(index=idx))

    def _dimensions(self, norm: pd.DataFrame) -> pd.DataFrame:
        return dimension_scores(norm, self.weights_, self.dimension_weights_)

    def _tags(self, X: pd.DataFrame, dims: pd.DataFrame) -> pd.DataFrame:
        space = pd.concat([X.drop(columns=[c for c in X.columns if c in dims.columns], errors="ignore"), dims], axis=1)
        out = {}
        for t in self.spec_.tags:
            rule = parse_rule(t["rule"])
            missing = [n for n in rule.names if n not in space.columns]
            for n in missing:  # a dimension left out, or an indicator not computed: the comparison is false
                space[n] = np.nan
            out[t["id"]] = rule.evaluate(space)
        return pd.DataFrame(out, index=X.index, dtype=bool)

    def _explain(self, X, norm, raw_u, imputed) -> tuple[pd.Series, pd.Series]:
        cat = load_catalogue()
        total = sum(self.dimension_weights_.values())
        contrib = {}
        for d, w in self.weights_.items():
            sw = sum(w.values())
            for i, wi in w.items():
                contrib[i] = (self.dimension_weights_[d] / total) * (wi / sw) * (norm[i] - 0.5)
        C = pd.DataFrame(contrib, index=X.index)
        arr = C.to_numpy()
        order = np.argsort(-np.nan_to_num(np.abs(arr), nan=-1.0), axis=1)[:, :TOP_FACTORS]
        cols = list(C.columns)
        scope_zh, scope_en = SCOPE_WORDS[self.spec_.scope]
        zh_out, en_out = [], []
        Xv = {i: X[i].to_numpy(float) if i in X.columns else np.full(len(X), np.nan) for i in cols}
        Uv = {i: raw_u[i].to_numpy() for i in cols}
        Iv = {i: imputed[i].to_numpy() if i in imputed.columns else np.zeros(len(X), bool) for i in cols}
        for r in range(len(X)):
            zh_parts, en_parts = [], []
            for j in order[r]:
                c = arr[r, j]
                if not np.isfinite(c) or abs(c) < 1e-9:
                    continue
                i = cols[j]
                ind = cat[i]
                above = Uv[i][r] > 0.5
                val = "—" if Iv[i][r] else _fmt(Xv[i][r])
                zh_parts.append(f"{ind.label('zh')} {val}{ind.unit.get('zh', '')}"
                                f"（{'高于' if above else '低于'}{scope_zh}多数同学，{'有利' if c > 0 else '不利'}"
                                f"{'，缺失已插补' if Iv[i][r] else ''}）")
                en_parts.append(f"{ind.label('en')} {val} {ind.unit.get('en', '')}".rstrip()
                                + f" ({'above' if above else 'below'} most of the {scope_en}, "
                                f"{'favourable' if c > 0 else 'unfavourable'}{', missing so imputed' if Iv[i][r] else ''})")
            zh_out.append("；".join(zh_parts) or "无突出因素")
            en_out.append("; ".join(en_parts) or "no factor stands out")
        return pd.Series(zh_out, index=X.index), pd.Series(en_out, index=X.index)


# ---------------------------------------------------------------------------------------- shared steps
# ProfileModel.fit and the model builder's live preview (workbench.model.preview) run the same steps.
@dataclass
class Selection:
    """Which of a spec's indicators score here, with what weight and sign, and what was left out."""
    weights: dict[str, dict[str, float]]       # dimension → indicator → weight (> 0, with data)
    signs: dict[str, int]                       # indicator → +1 (higher better) / −1
    dimension_weights: dict[str, float]
    excluded: dict[str, str]                    # indicator → why (spec path, zh/en)
    warnings: list[str]


def select_indicators(spec: ProfileSpec, X: pd.DataFrame, cat=None) -> Selection:
    """Keep the spec's indicators that have data in ``X`` and a weight above 0; dimensions left without
    one are dropped (and the composite reweighted)."""
    cat = cat or load_catalogue()
    weights: dict[str, dict[str, float]] = {}
    signs: dict[str, int] = {}
    excluded: dict[str, str] = {}
    warnings_: list[str] = []
    for d, dspec in spec.dimensions.items():
        kept = {}
        for i, ind in enumerate(dspec["indicators"]):
            iid = ind["id"]
            direction = ind.get("direction", cat[iid].direction)
            signs[iid] = 1 if direction == "higher_better" else -1
            if iid not in X.columns or X[iid].notna().sum() == 0:
                excluded[iid] = (f"{spec.source}: dimensions.{d}.indicators[{i}].id: {iid} has no data here; "
                                 f"excluded and the other weights of {d} renormalised / 该指标无数据，已排除并重新分配权重")
                continue
            if float(ind.get("weight", 1)) > 0:
                kept[iid] = float(ind.get("weight", 1))
        if kept:
            weights[d] = kept
        else:
            warnings_.append(f"{spec.source}: dimensions.{d}: no indicator of this dimension has data; the "
                             f"dimension is left out and the composite reweighted / 该维度无可用指标，已排除")
    if not weights:
        raise ValueError(f"{spec.source}: none of the spec's indicators has data / 所有指标均无数据")
    dimension_weights = {d: float(spec.dimensions[d].get("weight", 1)) for d in weights}
    return Selection(weights, signs, dimension_weights, excluded, warnings_)


def scope_groups(X: pd.DataFrame, scope: str) -> pd.Series:
    """The comparison group of each student (class, grade or school); missing → everyone."""
    col = SCOPE_COLUMNS[scope]
    if col in X.columns:
        return X[col].astype(object).where(X[col].notna(), ALL)
    return pd.Series(ALL, index=X.index, dtype=object)


def fit_indicator(x: pd.Series, groups: pd.Series, normaliser: str):
    """The fitted normaliser of one indicator and its medians per scope group (for imputation)."""
    x = x.astype(float)
    fitted = NORMALISERS[normaliser]().fit(x, groups)
    med = x.groupby(groups.to_numpy()).median().to_dict()
    med[ALL] = float(x.median())
    return fitted, med


def apply_indicator(fitted, medians: dict, x: pd.Series, groups: pd.Series,
                    missing: str) -> tuple[pd.Series, pd.Series | None]:
    """Values on [0, 1] (0.5 = the group's typical student, direction not yet applied), and which rows
    were imputed (``None`` unless the policy is ``impute``)."""
    x = x.astype(float)
    imputed = None
    if missing == "impute":
        miss = x.isna()
        if miss.any():
            fill = groups[miss].map(lambda g: medians.get(g, medians[ALL])).astype(float).fillna(medians[ALL])
            x = x.copy()
            x[miss] = fill
        imputed = miss
    return fitted.transform(x, groups), imputed


def dimension_scores(norm: pd.DataFrame, weights: dict[str, dict[str, float]],
                     dimension_weights: dict[str, float]) -> pd.DataFrame:
    """Dimension scores (0–100, weighted mean of the available normalised indicators) and ``overall``."""
    out = {d: 100 * _weighted_mean(norm[list(w)], np.array(list(w.values()))) for d, w in weights.items()}
    dims = pd.DataFrame(out, index=norm.index)
    dims["overall"] = _weighted_mean(dims, np.array([dimension_weights[d] for d in weights]))
    return dims


def alpha_warnings(spec: ProfileSpec, reliability: dict[str, float | None]) -> list[str]:
    return [f"{spec.source}: dimensions.{d}: its indicators do not hang together (Cronbach's alpha = {a:.2f} < "
            f"{ALPHA_WARN}); read this dimension's score with care / 该维度指标内部一致性低（α = {a:.2f}）"
            for d, a in reliability.items() if a is not None and a < ALPHA_WARN]


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return "—"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:.0f}"
    return f"{v:.2f}" if abs(v) < 10 else f"{v:.1f}"


def _weighted_mean(frame: pd.DataFrame, weights: np.ndarray) -> pd.Series:
    vals = frame.to_numpy(float)
    have = ~np.isnan(vals)
    w = np.where(have, weights[None, :], 0.0)
    den = w.sum(axis=1)
    num = (np.where(have, vals, 0.0) * w).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.Series(np.where(den > 0, num / np.where(den > 0, den, 1), np.nan), index=frame.index)


def _cronbach_alpha(items: pd.DataFrame) -> float | None:
    """Cronbach's alpha over complete rows; None for fewer than two indicators or too few rows."""
    items = items.dropna()
    k = items.shape[1]
    if k < 2 or len(items) < 3:
        return None
    total = items.sum(axis=1).var(ddof=1)
    if not total:
        return None
    return float(k / (k - 1) * (1 - items.var(ddof=1).sum() / total))


def _segment_params(spec: ProfileSpec) -> dict:
    seg = spec.segments
    return {"method": seg.get("method", "kmeans"), "k": seg.get("k", "auto"),
            "k_range": tuple(seg.get("k_range", [2, 6])), "seed": seg.get("seed", 0)}


def _custom_dim_names(spec: ProfileSpec) -> dict:
    return {d: (v["name"]["zh"], v["name"]["en"]) for d, v in spec.dimensions.items() if isinstance(v.get("name"), dict)}
