"""The shipped specs on the real datasets: OULAD (2013J) and xAPI-Edu-Data (first semester).

Neither has mood check-ins or psychological scales: those indicators are reported, with the spec
file and the path inside it, and the weights are renormalised — the run completes."""
from __future__ import annotations

import pytest

from workbench.model import load_spec
from workbench.model.run import run_profile

SPECS = ["academic_emotion", "whole_person", "online_engagement"]


@pytest.mark.parametrize("name", SPECS)
def test_oulad_runs_every_default_spec(oulad, name, tmp_path):
    store, _ = oulad
    spec = load_spec(name)
    run = run_profile(store, "2013J", spec, out_dir=tmp_path)
    enrolled = store.con.execute("SELECT count(DISTINCT student_key) FROM enrolments WHERE term_id = '2013J'").fetchall()[0][0]
    assert run.students == enrolled > 1000
    dims = run.model.weights_
    if "emotion" in spec.dimensions:
        assert "emotion" not in dims
        assert any(f"{spec.source}: dimensions.emotion: no indicator" in w for w in run.model.warnings_)
        gad = [p for p in run.missing.values() if "psy_gad7_max" in p]
        assert gad and "dimensions.emotion.indicators[" in gad[0] and spec.source in gad[0]
    if "academic" in spec.dimensions:
        assert "academic" in dims and "acad_item_accuracy" not in dims["academic"]   # no item-level responses
        scored = {k for (k,) in store.con.execute("SELECT DISTINCT s.student_key FROM scores s JOIN assessments a "
                                                 "USING (assessment_id) WHERE a.term_id = '2013J' AND s.score IS NOT NULL").fetchall()}
        has = run.result.dimensions["academic"].notna()
        assert set(has[has].index) == scored     # students who withdrew before any assessment stay unscored
    if "behaviour" in spec.dimensions:
        assert "behaviour" in dims and "beh_actions" in dims["behaviour"]
        # the VLE subset covers AAA-2013J: there behaviour is scored from clicks, elsewhere it is unknown
        aaa = run.scope["class_id"] == "AAA-2013J"
        assert run.result.dimensions.loc[aaa, "behaviour"].notna().all()
    assert run.result.dimensions["overall"].notna().mean() > 0.75
    assert store.count("profile_students", "term_id = '2013J' AND spec_hash = ?", [spec.hash]) == run.students
    assert all(f.exists() for f in run.files)


@pytest.mark.parametrize("name", SPECS)
def test_xapi_runs_every_default_spec(xapi, name):
    store, _, source = xapi
    spec = load_spec(name)
    run = run_profile(store, "first", spec)
    assert run.students == sum(r["Semester"] == "F" for r in source)
    assert "emotion" not in run.model.weights_
    missing = " ".join(run.missing.values())
    assert "no data" in missing and spec.source in missing
    if "academic" in spec.dimensions:
        # the grade band (L/M/H) is the only academic evidence: the academic score orders the bands
        band = dict(store.con.execute("SELECT student_key, score FROM scores").fetchall())
        acad = run.result.dimensions["academic"]
        means = acad.groupby(acad.index.map(band)).mean()
        assert list(means.index) == [34.5, 79.5, 95.0] and means.is_monotonic_increasing
    if "behaviour" in spec.dimensions:
        assert "beh_active_days" in run.missing and "beh_questions_asked" in run.model.weights_["behaviour"]
