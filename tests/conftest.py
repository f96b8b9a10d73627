"""Shared fixtures: the real datasets in ``../shared/data``, a fixed pseudonym key, a fresh store, the CLI,
and the session-wide demo school, OULAD and xAPI-Edu stores (built once, read by several test modules;
a test that writes copies the store first or writes only results tables).

Engine bugs found by these tests are marked ``xfail(strict=True, reason="ENGINE BUG: …")``: the test states
the intended behaviour, and turns red (XPASS) once the bug is fixed so the marker gets removed.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from workbench.store import TABLES, Store, open_store

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT / ".." / "shared" / "data"

# Saved rule sets shadow the shipped ones (workbench.alerts.spec.load_rule_set): tests read the shipped ones unless
# a test points WORKBENCH_RULES elsewhere, whatever a developer saved under data/rules.
os.environ["WORKBENCH_RULES"] = str(Path(__import__("tempfile").mkdtemp(prefix="wb-rules-")))

# A fixed, non-trivial pseudonym key (32 bytes) so pseudonyms are reproducible across tests.
KEY = bytes(range(32))
KEY_HEX = KEY.hex()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``<repo>/../shared/data``; CI always has it, so its absence is an error, not a skip."""
    path = SHARED_DATA.resolve()
    if not path.is_dir():
        pytest.fail(f"shared datasets not found at {path}: the repository must be checked out with shared/ "
                    f"beside it (shared/data/oulad, assistments2009, xapi_edu_data …)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def key() -> bytes:
    return KEY


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh store in ``tmp_path``, closed after the test."""
    s = open_store(tmp_path / "store.duckdb")
    try:
        yield s
    finally:
        try:
            s.close()
        except Exception:  # already closed by the test
            pass


def table_counts(store: Store) -> dict[str, int]:
    """Row count of every canonical table (for "nothing changed" assertions)."""
    return {t: store.count(t) for t in TABLES}


@pytest.fixture
def counts() -> Callable[[Store], dict[str, int]]:
    return table_counts


def _run_cli(*args: str | os.PathLike[str], env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None,
             timeout: float = 300) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env["WORKBENCH_KEY"] = KEY_HEX
    full_env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + full_env["PYTHONPATH"] if full_env.get("PYTHONPATH") else "")
    full_env.setdefault("PYTHONIOENCODING", "utf-8")
    if env:
        full_env.update(env)
    return subprocess.run([sys.executable, "-m", "workbench.cli", *map(str, args)], capture_output=True, text=True,
                          encoding="utf-8", env=full_env, cwd=str(cwd or REPO_ROOT), timeout=timeout)


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cli("ingest", path, "--store", s)`` → CompletedProcess (stdout, stderr, returncode).

    Runs ``python -m workbench.cli`` with ``WORKBENCH_KEY`` set to the fixed test key and the current
    environment (so a monkeypatched ``WORKBENCH_PRESETS`` is seen), in ``tmp_path`` by default.
    """
    def run(*args: str | os.PathLike[str], env: dict[str, str] | None = None,
            cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[str]:
        return _run_cli(*args, env=env, cwd=cwd or tmp_path)
    return run


@pytest.fixture(scope="session")
def run_cli_session() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Same as ``run_cli`` for module/session-scoped fixtures (runs in the repository root)."""
    return _run_cli


# ---------------------------------------------------------------------------------------------- built stores
@pytest.fixture(scope="session")
def demo_school(tmp_path_factory):
    """The demo school built exactly as `make demo` does, with its ground truth."""
    import pandas as pd

    from workbench.demo_run import run_demo
    from workbench.identity import load_key
    root = tmp_path_factory.mktemp("demo")
    result = run_demo(students=480, seed=20260901, weeks=18, store_path=root / "store.duckdb", demo_dir=root / "demo",
                      fresh=True, ingest=True, echo=lambda s: None)
    truth = root / "demo" / "ground_truth"
    return {"root": root, "result": result, "store": root / "store.duckdb", "dir": root / "demo",
            "key": load_key(result.key_file),
            "planted": pd.read_csv(truth / "planted_errors.csv", dtype=str, keep_default_na=False),
            "students": pd.read_csv(truth / "students.csv", dtype=str, keep_default_na=False),
            "episodes": pd.read_csv(truth / "episodes.csv", dtype=str, keep_default_na=False),
            "cases": pd.read_csv(truth / "identity_cases.csv", dtype=str, keep_default_na=False)}


OULAD_FILES = [  # (file, preset, data rows per SOURCE.md) in dependency order
    ("courses.csv", "oulad_courses", 22),
    ("assessments.csv", "oulad_assessments", 206),
    ("vle.csv", "oulad_vle", 6_364),
    ("studentInfo.csv", "oulad_student_info", 32_593),
    ("studentRegistration.csv", "oulad_registration", 32_593),
    ("studentAssessment.csv", "oulad_student_assessment", 173_912),
    ("studentVle_subset_AAA2013J_AAA2014J_BBB2013B.csv", "oulad_student_vle", 753_564),
]
XAPI_PRESETS = ["xapi_edu_students", "xapi_edu_behaviour", "xapi_edu_grades"]


def _ingest_each(store: Store, files, key: bytes, rejects: Path) -> dict:
    from workbench.ingest import ingest_paths
    reports = {}
    for path, preset in files:
        [rep] = ingest_paths(store, [path], key, preset, rejects_dir=rejects)
        reports[f"{path.name}|{preset}"] = rep
    return reports


@pytest.fixture(scope="session")
def oulad(shared_data, key, tmp_path_factory):
    """OULAD (all seven tables) ingested with its presets: (store, reports by 'file|preset')."""
    tmp = tmp_path_factory.mktemp("oulad")
    store = open_store(tmp / "oulad.duckdb")
    reports = _ingest_each(store, [(shared_data / "oulad" / f, p) for f, p, _ in OULAD_FILES], key, tmp / "rejects")
    yield store, reports
    store.close()


@pytest.fixture(scope="session")
def xapi(shared_data, key, tmp_path_factory):
    """xAPI-Edu-Data ingested with its three presets: (store, reports, source rows)."""
    import csv
    tmp = tmp_path_factory.mktemp("xapi")
    path = shared_data / "xapi_edu_data" / "xAPI-Edu-Data.csv"
    store = open_store(tmp / "xapi.duckdb")
    reports = _ingest_each(store, [(path, p) for p in XAPI_PRESETS], key, tmp / "rejects")
    with open(path, newline="", encoding="utf-8") as fh:
        source = list(csv.DictReader(fh))
    yield store, reports, source
    store.close()


# ---------------------------------------------------------------------------------------------- prepared demo
@pytest.fixture(scope="session")
def prepared_demo(demo_school, tmp_path_factory):
    """A copy of the demo school prepared for 2026-2027-1 (whole_person profile, mastery), with the
    academic_emotion profile too (its five segments leave small groups in every class)."""
    import shutil

    from workbench.model.run import run_profile
    from workbench.runs import prepare_term
    path = tmp_path_factory.mktemp("reports") / "store.duckdb"
    shutil.copy(demo_school["store"], path)
    prepared = prepare_term(path, "2026-2027-1")
    with open_store(path) as store:
        run_profile(store, "2026-2027-1", "academic_emotion")
    return {"store": path, "prepared": prepared}


@pytest.fixture(scope="session")
def demo_con(prepared_demo):
    import duckdb
    con = duckdb.connect(str(prepared_demo["store"]), read_only=True)
    yield con
    con.close()


# ---------------------------------------------------------------------------------------------- alerts
@pytest.fixture(scope="session")
def alerted_demo(demo_school, tmp_path_factory):
    """A copy of the demo school with the default rule set run over the whole term, and the planted episodes
    keyed by student_key (school number → pseudonym through the vault's id table, as a test may)."""
    import shutil

    import pandas as pd

    from workbench.alerts import run_alerts
    path = tmp_path_factory.mktemp("alerts") / "store.duckdb"
    shutil.copy(demo_school["store"], path)
    with open_store(path) as store:
        run = run_alerts(store.con, "2026-2027-1")
        ids = store.con.execute("SELECT source_id AS school_no, student_key FROM identity_vault_ids "
                                "WHERE system = 'school_no'").df()
        alerts = store.con.execute("SELECT * FROM alerts WHERE term_id = $t", {"t": "2026-2027-1"}).df()
    ep = demo_school["episodes"].merge(ids, on="school_no")
    ep["start"], ep["end"] = pd.to_datetime(ep["start_date"]), pd.to_datetime(ep["end_date"])
    return {"store": path, "run": run, "alerts": alerts, "episodes": ep}
