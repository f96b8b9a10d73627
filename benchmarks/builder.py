"""Model-builder benchmark: the live preview's recompute after a weight change, at 2,000 and 50,000 students.

Features are the demo school's real indicator frame (``make demo``'s store, else a demo school built
into ``benchmarks/_work/``) resampled to N students: rows drawn with replacement, a little jitter on
each indicator, grades kept, classes of about 40 renumbered per grade. The spec is ``whole_person``
(5 dimensions, 39 indicators, 3 tags).

For each size it times, as medians over ``--repeat`` weight changes (a different indicator each time):

- **preview** (the goal): :meth:`PreviewEngine.preview` after ``SpecEditor.set_indicator_weight`` —
  scores, distribution, reliability, correlations, top/bottom and tag counts, normalised columns cached.
  Goal ≤ 200 ms at 2,000 students.
- **refit**: what the preview replaces, ``ProfileModel(spec).fit(X)`` then ``transform`` (normalisers
  and segments refitted each time); the ratio preview / refit.
- **first preview**: the first one for a spec, which fills the normalisation cache (once per normaliser,
  scope and missing-data choice).
- **widget update** (2,000 only): the same weight change through the ModelBuilder's slider trait — the
  editor, the controls, the preview panel's numbers and tables — and the three charts (matplotlib SVG),
  which the builder redraws only once the user pauses.

Prints milliseconds and ratios; never asserts a timing.
Run: ``make bench`` or ``.venv/bin/python benchmarks/builder.py [--sizes 2000 50000] [--repeat 7]``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.model import ProfileModel, load_spec  # noqa: E402
from workbench.model.editor import SpecEditor  # noqa: E402
from workbench.model.preview import PreviewEngine  # noqa: E402
from workbench.store import open_store  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"
TERM = "2026-2027-1"
GOAL_MS = 200


def demo_features() -> pd.DataFrame:
    from workbench.indicators import compute_indicators
    store = ROOT / "data" / "workbench.duckdb"
    if not store.exists():
        from workbench.demo_run import run_demo
        store = WORK / "builder_demo.duckdb"
        if not store.exists():
            WORK.mkdir(parents=True, exist_ok=True)
            run_demo(students=480, seed=20260901, weeks=18, store_path=store, demo_dir=WORK / "builder_demo",
                     fresh=True, ingest=True, echo=lambda s: None)
    with open_store(store, read_only=True) as s:
        frame = compute_indicators(s.con, TERM)
    return frame.values.join(frame.scope)


def resample(X: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = X.iloc[rng.integers(0, len(X), n)].copy()
    num = [c for c in out.columns if c not in ("class_id", "grade", "school_id") and pd.api.types.is_numeric_dtype(out[c])]
    for c in num:
        sd = float(X[c].std()) if X[c].notna().sum() > 1 else 0.0
        out[c] = out[c] + rng.normal(0, 0.05 * sd, n) * out[c].notna()
    out["class_id"] = [f"G{g}C{k // 40 + 1}" for g, k in zip(out["grade"], out.groupby("grade").cumcount())]
    out.index = [f"B{i:07d}" for i in range(n)]
    out.index.name = "student_key"
    return out


def ms(seconds: float) -> str:
    return f"{1000 * seconds:8.1f}"


def bench_size(X: pd.DataFrame, repeat: int) -> dict:
    spec = load_spec("whole_person")
    engine = PreviewEngine(X)
    t = time.perf_counter()
    engine.preview(spec)
    first = time.perf_counter() - t
    ed = SpecEditor(spec)
    targets = [(d, i["id"]) for d, ds in spec.dimensions.items() for i in ds["indicators"]]
    preview, refit = [], []
    for r in range(repeat):
        d, i = targets[(r * 7) % len(targets)]
        ed.set_indicator_weight(d, i, 1 + (r % 4) + 0.5)
        t = time.perf_counter()
        engine.preview(ed.spec)
        preview.append(time.perf_counter() - t)
        if r < max(3, repeat // 2):
            t = time.perf_counter()
            ProfileModel(ed.spec).fit(X).transform(X)
            refit.append(time.perf_counter() - t)
    return {"first": first, "preview": statistics.median(preview), "refit": statistics.median(refit)}


def bench_widget(X: pd.DataFrame, repeat: int) -> dict:
    from widgets.builder import ModelBuilder
    from workbench.model.editor import ModelLibrary
    b = ModelBuilder(SpecEditor(load_spec("whole_person")), PreviewEngine(X), library=ModelLibrary(WORK / "bench_models"))
    rows = [r for r in b.rows.values() if r.checkbox.v_model]
    update, charts = [], []
    b._schedule_charts = lambda: None   # charts timed apart: in a kernel they are redrawn once the slider stops
    for r in range(repeat):
        row = rows[(r * 7) % len(rows)]
        t = time.perf_counter()
        row.slider.v_model = 1 + (r % 4) + 0.5
        update.append(time.perf_counter() - t)
        t = time.perf_counter()
        b.panel.draw_charts()
        charts.append(time.perf_counter() - t)
    return {"update": statistics.median(update), "charts": statistics.median(charts)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2000, 50000])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    base = demo_features()
    print(f"builder preview benchmark · spec whole_person · features resampled from the demo school ({len(base)} students)")
    print(f"{'students':>9} {'preview ms':>11} {'refit ms':>9} {'preview/refit':>14} {'first ms':>9}  goal ≤ {GOAL_MS} ms at 2,000")
    for n in args.sizes:
        r = bench_size(resample(base, n), args.repeat)
        verdict = "" if n != 2000 else ("  meets the goal" if 1000 * r["preview"] <= GOAL_MS else "  MISSES the goal")
        print(f"{n:>9} {ms(r['preview']):>11} {ms(r['refit']):>9} {r['preview'] / r['refit']:>14.3f} {ms(r['first']):>9}{verdict}")
    w = bench_widget(resample(base, 2000), args.repeat)
    print(f"widget at 2,000: slider → editor, controls, panel numbers {ms(w['update']).strip()} ms; "
          f"three charts (matplotlib SVG, after the pause) {ms(w['charts']).strip()} ms")


if __name__ == "__main__":
    main()
