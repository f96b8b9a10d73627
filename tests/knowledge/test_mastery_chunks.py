"""Mastery for a district: fitted on a sample, filtered a chunk of students at a time (docs/scale.md)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.knowledge.mastery import compute_mastery, mastery_in_chunks

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def whole(demo_con):
    return compute_mastery(demo_con, TERM)


def _key(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["student_key", "kp_id"], ignore_index=True)


def test_chunks_fitted_on_everyone_equal_the_whole_computation(demo_con, whole):
    parts = list(mastery_in_chunks(demo_con, TERM, chunks=5, fit_per_scope=None))
    assert len(parts) == 5
    keys = [set(p["student_key"]) for p in parts]
    assert all(not (a & b) for i, a in enumerate(keys) for b in keys[i + 1:])   # each student in one chunk
    got = _key(pd.concat(parts, ignore_index=True))
    assert len(got) == len(whole) > 1000
    assert (got[["student_key", "kp_id", "attempts", "status", "scope"]] == whole[
        ["student_key", "kp_id", "attempts", "status", "scope"]]).all().all()
    np.testing.assert_allclose(got["p_mastery"].to_numpy(), whole["p_mastery"].to_numpy(), rtol=1e-9, equal_nan=True)


def test_a_fit_on_a_sample_of_each_grade_ranks_mastery_like_the_whole_fit(demo_con, whole):
    parts = list(mastery_in_chunks(demo_con, TERM, chunks=3, fit_per_scope=80, seed=1))
    got = _key(pd.concat(parts, ignore_index=True))
    # the sample's first pass may blame a wrong multi-point answer on another point: a few pairs differ
    m = whole.merge(got, on=["student_key", "kp_id"], how="outer", suffixes=("", "_s"), indicator=True)
    assert (m["_merge"] == "both").mean() > 0.98
    m = m[m["_merge"] == "both"]
    assert (m["attempts"] == m["attempts_s"]).mean() > 0.95
    both = m["p_mastery"].notna() & m["p_mastery_s"].notna()
    rho = m.loc[both, "p_mastery"].rank().corr(m.loc[both, "p_mastery_s"].rank())
    assert rho > 0.95, rho
    agree = (m["status"] == m["status_s"]).mean()
    assert agree > 0.9, agree
    again = _key(pd.concat(mastery_in_chunks(demo_con, TERM, chunks=3, fit_per_scope=80, seed=1), ignore_index=True))
    pd.testing.assert_frame_equal(again, got)                     # the sample is seeded: the same every run


def test_chunks_must_be_positive(demo_con):
    with pytest.raises(ValueError, match="chunks"):
        list(mastery_in_chunks(demo_con, TERM, chunks=0))


def test_cli_mastery_in_chunks_writes_every_student(demo_school, tmp_path, run_cli):
    import json
    import shutil

    from workbench.store import open_store
    path = tmp_path / "store.duckdb"
    shutil.copy(demo_school["store"], path)
    out = run_cli("mastery", "--term", TERM, "--store", path, "--chunks", "4", "--fit-sample", "60", "--json")
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    with open_store(path, read_only=True) as store:
        rows, students = store.con.execute("SELECT count(*), count(DISTINCT student_key) FROM mastery WHERE term_id = ?",
                                           [TERM]).fetchall()[0]
        answered = store.con.execute("SELECT count(DISTINCT student_key) FROM responses").fetchall()[0][0]
    assert rep["rows_written"] == rows == sum(rep["status"].values()) and rep["students"] == students == answered
    bad = run_cli("mastery", "--term", TERM, "--store", path, "--chunks", "0")
    assert bad.returncode != 0 and "--chunks" in bad.stderr
