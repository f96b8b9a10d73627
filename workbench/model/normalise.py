"""Normalisers: a registry (name → class) of scope-aware scalers onto [0, 1].

Each normaliser learns statistics per scope group (class, grade or school) in ``fit`` and maps a
raw value onto [0, 1] in ``transform`` (0.5 = the group's typical student). Groups smaller than
``MIN_GROUP`` use the statistics of everyone.

>>> import pandas as pd
>>> x = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]); g = pd.Series(["a"] * 6)
>>> PercentileRank().fit(x, g).transform(pd.Series([3.5]), pd.Series(["a"])).round(2).tolist()
[0.5]
>>> MinMax().fit(x, g).transform(pd.Series([6.0, 9.0]), pd.Series(["a", "zz"])).tolist()
[1.0, 1.0]
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

MIN_GROUP = 5
ALL = "__all__"


class Normaliser:
    name = ""

    def fit(self, x: pd.Series, groups: pd.Series) -> Normaliser:
        self.stats_: dict[object, object] = {ALL: self._stats(x.dropna().to_numpy(float))}
        for g, part in x.groupby(groups.to_numpy(), sort=False):
            vals = part.dropna().to_numpy(float)
            if len(vals) >= MIN_GROUP:
                self.stats_[g] = self._stats(vals)
        return self

    def transform(self, x: pd.Series, groups: pd.Series) -> pd.Series:
        out = np.full(len(x), np.nan)
        xv = x.to_numpy(float)
        keys = pd.Series(groups.to_numpy()).map(lambda g: g if g in self.stats_ else ALL)
        # rows of each group by position (one pass), not a mask over all rows per group: with
        # scope "class" a district has thousands of groups
        for g, rows in keys.groupby(keys.to_numpy(), sort=False).indices.items():
            out[rows] = self._map(xv[rows], self.stats_[g])
        return pd.Series(np.clip(out, 0.0, 1.0), index=x.index)

    def _stats(self, vals: np.ndarray):  # pragma: no cover - abstract
        raise NotImplementedError

    def _map(self, x: np.ndarray, stats) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class ZScore(Normaliser):
    """z = (x − mean) / sd within the group, shown on [0, 1] as Φ(z)."""
    name = "zscore"

    def _stats(self, vals):
        return (vals.mean(), vals.std(ddof=1)) if len(vals) > 1 else (vals.mean() if len(vals) else 0.0, 0.0)

    def _map(self, x, stats):
        mean, sd = stats
        return norm.cdf((x - mean) / sd) if sd and np.isfinite(sd) and sd > 0 else np.where(np.isnan(x), np.nan, 0.5)


class MinMax(Normaliser):
    """(x − min) / (max − min) within the group, clipped to [0, 1]."""
    name = "minmax"

    def _stats(self, vals):
        return (vals.min(), vals.max()) if len(vals) else (0.0, 0.0)

    def _map(self, x, stats):
        lo, hi = stats
        return (x - lo) / (hi - lo) if hi > lo else np.where(np.isnan(x), np.nan, 0.5)


class PercentileRank(Normaliser):
    """Share of the group below x, counting ties as half (mid-rank percentile).

    Values are compared at 9 decimals: DuckDB's parallel sums and averages can differ in the last
    bits from run to run, and an exact comparison turned such near-ties into rank flips (a student's
    score moved by 0.05 between two runs of the same spec on the same data)."""
    name = "percentile"
    DECIMALS = 9

    def _stats(self, vals):
        return np.sort(np.round(vals, self.DECIMALS))

    def _map(self, x, stats):
        if not len(stats):
            return np.where(np.isnan(x), np.nan, 0.5)
        x = np.round(x, self.DECIMALS)
        lo = np.searchsorted(stats, x, side="left")
        hi = np.searchsorted(stats, x, side="right")
        return np.where(np.isnan(x), np.nan, (lo + hi) / 2 / len(stats))


NORMALISERS: dict[str, type[Normaliser]] = {c.name: c for c in (ZScore, MinMax, PercentileRank)}
