"""Detectors: one function per rule kind, from a signal series to *hits* (before levels, routing and cool-down).

Each detector takes the series ``student_key, day, value, label`` (sorted by student and day, see
:func:`workbench.alerts.signals.load_signal`) and a rule, and returns one row per firing:
``student_key, start_on, fired_on, value, baseline, label``. Rolling windows never look past the firing day,
so a rule run *as of* a day sees exactly what a teacher could have seen that day.

>>> import pandas as pd
>>> s = pd.DataFrame({"student_key": ["a"] * 6, "day": pd.date_range("2026-09-01", periods=6),
...                   "value": [3, 2, 1, 1, 1, 4.0], "label": None})
>>> detect(s, {"kind": "streak", "op": "<=", "value": 2, "periods": 3})[["fired_on", "value"]]
    fired_on  value
0 2026-09-04    1.0
"""
from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pandas as pd

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
HIT_COLUMNS = ["student_key", "start_on", "fired_on", "value", "baseline", "label"]


def _hits(df: pd.DataFrame, mask: np.ndarray, start: pd.Series, baseline: pd.Series | None = None) -> pd.DataFrame:
    m = np.asarray(mask, dtype=bool)
    return pd.DataFrame({"student_key": df["student_key"].to_numpy()[m], "start_on": np.asarray(start)[m],
                         "fired_on": df["day"].to_numpy()[m], "value": df["value"].to_numpy(float)[m],
                         "baseline": (np.asarray(baseline, dtype=float)[m] if baseline is not None else np.nan),
                         "label": df["label"].to_numpy()[m]}, columns=HIT_COLUMNS).reset_index(drop=True)


def _roll(g: Any, n: int, how: str, min_periods: int | None = None) -> pd.Series:
    r = g.rolling(n, min_periods=min_periods or n)
    return getattr(r, how)().reset_index(level=0, drop=True)


def falling(df: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """``periods`` days in a row each below the student's own baseline (mean of the ``baseline`` periods before),
    their mean at most ``share`` of it, and the last below the first (falling, not flat)."""
    n, b = rule["periods"], rule.get("baseline", 10)
    g = df.groupby("student_key", sort=False)["value"]
    base = _roll(g, b, "mean", max(3, b // 2)).groupby(df["student_key"]).shift(n)
    wmean, wmax = _roll(g, n, "mean"), _roll(g, n, "max")
    first = g.shift(n - 1)
    mask = (base >= rule.get("min_baseline", 0)) & (base > 0) & (wmax < base) & (wmean <= rule["share"] * base) \
        & (df["value"] < first)
    start = df.groupby("student_key", sort=False)["day"].shift(n - 1)
    out = _hits(df, mask.fillna(False).to_numpy(), start, base)
    out["value"] = wmean[mask.fillna(False).to_numpy()].to_numpy()      # the window's mean
    return out


def streak(df: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """``periods`` observations meeting ``op value`` in a row — or, with ``of``, at least ``periods`` of the last
    ``of`` observations (a streak that tolerates a good day). Fires when the count is first reached."""
    cond = OPS[rule["op"]](df["value"], rule["value"]).astype(float)
    k, n = rule["periods"], rule.get("of", rule["periods"])
    g = cond.groupby(df["student_key"], sort=False)
    inside = _roll(g, n, "sum", 1).to_numpy()
    before = inside - cond.to_numpy() + g.shift(n).fillna(0).to_numpy()   # the count one observation earlier
    mask = cond.to_numpy().astype(bool) & (inside >= k) & (before < k)
    start = df.groupby("student_key", sort=False)["day"].shift(n - 1).fillna(df.groupby("student_key")["day"].transform("first"))
    return _hits(df, mask, start)


def threshold(df: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """Every observation meeting ``op value`` (``severe_at`` raises the level later)."""
    mask = OPS[rule["op"]](df["value"], rule["value"]).to_numpy()
    return _hits(df, mask, df["day"])


def drop(df: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """(``rise``: the same upwards.) The mean of the last ``window`` observations (default 1) at least ``by`` below the mean of the student's
    ``baseline`` observations before them (a sustained fall against the student's own level)."""
    w = rule.get("window", 1)
    g = df.groupby("student_key", sort=False)["value"]
    recent = _roll(g, w, "mean")
    prev = _roll(g, rule.get("baseline", 4), "mean", max(1, rule.get("baseline", 4) // 2)).groupby(df["student_key"]).shift(w)
    change = recent - prev if rule["kind"] == "rise" else prev - recent
    mask = (change >= rule["by"]).fillna(False).to_numpy()
    start = df.groupby("student_key", sort=False)["day"].shift(w - 1)
    out = _hits(df, mask, start, prev)
    out["value"] = recent.to_numpy()[mask]
    return out


def count(df: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """At least ``count`` events within ``window_days`` days (counted up to and including the firing day)."""
    if df.empty:
        return pd.DataFrame(columns=HIT_COLUMNS)
    w = f"{rule['window_days']}D"
    n = df.groupby("student_key", sort=False).rolling(w, on="day")["value"].sum().reset_index(level=0, drop=True)
    mask = (n.to_numpy() >= rule["count"])
    first = df["day"] - pd.Timedelta(days=rule["window_days"] - 1)
    out = _hits(df, mask, first)
    out["value"] = n.to_numpy()[mask]
    return out


def combination(hits: dict[str, pd.DataFrame], rule: dict) -> pd.DataFrame:
    """Every part (a rule id, or a list = any of those rules) has a hit within ``within_days`` days of the last
    part's hit; with ``in_order`` the parts happen in the listed order."""
    parts = []
    for p in rule["all_of"]:
        frames = [hits.get(r, pd.DataFrame(columns=HIT_COLUMNS)) for r in (p if isinstance(p, list) else [p])]
        frames = [f for f in frames if len(f)]
        parts.append(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=HIT_COLUMNS))
    window = pd.Timedelta(days=rule["within_days"])
    rows = []
    last = parts[-1].sort_values("fired_on")
    by_student = [dict(tuple(p.groupby("student_key"))) for p in parts[:-1]]
    for h in last.itertuples(index=False):
        start, bound, ok = h.start_on, h.fired_on, True
        for earlier in reversed(by_student):
            e = earlier.get(h.student_key)
            if e is None:
                ok = False
                break
            lo = h.fired_on - window
            hi = bound if rule.get("in_order") else h.fired_on
            cand = e[(e["fired_on"] >= lo) & (e["fired_on"] <= hi)]
            if cand.empty:
                ok = False
                break
            pick = cand.sort_values("fired_on").iloc[-1]
            bound, start = pick["fired_on"], min(start, pick["start_on"])
        if ok:
            rows.append({"student_key": h.student_key, "start_on": start, "fired_on": h.fired_on, "value": h.value,
                         "baseline": h.baseline, "label": h.label})
    return pd.DataFrame(rows, columns=HIT_COLUMNS)


DETECTORS = {"falling": falling, "streak": streak, "threshold": threshold, "drop": drop, "rise": drop, "count": count}


def detect(series: pd.DataFrame, rule: dict) -> pd.DataFrame:
    """Hits of a (non-combination) rule on its signal series."""
    if series.empty:
        return pd.DataFrame(columns=HIT_COLUMNS)
    return DETECTORS[rule["kind"]](series.reset_index(drop=True), rule)
