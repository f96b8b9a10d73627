"""Scoring alerts against known episodes (the demo school's ground truth, or episodes a school has confirmed).

An alert *matches* an episode of the same student when it fired inside the episode's window
``[start - before, end + after]`` (``end`` may be replaced by a per-episode deadline, e.g. the exam an anxiety
episode precedes, to ask "was it flagged in time?"). Precision = matching alerts / alerts; recall = episodes with at
least one matching alert / episodes.

>>> import pandas as pd
>>> a = pd.DataFrame({"student_key": ["s1", "s2"], "rule_id": ["r", "r"],
...                   "fired_on": pd.to_datetime(["2026-10-03", "2026-10-20"])})
>>> e = pd.DataFrame({"student_key": ["s1", "s3"], "start": pd.to_datetime(["2026-10-01", "2026-10-01"]),
...                   "end": pd.to_datetime(["2026-10-03", "2026-10-05"])})
>>> match_episodes(a, e, ["r"])
{'alerts': 2, 'episodes': 2, 'matched_alerts': 1, 'found_episodes': 1, 'precision': 0.5, 'recall': 0.5}
"""
from __future__ import annotations

import pandas as pd


def match_episodes(alerts: pd.DataFrame, episodes: pd.DataFrame, rule_ids: list[str], *, before: int = 0,
                   after: int = 0) -> dict[str, float | int]:
    """Precision and recall of the alerts of ``rule_ids`` against ``episodes`` (``student_key, start, end``)."""
    a = alerts[alerts["rule_id"].isin(rule_ids)].reset_index(drop=True).assign(_a=lambda d: range(len(d)))
    e = episodes.reset_index(drop=True).assign(_e=lambda d: range(len(d)))
    m = a.merge(e, on="student_key")
    fired = pd.to_datetime(m["fired_on"])
    ok = m[(fired >= m["start"] - pd.Timedelta(days=before)) & (fired <= m["end"] + pd.Timedelta(days=after))]
    out = {"alerts": len(a), "episodes": len(e), "matched_alerts": ok["_a"].nunique(), "found_episodes": ok["_e"].nunique()}
    out["precision"] = round(out["matched_alerts"] / out["alerts"], 4) if out["alerts"] else float("nan")
    out["recall"] = round(out["found_episodes"] / out["episodes"], 4) if out["episodes"] else float("nan")
    return out
