"""The ``workbench`` command: demo, ingest, presets, identity, key, compact, schema, indicators, spec, profile, kg,
mastery, run-term, users, serve (the last two in ``workbench.serve.cli``)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from workbench.cliopts import LANG_OPT, STORE_OPT
from workbench.indicators.cli import district_indicators, engine_options, parquet
from workbench.store import StoreVersionError, default_store_path, open_store


def _progress_factory(enabled: bool):
    """A tqdm bar per file over the pipeline's phases (the pipeline calls it for large files only)."""
    if not enabled:
        return None
    from tqdm import tqdm
    state: dict[str, object] = {}

    def progress(step: str, done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None or done == 0:
            bar = state["bar"] = tqdm(total=total, desc="ingest", unit="step", file=sys.stderr, leave=False)
        bar.set_postfix_str(step)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            state.pop("bar", None)
    return progress


def _key(key_file: str | None) -> bytes:
    from workbench.identity import PseudonymKeyError, load_key
    try:
        return load_key(key_file)
    except PseudonymKeyError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(package_name="profile-workbench")
def main() -> None:
    """Profile Workbench 学生画像建模工作台."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--preset", default=None, help="Preset name or YAML file (default: found from each file name).")
@STORE_OPT
@click.option("--key-file", default=None, help="Pseudonym key file (default $WORKBENCH_KEY_FILE or ~/.config/...).")
@click.option("--rejects", "rejects_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for rejects reports (default: rejects/ beside the store).")
@click.option("--json", "as_json", is_flag=True, help="Print the accounting as JSON.")
@LANG_OPT
def ingest(paths, preset, store_path, key_file, rejects_dir, as_json, lang) -> None:
    """Ingest exports into the store; prints rows read / accepted / quarantined / merged per file."""
    from workbench.identity import PseudonymKeyError
    from workbench.ingest import accounting_table, ingest_paths
    key = _key(key_file)
    store_file = default_store_path(store_path)
    rejects = Path(rejects_dir) if rejects_dir else store_file.parent / "rejects"
    try:
        with open_store(store_file) as store:
            reports = ingest_paths(store, paths, key, preset, rejects_dir=rejects,
                                   progress=_progress_factory(sys.stderr.isatty() and not as_json))
    except (StoreVersionError, PseudonymKeyError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        click.echo(accounting_table(reports, lang))
    if any(r.status == "failed" for r in reports):
        sys.exit(2)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@LANG_OPT
def presets(as_json, lang) -> None:
    """List the source presets (shipped and from $WORKBENCH_PRESETS)."""
    from workbench.ingest import list_presets
    items = list_presets()
    if as_json:
        click.echo(json.dumps([{"name": p.name, "source": p.source, "table": p.table, "title": p.title,
                                "match": p.match} for p in items], ensure_ascii=False, indent=2))
        return
    for p in items:
        click.echo(f"{p.name:34} {p.source:14} → {str(p.table or '(identity)'):12} {p.title.get(lang, p.name)}")


@main.group()
def key() -> None:
    """Manage the pseudonym key (kept outside the repository and the store)."""


@key.command("init")
@click.option("--path", default=None, help="Key file (default $WORKBENCH_KEY_FILE or ~/.config/profile-workbench/pseudonym.key).")
def key_init(path) -> None:
    from workbench.identity import init_key
    p = init_key(path)
    click.echo(f"pseudonym key: {p} (mode 0600; back it up — without it pseudonyms cannot be reproduced)")


@main.group()
def identity() -> None:
    """One-ID: review ambiguous matches and apply a person's decisions."""


@identity.command("review")
@STORE_OPT
@click.option("--out", default="identity_review.csv", show_default=True, type=click.Path(dir_okay=False))
def identity_review(store_path, out) -> None:
    """Write the pending matches to a CSV with a `decision` column to fill (1/2/3/new/reject)."""
    from workbench.identity import write_review_file
    with open_store(store_path) as store:
        n = write_review_file(store.con, out)
    click.echo(f"{n} pending match(es) written to {out} / 待确认 {n} 条")


@identity.command("resolve")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@STORE_OPT
@click.option("--key-file", default=None)
def identity_resolve(file, store_path, key_file) -> None:
    """Apply the decisions in FILE; rows waiting for those identities leave quarantine."""
    from workbench.ingest.release import resolve_and_release
    key = _key(key_file)
    with open_store(store_path) as store:
        try:
            out = resolve_and_release(store, file, key)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"linked {out['linked']}, new {out['created']}, rejected {out['rejected']}, "
               f"left pending {out['skipped']}; rows released from quarantine: {out['released']}")


@main.command()
@click.option("--students", default=480, show_default=True)
@click.option("--seed", default=20260901, show_default=True)
@click.option("--weeks", default=18, show_default=True)
@STORE_OPT
@click.option("--dir", "demo_dir", default="data/demo", show_default=True, type=click.Path(file_okay=False),
              help="Folder for exports/, ground_truth/, rejects/ and the demo's own pseudonym key.")
@click.option("--fresh", is_flag=True, help="Start from an empty store and new exports.")
@click.option("--no-ingest", is_flag=True, help="Only write the export files.")
@LANG_OPT
def demo(students, seed, weeks, store_path, demo_dir, fresh, no_ingest, lang) -> None:
    """Generate the demo school's exports (with ground truth) and ingest them."""
    from workbench.demo_run import run_demo
    result = run_demo(students=students, seed=seed, weeks=weeks, store_path=default_store_path(store_path),
                      demo_dir=Path(demo_dir), fresh=fresh, ingest=not no_ingest, lang=lang, echo=click.echo)
    sys.exit(result.exit_code)


@main.command()
@STORE_OPT
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--keep-file", is_flag=True,
              help="Leave the old blocks in the file as free space (no fresh copy; the file keeps the old rows' space, up to about twice its size).")
def compact(store_path, quiet, keep_file) -> None:
    """Rewrite the students' facts in student order (a district's store: the indicators then run a slice of students
    at a time, each reading its own rows only); the same rows, columns and keys. Then copy the store into a fresh file
    in its place, which gives the freed space back (close the apps and notebooks that have it open first).
    按学生重排事实表，并写出新文件以释放空间。"""
    from workbench.store.compact import NoRoom, compact_store, rewrite_into_fresh_file
    bar = _steps_bar(not quiet, "compact", "table")
    path = default_store_path(store_path)
    with open_store(path) as store:
        done = compact_store(store.con, progress=bar)
    for table, rows in done.items():
        click.echo(f"{table:<14} {rows:>14,} rows in student order / 行已按学生排序")
    if keep_file:
        return
    if not quiet:
        click.echo("copying the store into a fresh file, which gives the freed space back (a few minutes for a "
                   "district's store) / 正在写出新文件以释放空间 …")
    try:
        before, after = rewrite_into_fresh_file(path)
    except NoRoom as exc:
        click.echo(f"{exc}; the compacted store is kept as it is (larger) / 已完成排序，文件未缩小", err=True)
        return
    click.echo(f"fresh file: {before / 1e6:,.1f} MB → {after / 1e6:,.1f} MB / 新文件：{before / 1e6:,.1f} MB → {after / 1e6:,.1f} MB")


@main.command()
def schema() -> None:
    """Print the store's schema reference (tables and columns with zh/en descriptions)."""
    from workbench.store.schema import schema_markdown
    click.echo(schema_markdown())


@main.command()
@click.option("--dimension", default=None, help="Only this dimension (basic, academic, behaviour, interest, emotion, social).")
@click.option("--sql", "sql_id", default=None, help="Print the SQL query of this indicator.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--markdown", is_flag=True, help="Print the catalogue as Markdown (docs/indicators.md).")
@LANG_OPT
def indicators(dimension, sql_id, as_json, markdown, lang) -> None:
    """List the indicator catalogue (or print one indicator's SQL)."""
    from workbench.indicators import DIRECTIONS, load_catalogue
    cat = load_catalogue()
    if markdown:
        click.echo(cat.markdown())
        return
    if sql_id:
        if sql_id not in cat:
            raise click.ClickException(f"unknown indicator {sql_id!r} / 未知指标")
        click.echo(cat.sql(sql_id))
        return
    if dimension and dimension not in cat.dimensions:
        raise click.ClickException(f"unknown dimension {dimension!r}; known: {', '.join(cat.dimensions)}")
    items = cat.select(dimension)
    if as_json:
        click.echo(json.dumps([{"id": i.id, "name": i.name, "description": i.description, "dimension": i.dimension,
                                "aspect": i.aspect, "unit": i.unit, "direction": i.direction, "grain": list(i.grain),
                                "sources": list(cat.sources(i.id)), "kind": i.kind} for i in items],
                              ensure_ascii=False, indent=2))
        return
    for d in cat.dimensions:
        rows = [i for i in items if i.dimension == d]
        if not rows:
            continue
        click.echo(f"\n{cat.dimension_label(d, lang)} ({d}) — {len(rows)}")
        for i in rows:
            grain = "term+week" if i.weekly else "term"
            click.echo(f"  {i.id:28} {i.label(lang)[:22]:24} {cat.aspect_label(d, i.aspect, lang)[:10]:12} "
                       f"{i.unit.get(lang, '')[:10]:12} {DIRECTIONS[i.direction][lang]:18} {grain:10} "
                       f"{', '.join(cat.sources(i.id))}")
    click.echo(f"\n{len(items)} indicators / 个指标")


@main.group()
def spec() -> None:
    """Profile model specs: list the shipped ones, check a file."""


@spec.command("list")
@LANG_OPT
def spec_list(lang) -> None:
    """The shipped profile model specs."""
    from workbench.model import load_spec, shipped_specs
    for name in shipped_specs():
        s = load_spec(name)
        click.echo(f"{name:22} v{s.version}  {s.hash}  {s.name[lang]}  [{', '.join(s.dimensions)}]")


@spec.command("check")
@click.argument("files", nargs=-1, required=True)
def spec_check(files) -> None:
    """Check spec files; every problem is printed with the file and the path inside it."""
    from workbench.model import SpecError, load_spec
    failed = False
    for f in files:
        try:
            s = load_spec(f)
            click.echo(f"{f}: OK ({s.id} v{s.version}, hash {s.hash}) / 检查通过")
        except SpecError as exc:
            failed = True
            click.echo(str(exc), err=True)
    if failed:
        sys.exit(2)


@main.command()
@click.option("--term", required=True, help="Term id, e.g. 2026-2027-1 (demo) or 2014J (OULAD).")
@click.option("--spec", "spec_ref", required=True, help="Spec file, or a shipped spec name (workbench spec list).")
@STORE_OPT
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for the CSV/xlsx summary (default: profiles/ beside the store).")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.option("--fit-sample", "fit_sample", type=click.IntRange(min=100), default=None,
              help="Fit on at most this many students per comparison group (district scale; default: all).")
@click.option("--chunk", type=click.IntRange(min=1), default=None,
              help="Profile this many students at a time (bounded memory; default: all at once).")
@engine_options
@LANG_OPT
def profile(term, spec_ref, store_path, out_dir, as_json, fit_sample, chunk, lang, engine) -> None:
    """Compute a profile model for a term, store the results and write a summary."""
    from workbench.indicators import load_catalogue
    from workbench.model import SpecError, load_spec
    from workbench.model.run import MIN_CELL, run_profile
    try:
        spec_doc = load_spec(spec_ref)
    except SpecError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    store_file = default_store_path(store_path)
    out = Path(out_dir) if out_dir else store_file.parent / "profiles"
    try:
        with open_store(store_file) as store:
            run = run_profile(store, term, spec_doc, out_dir=out, progress=_steps_bar(sys.stderr.isatty() and not as_json),
                              engine=engine.open(store.con), fit_sample=fit_sample, chunk=chunk)
    except (StoreVersionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    rep = run.model.report() | {"term": term, "students": run.students, "missing_indicators": run.missing,
                                "files": [str(f) for f in run.files]}
    if as_json:
        click.echo(json.dumps(rep, ensure_ascii=False, indent=2, default=str))
        return
    cat = load_catalogue()
    zh = lang == "zh"
    small = (lambda n: f"< {MIN_CELL}" if n < MIN_CELL else str(n))
    click.echo(f"{spec_doc.name[lang]} ({spec_doc.id} v{spec_doc.version}, {spec_doc.hash}) · {term} · "
               f"{run.students} {'名学生' if zh else 'students'}")
    dims = run.result.dimensions
    for d in dims.columns:
        label = ("综合" if zh else "overall") if d == "overall" else cat.dimension_label(d, lang)
        alpha = run.model.reliability_.get(d)
        click.echo(f"  {label:12} mean {dims[d].mean():5.1f}  sd {dims[d].std():5.1f}"
                   + (f"  α = {alpha:.2f}" if alpha is not None else ""))
    click.echo(("分群" if zh else "segments") + f" ({run.model.segmenter_.method}, k = {run.model.segmenter_.n_segments_}):")
    for k, words in run.model.segment_labels_.items():
        click.echo(f"  {k}. {words[lang]}  ({small(int((run.result.segment == k).sum()))})")
    for t in spec_doc.tags:
        click.echo(f"  {'标签' if zh else 'tag'} {t['label'][lang]}: {small(int(run.result.tags[t['id']].sum()))}")
    for msg in [*run.missing.values(), *run.model.warnings_]:
        click.echo(f"  ! {msg}")
    for f in run.files:
        click.echo(f"  → {f}")


@main.group()
def kg() -> None:
    """Knowledge graphs: validate a graph file, import the Junyi exercise table."""


@kg.command("validate")
@click.argument("files", nargs=-1, required=True)
def kg_validate(files) -> None:
    """Check graph files (or shipped graph names): duplicate ids, dangling prerequisites, cycles, orphans."""
    import yaml

    from workbench.knowledge.graph import graph_path, validate_graph
    failed = False
    for f in files:
        try:
            path = graph_path(f)
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, yaml.YAMLError) as exc:
            click.echo(f"{f}: {exc}", err=True)
            failed = True
            continue
        issues = validate_graph(doc)
        for i in issues:
            click.echo(("" if i.error else "warning: ") + i.text(str(path)), err=True)
        errors = [i for i in issues if i.error]
        failed |= bool(errors)
        if not errors:
            kps = doc["knowledge_points"]
            edges = sum(len(k.get("prerequisites") or []) for k in kps)
            click.echo(f"{path}: OK, {len(kps)} knowledge points, {edges} prerequisite edges, "
                       f"{len(doc.get('items') or {})} mapped items / 检查通过")
    if failed:
        sys.exit(2)


@kg.command("import-junyi")
@click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False),
              help="junyi_Exercise_table.csv (default: ../shared/data/junyi_exercise_graph/).")
@click.option("--out", "out", default="junyi_math.yaml", show_default=True, type=click.Path(dir_okay=False))
@click.option("--drop-edge", "drops", multiple=True, help="Remove one edge, written prerequisite>exercise (repeatable).")
def kg_import_junyi(csv_path, out, drops) -> None:
    """Import the Junyi exercise table as a graph; loops are reported and dropped only when named."""
    import yaml

    from workbench.knowledge.junyi import JUNYI_CSV, import_junyi
    try:
        imp = import_junyi(csv_path or JUNYI_CSV, list(drops))
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{imp.rows} rows, {len(imp.doc['knowledge_points'])} exercises")
    for n in imp.notes:
        click.echo(f"  note: {n}")
    for a, b in imp.dropped:
        click.echo(f"  dropped edge {a} → {b} / 已删除先修边")
    if imp.problems:
        for p in imp.problems:
            click.echo(f"  problem: {p.en} / {p.zh}", err=True)
        click.echo("nothing written: name the edges to drop, for example / 未写出文件，请指定要删除的边：\n  workbench kg "
                   "import-junyi " + " ".join(f"--drop-edge {d}" for d in imp.suggested_drops()), err=True)
        sys.exit(2)
    Path(out).write_text(yaml.safe_dump(imp.doc, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    click.echo(f"→ {out}")

@main.command()
@click.option("--term", required=True, help="Term id, e.g. 2026-2027-1.")
@click.option("--graph", "graph_ref", default="math_junior", show_default=True,
              help="Knowledge graph (file or shipped name) for the diagnosis summary.")
@STORE_OPT
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--chunks", type=click.IntRange(min=1), default=1, show_default=True,
              help="Filter the students in N chunks (a district: one chunk's answers in memory at a time).")
@click.option("--fit-sample", type=click.IntRange(min=1), default=None,
              help="Fit BKT on at most this many students per grade (seeded), then filter everyone.")
@LANG_OPT
def mastery(term, graph_ref, store_path, as_json, chunks, fit_sample, lang) -> None:
    """Knowledge-point mastery for a term (BKT per grade), written to the store, with a school summary:
    status counts, the points most students lack per grade and the commonest root gaps (groups of
    fewer than 10 students are not shown). With --chunks or --fit-sample: fitted on a sample of each
    grade and filtered a chunk of students at a time (docs/scale.md)."""
    import pandas as pd

    from workbench.knowledge import GraphError, load_graph
    from workbench.knowledge.mastery import STATUS, compute_mastery, mastery_in_chunks, mastery_summary, write_mastery
    from workbench.model.run import MIN_CELL
    try:
        graph = load_graph(graph_ref)
    except (GraphError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        with open_store(default_store_path(store_path)) as store:
            if chunks > 1 or fit_sample:
                parts = list(mastery_in_chunks(store.con, term, chunks=chunks, fit_per_scope=fit_sample))
                m = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
            else:
                m = compute_mastery(store.con, term)
            if m.empty:
                raise click.ClickException(f"no question-level responses for term {term} / 该学期没有答题记录")
            n = write_mastery(store.con, term, m)
            summary = mastery_summary(store.con, term, graph, m, min_cell=MIN_CELL)
    except (StoreVersionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    summary["rows_written"] = n
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        return
    zh = lang == "zh"
    click.echo(f"{term}: {summary['students']} {'名学生' if zh else 'students'}, {summary['points']} "
               f"{'个知识点' if zh else 'knowledge points'}, {n} {'行写入 mastery' if zh else 'rows written to mastery'} "
               f"({', '.join(summary['scopes'])})")
    click.echo("  " + "  ".join(f"{STATUS[k][0 if zh else 1]} {v}" for k, v in summary["status"].items()))
    for g in summary["grades"]:
        click.echo((f"  {g['grade']}年级" if zh else f"  grade {g['grade']}") + f" ({g['students']}): "
                   + ("最多学生未掌握" if zh else "most lacking") + ": "
                   + "; ".join(f"{graph.name(k['kp'], lang)} {k['share_lacking']:.0%}" for k in g["most_lacking"]))
    click.echo(("常见根源薄弱点" if zh else "commonest root gaps") + ": "
               + "; ".join(f"{graph.name(r['kp'], lang)} ({r['students']})" for r in summary["root_gaps"]))


@main.command("run-term")
@click.option("--term", required=True, help="Term id, e.g. 2026-2027-1.")
@click.option("--spec", "spec_ref", default="whole_person", show_default=True,
              help="Spec file, or a shipped spec name (workbench spec list).")
@click.option("--classes", default=None, help="Only these classes, comma-separated (default: every class of the term).")
@click.option("--shard", default=None, metavar="I/N",
              help="Runner I of N (0-based): take the classes whose id hashes to I modulo N. N runners sharing the "
                   "output folder and the store together cover the term, with one manifest.")
@click.option("--jobs", type=click.IntRange(1, 64), default=2, show_default=True, help="Worker processes.")
@click.option("--force", is_flag=True, help="Recompute and rerun every class even if nothing changed.")
@click.option("--student-reports", is_flag=True, help="Also one report per student (for the student and parents).")
@STORE_OPT
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Output folder (default: runs/<term>/ beside the store).")
@click.option("--timeout", type=float, default=600, show_default=True, help="Seconds per notebook.")
@engine_options
@LANG_OPT
def run_term_cmd(term, spec_ref, classes, shard, jobs, force, student_reports, store_path, out_dir, timeout, lang,
                 engine) -> None:
    """The term run: prepare the term once, execute the class (and student) report notebooks with Papermill in
    parallel, export HTML without code, write the index and the manifest. Exit 1 if any class failed."""
    from workbench.model import SpecError
    from workbench.runs.runner import run_term, summary_lines
    wanted = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    part = None
    if shard:
        try:
            i, n = (int(x) for x in shard.split("/"))
        except ValueError:
            raise click.BadParameter(f"{shard!r}: expected I/N, e.g. 0/4 / 应写作 I/N，例如 0/4",
                                     param_hint="--shard") from None
        part = (i, n)
    try:
        run = run_term(store_path, term, spec_ref, classes=wanted, jobs=jobs, force=force,
                       student_reports=student_reports, out_dir=out_dir, timeout=timeout, lang=lang,
                       progress=sys.stderr.isatty(), echo=click.echo, shard=part, engine=engine)
    except SpecError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except (StoreVersionError, ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary_lines(run, lang):
        click.echo(line)
    sys.exit(run.exit_code)


@main.command()
@click.option("--store", "store_path", default=None, help="Store file (default $WORKBENCH_STORE or data/workbench.duckdb).")
@click.option("--journal", default=None, help="Audit journal (default $WORKBENCH_AUDIT or audit.jsonl next to the store).")
@click.option("--limit", default=50, show_default=True)
@click.option("--user", default=None, help="Only this login.")
@click.option("--action", default=None, help="Only this action (view_psychology, view_identity, view_student, refused …).")
@click.option("--import", "do_import", is_flag=True, help="Move the journal into the store's audit_log (needs the store writable).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--lang", default="zh", type=click.Choice(["zh", "en"]))
def audit(store_path, journal, limit, user, action, do_import, as_json, lang) -> None:
    """Recent accesses to students' identity and psychology data (who, role, what, when). 审计日志"""
    import json as _json

    from workbench.privacy.audit import ACTIONS, AuditLog, recent
    log = AuditLog(journal)
    if do_import:
        with open_store(default_store_path(store_path)) as store:
            n = log.import_into(store.con)
        click.echo(f"{n} entries moved into audit_log / 已导入 {n} 条")
        return
    path = default_store_path(store_path)
    store = open_store(path, read_only=True) if path.exists() else None
    try:
        rows = recent(store.con if store else None, log, limit=limit, user=user, action=action)
    finally:
        if store:
            store.close()
    if as_json:
        click.echo(_json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for e in rows:
        what = ACTIONS.get(e["action"], (e["action"], e["action"]))[0 if lang == "zh" else 1]
        click.echo(f"{e['ts'][:19]}  {e['user_name']:<12} {e['role']:<18} {what}  {e['target']}")
    if not rows:
        click.echo("没有记录" if lang == "zh" else "no entries")


def _steps_bar(enabled: bool, desc: str = "indicators", unit: str = "family"):
    if not enabled:
        return None
    from tqdm import tqdm
    state: dict[str, object] = {}

    def progress(step: str, done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None:   # one bar (setdefault would build, and print, a new one at every step)
            bar = state["bar"] = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)
        bar.set_postfix_str(step)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
    return progress


def _register() -> None:
    from workbench.alerts.cli import alerts
    from workbench.recommend.cli import recommend
    from workbench.serve.cli import serve, users
    main.add_command(alerts)
    main.add_command(recommend)
    main.add_command(parquet)
    main.add_command(district_indicators)
    main.add_command(users)
    main.add_command(serve)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
