"""District-scale profiling (issue 10): a stratified-sample fit and chunked profiling give the whole-frame results,
and the working memory follows the chunk, not the district."""
from __future__ import annotations

import shutil
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from workbench.indicators import compute_indicators, load_catalogue
from workbench.model.chunked import (concat_results, fit_sampled, memory_budget_mb, profile_in_chunks,
                                     stratified_sample)
from workbench.model.estimator import ProfileModel, as_spec, scope_groups
from workbench.model.run import run_profile
from workbench.store import open_store

TERM = "2026-2027-1"


@pytest.fixture(scope="module")
def frame(demo_con):
    spec = as_spec("whole_person")
    ids = spec.indicator_ids() + sorted(n for n in spec.tag_names() if n in load_catalogue() and n not in spec.indicator_ids())
    fr = compute_indicators(demo_con, TERM, ids)
    return spec, fr.values.join(fr.scope)


def test_chunked_profile_equals_the_whole_frame(frame):
    spec, X = frame
    model = ProfileModel(spec).fit(X)
    whole = model.profile(X)
    parts = list(profile_in_chunks(model, X, chunk=97))
    assert [len(p.dimensions) for p in parts] == [97] * (len(X) // 97) + [len(X) % 97]
    joined = concat_results(parts)
    for f in ("indicators", "normalised", "dimensions", "tags"):
        pd.testing.assert_frame_equal(getattr(joined, f), getattr(whole, f))
    for f in ("segment", "explanation_zh", "explanation_en"):
        pd.testing.assert_series_equal(getattr(joined, f), getattr(whole, f))
    assert joined.imputed.tolist() == whole.imputed.tolist()
    with pytest.raises(ValueError, match="at least 1"):
        next(profile_in_chunks(model, X, chunk=0))


def test_stratified_sample_takes_at_most_n_per_group(frame):
    spec, X = frame
    groups = scope_groups(X, spec.scope)
    s = stratified_sample(X, groups, per_group=100, seed=3)
    counts = groups[s.index].value_counts()
    assert (counts == groups.value_counts().clip(upper=100)[counts.index]).all()
    assert s.index.equals(stratified_sample(X, groups, per_group=100, seed=3).index)       # reproducible
    assert not s.index.equals(stratified_sample(X, groups, per_group=100, seed=4).index)
    assert list(s.index) == [k for k in X.index if k in set(s.index)]                       # original order


def test_a_model_fitted_on_a_sample_scores_like_the_full_fit(frame):
    """Half of each grade is enough: every dimension ranks the students as the full fit does."""
    spec, X = frame
    full = ProfileModel(spec).fit(X).transform(X)
    half = fit_sampled(spec, X, per_group=80, seed=0).transform(X)
    rho = {d: spearmanr(full[d], half[d], nan_policy="omit")[0] for d in full.columns}
    print("\nSpearman, fit on 80 per grade vs all:", {d: round(r, 3) for d, r in rho.items()})
    assert min(rho.values()) >= 0.95


def test_working_memory_follows_the_chunk(frame):
    """A 24,000-student frame (the demo's students, jittered) profiled 3,000 at a time: the peak of the working
    memory is bounded by one chunk's budget, and is a fraction of profiling the whole frame at once."""
    spec, X = frame
    rng = np.random.default_rng(0)
    rep = 50
    big = pd.concat([X] * rep)
    big.index = [f"{k}_{i}" for i in range(rep) for k in X.index]
    num = [c for c in big.columns if pd.api.types.is_float_dtype(big[c])]
    big[num] = big[num] * (1 + rng.normal(0, 0.05, (len(big), len(num))))
    model = fit_sampled(spec, big, per_group=2000)
    tracemalloc.start()
    n = 0
    for part in profile_in_chunks(model, big, chunk=3000):
        n += len(part.dimensions)
        del part
    chunked_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.reset_peak()
    whole = model.profile(big)
    whole_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    del whole
    budget = memory_budget_mb(len(big), big.shape[1], chunk=3000)
    print(f"\npeak MB: chunked {chunked_peak:.0f}, whole {whole_peak:.0f}; budget per chunk {budget['chunk_work']:.0f}")
    assert n == len(big)
    assert chunked_peak <= 1.5 * budget["chunk_work"] and chunked_peak < 0.35 * whole_peak


def test_run_profile_with_sample_and_chunks_stores_every_student(prepared_demo, tmp_path):
    path = tmp_path / "store.duckdb"
    shutil.copy(prepared_demo["store"], path)
    with open_store(path) as store:
        plain = run_profile(store, TERM, "whole_person")
        chunked = run_profile(store, TERM, "whole_person", chunk=50)
        pd.testing.assert_frame_equal(chunked.result.dimensions, plain.result.dimensions)
        sampled = run_profile(store, TERM, "whole_person", fit_sample=100, chunk=50)
        n = store.con.execute("SELECT count(DISTINCT student_key) FROM profile_students WHERE term_id = $t AND "
                              "spec_id = 'whole_person'", {"t": TERM}).fetchone()[0]
    assert n == len(plain.result.dimensions) == len(sampled.result.dimensions)
    rho = spearmanr(plain.result.dimensions["overall"], sampled.result.dimensions["overall"])[0]
    assert rho > 0.95
