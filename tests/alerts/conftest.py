import shutil

import pandas as pd
import pytest

from workbench.store import open_store

TERM = "2026-2027-1"


@pytest.fixture(scope="session")
def alerted_demo(demo_school, tmp_path_factory):
    """A copy of the demo school with the default rule set run over the whole term, and the planted episodes
    keyed by student_key (school number → pseudonym through the vault's id table, as a test may)."""
    from workbench.alerts import run_alerts
    path = tmp_path_factory.mktemp("alerts") / "store.duckdb"
    shutil.copy(demo_school["store"], path)
    with open_store(path) as store:
        run = run_alerts(store.con, TERM)
        ids = store.con.execute("SELECT source_id AS school_no, student_key FROM identity_vault_ids "
                                "WHERE system = 'school_no'").df()
        alerts = store.con.execute("SELECT * FROM alerts WHERE term_id = $t", {"t": TERM}).df()
    ep = demo_school["episodes"].merge(ids, on="school_no")
    ep["start"], ep["end"] = pd.to_datetime(ep["start_date"]), pd.to_datetime(ep["end_date"])
    return {"store": path, "run": run, "alerts": alerts, "episodes": ep}
