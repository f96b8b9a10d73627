"""The risk model: calibrated gradient boosting on the features of a cut-off week, trained on earlier terms.

:class:`RiskModel` is a scikit-learn classifier: a ``HistGradientBoostingClassifier`` (missing values
and the module as a category handled natively) inside ``CalibratedClassifierCV``, so ``predict_proba``
is a probability one can put a threshold on. :func:`time_ordered_split` trains on terms that came before
the test terms and tests on those, so nothing from the future leaks in: for OULAD, train on the 2013B,
2013J and 2014B presentations and test on 2014J (the last); features come from
:func:`workbench.alerts.risk_features.risk_features`, which uses only facts dated before the cut-off.
Explanations: :mod:`workbench.alerts.risk_explain`; evaluation: :mod:`workbench.alerts.risk_eval`.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"risk_missed": rng.integers(0, 4, 400).astype(float),
...                   "acad_score_mean": rng.normal(70, 12, 400)})
>>> y = (X["risk_missed"] + rng.normal(0, 1, 400) > 2).astype(int)
>>> model = RiskModel(max_iter=50, peer_column=None).fit(X, y)
>>> model.predict_proba(X).shape, list(model.get_feature_names_out())
((400, 2), ['risk_missed', 'acad_score_mean'])
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from workbench.alerts.risk_features import RiskFrame


class RiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated gradient boosting (or a random forest) for "at risk" (binary) or any class label (e.g. L/M/H).

    Parameters
    ----------
    estimator : ``"boosting"`` (``HistGradientBoostingClassifier``; missing values and categories handled
        natively) or ``"forest"`` (``RandomForestClassifier`` of ``n_estimators`` trees, categories one-hot
        encoded; on a few hundred students it can do better than boosting, see ``benchmarks/risk.py``).
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization :
        passed to ``HistGradientBoostingClassifier`` (fixed number of trees, no early stopping).
    n_estimators : trees of the forest (the forest's leaves are not limited).
    calibration : ``"sigmoid"`` or ``"isotonic"`` (``CalibratedClassifierCV(method=…)``).
    cv : folds of the calibration (stratified, shuffled with ``random_state``); the averaged fold
        models make the prediction (``ensemble=True``).
    peer_column : a column whose groups are each other's peers in explanations (the module); ``None``:
        all training rows are peers.
    random_state : seed of the calibration folds and the boosting.
    n_threads : OpenMP threads of the boosting (``None``: the library's default, all cores). Default 1: on a
        busy 2-core machine, two threads made a fit on 11,000 OULAD enrolments 7–10× slower (2.7 s → 18–37 s),
        as in ``workbench.model.segments``.

    Attributes
    ----------
    model_ : the fitted ``CalibratedClassifierCV``.
    classes_, feature_names_in_, n_features_in_ : as in scikit-learn.
    features_used_ : the features with any value in the training data (an all-missing one is ignored).
    reference_ : peer medians (numbers) or modes (categories) of each feature, one row per peer group and
        a row ``"*"`` for all; what :func:`workbench.alerts.risk_explain.explain` compares with.
    quantiles_ : 10th and 90th percentiles per peer group (index: group, quantile), for "well below/above".

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"x": [0., 1, 2, 3] * 100})
    >>> RiskModel(max_iter=30, cv=2, peer_column=None).fit(X, [0, 0, 1, 1] * 100).predict([[0.], [3.]]).tolist()
    [0, 1]
    """

    def __init__(self, estimator: str = "boosting", max_iter: int = 200, learning_rate: float = 0.05, max_leaf_nodes: int = 15,
                 min_samples_leaf: int = 40, l2_regularization: float = 1.0, n_estimators: int = 300,
                 calibration: str = "sigmoid", cv: int = 3, peer_column: str | None = "subject", random_state: int = 0, n_threads: int | None = 1):
        self.estimator = estimator
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.n_estimators = n_estimators
        self.calibration = calibration
        self.cv = cv
        self.peer_column = peer_column
        self.random_state = random_state
        self.n_threads = n_threads

    def fit(self, X: pd.DataFrame, y: Sequence | pd.Series) -> RiskModel:
        X = _frame(X)
        y = np.asarray(y)
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.n_features_in_ = X.shape[1]
        self.features_used_ = [c for c in X.columns if X[c].notna().any()]   # e.g. no assessment due yet in week 0
        base = self._base(X[self.features_used_])
        with threadpool_limits(self.n_threads):
            self.model_ = CalibratedClassifierCV(base, method=self.calibration, cv=folds).fit(X[self.features_used_], y)
        self.classes_ = self.model_.classes_
        self.reference_, self.quantiles_ = _peers(X, self.peer_column)
        return self

    def _base(self, X: pd.DataFrame) -> BaseEstimator:
        if self.estimator == "boosting":
            return HistGradientBoostingClassifier(
                max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
                categorical_features="from_dtype", early_stopping=False, random_state=self.random_state)
        if self.estimator == "forest":
            cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype) or not is_numeric_dtype(X[c])]
            encode = ColumnTransformer([("categories", OneHotEncoder(handle_unknown="ignore"), cats)],
                                       remainder="passthrough", sparse_threshold=0)
            return make_pipeline(encode, RandomForestClassifier(self.n_estimators, random_state=self.random_state))
        raise ValueError(f"estimator must be 'boosting' or 'forest', not {self.estimator!r}")

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "model_")
        with threadpool_limits(self.n_threads):
            return self.model_.predict_proba(self._columns(X)[self.features_used_])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def risk(self, X: pd.DataFrame) -> pd.Series:
        """Probability of the positive class (the last of ``classes_``, i.e. 1 = at risk), indexed like ``X``."""
        X = self._columns(X)
        return pd.Series(self.predict_proba(X)[:, -1], index=X.index, name="risk")

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_in_")
        return self.feature_names_in_.copy()

    def _columns(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "feature_names_in_")
        X = _frame(X, self.feature_names_in_)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise KeyError(f"features missing from X / 缺少特征: {', '.join(missing)}")
        return X[list(self.feature_names_in_)]


def _frame(X, names: np.ndarray | None = None) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X, dtype=float)
    cols = list(names) if names is not None and len(names) == arr.shape[1] else [f"x{i}" for i in range(arr.shape[1])]
    return pd.DataFrame(arr, columns=cols)


def _peers(X: pd.DataFrame, peer_column: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Median / mode and 10th–90th percentiles of every feature, per peer group and over all (``"*"``)."""
    def summary(part: pd.DataFrame) -> tuple[dict, dict]:
        ref, q = {}, {}
        for c in part.columns:
            col = part[c]
            if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
                mode = col.mode(dropna=True)
                ref[c] = mode.iloc[0] if len(mode) else np.nan
                q[c] = (np.nan, np.nan)
            else:
                ref[c] = col.median()
                q[c] = tuple(col.quantile([0.1, 0.9]).to_numpy()) if col.notna().any() else (np.nan, np.nan)
        return ref, q

    groups: list[tuple[object, pd.DataFrame]] = [("*", X)]
    if peer_column is not None and peer_column in X.columns:
        groups += [(g, part) for g, part in X.groupby(peer_column, observed=True)]
    refs, quants = {}, {}
    for g, part in groups:
        refs[g], q = summary(part)
        quants[(g, 0.1)] = {c: v[0] for c, v in q.items()}
        quants[(g, 0.9)] = {c: v[1] for c, v in q.items()}
    reference = pd.DataFrame.from_dict(refs, orient="index").reindex(columns=X.columns)
    quantiles = pd.DataFrame.from_dict(quants, orient="index").reindex(columns=X.columns)
    return reference, quantiles


def time_ordered_split(frame: RiskFrame, test_terms: Sequence[str]) -> tuple[RiskFrame, RiskFrame]:
    """``(train, test)``: test = the rows of ``test_terms``; train = the rows of every term that comes before
    the earliest test term in the store's term order (later terms are left out of both).

    For OULAD with ``test_terms=["2014J"]``: train on 2013B, 2013J and 2014B (outcomes known by the time
    2014J runs), test on 2014J.

    >>> import pandas as pd
    >>> idx = pd.MultiIndex.from_tuples([("s1", "A"), ("s2", "A"), ("s3", "B")], names=["student_key", "class_id"])
    >>> f = RiskFrame(4, pd.DataFrame({"x": [1., 2, 3]}, index=idx),
    ...               pd.DataFrame({"term_id": ["2013J", "2014B", "2014J"]}, index=idx), ("2013J", "2014B", "2014J"))
    >>> train, test = time_ordered_split(f, ["2014J"])
    >>> sorted(train.info["term_id"]), list(test.info["term_id"])
    (['2013J', '2014B'], ['2014J'])
    """
    order = {t: i for i, t in enumerate(frame.terms)}
    unknown = [t for t in test_terms if t not in order]
    if unknown:
        raise KeyError(f"unknown test term(s) {', '.join(unknown)}; terms of the store: {', '.join(frame.terms)}")
    first = min(order[t] for t in test_terms)
    if first == 0:
        raise ValueError(f"no term before {', '.join(test_terms)} to train on / 测试学期之前没有可训练的学期")
    rank = frame.info["term_id"].map(order)
    test = frame.info["term_id"].isin(list(test_terms))
    train = rank.lt(first) & ~test
    return frame.subset(train.to_numpy()), frame.subset(test.to_numpy())
