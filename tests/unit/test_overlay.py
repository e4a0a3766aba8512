"""Overlay: k-ary construction, graph validation, routing."""

from __future__ import annotations

import itertools
import sys

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvs_sim.overlay import Overlay


def test_kary_binary_shape() -> None:
    ov = Overlay.kary(7, 2)
    assert ov.size == 7 == len(ov)
    assert ov.parent == [-1, 0, 0, 1, 1, 2, 2]
    assert ov.children == [(1, 2), (3, 4), (5, 6), (), (), (), ()]
    assert ov.depth == [0, 1, 1, 2, 2, 2, 2]
    assert ov.height == 2
    assert ov.ranks_at_depth(2) == [3, 4, 5, 6]
    assert ov.ranks_at_depth(5) == []


def test_kary_size_one_and_flat() -> None:
    one = Overlay.kary(1, 2)
    assert one.parent == [-1] and one.children == [()] and one.height == 0
    assert one.path(0, 0) == [0]
    flat = Overlay.kary(9, 32)
    assert flat.children[0] == tuple(range(1, 9))
    assert flat.height == 1


def test_leaves_share_one_empty_tuple() -> None:
    ov = Overlay.kary(100, 3)
    leaves = [c for c in ov.children if not c]
    assert len({id(c) for c in leaves}) == 1


@pytest.mark.parametrize(("size", "fanout"), [(0, 2), (-1, 2), (4, 0), (2.5, 2)])
def test_kary_rejects_bad_arguments(size: object, fanout: object) -> None:
    with pytest.raises(ValueError):
        Overlay.kary(size, fanout)  # type: ignore[arg-type]


def test_path_and_next_hop() -> None:
    ov = Overlay.kary(15, 2)
    assert ov.path(7, 14) == [7, 3, 1, 0, 2, 6, 14]
    assert ov.path(3, 4) == [3, 1, 4]
    assert ov.path(0, 9) == [0, 1, 4, 9]
    assert ov.path(9, 0) == [9, 4, 1, 0]
    assert ov.path(5, 5) == [5]
    assert ov.next_hop(7, 14) == 3
    assert ov.next_hop(0, 9) == 1
    assert ov.next_hop(1, 9) == 4
    assert ov.next_hop(9, 1) == 4
    assert ov.next_hop(4, 4) == 4
    with pytest.raises(ValueError, match="rank 15"):
        ov.path(0, 15)
    with pytest.raises(ValueError, match="rank -1"):
        ov.next_hop(-1, 3)


@given(st.integers(1, 60), st.integers(1, 5), st.data())
def test_paths_agree_with_networkx(size: int, fanout: int, data: st.DataObject) -> None:
    ov = Overlay.kary(size, fanout)
    src = data.draw(st.integers(0, size - 1))
    dst = data.draw(st.integers(0, size - 1))
    expect = nx.shortest_path(ov.graph.to_undirected(), src, dst)
    assert ov.path(src, dst) == expect
    if src != dst:
        assert ov.next_hop(src, dst) == expect[1]


def test_from_graph_undirected_and_both_directions() -> None:
    g = nx.Graph([(0, 3), (3, 1), (0, 2)])
    ov = Overlay.from_graph(g)
    assert ov.parent == [-1, 3, 0, 0]
    assert ov.children[0] == (2, 3)
    down = Overlay.from_graph(nx.DiGraph([(0, 3), (3, 1), (0, 2)]))
    up = Overlay.from_graph(nx.DiGraph([(3, 0), (1, 3), (2, 0)]))
    assert down.parent == up.parent == ov.parent
    assert sorted(ov.graph.edges) == [(0, 2), (0, 3), (3, 1)]


def test_from_graph_matches_kary() -> None:
    ov = Overlay.kary(40, 3)
    again = Overlay.from_graph(ov.graph)
    assert again.parent == ov.parent and again.children == ov.children


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (nx.Graph(), "no nodes"),
        (nx.Graph([(0, 1), (1, 2), (2, 0)]), "3 edges for 3 nodes"),
        (nx.Graph([(0, 1), (2, 3), (3, 4), (4, 2)]), "not connected to node 0"),
        (nx.Graph([(0, 1), (1, 3)]), "missing \\[2\\]"),
        (nx.Graph([(0, "a")]), "bad node labels"),
        (nx.Graph([(0, 1), (1, 1)]), "self-loop"),
        (nx.DiGraph([(0, 1), (2, 1)]), "mixes edge directions"),
        ([(0, 1)], "networkx graph"),
    ],
)
def test_from_graph_rejects(graph: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Overlay.from_graph(graph)


def test_from_graph_rejects_forest() -> None:
    g = nx.Graph([(0, 1), (2, 3)])
    g.add_edge(3, 4)  # 5 nodes, 3 edges: wrong count first
    with pytest.raises(ValueError, match="edges"):
        Overlay.from_graph(g)
    h = nx.Graph([(0, 1), (2, 3), (3, 4), (2, 4)])
    h.remove_edge(2, 4)
    h.add_edge(1, 1)
    with pytest.raises(ValueError):
        Overlay.from_graph(h)


def test_parent_list_validation() -> None:
    with pytest.raises(ValueError, match="parent cycle"):
        Overlay([-1, 2, 1])
    with pytest.raises(ValueError, match="invalid parent"):
        Overlay([-1, 5])


def test_subtree_size_and_depths() -> None:
    ov = Overlay.kary(31, 2)
    assert ov.subtree_size(0) == 31
    assert ov.subtree_size(1) == 15
    assert all(ov.depth[c] == ov.depth[p] + 1 for p in range(31) for c in ov.children[p])
    assert list(itertools.chain.from_iterable(ov.ranks_at_depth(d) for d in range(5))) == list(
        range(31)
    )


def test_memory_is_small_at_scale() -> None:
    ov = Overlay.kary(16384, 2)
    size = sum(sys.getsizeof(x) for x in (ov.parent, ov.children, ov.depth))
    size += sum(sys.getsizeof(c) for c in ov.children if c)
    assert size / 16384 < 200
