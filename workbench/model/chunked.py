"""A profile model for a district: fit on a stratified sample, profile in chunks, within a memory budget.

The indicator frame is one row per student (1M students × 30 indicators ≈ 240 MB of float64), but
:meth:`ProfileModel.profile` makes several frames of the same shape at once (normalised values, the
direction-adjusted ones, the imputation mask, the contributions behind the explanations) and two strings per
student: on a million rows that is several GB. Two things keep it bounded:

* **fit on a sample**: the normalisers (quantiles / means and spreads per scope group), the reliability and
  the segment centres need far fewer students than a district has. :func:`fit_sampled` fits on at most
  ``per_group`` students of each scope group (grade, class or school, as the spec compares), drawn at random
  with a fixed seed; with fewer students than that in a group, all of them.
* **profile in chunks**: once fitted, profiling is row by row (each student against the fitted model), so
  :func:`profile_in_chunks` yields the results of ``chunk`` students at a time; the caller writes each chunk
  and drops it. Chunked output is identical to the whole frame's.

:func:`memory_budget_mb` is the arithmetic behind the chunk size (measured on this machine; see
docs/scale.md).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from workbench.model.estimator import ProfileModel, ProfileResult, as_spec, scope_groups

# measured with tracemalloc (whole_person, 42 columns, 10k–50k students a chunk): 2.85 KB of working memory per
# student profiled (≈ 68 bytes per indicator cell), 0.44 KB kept per student in the result
BYTES_WORK_PER_CELL = 68
BYTES_KEPT_PER_STUDENT = 440


def stratified_sample(X: pd.DataFrame, groups: pd.Series, per_group: int, seed: int = 0) -> pd.DataFrame:
    """At most ``per_group`` rows of each group, at random (``seed``); rows keep their original order."""
    rng = np.random.default_rng(seed)
    codes, _ = pd.factorize(groups, use_na_sentinel=False)
    keep = np.zeros(len(X), dtype=bool)
    for g in np.unique(codes):
        rows = np.flatnonzero(codes == g)
        keep[rows if len(rows) <= per_group else rng.choice(rows, per_group, replace=False)] = True
    return X[keep]


def fit_sampled(spec, X: pd.DataFrame, per_group: int = 100_000, seed: int = 0) -> ProfileModel:
    """A :class:`ProfileModel` fitted on at most ``per_group`` students of each scope group of ``X``."""
    spec = as_spec(spec)
    sample = stratified_sample(X, scope_groups(X, spec.scope), per_group, seed)
    return ProfileModel(spec).fit(sample)


def profile_in_chunks(model: ProfileModel, X: pd.DataFrame, chunk: int = 100_000) -> Iterator[ProfileResult]:
    """:meth:`ProfileModel.profile` of ``chunk`` rows at a time, in order."""
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    for start in range(0, len(X), chunk):
        yield model.profile(X.iloc[start:start + chunk])


def concat_results(parts: list[ProfileResult]) -> ProfileResult:
    """One :class:`ProfileResult` from chunks (for callers that keep everything, e.g. one school)."""
    return ProfileResult(**{f: pd.concat([getattr(p, f) for p in parts]) for f in ProfileResult.__dataclass_fields__})


def memory_budget_mb(students: int, indicators: int, chunk: int = 100_000) -> dict[str, float]:
    """Peak memory estimate (MB): the whole indicator frame, one chunk's working memory, the kept results.

    >>> b = memory_budget_mb(1_000_000, 42)
    >>> round(b["frame"]), round(b["chunk_work"]), round(b["output"]), round(b["total"])
    (320, 272, 420, 1012)
    """
    frame = students * indicators * 8 / 2**20
    work = min(chunk, students) * indicators * BYTES_WORK_PER_CELL / 2**20
    out = students * BYTES_KEPT_PER_STUDENT / 2**20
    return {"frame": frame, "chunk_work": work, "output": out, "total": frame + work + out}
