"""The network indicators are networkx's measures, computed on arrays: same values as networkx on the demo school."""
from __future__ import annotations

import duckdb
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from workbench.indicators import compute_indicators, load_catalogue, population
from workbench.indicators import compute as compute_mod
from workbench.indicators.catalogue import Catalogue, Family
from workbench.indicators.network import Network

TERM = "2026-2027-1"
MEASURES = {"soc_degree_centrality": "degree_centrality", "soc_pagerank": "pagerank",
            "soc_betweenness": "betweenness_centrality", "soc_clustering": "clustering"}


def _networkx(edges: pd.DataFrame, scope: pd.DataFrame, sample: int | None = None) -> pd.DataFrame:
    """The measures exactly as the engine computed them with networkx before (graph, per-class subgraphs)."""
    directed = nx.DiGraph()
    directed.add_weighted_edges_from(edges.itertuples(index=False, name=None))
    undirected = directed.to_undirected()
    n = max(len(scope), directed.number_of_nodes())
    klass = scope["class_id"].to_dict()
    groups: dict[object, list[str]] = {}
    for node in undirected:
        groups.setdefault(klass.get(node), []).append(node)
    between, clustering = {}, {}
    for members in groups.values():
        sub = nx.Graph()    # a class's graph with its students in key order, the order networkx samples from
        sub.add_nodes_from(sorted(members))
        sub.add_edges_from(undirected.subgraph(members).edges)
        clustering.update(nx.clustering(sub))
        k = None if sample is None or sub.number_of_nodes() <= sample else sample
        between.update(nx.betweenness_centrality(sub, k=k, seed=0 if k else None))
    pr = nx.pagerank(directed, weight="weight")
    return pd.DataFrame({
        "soc_degree_centrality": {k: undirected.degree(k) / max(1, n - 1) for k in undirected},
        "soc_pagerank": {k: v * directed.number_of_nodes() for k, v in pr.items()},
        "soc_betweenness": between, "soc_clustering": clustering}).astype(float)


@pytest.fixture(scope="module")
def demo_network(demo_school):
    con = duckdb.connect(str(demo_school["store"]), read_only=True)
    cat = load_catalogue()
    edges = con.execute(cat.families["interaction_network"].sql() + " ORDER BY 1, 2", {"term": TERM}).df()
    scope = population(con, TERM)
    frame = compute_indicators(con, TERM, list(MEASURES))
    con.close()
    return edges, scope, frame


def test_network_indicators_equal_networkx_on_the_demo_school(demo_network):
    edges, scope, frame = demo_network
    assert len(edges) > 1000 and scope["class_id"].nunique() >= 10
    ref = _networkx(edges, scope)
    got = frame.values.loc[ref.index, list(MEASURES)]
    for col in MEASURES:
        assert np.allclose(got[col], ref[col], rtol=1e-9, atol=1e-12), col
    assert ref["soc_betweenness"].gt(0).sum() > 100 and ref["soc_clustering"].gt(0).sum() > 100
    # students with no interaction: degree and betweenness are 0 (the indicators' fill), pagerank unknown
    alone = frame.values.index.difference(ref.index)
    assert (frame.values.loc[alone, "soc_degree_centrality"] == 0).all()
    assert frame.values.loc[alone, "soc_pagerank"].isna().all()


def test_classes_above_the_sample_size_take_networkx_sampled_betweenness(demo_network, monkeypatch):
    """Classes larger than BETWEENNESS_SAMPLE use networkx with k sampled sources and seed 0, as before."""
    edges, scope, _ = demo_network
    sizes = scope["class_id"].value_counts()
    sample = int(sizes.median()) - 5      # most classes are above, a few may not be
    monkeypatch.setattr(compute_mod, "BETWEENNESS_SAMPLE", sample)
    con = duckdb.connect()
    con.register("wb_test_edges", edges)
    cat = Catalogue({}, {"net": Family("net", "SELECT * FROM wb_test_edges WHERE $term = $term",
                                       ("events",), "network")})
    inds = [load_catalogue()["soc_betweenness"]]
    from workbench.indicators.engines import DuckDBEngine
    got = compute_mod._network(DuckDBEngine(con).query, cat, "net", inds, TERM, scope)["soc_betweenness"]
    ref = _networkx(edges, scope, sample=sample)["soc_betweenness"]
    assert np.allclose(got.loc[ref.index], ref, rtol=1e-9, atol=1e-12)
    exact = _networkx(edges, scope)["soc_betweenness"]
    assert not np.allclose(got.loc[exact.index], exact)     # the sampled path was taken
    # the same sources whatever order the engine returns the edges in (a GROUP BY's order varies run to run)
    con.register("wb_test_edges", edges.sample(frac=1.0, random_state=3))
    shuffled = compute_mod._network(DuckDBEngine(con).query, cat, "net", inds, TERM, scope)["soc_betweenness"]
    assert np.allclose(shuffled.loc[got.index], got, rtol=1e-9, atol=1e-12)


def test_network_arrays_match_networkx_with_self_loops_and_unlinked_groups():
    rng = np.random.default_rng(7)
    n = 60
    src, dst = rng.integers(0, n, 400), rng.integers(0, n, 400)
    pairs = pd.DataFrame({"s": src, "t": dst}).drop_duplicates()   # self-loops kept on purpose
    w = rng.integers(1, 5, len(pairs)).astype(float)
    group = rng.integers(0, 3, n)
    net = Network(pairs.s.to_numpy(), pairs.t.to_numpy(), w, n)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(pairs.s, pairs.t, w))
    u = g.to_undirected()
    assert net.degree().tolist() == [u.degree(k) for k in range(n)]
    pr = nx.pagerank(g, weight="weight")
    assert np.allclose(net.pagerank(), [pr[k] for k in range(n)], rtol=1e-9)
    bc, cl = {}, {}
    for k in range(3):
        sub = u.subgraph([v for v in range(n) if group[v] == k])
        bc.update(nx.betweenness_centrality(sub))
        cl.update(nx.clustering(sub))
    assert np.allclose(net.betweenness(group), [bc[k] for k in range(n)], rtol=1e-9, atol=1e-15)
    assert np.allclose(net.clustering(group), [cl[k] for k in range(n)], rtol=1e-12)
