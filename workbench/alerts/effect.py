"""Did the interventions help? Risk change after an intervention against similar alerted students without one,
and what teachers' useful / not-useful marks say about each rule.

:func:`intervention_effect` takes a weekly risk series per student (``student_key, week, risk`` — the risk model's
predicted probabilities, or any score where higher = more at risk). For every alert it reads the risk in the alert's
week and ``horizon`` weeks later. Alerts with an intervention recorded within ``act_within`` days are *treated*;
each is matched to the untreated alert of the same rule and level whose risk at alert time is nearest (within
``caliper``). The effect is the mean change of the treated minus that of their matches. This is an observational
comparison — it balances rule, level and risk at the time of the alert, nothing else — and rules with fewer than 10
treated or matched alerts are suppressed (their numbers could point at single students).

>>> import pandas as pd
>>> fb = pd.DataFrame({"rule_id": ["a", "a", "a", "b"], "feedback": ["useful", "not_useful", None, "useful"]})
>>> feedback_summary(fb).to_dict("records")
[{'rule_id': 'a', 'alerts': 3, 'marked': 2, 'useful_share': 0.5}, {'rule_id': 'b', 'alerts': 1, 'marked': 1, 'useful_share': 1.0}]
"""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from workbench.privacy.suppress import MIN_CELL


def feedback_summary(alerts: pd.DataFrame) -> pd.DataFrame:
    """Per rule: alerts, how many were marked, and the share marked useful (labels for tuning a rule)."""
    g = alerts.groupby("rule_id", sort=True)["feedback"]
    out = pd.DataFrame({"alerts": g.size(), "marked": g.count(),
                        "useful": g.apply(lambda s: int((s == "useful").sum()))}).reset_index()
    out["useful_share"] = (out["useful"] / out["marked"].where(out["marked"] > 0)).round(3)
    return out.drop(columns=["useful"])


def alert_weeks(con: duckdb.DuckDBPyConnection, term: str, act_within: int = 14) -> pd.DataFrame:
    """Every alert of the term with its week (1 = the term's first) and whether it was acted on in time."""
    return con.execute("""
        SELECT a.alert_id, a.student_key, a.rule_id, a.level, a.fired_on,
               CAST(floor(date_diff('day', t.start_date, a.fired_on) / 7) AS INTEGER) + 1 AS week,
               EXISTS (SELECT 1 FROM interventions i WHERE i.alert_id = a.alert_id
                       AND CAST(i.created_at AS DATE) BETWEEN a.fired_on AND a.fired_on + $d) AS treated
        FROM alerts a JOIN terms t ON t.term_id = a.term_id WHERE a.term_id = $t AND a.fired_on IS NOT NULL""",
                       {"t": term, "d": act_within}).df()


def intervention_effect(alerts: pd.DataFrame, risk: pd.DataFrame, *, horizon: int = 4, caliper: float = 0.1,
                        min_cell: int = MIN_CELL) -> pd.DataFrame:
    """Per rule: treated and matched alerts, their mean risk change over ``horizon`` weeks and the difference.

    ``alerts``: ``alert_id, student_key, rule_id, level, week, treated`` (see :func:`alert_weeks`).
    ``risk``: ``student_key, week, risk``."""
    r = risk.set_index(["student_key", "week"])["risk"]
    a = alerts.copy()
    a["before"] = [r.get((k, w), np.nan) for k, w in zip(a["student_key"], a["week"])]
    a["after"] = [r.get((k, w + horizon), np.nan) for k, w in zip(a["student_key"], a["week"])]
    a = a.dropna(subset=["before", "after"])
    a["change"] = a["after"] - a["before"]
    rows = []
    for (rule, level), g in a.groupby(["rule_id", "level"], sort=True):
        treated, pool = g[g["treated"]], g[~g["treated"]].copy()
        pairs = []
        for _, t in treated.sort_values("before").iterrows():
            if pool.empty:
                break
            gap = (pool["before"] - t["before"]).abs()
            j = gap.idxmin()
            if gap[j] <= caliper:
                pairs.append((t["change"], pool.at[j, "change"]))
                pool = pool.drop(index=j)
        n = len(pairs)
        row = {"rule_id": rule, "level": level, "treated": len(treated), "matched": n,
               "change_treated": np.nan, "change_matched": np.nan, "effect": np.nan, "suppressed": n < min_cell}
        if n >= min_cell:
            ct, cm = np.mean([p[0] for p in pairs]), np.mean([p[1] for p in pairs])
            row.update(change_treated=round(ct, 4), change_matched=round(cm, 4), effect=round(ct - cm, 4))
        rows.append(row)
    return pd.DataFrame(rows, columns=["rule_id", "level", "treated", "matched", "change_treated", "change_matched",
                                       "effect", "suppressed"])
