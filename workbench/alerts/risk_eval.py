"""How good and how fair the risk model is: AUC at a cut-off, week by week, and by subgroup.

:func:`evaluate_cutoff` builds the features of one cut-off week, splits them in time
(:func:`~workbench.alerts.risk.time_ordered_split`), fits a fresh model on the earlier terms and scores
the test terms. :func:`weekly_evaluation` does that for a list of weeks: the curve of how early the model
warns. :func:`fairness_report` gives AUC and alert rate per subgroup, with every subgroup of fewer than
``MIN_CELL`` (10) students suppressed, and the complementary cell hidden too (:mod:`workbench.privacy.suppress`).

>>> import numpy as np, pandas as pd
>>> y = np.array([0, 1] * 20); p = np.linspace(0, 1, 40)
>>> groups = pd.DataFrame({"gender": ["female"] * 20 + ["male"] * 13 + [None] * 7})
>>> print(fairness_report(y, p, groups, 0.5)[["group", "value", "n", "alert_rate"]].to_string(index=False))
 group     value   n alert_rate
   all         —  40        0.5
gender    female  20        0.0
gender      male   *          *
gender (unknown) <10        <10
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from workbench.alerts.risk import RiskModel, time_ordered_split
from workbench.alerts.risk_features import RiskFrame, behaviour_series, risk_features, term_order
from workbench.privacy.suppress import MIN_CELL, apply_mask, suppression_mask

UNKNOWN = "(unknown)"
STATS = ["n", "observed_rate", "alert_rate", "recall", "auc"]


def auc_or_nan(y_true: Sequence | pd.Series, score: Sequence | pd.Series) -> float:
    """ROC AUC, or NaN when only one class is present."""
    y = np.asarray(y_true, dtype=float)
    return float(roc_auc_score(y, np.asarray(score, dtype=float))) if len(np.unique(y)) == 2 else float("nan")


def fairness_report(y_true: Sequence | pd.Series, proba: Sequence | pd.Series, groups: pd.DataFrame,
                    threshold: float, *, min_cell: int = MIN_CELL) -> pd.DataFrame:
    """AUC and alert rate per subgroup of every column of ``groups`` (e.g. gender, age band, IMD band).

    Parameters
    ----------
    y_true : 1 = the outcome happened (e.g. failed or withdrew), 0 = not.
    proba : predicted risk (probability of 1).
    groups : one column per attribute, aligned with ``y_true`` (positionally); missing = ``(unknown)``.
    threshold : a student is alerted when ``proba >= threshold``.
    min_cell : subgroups with 1 … ``min_cell - 1`` students show ``<10`` in every statistic; the next
        smallest subgroup of that attribute is hidden too (``*``) when only one would be, so that the
        published total does not give the small one away.

    Returns
    -------
    DataFrame, one row per subgroup after an ``all`` row: group, value, n, observed_rate (share with the
    outcome), alert_rate (share alerted), recall (share of those with the outcome who were alerted), auc.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(proba, dtype=float)
    alert = p >= threshold

    def stats(m: np.ndarray) -> dict[str, float]:
        pos = y[m] == 1
        return {"n": int(m.sum()), "observed_rate": float(pos.mean()) if m.any() else np.nan,
                "alert_rate": float(alert[m].mean()) if m.any() else np.nan,
                "recall": float(alert[m][pos].mean()) if pos.any() else np.nan,
                "auc": auc_or_nan(y[m], p[m]) if m.any() else np.nan}

    blocks = [pd.DataFrame([{"group": "all", "value": "—", **stats(np.ones(len(y), bool))}])]
    for col in groups.columns:
        values = groups[col].astype(object).where(groups[col].notna(), UNKNOWN).to_numpy()
        rows = [{"group": col, "value": v, **stats(values == v)} for v in sorted(set(values), key=lambda v: (v == UNKNOWN, str(v)))]
        block = pd.DataFrame(rows)
        counts = block[["n"]].set_axis(block["value"])
        mask = suppression_mask(counts, min_cell=min_cell, row_totals=False, column_totals=True)
        hidden = pd.DataFrame(np.repeat(mask.to_numpy(), len(STATS), axis=1), index=counts.index, columns=STATS)
        sizes = pd.DataFrame(np.repeat(counts.to_numpy(), len(STATS), axis=1), index=counts.index, columns=STATS)
        shown = apply_mask(block[STATS].set_axis(block["value"]), hidden, sizes, min_cell=min_cell)
        blocks.append(pd.concat([block[["group", "value"]], shown.reset_index(drop=True)], axis=1))
    return pd.concat(blocks, ignore_index=True).astype({c: object for c in STATS})


@dataclass
class Evaluation:
    """One fit-and-score at a cut-off week: the model, both halves of the split and the test risk."""
    week: int
    target: str
    population: str
    model: RiskModel | None
    train: RiskFrame
    test: RiskFrame
    risk: pd.Series
    auc: float

    @property
    def y_test(self) -> pd.Series:
        return self.test.target(self.target)


def _terms_up_to(con: duckdb.DuckDBPyConnection, test_terms: Sequence[str]) -> list[str]:
    order = term_order(con)
    last = max(order.index(t) for t in test_terms)
    return list(order[: last + 1])


def evaluate_cutoff(con: duckdb.DuckDBPyConnection, week: int, *, test_terms: Sequence[str], target: str,
                    population: str = "active", model: RiskModel | None = None, frame: RiskFrame | None = None,
                    series: pd.DataFrame | None = None, min_positives: int = MIN_CELL) -> Evaluation:
    """Fit ``model`` (a clone; default :class:`RiskModel()`) on the terms before ``test_terms`` at cut-off
    ``week`` and score ``test_terms``; AUC is NaN (and nothing is fitted) when the test or training terms
    have fewer than ``min_positives`` students with the outcome (e.g. withdrawal at the last week).

    ``frame``: the :func:`risk_features` of that week (built from ``con`` when omitted); ``series``: the
    behaviour series to build it from.
    """
    if frame is None:
        terms = _terms_up_to(con, test_terms)
        frame = risk_features(con, terms, week, population=population, series=series)
    train, test = time_ordered_split(frame, test_terms)
    ytr, yte = train.target(target), test.target(target)
    train, test = train.subset(ytr.notna().to_numpy()), test.subset(yte.notna().to_numpy())
    ytr, yte = ytr.dropna(), yte.dropna()
    if min(ytr.sum(), yte.sum(), (1 - ytr).sum(), (1 - yte).sum()) < min_positives:
        return Evaluation(week, target, population, None, train, test, pd.Series(np.nan, index=test.X.index), np.nan)
    fitted = clone(model if model is not None else RiskModel()).fit(train.X, ytr.astype(int))
    risk = fitted.risk(test.X)
    return Evaluation(week, target, population, fitted, train, test, risk, auc_or_nan(yte, risk))


def weekly_evaluation(con: duckdb.DuckDBPyConnection, weeks: Sequence[int], *, test_terms: Sequence[str],
                      targets: Sequence[str] = ("withdrawn", "fail_or_withdrawn"), population: str = "active",
                      model: RiskModel | None = None) -> pd.DataFrame:
    """AUC on ``test_terms`` by cut-off week (a fresh model per week and target, trained on earlier terms):
    how early the model warns.

    Returns
    -------
    DataFrame, one row per week and target: week, target, train_n, test_n, test_positive_rate, auc.

    Examples
    --------
    >>> import os, tempfile
    >>> from workbench.store import open_store
    >>> with open_store(os.path.join(tempfile.mkdtemp(), "s.duckdb")) as s:
    ...     _ = s.con.execute("INSERT INTO terms (term_id) VALUES ('2013J'), ('2014J')")
    ...     curve = weekly_evaluation(s.con, [4], test_terms=["2014J"])
    >>> curve.columns.tolist(), len(curve)
    (['week', 'target', 'train_n', 'test_n', 'test_positive_rate', 'auc'], 2)
    """
    terms = _terms_up_to(con, test_terms)
    series = behaviour_series(con, terms)
    rows = []
    for week in weeks:
        frame = risk_features(con, terms, week, population=population, series=series)
        for target in targets:
            ev = evaluate_cutoff(con, week, test_terms=test_terms, target=target, population=population,
                                 model=model, frame=frame)
            y = ev.y_test
            rows.append({"week": int(week), "target": target, "train_n": len(ev.train.X), "test_n": len(y),
                         "test_positive_rate": float(y.mean()) if len(y) else np.nan, "auc": ev.auc})
    return pd.DataFrame(rows, columns=["week", "target", "train_n", "test_n", "test_positive_rate", "auc"])
