"""The intervention-effectiveness report recovers a known effect, matches like with like and suppresses small cells;
teachers' feedback marks are counted per rule."""
import shutil

import numpy as np
import pandas as pd

from workbench.alerts.effect import alert_weeks, feedback_summary, intervention_effect
from workbench.alerts.inbox import mark_feedback, record_intervention
from workbench.privacy import Viewer
from workbench.store import open_store

TERM = "2026-2027-1"


def _risk(alerts: pd.DataFrame, treated_drop: float, seed: int = 0) -> pd.DataFrame:
    """Weekly risk for every alerted student: noise around a level; treated students fall by ``treated_drop``
    over the weeks after their alert, untreated ones drift by +0.02."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, g in alerts.groupby("student_key"):
        level = rng.uniform(0.3, 0.7)
        treated = bool(g["treated"].any())
        first = int(g.loc[g["treated"], "week"].min()) if treated else int(g["week"].min())
        for w in range(1, 25):
            after = max(0, w - first)
            shift = (-treated_drop if treated else 0.02) * min(after, 4) / 4
            rows.append((k, w, level + shift + rng.normal(0, 0.01)))
    return pd.DataFrame(rows, columns=["student_key", "week", "risk"])


def test_a_known_effect_is_recovered_and_small_cells_are_suppressed(alerted_demo, tmp_path):
    path = tmp_path / "store.duckdb"
    shutil.copy(alerted_demo["store"], path)
    with open_store(path) as store:
        con = store.con
        eng = con.execute("SELECT alert_id, class_id FROM alerts WHERE rule_id = 'gad7_high' ORDER BY alert_id").fetchall()
        psych = Viewer("xin_t", "psychology_teacher")
        for aid, _ in eng[: len(eng) // 2]:
            record_intervention(con, aid, psych, "counselling")
        few = con.execute("SELECT alert_id FROM alerts WHERE rule_id = 'absences' ORDER BY alert_id LIMIT 3").fetchall()
        for (aid,) in few:
            c = con.execute("SELECT class_id FROM alerts WHERE alert_id = $a", {"a": aid}).fetchone()[0]
            record_intervention(con, aid, Viewer("h", "head_teacher", classes=(c,)), "talk")
            mark_feedback(con, aid, Viewer("h", "head_teacher", classes=(c,)), useful=True)
        con.execute("UPDATE interventions SET created_at = (SELECT fired_on FROM alerts a WHERE a.alert_id = "
                    "interventions.alert_id) + INTERVAL 3 DAY")                # acted on three days after each alert
        a = alert_weeks(con, TERM)
        fb = feedback_summary(con.execute("SELECT rule_id, feedback FROM alerts WHERE term_id = $t", {"t": TERM}).df())
    assert a["treated"].sum() == len(eng) // 2 + 3
    report = intervention_effect(a, _risk(a, treated_drop=0.2), horizon=4).set_index(["rule_id", "level"])
    gad = report.loc[report.index.get_level_values(0) == "gad7_high"]
    big = gad[~gad["suppressed"]]
    assert len(big) >= 1 and (big["matched"] >= 10).all()
    # −0.2 for the treated against ≤ +0.02 untreated; a student's later alerts in the same fall pull it towards 0
    assert ((big["effect"] > -0.25) & (big["effect"] < -0.15)).all(), big
    absences = report.loc["absences"]
    assert absences["suppressed"].all() and absences["effect"].isna().all()     # 3 treated: not shown
    null = intervention_effect(a, _risk(a, treated_drop=-0.02, seed=1), horizon=4)
    assert null.loc[~null["suppressed"], "effect"].abs().max() < 0.03   # no effect: none found
    row = fb.set_index("rule_id").loc["absences"]
    assert (row["marked"], row["useful_share"]) == (3, 1.0)


def test_report_lists_each_rule_with_its_counts(alerted_demo):
    from click.testing import CliRunner

    from workbench.cli import main
    r = CliRunner().invoke(main, ["alerts", "report", "--term", TERM, "--store", str(alerted_demo["store"]), "--lang", "en"])
    assert r.exit_code == 0, r.output
    a = alerted_demo["alerts"]
    line = next(x for x in r.output.splitlines() if x.startswith("engagement_falling_3d"))
    assert line.split()[1] == str(int((a["rule_id"] == "engagement_falling_3d").sum()))
    assert not any(x.startswith(("mood_low", "exam_dip")) for x in r.output.splitlines())   # silent rules raise nothing
