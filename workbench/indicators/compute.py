"""Compute indicators for one term: one GROUP BY per family, trends as SQL slopes, networkx measures on arrays.

The result is a feature frame (one row per student, one column per indicator) plus the scope of
each student (class, grade, school) and, when asked, the weekly series. Indicators that have no
data in this store for the term are reported in ``IndicatorFrame.missing``, not raised: OULAD has
no mood check-ins, and a profile model then reweights (see ``workbench.model``).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import duckdb
import networkx as nx
import numpy as np
import pandas as pd

from workbench.indicators.catalogue import SLICE_MARK, Catalogue, Indicator, Slice, load_catalogue, slice_bounds
from workbench.indicators.engines import DuckDBEngine, Engine, EngineUnsupported
from workbench.indicators.network import Network
from workbench.sqltext import q
from workbench.store.compact import clustered_tables

Progress = Callable[[str, int, int], None]
Run = Callable[[str, dict[str, str]], pd.DataFrame]
BETWEENNESS_SAMPLE = 200   # exact betweenness in groups up to this size, a seeded sample of sources above
SIGNIFICANT = 12           # indicator values are rounded to this many significant digits
# On DuckDB a family's GROUP BY keeps its state for every student at once: at 1M students the responses
# family (a median and a distinct count over 5.5 × 10^8 answers) needed more than 37 GB of spill. Above this
# many students the families run once per slice of students (a range of keys), each slice's state alone.
SLICE_STUDENTS = 200_000
# In a store compacted in student order (workbench.store.compact) a slice reads only its own row groups, so every query
# of a family marked sliced runs in slices of this many students, each hash table a school's size rather than a
# district's (at 1M students 256 s against 328 s unordered, in slices of 200k for the holistic queries only)
CLUSTERED_SLICE_STUDENTS = 100_000


@dataclass
class IndicatorFrame:
    """Indicator values of one term: ``values`` (student × indicator), ``scope`` and ``weekly``."""
    term: str
    values: pd.DataFrame                   # index student_key, one float column per indicator
    scope: pd.DataFrame                    # index student_key: class_id, grade, school_id
    weekly: pd.DataFrame | None = None     # student_key, indicator_id, week, value
    missing: dict[str, str] = field(default_factory=dict)   # indicator id → reason (zh / en)
    unsupported: dict[str, str] = field(default_factory=dict)   # indicator id → why the engine cannot run it

    @property
    def available(self) -> list[str]:
        return [c for c in self.values.columns if c not in self.missing]


def population(con: duckdb.DuckDBPyConnection, term: str) -> pd.DataFrame:
    """Students enrolled in ``term`` with their (first) class, grade and school."""
    return con.execute("""
        SELECT e.student_key, min(e.class_id) AS class_id, min(c.grade) AS grade,
               coalesce(min(c.school_id), min(s.school_id)) AS school_id
        FROM enrolments e LEFT JOIN classes c ON c.class_id = e.class_id
        LEFT JOIN students s ON s.student_key = e.student_key
        WHERE e.term_id = $term GROUP BY 1 ORDER BY 1""", {"term": term}).df().set_index("student_key")


def _needed(cat: Catalogue, ids: Iterable[str]) -> tuple[list[Indicator], set[str]]:
    wanted = [cat[i] for i in dict.fromkeys(ids)]
    weekly_of = {i.of for i in wanted if i.kind == "trend"}
    extra = [cat[i] for i in weekly_of if i not in {w.id for w in wanted}]
    return wanted + extra, weekly_of


def _family_query(cat: Catalogue, family: str, inds: list[Indicator], weekly: bool,
                  part: Slice | None = None) -> str:
    """The family's fused query; with ``part = (lo, hi)`` only for the students with ``lo <= student_key < hi``.

    The slice filters the base's rows (where the base marks it with ``$slice(...)``, else after the base: see
    :meth:`Family.sql`), so the GROUP BY holds one slice's students; a student is in exactly one slice.
    """
    keys = "b.student_key, b.week" if weekly else "b.student_key"
    cols = ", ".join(f"{i.expr} AS {q(i.id)}" for i in inds)
    where = " WHERE b.week IS NOT NULL" if weekly else ""
    base = cat.families[family].sql(part)
    return f"SELECT {keys}, {cols} FROM ({base}) b{where} GROUP BY {keys}"


# aggregates whose state grows with a student's rows (the reason a family is sliced); a query of a sliced family
# whose members have none of these (e.g. the weekly accuracy behind a trend) and whose base marks no per-student
# DISTINCT or window keeps a few numbers per student and runs whole (at 1M students: one scan instead of five)
HOLISTIC = re.compile(r"\b(?:count\s*\(\s*DISTINCT|median\s*\(|quantile\w*\s*\(|mode\s*\(|list\s*\(|"
                      r"array_agg\s*\(|string_agg\s*\()", re.I)


def _slices_for(cat: Catalogue, family: str, members: list[Indicator], slices: list[Slice],
                clustered: frozenset[str] = frozenset()) -> list[Slice]:
    """The slices ``family`` runs in: all of them for a family marked sliced that either reads a table in student order
    first (a slice then reads its own rows only) or holds a large state per student in this query; else one."""
    fam = cat.families[family]
    if fam.sliced and ((fam.sources or ("",))[0] in clustered or SLICE_MARK.search(fam.base)
                       or any(HOLISTIC.search(m.expr or "") for m in members)):
        return slices
    return [(None, None)]


def _in_slices(parts: list[Slice], run: Callable[[Slice | None], pd.DataFrame | None]) -> pd.DataFrame | None:
    """``run(part)`` for each slice of the students, the results stacked (``None`` if none ran)."""
    if len(parts) <= 1:
        return run(None)
    frames = [f for part in parts if (f := run(part)) is not None]
    return pd.concat(frames, ignore_index=True) if frames else None


def _network(run: Run, cat: Catalogue, family: str, inds: list[Indicator],
             term: str, scope: pd.DataFrame) -> pd.DataFrame:
    """Network measures: degree and PageRank on the whole term's graph; betweenness and clustering
    inside each class's own subgraph (what a head teacher means by "bridges groups in my class", and
    linear in the number of classes rather than quadratic in students).

    The values are networkx's (``degree_centrality``, ``pagerank``, ``betweenness_centrality``,
    ``clustering``) on the graph of the edge list, computed on arrays by :mod:`workbench.indicators.network`."""
    edges = run(cat.families[family].sql(), {"term": term})
    if edges.empty:
        return pd.DataFrame(index=pd.Index([], name="student_key"))
    # node codes of both ends at once; factorizing the string columns as they come (Arrow-backed) takes 4 s on
    # the 21M edges of a million students, through an object array 18 s
    codes, nodes = pd.factorize(pd.concat([edges.iloc[:, 0], edges.iloc[:, 1]], ignore_index=True), use_na_sentinel=False)
    nodes = np.asarray(nodes, dtype=object)
    src, dst = codes[:len(edges)].astype(np.int64), codes[len(edges):].astype(np.int64)
    weight = edges.iloc[:, 2].to_numpy(dtype=float)
    key = src * len(nodes) + dst
    ordered = np.sort(key)
    if len(ordered) > 1 and (ordered[1:] == ordered[:-1]).any():   # a base without GROUP BY: a DiGraph keeps the last weight
        last = ~pd.Series(key).duplicated(keep="last").to_numpy()
        src, dst, weight = src[last], dst[last], weight[last]
    net = Network(src, dst, weight, len(nodes))
    n = max(len(scope), net.n)
    group = _class_groups(scope, nodes)

    def sampled(members: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # a group above BETWEENNESS_SAMPLE: networkx on its subgraph with a seeded sample of sources. networkx
        # samples from the graph's node order, so the students go in ordered by key: the same sources whatever
        # order the engine returned the edges in (a subgraph view of a bigger graph iterates a set of strings,
        # whose order changes with the process's hash seed)
        sub = nx.Graph()
        sub.add_nodes_from(sorted(nodes[members]))
        sub.add_edges_from(zip(nodes[a], nodes[b]))
        vals = nx.betweenness_centrality(sub, k=BETWEENNESS_SAMPLE, seed=0)
        return np.array([vals[k] for k in nodes[members]])

    cols: dict[str, np.ndarray] = {}
    for ind in inds:
        if ind.measure == "degree_centrality":
            # linked peers over all students of the term (isolated students count in the denominator)
            cols[ind.id] = net.degree() / max(1, n - 1)
        elif ind.measure == "pagerank":
            cols[ind.id] = net.pagerank() * net.n
        elif ind.measure == "clustering":
            cols[ind.id] = net.clustering(group)
        else:
            cols[ind.id] = net.betweenness(group, sampled, dense_limit=BETWEENNESS_SAMPLE)
    return pd.DataFrame(cols, index=pd.Index(nodes, name="student_key"), dtype=float)


def _class_groups(scope: pd.DataFrame, nodes: np.ndarray) -> np.ndarray:
    """Group code (0 … g-1) of each node: its class; students of the term without a class form one group,
    and nodes that are not students of the term another."""
    if "class_id" not in scope:
        return np.zeros(len(nodes), dtype=np.int64)
    klass = scope["class_id"]
    pos = klass.index.get_indexer(nodes)
    label = klass.to_numpy(dtype=object)[np.maximum(pos, 0)] if len(klass) else np.full(len(nodes), None, dtype=object)
    label = np.where(pd.isna(label), "\x00no class", label)
    label = np.where(pos < 0, "\x00not a student of the term", label)
    return pd.factorize(label)[0]


def compute_indicators(con: duckdb.DuckDBPyConnection, term: str, ids: Iterable[str] | None = None, *,
                       weekly: bool = False, catalogue: Catalogue | None = None,
                       progress: Progress | None = None, engine: Engine | None = None,
                       slices: int | None = None) -> IndicatorFrame:
    """Compute indicators ``ids`` (default: all) for every student of ``term``.

    Parameters
    ----------
    con : the store's DuckDB connection.
    term : term id, e.g. ``2026-2027-1`` (demo) or ``2014J`` (OULAD).
    ids : indicator ids; trend indicators bring their weekly series along.
    weekly : also return the weekly series of every weekly indicator asked for, and those behind trends.
    engine : where the catalogue's SQL runs (default: DuckDB on ``con``; see :mod:`workbench.indicators.engines`).
        Indicators the engine cannot run are in ``unsupported`` and ``missing``, with the reason.
    slices : run each family once per slice of the students (same values, less memory at once). Default: on
        DuckDB one slice per ``SLICE_STUDENTS`` students of the term (a school: one); on other engines one
        (Spark spreads the state over its executors).

    Examples
    --------
    >>> from workbench.store import open_store
    >>> import tempfile, os
    >>> with open_store(os.path.join(tempfile.mkdtemp(), "s.duckdb")) as s:
    ...     f = compute_indicators(s.con, "2026-2027-1", ["acad_score_mean", "beh_engagement_trend"])
    >>> f.values.shape, sorted(f.missing)
    ((0, 2), ['acad_score_mean', 'beh_engagement_trend'])
    """
    cat = catalogue or load_catalogue()
    ids = list(dict.fromkeys(ids)) if ids is not None else list(cat.indicators)
    unknown = [i for i in ids if i not in cat]
    if unknown:
        raise KeyError(f"unknown indicator(s) {', '.join(unknown)} / 未知指标; see `workbench indicators`")
    inds, weekly_needed = _needed(cat, ids)
    if weekly:
        weekly_needed |= {i.id for i in inds if i.weekly}
    pop = population(con, term)
    params = {"term": term}
    engine = engine or DuckDBEngine(con)
    clustered: frozenset[str] = frozenset()
    if slices is None:
        clustered = frozenset(clustered_tables(con)) if isinstance(engine, DuckDBEngine) else frozenset()
        per = CLUSTERED_SLICE_STUDENTS if clustered else SLICE_STUDENTS
        slices = -(-len(pop) // per) if isinstance(engine, DuckDBEngine) else 1
    elif isinstance(engine, DuckDBEngine):
        clustered = frozenset(clustered_tables(con))
    student_slices = slice_bounds(pop.index, slices)   # ranges of keys with about as many students each
    unsupported: dict[str, str] = {}
    families: dict[tuple[str, str], list[Indicator]] = {}
    for ind in inds:
        if ind.kind in ("sql", "network"):
            families.setdefault((ind.kind, ind.family), []).append(ind)
    trends = [i for i in inds if i.kind == "trend"]
    schedule = _schedule(cat, families, weekly_needed)
    steps = len(schedule) + 1
    parts: list[pd.DataFrame] = []
    long: list[pd.DataFrame] = []
    for n, fam in enumerate(schedule):
        if progress:
            progress(fam, n, steps)
        for kind in ("sql", "network"):
            members = families.get((kind, fam))
            if not members:
                continue
            if kind == "network":
                try:
                    parts.append(_network(engine.query, cat, fam, members, term, pop))
                except EngineUnsupported as exc:
                    unsupported.update({m.id: str(exc) for m in members})
            else:
                got = _in_slices(_slices_for(cat, fam, members, student_slices, clustered), lambda part, f=fam, ms=members: _run_family(
                    engine.query, lambda m: _family_query(cat, f, m, False, part), ms, params, ["student_key"], unsupported))
                if got is not None:
                    parts.append(got.set_index("student_key"))
        # the family's weekly series and trends right after its term values, while its table is in DuckDB's buffers:
        # at 1M students, taken together at the end (when the other tables had pushed it out) 52 s, here 38 s
        here = [i for i in weekly_needed if cat[i].family == fam]
        if here:
            w, slopes = _weekly_and_trends(con, cat, here, [t for t in trends if cat[t.of].family == fam], params,
                                           series=weekly, run=engine.query, unsupported=unsupported, slices=student_slices,
                                           clustered=clustered)
            parts += slopes
            if w is not None and len(w):
                long.append(w)
    weekly_df = (pd.concat(long, ignore_index=True) if long else
                 pd.DataFrame({"student_key": [], "week": [], "indicator_id": [], "value": []}).astype({"value": float}))
    keys, mat = _assemble(pop.index, parts, ids)
    missing: dict[str, str] = {}
    scope = pop.reindex(keys)
    # "none" is a fact only where the source covers the student's class (a class with any value); elsewhere (e.g.
    # OULAD's VLE subset covers 3 of 22 presentations) it stays unknown. On class codes: at 1M students a set
    # of class ids per indicator took seconds each
    klass, _ = pd.factorize(scope["class_id"])          # -1: no class
    has_class = klass >= 0
    for j, i in enumerate(ids):
        known = ~np.isnan(mat[:, j])
        if i in unsupported:
            missing[i] = f"{engine.name} 不能计算 / not supported on {engine.name}: {unsupported[i]}"
        elif not known.any():
            src = ", ".join(cat.sources(i))
            missing[i] = (f"没有数据（来源表 {src} 本学期无相关记录）/ no data (nothing in {src} for this term)")
        elif cat[i].fill is not None:
            covered = np.zeros(klass.max() + 2 if len(klass) else 1, dtype=bool)   # last slot: "no class" (code -1)
            covered[klass[known & has_class]] = True
            covered[-1] = bool((known & ~has_class).any())
            mat[~known & covered[klass], j] = float(cat[i].fill)
    values = pd.DataFrame(mat, index=keys, columns=ids)
    scope["school_id"] = scope["school_id"].fillna(_only_school(con))
    values = _significant(values)
    if progress:
        progress("done", steps, steps)
    # with weekly=True: the series of every weekly indicator asked for and of every trend's indicator
    return IndicatorFrame(term, values.sort_index(), scope.sort_index(),
                          weekly_df.sort_values(["indicator_id", "student_key", "week"], ignore_index=True) if weekly else None,
                          missing, {i: why for i, why in unsupported.items() if i in ids})


def _schedule(cat: Catalogue, families: dict[tuple[str, str], list[Indicator]], weekly_ids: Iterable[str]) -> list[str]:
    """The order the families run in: grouped by the table they read first (all the events families one after the
    other, then the responses …), so each table is read while it is still in DuckDB's buffers rather than again from
    disk; at a million students the store (14 GB) and the work do not both fit in this machine's memory."""
    names = {f for _, f in families} | {cat[i].family for i in weekly_ids}
    return sorted(names, key=lambda f: ((cat.families[f].sources or ("",))[0], f))


def _assemble(population: pd.Index, parts: list[pd.DataFrame], ids: list[str]) -> tuple[pd.Index, np.ndarray]:
    """The students (the population and every student a part has a value for, sorted) and their values of
    ``ids`` (a float matrix, NaN where no part has one). The keys of all parts are factorized together once, on
    their Arrow strings: at 1M students reindexing each family's frame to the union took 40 s of a 390 s run."""
    frames = [pd.Series(population)] + [pd.Series(p.index) for p in parts]
    codes, uniques = pd.factorize(pd.concat(frames, ignore_index=True), use_na_sentinel=False)
    order = np.asarray(uniques.argsort())
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    keys = pd.Index(uniques.take(order), name="student_key")
    mat = np.full((len(keys), len(ids)), np.nan)
    column = {i: j for j, i in enumerate(ids)}
    start = len(population)
    for p in parts:
        rows = rank[codes[start:start + len(p)]]
        start += len(p)
        for c in p.columns:
            if c in column:
                mat[rows, column[c]] = p[c].to_numpy(dtype=float, na_value=np.nan)
    return keys, mat


def _significant(values: pd.DataFrame, digits: int = SIGNIFICANT) -> pd.DataFrame:
    """Round each indicator to ``digits`` significant digits of its largest value: DuckDB's parallel sums
    differ in the last bits from run to run (2.8e-14 on a mean of about 100; more, relatively, on values
    near 0 from cancelling sums), and a k-means near a tie follows such bits. Rounded, the same data gives
    the same values, hence the same segments."""
    a = values.to_numpy(float, copy=True)
    top = np.where(np.isfinite(a), np.abs(a), 0.0).max(axis=0) if a.size else np.zeros(a.shape[1])
    for j in range(a.shape[1]):
        if np.isfinite(top[j]) and top[j] > 0:
            a[:, j] = np.round(a[:, j], int(digits - 1 - np.floor(np.log10(top[j]))))
    return pd.DataFrame(a, index=values.index, columns=values.columns)


def _run_family(run: Run, sql_of: Callable[[list[Indicator]], str], members: list[Indicator],
                params: dict[str, str], keys: list[str], unsupported: dict[str, str]) -> pd.DataFrame | None:
    """The family's fused query; when the engine cannot run it, each indicator alone, so that only those it
    cannot run go to ``unsupported`` (id → reason). ``None`` when none of them runs."""
    members = [m for m in members if m.id not in unsupported]
    if not members:
        return None
    try:
        return run(sql_of(members), params)
    except EngineUnsupported as exc:
        if len(members) == 1:
            unsupported[members[0].id] = str(exc)
            return None
    frames = [f.set_index(keys) for m in members
              if (f := _run_family(run, sql_of, [m], params, keys, unsupported)) is not None]
    return pd.concat(frames, axis=1, join="outer").reset_index() if frames else None


def _weekly_and_trends(con: duckdb.DuckDBPyConnection, cat: Catalogue, weekly_ids: Iterable[str],
                       trends: list[Indicator], params: dict[str, str], *, series: bool,
                       run: Run | None = None, unsupported: dict[str, str] | None = None,
                       slices: list[Slice] | None = None,
                       clustered: frozenset[str] = frozenset()) -> tuple[pd.DataFrame | None, list[pd.DataFrame]]:
    """The weekly series (one GROUP BY student, week per family; long form when ``series``) and the trends:
    the slope of each trend's weekly indicator over the weeks, where it has at least three weeks with a value.
    Without ``series`` the slopes are taken in SQL over the weekly query itself, nothing comes to pandas.
    ``run`` is the engine's query function (default DuckDB on ``con``); with ``series`` the slopes of the
    collected series are taken by DuckDB in any case (a small frame)."""
    run = run or DuckDBEngine(con).query
    unsupported = {} if unsupported is None else unsupported
    slices = slices or [(None, None)]
    by_fam: dict[str, list[Indicator]] = {}
    for i in sorted(weekly_ids):
        by_fam.setdefault(cat[i].family, []).append(cat[i])
    trends_of: dict[str, list[Indicator]] = {}
    for t in trends:
        trends_of.setdefault(cat[t.of].family, []).append(t)
    long, slopes = [], []
    for fam, members in by_fam.items():
        here = trends_of.get(fam, [])
        for t in here:
            if t.of in unsupported:
                unsupported[t.id] = f"its weekly indicator {t.of} is not supported"
        here = [t for t in here if t.id not in unsupported]
        if series:
            w = _in_slices(_slices_for(cat, fam, members, slices, clustered), lambda part, f=fam, ms=members: _run_family(
                run, lambda m: _family_query(cat, f, m, True, part), ms, params, ["student_key", "week"], unsupported))
            if w is None:
                continue
            members = [m for m in members if m.id not in unsupported]
            here = [t for t in here if t.of not in unsupported]
            w = w.astype({m.id: float for m in members})
            long.append(w.melt(id_vars=["student_key", "week"], var_name="indicator_id", value_name="value"))
            if here:
                con.register("wb_weekly_series", w)
                try:
                    slopes.append(con.execute(_slope_query(here, "wb_weekly_series")).df().set_index("student_key"))
                finally:
                    con.unregister("wb_weekly_series")
        elif here:
            ms = [m for m in members if m.id not in unsupported]
            try:
                slopes.append(_in_slices(_slices_for(cat, fam, ms, slices, clustered), lambda part, f=fam: run(
                    _slope_query(here, f"({_family_query(cat, f, ms, True, part)})"), params)).set_index("student_key"))
            except EngineUnsupported as exc:
                unsupported.update({t.id: str(exc) for t in here})
    if not series:
        return None, slopes
    weekly_df = (pd.concat(long, ignore_index=True) if long else
                 pd.DataFrame(columns=["student_key", "week", "indicator_id", "value"]))
    return weekly_df.astype({"value": float}), slopes


def _slope_query(trends: list[Indicator], source: str) -> str:
    cols = ", ".join(f"CASE WHEN count({q(t.of)}) >= 3 THEN regr_slope({q(t.of)}, week) END AS {q(t.id)}" for t in trends)
    return f"SELECT student_key, {cols} FROM {source} w GROUP BY student_key"


def _only_school(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute("SELECT school_id FROM schools LIMIT 2").fetchall()
    return rows[0][0] if len(rows) == 1 else None


def write_indicator_values(con: duckdb.DuckDBPyConnection, frame: IndicatorFrame) -> int:
    """Replace this term's stored values of the frame's indicators (term grain, and weeks if present)."""
    long = frame.values.reset_index().melt(id_vars="student_key", var_name="indicator_id", value_name="value")
    long = long[long["value"].notna() & np.isfinite(long["value"])]
    long.insert(0, "term_id", frame.term)
    long["week"] = pd.array([None] * len(long), dtype="Int32")
    parts = [long[["term_id", "student_key", "indicator_id", "week", "value"]]]
    if frame.weekly is not None and len(frame.weekly):
        w = frame.weekly.dropna(subset=["value"]).copy()
        w.insert(0, "term_id", frame.term)
        parts.append(w[["term_id", "student_key", "indicator_id", "week", "value"]].astype({"week": "Int32"}))
    rows = pd.concat(parts, ignore_index=True)
    con.register("wb_ind_rows", rows)
    try:
        con.execute("DELETE FROM indicator_values WHERE term_id = $t AND indicator_id IN (SELECT DISTINCT indicator_id "
                    "FROM wb_ind_rows)", {"t": frame.term})
        con.execute("INSERT INTO indicator_values SELECT term_id, student_key, indicator_id, week, value, now() "
                    "FROM wb_ind_rows")
    finally:
        con.unregister("wb_ind_rows")
    return len(rows)
