"""The term run: prepare once, execute the class (and student) report notebooks in parallel.

``run_term`` (``workbench run-term``) is the coordinator's job every term:

1. One hash over the school's data, the spec, the notebooks and the package versions. When it equals
   the last run's (``manifest.json``) and every output is still there, every class is skipped and
   nothing is computed.
2. Otherwise the term is prepared once (:func:`workbench.runs.prepare.prepare_term`: profile,
   mastery, previous term), recomputed from scratch when the data changed since the last run.
3. Each class gets a key from its grade's results (class reports compare with the grade), its roster
   and the inputs above; a class whose key is unchanged and whose outputs exist is skipped unless
   ``force``.
4. The class notebooks (and with ``student_reports`` one notebook per student) run in ``jobs`` worker
   processes, each with one reused kernel (:mod:`workbench.runs.engine`) and a per-notebook timeout.
   A failing notebook fails alone, in the manner of nbgrader: the executed notebook stays with its
   error for inspection, its HTML is removed, the others go on.
5. Each executed notebook is exported to HTML without code; ``index.html`` links every report;
   ``manifest.json`` records inputs, versions and per-class status and time.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import fcntl
import hashlib
import html
import json
import multiprocessing
import os
import shutil
import time
import zlib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from workbench.model.estimator import as_spec
from workbench.reports.common import display_code
from workbench.runs.prepare import DEFAULT_SPEC, data_fingerprint, prepare_term, previous_term, term_classes
from workbench.store import TABLES, default_store_path, open_store

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
CLASS_NB, STUDENT_NB = "class_report.ipynb", "student_report.ipynb"
PACKAGES = ("profile-workbench", "papermill", "nbclient", "nbconvert", "pandas", "duckdb", "scikit-learn", "numpy",
            "matplotlib")
DEFAULT_TIMEOUT = 600.0
MANIFEST_VERSION = 1


@dataclass
class ClassResult:
    class_id: str
    name: str
    grade: int | None
    students: int
    status: str = "pending"          # ok / failed / skipped
    seconds: float = 0.0
    error: str | None = None
    key: str = ""
    outputs: list[str] = field(default_factory=list)
    student_reports: dict = field(default_factory=dict)   # {"ok": n, "failed": m, "failures": [...]}


@dataclass
class TermRun:
    term: str
    out_dir: Path
    classes: list[ClassResult]
    seconds: float
    prepared: list[str]
    manifest: Path
    index: Path
    prepare_seconds: float = 0.0

    @property
    def failed(self) -> list[ClassResult]:
        return [c for c in self.classes if c.status == "failed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


# ------------------------------------------------------------------------------------------- hashing
def _sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode() if not isinstance(p, bytes) else p)
        h.update(b"\x00")
    return h.hexdigest()


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


def _source_files() -> list[Path]:
    """Files besides the notebooks that shape a report: knowledge graphs, the indicator catalogue, the
    report code (an editable install keeps its version number while the code changes)."""
    pkg = Path(__file__).resolve().parents[1]
    return sorted([*(REPO / "knowledge_graphs").glob("*.yaml"), *(pkg / "indicators" / "catalogue").glob("*.yaml"),
                   *(pkg / "reports").glob("*.py")])


def package_versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "absent"
    return out


def _row_hash(table: str, alias: str) -> str:
    """hash() of a row without its timestamps, doubles at 9 decimals (recomputing must not change it)."""
    cols = []
    for c in TABLES[table].columns:
        if c.type == "TIMESTAMP" or c.name == "file_id":
            continue
        cols.append(f'round({alias}."{c.name}", 9)' if c.type == "DOUBLE" else f'{alias}."{c.name}"')
    return f"hash(struct_pack({', '.join(f'c{i} := {x}' for i, x in enumerate(cols))}))"


def grade_fingerprints(con, term: str, spec, prev: str | None) -> dict:
    """Per grade: one hash over its students' profile, indicator values and mastery (and the previous
    term's profile), for the term and spec."""
    parts = {
        "profile_students": f"SELECT p.student_key, {_row_hash('profile_students', 'p')} AS h FROM profile_students p "
                            "WHERE p.term_id = $t AND p.spec_id = $s AND p.spec_hash = $h",
        "profiles": f"SELECT p.student_key, {_row_hash('profiles', 'p')} AS h FROM profiles p "
                    "WHERE p.term_id IN ($t, $prev) AND p.spec_id = $s AND p.spec_hash = $h",
        "indicator_values": f"SELECT v.student_key, {_row_hash('indicator_values', 'v')} AS h FROM indicator_values v "
                            "WHERE v.term_id = $t",
        "mastery": f"SELECT m.student_key, {_row_hash('mastery', 'm')} AS h FROM mastery m WHERE m.term_id = $t",
    }
    union = " UNION ALL ".join(f"SELECT student_key, h FROM ({q})" for q in parts.values())
    rows = con.execute(f"""
        WITH g AS (SELECT e.student_key, min(c.grade) AS grade FROM enrolments e LEFT JOIN classes c USING (class_id)
                   WHERE e.term_id = $t GROUP BY 1)
        SELECT g.grade, count(*), bit_xor(u.h) FROM ({union}) u JOIN g USING (student_key) GROUP BY 1""",
                       {"t": term, "s": spec.id, "h": spec.hash, "prev": prev or ""}).fetchall()
    return {r[0]: f"{r[1]}:{r[2]}" for r in rows}


def class_rosters(con, term: str) -> dict[str, list[str]]:
    rows = con.execute("SELECT class_id, list(DISTINCT student_key ORDER BY student_key) FROM enrolments "
                       "WHERE term_id = $t GROUP BY 1", {"t": term}).fetchall()
    return {r[0]: list(r[1]) for r in rows}


# ------------------------------------------------------------------------------------------- workers
def _worker_init() -> None:
    import atexit

    from workbench.runs.engine import WorkbenchEngine
    atexit.register(WorkbenchEngine.shutdown)


def execute_report(task: dict) -> dict:
    """Execute one notebook with the reusing engine, export HTML without code; never raises."""
    import papermill as pm

    import workbench.runs.engine  # noqa: F401  (registers the engine in this process)
    t0 = time.perf_counter()
    out_nb, out_html = Path(task["output"]), Path(task["html"])
    try:
        out_nb.parent.mkdir(parents=True, exist_ok=True)
        out_html.unlink(missing_ok=True)
        nb = pm.execute_notebook(task["input"], str(out_nb), parameters=task["parameters"], engine_name="workbench",
                                 kernel_name="python3", progress_bar=False, log_output=False,
                                 deadline=task["timeout"], kernel_cwd=str(REPO), cwd=str(REPO))
        export_html(nb, out_html, task.get("title") or out_nb.stem)
        return {"id": task["id"], "status": "ok", "seconds": time.perf_counter() - t0}
    except Exception as exc:  # noqa: BLE001 - a failing report fails alone
        seconds = time.perf_counter() - t0
        out_html.unlink(missing_ok=True)
        return {"id": task["id"], "status": "failed", "seconds": seconds,
                "error": _error_line(exc, seconds, task["timeout"])}


def _error_line(exc: Exception, seconds: float, timeout: float | None) -> str:
    ename, evalue = getattr(exc, "ename", type(exc).__name__), getattr(exc, "evalue", str(exc))
    if timeout and seconds >= timeout * 0.98:
        return f"timed out after {timeout:g} s / 超时"
    cell = getattr(exc, "exec_count", None)
    first = str(evalue).strip().splitlines()[0] if str(evalue).strip() else ""
    return f"{ename}: {first}" + (f" (cell {cell})" if cell else "")


def export_html(nb, path: Path, title: str) -> None:
    """HTML without code cells, prompts or stderr (warnings are for the notebook, not for readers)."""
    from nbconvert import HTMLExporter
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream"
                                                                          and o.get("name") == "stderr")]
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    path.write_text(body, encoding="utf-8")


# ------------------------------------------------------------------------------------------- the run
def shard_classes(classes: list[str], shard: tuple[int, int] | None) -> list[str]:
    """The classes runner ``i`` of ``n`` takes: a stable hash of the class id modulo ``n`` (the same split on
    every machine, whatever order the classes come in).

    >>> all_ = [f"G{g}C{c}" for g in (7, 8, 9) for c in (1, 2, 3, 4)]
    >>> parts = [shard_classes(all_, (i, 3)) for i in range(3)]
    >>> sorted(sum(parts, [])) == sorted(all_) and all(parts)
    True
    """
    if shard is None:
        return classes
    i, n = shard
    if not 0 <= i < n:
        raise ValueError(f"shard {i}/{n}: the index must be in 0..{n - 1} / 分片编号应在 0 到 {n - 1} 之间")
    return [c for c in classes if zlib.crc32(c.encode("utf-8")) % n == i]


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive advisory lock (``flock``) on ``path`` for runners sharing one output folder."""
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_term(store_path: str | Path | None, term: str, spec=DEFAULT_SPEC, *, classes: list[str] | None = None,
             jobs: int = 2, force: bool = False, student_reports: bool = False, out_dir: str | Path | None = None,
             timeout: float = DEFAULT_TIMEOUT, lang: str = "zh", progress: bool = False, echo=None,
             shard: tuple[int, int] | None = None, engine=None) -> TermRun:
    """Run the term's reports; see the module doc. ``echo`` gets one line per step (default: silent).

    ``shard=(i, n)``: this runner takes the classes :func:`shard_classes` gives it; ``n`` runners (processes or
    machines sharing the output folder and the store file) together cover the term. The first one to get the
    store lock prepares the term and leaves a marker; the others find it and only run their classes; each
    merges its classes into the one ``manifest.json`` under a lock. ``engine`` (``--engine``): where the profiles'
    indicators are computed when the term is prepared."""
    say = echo or (lambda s: None)
    t0 = time.perf_counter()
    spec = as_spec(spec)
    store_file = default_store_path(store_path).resolve()
    out = (Path(out_dir) if out_dir else store_file.parent / "runs" / term).resolve()
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    old = _load_manifest(manifest_path)

    with _locked(out / ".store.lock"), open_store(store_file, read_only=True) as store:
        fingerprint = data_fingerprint(store.con)
        known = {c["class_id"]: c for c in term_classes(store.con, term)}
    notebooks = {CLASS_NB: file_hash(NOTEBOOKS / CLASS_NB), STUDENT_NB: file_hash(NOTEBOOKS / STUDENT_NB),
                 "sources": _sha(*[file_hash(f) for f in _source_files()])}
    versions = package_versions()
    inputs = _sha(fingerprint, spec.hash, notebooks, versions, lang, student_reports, MANIFEST_VERSION)
    wanted = shard_classes(list(dict.fromkeys(classes)) if classes else list(known), shard)
    if not wanted and shard is None:
        raise ValueError(f"term {term!r} has no classes with students in {store_file} / 该学期没有班级")

    results = {c: _class_result(c, known) for c in wanted}
    old_classes = (old or {}).get("classes", {})
    # fast path: nothing changed since the last run
    if not force and old and old.get("inputs") == inputs and all(
            _reusable(old_classes.get(c), out) and old_classes[c].get("inputs") == inputs for c in wanted):
        for c in wanted:
            _restore(results[c], old_classes[c], "skipped")
        say(f"{term}: nothing changed since {old.get('finished_at')}; {len(wanted)} classes skipped / 输入未变，全部跳过")
        return _finish(out, term, spec, store_file, fingerprint, inputs, notebooks, versions, old, results, [],
                       t0, jobs, lang, student_reports, timeout, known)

    data_changed = old is None or old.get("data_fingerprint") != fingerprint or old.get("packages") != versions
    marker = out / ".prepared.json"
    this_data = {"data_fingerprint": fingerprint, "spec_hash": spec.hash, "packages": versions}
    tp = time.perf_counter()
    with _locked(out / ".store.lock"):
        if shard is not None and not force and _read_json(marker) == this_data:
            say(f"{term}: prepared by another runner / 学期数据已由其他运行进程准备")
            computed: list[str] = []
        else:
            say(f"{term}: preparing profile and mastery once for the term"
                + (" (data changed: recomputing)" if data_changed else "") + " / 准备学期数据")
            computed = prepare_term(store_file, term, spec, force=force or data_changed, engine=engine).computed
            marker.write_text(json.dumps(this_data), encoding="utf-8")
        with open_store(store_file, read_only=True) as store:
            prev = previous_term(store.con, term)
            grade_fp = grade_fingerprints(store.con, term, spec, prev)
            rosters = class_rosters(store.con, term)
    prepare_seconds = time.perf_counter() - tp

    spec_arg = _spec_argument(spec, out)
    tasks: list[dict] = []
    for c in wanted:
        r = results[c]
        r.key = _sha(inputs, grade_fp.get(r.grade), rosters.get(c), prev)
        if not force and _reusable(old_classes.get(c), out) and old_classes[c].get("key") == r.key:
            _restore(r, old_classes[c], "skipped")
            continue
        _clear_outputs(out, term, c)
        base = {"term": term, "spec": spec_arg, "store": str(store_file), "lang": lang}
        tasks.append({"id": ("class", c), "input": str(NOTEBOOKS / CLASS_NB),
                      "output": str(out / "classes" / f"{c}.ipynb"), "html": str(out / "classes" / f"{c}.html"),
                      "parameters": base | {"class_id": c, "output_dir": str(out / "classes")},
                      "timeout": timeout, "title": f"{r.name} · {term}"})
        r.outputs = [f"classes/{c}.ipynb", f"classes/{c}.html"]
        if student_reports:
            for key in rosters.get(c, []):
                code = display_code(key)
                tasks.append({"id": ("student", c, code), "input": str(NOTEBOOKS / STUDENT_NB),
                              "output": str(out / "students" / c / f"{code}.ipynb"),
                              "html": str(out / "students" / c / f"{code}.html"),
                              "parameters": base | {"student_key": key, "output_dir": str(out / "students" / c)},
                              "timeout": timeout, "title": f"{code} · {term}"})
            r.student_reports = {"ok": 0, "failed": 0, "failures": [], "codes": []}

    say(f"{term}: {len(tasks)} notebooks to run for {sum(r.status == 'pending' for r in results.values())} classes, "
        f"{sum(r.status == 'skipped' for r in results.values())} classes unchanged / 待执行")
    for res in _execute_all(tasks, jobs, progress):
        kind, c = res["id"][0], res["id"][1]
        r = results[c]
        if kind == "class":
            r.seconds += res["seconds"]
            r.status = "ok" if res["status"] == "ok" and r.status != "failed" else "failed"
            if res["status"] != "ok":
                r.error = res["error"]
                r.outputs = [f"classes/{c}.ipynb"]
                (out / _class_csv(term, c)).unlink(missing_ok=True)
            elif (out / _class_csv(term, c)).exists():
                r.outputs.append(_class_csv(term, c))
        else:
            code = res["id"][2]
            r.seconds += res["seconds"]
            sr = r.student_reports
            if res["status"] == "ok":
                sr["ok"] += 1
                sr["codes"].append(code)
            else:
                sr["failed"] += 1
                sr["failures"].append(f"{code}: {res['error']}")
                r.status = "failed"
                r.error = r.error or f"student report {code}: {res['error']}"
    for r in results.values():
        if r.student_reports:
            r.student_reports["codes"].sort()
    run = _finish(out, term, spec, store_file, fingerprint, inputs, notebooks, versions, old, results,
                  computed, t0, jobs, lang, student_reports, timeout, known)
    run.prepare_seconds = prepare_seconds
    return run


def _execute_all(tasks: list[dict], jobs: int, progress: bool):
    bar = None
    if progress and tasks:
        import sys

        from tqdm import tqdm
        bar = tqdm(total=len(tasks), desc="reports", unit="nb", file=sys.stderr)
    try:
        if jobs <= 1 or len(tasks) <= 1:
            from workbench.runs.engine import WorkbenchEngine
            try:
                for t in tasks:
                    yield execute_report(t)
                    if bar:
                        bar.update()
            finally:
                WorkbenchEngine.shutdown()
            return
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init) as pool:
            futures = {pool.submit(execute_report, t): t for t in tasks}
            for f in cf.as_completed(futures):
                try:
                    res = f.result()
                except Exception as exc:  # noqa: BLE001 - a worker died: its notebook fails, the run goes on
                    res = {"id": futures[f]["id"], "status": "failed", "seconds": 0.0,
                           "error": f"worker process failed: {type(exc).__name__}: {exc}"}
                yield res
                if bar:
                    bar.update()
    finally:
        if bar:
            bar.close()


def _spec_argument(spec, out: Path) -> str:
    """What the notebooks get as ``spec``: an absolute path (a spec built in memory is written out first)."""
    src = Path(str(spec.source)) if spec.source else None
    if src is not None and src.is_file():
        return str(src.resolve())
    path = out / "spec.yaml"
    path.write_text(spec.dump() if hasattr(spec, "dump") else json.dumps(spec.doc, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _class_result(c: str, known: dict) -> ClassResult:
    k = known.get(c)
    if k is None:
        return ClassResult(c, c, None, 0)
    return ClassResult(c, k["name"], k["grade"], k["students"])


def _reusable(entry: dict | None, out: Path) -> bool:
    return bool(entry) and entry.get("status") in ("ok", "skipped") and all(
        (out / p).exists() for p in entry.get("outputs", [])) and bool(entry.get("outputs"))


def _restore(r: ClassResult, entry: dict, status: str) -> None:
    r.status, r.key, r.outputs = status, entry.get("key", ""), list(entry.get("outputs", []))
    r.student_reports = dict(entry.get("student_reports") or {})
    r.seconds = 0.0


def _class_csv(term: str, c: str) -> str:
    """The card table the class notebook writes into its ``output_dir``."""
    return f"classes/class_report_{term}_{c}.csv"


def _clear_outputs(out: Path, term: str, c: str) -> None:
    for p in (out / "classes" / f"{c}.ipynb", out / "classes" / f"{c}.html", out / _class_csv(term, c)):
        p.unlink(missing_ok=True)
    shutil.rmtree(out / "students" / c, ignore_errors=True)


def _load_manifest(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return doc if doc.get("manifest_version") == MANIFEST_VERSION else None
    except (OSError, ValueError):
        return None


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _finish(out, term, spec, store_file, fingerprint, inputs, notebooks, versions, old, results, prepared, t0, jobs,
            lang, student_reports, timeout, known=()) -> TermRun:
    """Write ``manifest.json`` and the index. Under the manifest lock the file is read again, so runners that
    finished meanwhile keep their classes: one manifest for every runner of the term."""
    with _locked(out / ".manifest.lock"):
        current = _load_manifest(out / "manifest.json")
        return _write_manifest(out, term, spec, store_file, fingerprint, inputs, notebooks, versions,
                               current if current is not None else old, results, prepared, t0, jobs, lang,
                               student_reports, timeout, known)


def _write_manifest(out, term, spec, store_file, fingerprint, inputs, notebooks, versions, old, results, prepared, t0,
                    jobs, lang, student_reports, timeout, known) -> TermRun:
    seconds = time.perf_counter() - t0
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    doc = {
        "manifest_version": MANIFEST_VERSION, "term": term,
        "spec": {"id": spec.id, "version": spec.version, "hash": spec.hash, "source": str(spec.source or spec.id)},
        "store": str(store_file), "data_fingerprint": fingerprint, "inputs": inputs, "notebooks": notebooks,
        "packages": versions, "lang": lang, "student_reports": student_reports, "jobs": jobs, "timeout_s": timeout,
        # what any runner of these inputs prepared (several runners share one manifest)
        "prepared": list(dict.fromkeys([*((old or {}).get("prepared") or [] if (old or {}).get("inputs") == inputs
                                           else []), *prepared])),
        "finished_at": now, "seconds": round(seconds, 3),
        # earlier entries of classes not run now are kept while the class still exists in the term
        "classes": {c: v for c, v in ((old or {}).get("classes") or {}).items() if c in results or c in known},
    }
    for c, r in results.items():
        doc["classes"][c] = {"name": r.name, "grade": r.grade, "students": r.students, "status": r.status,
                             "seconds": round(r.seconds, 3), "key": r.key, "inputs": inputs, "outputs": r.outputs,
                             "error": r.error, "student_reports": r.student_reports}
    manifest = out / "manifest.json"
    tmp = manifest.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, manifest)
    index = write_index(out, doc, lang)
    return TermRun(term, out, list(results.values()), seconds, prepared, manifest, index)


STATUS_WORDS = {"ok": ("完成", "ok"), "failed": ("失败", "failed"), "skipped": ("未变，跳过", "unchanged, skipped"),
                "pending": ("未运行", "not run")}


def write_index(out: Path, doc: dict, lang: str = "zh") -> Path:
    """``index.html``: every class with its status, report and student reports (pseudonymous codes only)."""
    zh = lang == "zh"
    e = html.escape
    rows = []
    for c, entry in sorted(doc["classes"].items(), key=lambda kv: (kv[1].get("grade") or 0, kv[0])):
        status = entry["status"]
        word = STATUS_WORDS.get(status, (status, status))[0 if zh else 1]
        link = (f'<a href="classes/{e(c)}.html">{e(entry["name"])}</a>'
                if (out / "classes" / f"{c}.html").exists() else e(entry["name"]))
        codes = (entry.get("student_reports") or {}).get("codes") or []
        students = " ".join(f'<a href="students/{e(c)}/{e(code)}.html">{e(code)}</a>' for code in codes
                            if (out / "students" / c / f"{code}.html").exists())
        err = f'<div class="err">{e(entry["error"])}</div>' if entry.get("error") else ""
        rows.append(f'<tr class="{e(status)}"><td>{link}</td><td>{e(str(entry.get("grade") or ""))}</td>'
                    f'<td>{entry.get("students", "")}</td><td>{e(word)}{err}</td><td>{entry.get("seconds", 0):.1f}</td>'
                    f'<td class="codes">{students}</td></tr>')
    title = (f"{doc['term']} 学期报告" if zh else f"Term reports {doc['term']}")
    head = ("班级", "年级", "学生数", "状态", "用时（秒）", "学生报告") if zh else (
        "class", "grade", "students", "status", "seconds", "student reports")
    page = f"""<!DOCTYPE html>
<html lang="{'zh-CN' if zh else 'en'}"><head><meta charset="utf-8"><title>{e(title)}</title>
<style>body{{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.4em .8em;text-align:left;vertical-align:top}}
tr.failed td{{background:#fdecea}}.err{{color:#b3261e;font-size:.9em}}.codes a{{margin-right:.4em;font-size:.85em}}
.meta{{color:#666;font-size:.9em}}</style></head><body>
<h1>{e(title)}</h1>
<p class="meta">{e(doc['spec']['id'])} v{doc['spec']['version']} ({e(doc['spec']['hash'])}) · {e(doc['finished_at'])}</p>
<table><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table></body></html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def summary_lines(run: TermRun, lang: str = "zh") -> list[str]:
    """The table printed at the end of a run: one line per class, then the totals."""
    zh = lang == "zh"
    lines = [f"{'班级' if zh else 'class':10} {'状态' if zh else 'status':12} {'秒' if zh else 'seconds':>8}  "
             f"{'学生报告' if zh else 'student reports'}"]
    for r in run.classes:
        sr = r.student_reports or {}
        srt = f"{sr.get('ok', 0)} ok, {sr.get('failed', 0)} failed" if sr else ""
        lines.append(f"{r.class_id:10} {STATUS_WORDS[r.status][0 if zh else 1]:12} {r.seconds:8.1f}  {srt}"
                     + (f"  ! {r.error}" if r.error else ""))
    n = {s: sum(r.status == s for r in run.classes) for s in ("ok", "failed", "skipped")}
    lines.append((f"完成 {n['ok']}，失败 {n['failed']}，跳过 {n['skipped']}；用时 {run.seconds:.1f} 秒" if zh else
                  f"ok {n['ok']}, failed {n['failed']}, skipped {n['skipped']}; {run.seconds:.1f} s"))
    lines.append(f"→ {run.index}")
    return lines
