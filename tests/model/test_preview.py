"""The builder's live preview on the demo school: the same numbers as the fitted model, and weights that move
the composite towards the planted truth."""
from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from workbench.model import ProfileModel, load_spec
from workbench.model.editor import SpecEditor
from workbench.model.preview import PreviewEngine

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def engine(demo_school):
    con = duckdb.connect(str(demo_school["store"]), read_only=True)
    eng = PreviewEngine.from_store(con, TERM)
    keys = dict(con.execute("SELECT source_id, student_key FROM identity_vault_ids WHERE system = 'school_no'").fetchall())
    con.close()
    truth = demo_school["students"].assign(k=lambda d: d.school_no.map(keys)).dropna(subset=["k"]).set_index("k")
    return eng, truth


def _edited(name: str, *edits) -> object:
    ed = SpecEditor(load_spec(name))
    for method, *args in edits:
        getattr(ed, method)(*args)
    return ed.spec


SPECS = [
    _edited("whole_person"),
    _edited("academic_emotion"),
    _edited("online_engagement"),
    _edited("whole_person", ("set_option", "normaliser", "zscore"), ("set_option", "scope", "class")),
    _edited("academic_emotion", ("set_option", "missing", "impute"), ("set_option", "normaliser", "minmax"),
            ("set_indicator_weight", "emotion", "psy_gad7_max", 4.5), ("set_indicator_direction", "academic",
                                                                          "acad_score_z", "lower_better")),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.id}-{s.hash[:6]}")
def test_preview_equals_the_fitted_model(engine, spec):
    eng, _ = engine
    p = eng.preview(spec)
    model = ProfileModel(spec).fit(eng.X)
    pd.testing.assert_frame_equal(p.dimensions, model.transform(eng.X))
    assert p.reliability == pytest.approx(model.reliability_)
    pd.testing.assert_frame_equal(p.correlation, model.dimension_correlation_)
    tags = model.profile(eng.X).tags
    assert p.tag_counts == {t: int(tags[t].sum()) for t in tags.columns}
    assert int(p.histogram.sum()) == p.dimensions["overall"].notna().sum() == p.n_students == 478
    for d, w in p.weights.items():
        assert sum(w.values()) == pytest.approx(1.0)
    assert sum(p.dimension_shares.values()) == pytest.approx(1.0)


def test_weights_steer_the_composite_towards_what_was_planted(engine):
    eng, truth = engine
    ability = truth["ability"].astype(float)
    anxiety = truth["anxiety_trait"].astype(float)

    def rho(spec, what):
        o = eng.preview(spec).dimensions["overall"]
        both = pd.concat([o, what], axis=1, join="inner").dropna()
        return spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic

    ed = SpecEditor(load_spec("whole_person"))
    base_ability, base_anxiety = rho(ed.spec, ability), rho(ed.spec, anxiety)
    for d in ("behaviour", "interest", "emotion", "social"):
        ed.set_dimension_weight(d, 0)
    academic_only = rho(ed.spec, ability)
    assert academic_only >= 0.7 and academic_only > base_ability + 0.1
    ed.set_dimension_weight("emotion", 1)
    ed.set_dimension_weight("academic", 0)
    assert rho(ed.spec, anxiety) <= -0.4 and rho(ed.spec, anxiety) < base_anxiety - 0.1


def test_rule_check_counts_the_students_a_rule_selects(engine):
    eng, _ = engine
    spec = load_spec("whole_person")
    dims = eng.preview(spec).dimensions
    check = eng.rule_check("academic < 40 and psy_gad7_max >= 10", spec)
    expected = int(((dims["academic"] < 40) & (eng.X["psy_gad7_max"] >= 10)).sum())
    assert check.ok and check.count == expected and check.count > 0
    assert f"{expected}" in check.zh and f"selects {expected} students" == check.en
    bad = eng.rule_check("academic < 40 and", spec)
    assert not bad.ok and bad.count is None and "cannot parse" in bad.en
    typo = eng.rule_check("acadmic < 40", spec)
    assert not typo.ok and "did you mean academic" in typo.en
    unsafe = eng.rule_check("__import__('os').system('ls')", spec)
    assert not unsafe.ok


def test_top_and_bottom_show_display_codes_and_warnings_name_the_dimension(engine, demo_con):
    eng, _ = engine
    p = eng.preview(load_spec("whole_person"))
    assert list(p.top["overall"]) == sorted(p.top["overall"], reverse=True)
    assert p.top["overall"].iloc[0] == round(p.dimensions["overall"].max(), 1)
    assert p.bottom["overall"].iloc[0] == round(p.dimensions["overall"].min(), 1)
    shown = set(p.top["display"]) | set(p.bottom["display"])
    assert all(s.startswith("S-") and len(s) == 8 for s in shown)
    names = {n for (n,) in demo_con.execute("SELECT name FROM identity_vault").fetchall()}
    assert not shown & (names | set(eng.X.index))
    low = [d for d, a in p.reliability.items() if a is not None and a < 0.6]
    assert low and all(any(f"dimensions.{d}" in w["en"] and "Cronbach" in w["en"] for w in p.warnings) for d in low)


def test_segments_on_request_match_the_model(engine):
    eng, _ = engine
    spec = load_spec("academic_emotion")
    table = eng.segments(spec)
    model = ProfileModel(spec).fit(eng.X)
    counts = model.predict(eng.X).value_counts().sort_index()
    assert list(table["students"]) == list(counts) and int(table["students"].sum()) == 478
    assert list(table["zh"]) == [model.segment_labels_[s]["zh"] for s in table["segment"]]


def test_student_radar_data(engine):
    eng, _ = engine
    spec = load_spec("whole_person")
    dims = eng.preview(spec).dimensions
    key = dims["overall"].idxmax()
    s = eng.student(spec, key, dims)
    grade = eng.X.loc[key, "grade"]
    same = eng.X.index[eng.X["grade"] == grade]
    assert s["scores"]["academic"] == round(dims.loc[key, "academic"], 1)
    assert s["group_means"]["academic"] == round(dims.loc[same, "academic"].mean(), 1)
    assert s["display"].startswith("S-") and np.isfinite(list(s["scores"].values())).all()
