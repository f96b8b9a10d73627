"""Why a student is at risk: the top factors in words (zh and en), from a fitted :class:`RiskModel`.

Method (cheap and honest about what it measures): **one-at-a-time reference substitution**. For each
feature, the student's value is replaced by the median of their peers (students of the same module in
the training terms, at the same cut-off week, i.e. ``RiskModel.reference_``) and the risk predicted
again; the factor's contribution is how much higher the student's risk is with their own value than
with the peers' (``risk(x) − risk(x with x_j := peer median)``). A factor is named when it raises the
risk. It is the model's local sensitivity, not a causal effect: two correlated features (e.g. assessments
missed and weighted score) can each look smaller than both together, and a value the student has no data
for (no click log in the class) is never named. Wording: "well below / below / above / well above peers",
"well" meaning beyond the peers' 10th or 90th percentile; labels come from the indicator catalogue and
``risk_features.yaml``.

>>> import numpy as np, pandas as pd
>>> from workbench.alerts.risk import RiskModel
>>> rng = np.random.default_rng(1)
>>> X = pd.DataFrame({"beh_active_days": rng.integers(0, 40, 500).astype(float),
...                   "risk_missed": rng.integers(0, 3, 500).astype(float)})
>>> y = (X["beh_active_days"] < 10).astype(int)
>>> model = RiskModel(max_iter=40, peer_column=None).fit(X, y)
>>> out = explain(model, pd.DataFrame({"beh_active_days": [2.0], "risk_missed": [0.0]}))
>>> out.loc[0, "factors"], out.loc[0, "explanation_en"]
(['beh_active_days'], 'Login days well below peers (2 days; peers 20 days)')
>>> out.loc[0, "explanation_zh"]
'登录天数明显低于同伴（2天；同伴中位数 20天）'
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.alerts.risk import RiskModel
from workbench.alerts.risk_catalogue import Feature, feature_catalogue

TOP_FACTORS = 3
MIN_CONTRIBUTION = 0.005          # half a percentage point of risk: below this a factor is noise
LEVEL_WORDS = {"well_below": ("明显低于同伴", "well below peers"), "below": ("低于同伴", "below peers"),
               "same": ("与同伴相当", "about the same as peers"), "above": ("高于同伴", "above peers"),
               "well_above": ("明显高于同伴", "well above peers")}
NOTHING = ("无突出风险因素", "no risk factor stands out")


def _peer_rows(model: RiskModel, X: pd.DataFrame, table: pd.DataFrame, key: object = None) -> pd.DataFrame:
    """Rows of ``table`` (``reference_``, or ``quantiles_`` at ``key``) for each student's peer group, with the
    all-peers row where a group (or a group's value) is missing."""
    if key is not None:
        table = table.xs(key, level=1)
    overall = table.loc["*"]
    pc = model.peer_column
    if pc is not None and pc in X.columns:
        g = X[pc].astype(object)
        g = g.where(g.isin(list(table.index)), "*")
    else:
        g = pd.Series("*", index=X.index)
    rows = table.reindex(g.to_numpy())
    rows.index = X.index
    return rows.fillna(overall)


def contributions(model: RiskModel, X: pd.DataFrame) -> pd.DataFrame:
    """Risk contribution of each feature for each student (see the module's method); 0 where the student
    has no value. Columns: ``model.features_used_`` without the peer column.

    >>> import pandas as pd
    >>> from workbench.alerts.risk import RiskModel
    >>> X = pd.DataFrame({"risk_missed": [0., 1, 2, 3] * 50, "noise": [1., 2] * 100})
    >>> model = RiskModel(max_iter=20, peer_column=None).fit(X, [0, 0, 1, 1] * 50)
    >>> c = contributions(model, pd.DataFrame({"risk_missed": [3.0], "noise": [1.0]}))
    >>> bool(c.loc[0, "risk_missed"] > 0.2), bool(abs(c.loc[0, "noise"]) < 0.05)
    (True, True)
    """
    X = X[list(model.feature_names_in_)]
    feats = [c for c in model.features_used_ if c != model.peer_column]
    if X.empty or not feats:
        return pd.DataFrame(0.0, index=X.index, columns=feats)
    base = model.risk(X).to_numpy()
    ref = _peer_rows(model, X, model.reference_)
    swapped = []
    for c in feats:
        part = X.copy()
        if isinstance(X[c].dtype, pd.CategoricalDtype):
            part[c] = pd.Categorical(ref[c].to_numpy(), categories=X[c].cat.categories)
        else:
            part[c] = ref[c].to_numpy(dtype=float)
        swapped.append(part)
    p = model.risk(pd.concat(swapped, ignore_index=True)).to_numpy().reshape(len(feats), len(X)).T
    out = pd.DataFrame(base[:, None] - p, index=X.index, columns=feats)
    return out.where(X[feats].notna().to_numpy(), 0.0)


def _level(x: float, ref: float, lo: float, hi: float) -> str:
    if not np.isfinite(ref) or x == ref:
        return "same"
    if x < ref:
        return "well_below" if np.isfinite(lo) and x <= lo else "below"
    return "well_above" if np.isfinite(hi) and x >= hi else "above"


def _words(f: Feature | None, fid: str, x: object, ref: object, level: str) -> tuple[str, str]:
    if f is None:
        f = Feature(fid, {"zh": fid, "en": fid}, {}, "neutral")
    if f.levels or f.categorical:
        return f"{f.label('zh')}：{f.value_text(x, 'zh')}", f"{f.label('en')}: {f.value_text(x, 'en')}"
    zh_level, en_level = LEVEL_WORDS[level]
    return (f"{f.label('zh')}{zh_level}（{f.value_text(x, 'zh')}；同伴中位数 {f.value_text(ref, 'zh')}）",
            f"{f.label('en')} {en_level} ({f.value_text(x, 'en')}; peers {f.value_text(ref, 'en')})")


def explain(model: RiskModel, X: pd.DataFrame, k: int = TOP_FACTORS) -> pd.DataFrame:
    """The top ``k`` factors that raise each student's risk, in zh and en.

    Parameters
    ----------
    model : a fitted :class:`~workbench.alerts.risk.RiskModel`.
    X : features of the students to explain (the model's columns), e.g. ``RiskFrame.X`` of a class.
    k : at most this many factors per student (fewer when fewer raise the risk by ``MIN_CONTRIBUTION``).

    Returns
    -------
    DataFrame indexed like ``X``: ``risk`` (probability), ``factors`` (feature ids, strongest first),
    ``explanation_zh`` and ``explanation_en`` (the factors in words, or "no risk factor stands out").
    """
    X = X[list(model.feature_names_in_)]
    contrib = contributions(model, X)
    feats = feature_catalogue()[0]
    ref = _peer_rows(model, X, model.reference_)
    lo, hi = _peer_rows(model, X, model.quantiles_, 0.1), _peer_rows(model, X, model.quantiles_, 0.9)
    cols = list(contrib.columns)
    C = contrib.to_numpy()
    order = np.argsort(-C, axis=1)[:, :k]
    factors, zh_all, en_all = [], [], []
    for r in range(len(X)):
        ids, zh, en = [], [], []
        for j in order[r]:
            if C[r, j] < MIN_CONTRIBUTION:
                break
            c = cols[j]
            x, rv = X[c].iloc[r], ref[c].iloc[r]
            numeric = not (feats.get(c) and (feats[c].levels or feats[c].categorical))
            level = _level(float(x), float(rv), float(lo[c].iloc[r]), float(hi[c].iloc[r])) if numeric else "same"
            z, e = _words(feats.get(c), c, x, rv, level)
            ids.append(c)
            zh.append(z)
            en.append(e)
        factors.append(ids)
        zh_all.append("；".join(zh) or NOTHING[0])
        en_all.append("; ".join(en) or NOTHING[1])
    return pd.DataFrame({"risk": model.risk(X).to_numpy() if len(X) else [], "factors": factors,
                         "explanation_zh": zh_all, "explanation_en": en_all}, index=X.index)


def score_in_chunks(model: RiskModel, X: pd.DataFrame, chunk: int = 100_000, *, explained: bool = False):
    """Risk of ``chunk`` students at a time, in order (a district's term: one class list after another).

    Scoring and explaining are row by row against the fitted model (its peers' medians and quantiles were
    fixed at fit time), so the chunks together equal the whole frame's result while memory holds one chunk:
    the explanations' contribution matrix is (rows × features) and each of its columns is one more
    prediction of the chunk. Yields DataFrames indexed like ``X``: ``risk``, and with ``explained`` the
    columns of :func:`explain`.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    for start in range(0, len(X), chunk):
        part = X.iloc[start:start + chunk]
        yield explain(model, part) if explained else model.risk(part).to_frame()
