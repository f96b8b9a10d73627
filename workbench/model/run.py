"""One profile run: compute the spec's indicators for a term, fit the model, write the store and a summary.

Results are versioned by ``(term, spec id, spec hash)``: running the same spec on the same term
again replaces that run's rows, a changed spec (another hash) is stored beside it. The summary
(CSV and xlsx) carries pseudonyms only, and its class table suppresses groups under 10 students.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from workbench.indicators import compute_indicators, write_indicator_values
from workbench.indicators.engines import Engine
from workbench.indicators.catalogue import load_catalogue
from workbench.model.chunked import concat_results, fit_sampled, profile_in_chunks
from workbench.model.estimator import ProfileModel, ProfileResult, as_spec
from workbench.model.spec import ProfileSpec
from workbench.store import Store

MIN_CELL = 10


@dataclass
class ProfileRun:
    term: str
    spec: ProfileSpec
    model: ProfileModel
    result: ProfileResult
    scope: pd.DataFrame
    missing: dict[str, str] = field(default_factory=dict)   # indicator → reason (with spec path when in the spec)
    files: list[Path] = field(default_factory=list)

    @property
    def students(self) -> int:
        return len(self.result.dimensions)

    def summary_frame(self, lang: str = "zh") -> pd.DataFrame:
        r, cat = self.result, load_catalogue()
        cols = {"student_key": r.dimensions.index, "class_id": self.scope["class_id"].to_numpy(),
                "grade": self.scope["grade"].to_numpy()}
        df = pd.DataFrame(cols).set_index("student_key")
        for d in r.dimensions.columns:
            name = "overall" if d == "overall" else d
            label = ("综合" if lang == "zh" else "overall") if d == "overall" else cat.dimension_label(d, lang)
            df[f"{label} ({name})"] = r.dimensions[d].round(1)
        tag_names = {t["id"]: t["label"][lang] for t in self.spec.tags}
        df["标签" if lang == "zh" else "tags"] = r.tag_lists().map(lambda ts: "、".join(tag_names[t] for t in ts)
                                                                  if lang == "zh" else "; ".join(tag_names[t] for t in ts))
        df["分群" if lang == "zh" else "segment"] = r.segment
        df["分群描述" if lang == "zh" else "segment description"] = r.segment_zh if lang == "zh" else r.segment_en
        df["解释" if lang == "zh" else "explanation"] = r.explanation_zh if lang == "zh" else r.explanation_en
        return df

    def class_table(self, lang: str = "zh") -> pd.DataFrame:
        """Mean scores per class; classes under 10 students are suppressed (shown as 'n < 10')."""
        dims = self.result.dimensions.join(self.scope[["class_id"]])
        g = dims.groupby("class_id", dropna=False)
        out = g.mean().round(1)
        out.insert(0, "students", g.size())
        small = out["students"] < MIN_CELL
        out = out.astype(object)
        out.loc[small, [c for c in out.columns if c != "students"]] = "n < 10"
        out.loc[small, "students"] = "< 10"
        return out

    def report_frames(self) -> dict[str, pd.DataFrame]:
        rep = self.model.report()
        rel = pd.DataFrame({"dimension": list(rep["reliability"]), "cronbach_alpha": list(rep["reliability"].values())})
        seg = pd.DataFrame([{"segment": int(k), "students": int((self.result.segment == int(k)).sum()), **v}
                            for k, v in rep["segments"].items()])
        notes = pd.DataFrame({"message": [*self.missing.values(), *rep["warnings"]]})
        return {"reliability": rel, "correlation": self.model.dimension_correlation_.round(3), "segments": seg,
                "notes": notes}


def run_profile(store: Store, term: str, spec: ProfileSpec | str | Path, *, out_dir: str | Path | None = None,
                progress=None, engine: Engine | None = None, fit_sample: int | None = None,
                chunk: int | None = None) -> ProfileRun:
    """Compute, fit, write ``profiles``/``profile_students``/``profile_runs``/``indicator_values``; optional summary.

    ``engine`` is where the indicators are computed (default: the store's DuckDB; see
    :func:`workbench.indicators.engines.open_engine`); the model is fitted in pandas either way. For a district,
    ``fit_sample`` fits on at most that many students per comparison group and ``chunk`` profiles that many
    students at a time (:mod:`workbench.model.chunked`)."""
    spec = as_spec(spec)
    ids = spec.indicator_ids() + sorted(n for n in spec.tag_names() if n in load_catalogue() and n not in spec.indicator_ids())
    frame = compute_indicators(store.con, term, ids, weekly=True, progress=progress, engine=engine)
    if frame.values.empty:
        raise ValueError(f"term {term!r} has no students in this store / 该学期没有学生数据")
    X = frame.values.join(frame.scope)
    model = fit_sampled(spec, X, fit_sample) if fit_sample else ProfileModel(spec).fit(X)
    result = concat_results(list(profile_in_chunks(model, X, chunk))) if chunk else model.profile(X)
    missing = dict(model.excluded_)
    for i, why in frame.missing.items():
        missing.setdefault(i, f"{spec.source}: tags: {i}: {why}")
    run = ProfileRun(term, spec, model, result, frame.scope, missing)
    _write(store, run, frame)
    if out_dir is not None:
        run.files = write_summary(run, out_dir)
    return run


def _write(store: Store, run: ProfileRun, frame) -> None:
    con, spec, r = store.con, run.spec, run.result
    key = {"t": run.term, "s": spec.id, "h": spec.hash}
    long = r.dimensions.reset_index(names="student_key").melt(id_vars="student_key", var_name="dimension", value_name="score")
    per_student = pd.DataFrame({
        "student_key": r.dimensions.index, "class_id": run.scope["class_id"].to_numpy(),
        "grade": pd.array(run.scope["grade"].to_numpy(), dtype="Int32"),
        "composite": r.dimensions["overall"].to_numpy(), "segment": r.segment.to_numpy(),
        "segment_zh": r.segment_zh.to_numpy(), "segment_en": r.segment_en.to_numpy(),
        "tags": r.tag_lists().to_list(), "explanation_zh": r.explanation_zh.to_numpy(),
        "explanation_en": r.explanation_en.to_numpy(), "imputed": r.imputed.to_list()})
    report = run.model.report() | {"missing_indicators": run.missing}
    con.execute("BEGIN TRANSACTION")
    try:
        for table in ("profiles", "profile_students", "profile_runs"):
            con.execute(f"DELETE FROM {table} WHERE term_id = $t AND spec_id = $s AND spec_hash = $h", key)
        con.register("wb_prof_long", long)
        con.execute("INSERT INTO profiles SELECT $t, $s, $v, student_key, dimension, score, now(), $h FROM wb_prof_long",
                    key | {"v": spec.version})
        con.register("wb_prof_students", per_student)
        con.execute("INSERT INTO profile_students SELECT $t, $s, $h, student_key, class_id, grade, composite, segment, "
                    "segment_zh, segment_en, tags, explanation_zh, explanation_en, imputed, now() FROM wb_prof_students", key)
        con.execute("INSERT INTO profile_runs VALUES ($t, $s, $v, $h, $spec, $n, $report, now())",
                    key | {"v": spec.version, "spec": json.dumps(spec.doc, ensure_ascii=False), "n": run.students,
                           "report": json.dumps(report, ensure_ascii=False, default=str)})
        write_indicator_values(con, frame)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for v in ("wb_prof_long", "wb_prof_students"):
            try:
                con.unregister(v)
            except Exception:  # noqa: BLE001 - not registered if an earlier step failed
                pass


def write_summary(run: ProfileRun, out_dir: str | Path, lang: str = "zh") -> list[Path]:
    """``<spec>_<term>.csv`` (UTF-8 with BOM, opens in Excel) and ``.xlsx`` with report sheets."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"profile_{run.spec.id}_{run.term}"
    students = run.summary_frame(lang)
    csv = out / f"{stem}.csv"
    students.to_csv(csv, encoding="utf-8-sig")
    xlsx = out / f"{stem}.xlsx"
    with pd.ExcelWriter(xlsx) as xw:
        students.to_excel(xw, sheet_name="students")
        run.class_table(lang).to_excel(xw, sheet_name="classes")
        for name, frame in run.report_frames().items():
            frame.to_excel(xw, sheet_name=name, index=name == "correlation")
    return [csv, xlsx]
