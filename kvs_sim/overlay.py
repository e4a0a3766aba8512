"""The tree overlay (TBON) that ranks are arranged on.

Theory of operation
-------------------
Flux brokers form a tree rooted at rank 0; requests travel up it hop by hop,
responses come back down the same way and events flow from the root to every
leaf.  :class:`Overlay` is that tree, frozen into flat Python lists indexed by
rank, because the engine reads them in its hot loop:

* ``parent[r]`` (``-1`` for rank 0), ``children[r]`` (a tuple, ascending; every
  leaf shares one empty tuple), ``depth[r]`` (0 for rank 0) and ``height``.

Routing between two ranks is the unique tree path: up from the source to the
lowest common ancestor, then down to the destination.  :meth:`Overlay.path` and
:meth:`Overlay.next_hop` compute it from ``parent`` and ``depth`` without any
table, so memory stays a few dozen bytes per rank at 16,384 ranks.

Two constructors: :meth:`Overlay.kary` builds Flux's k-ary tree (rank ``r``'s
parent is ``(r - 1) // k``; Flux's default ``k`` is 32) and
:meth:`Overlay.from_graph` accepts any networkx tree on ``0..n-1``.  The networkx
graph itself is only built on demand (:attr:`Overlay.graph`), for drawing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import networkx as nx

_EMPTY: tuple[int, ...] = ()


class Overlay:
    """A tree of ``size`` ranks rooted at rank 0, as flat per-rank lists."""

    __slots__ = ("_graph", "children", "depth", "height", "parent", "size")

    size: int
    parent: list[int]
    children: list[tuple[int, ...]]
    depth: list[int]
    height: int

    def __init__(self, parent: Sequence[int]) -> None:
        """Build from a parent list (``parent[0] == -1``); prefer the constructors.

        Raises :class:`ValueError` if ``parent`` does not describe a tree rooted at 0.
        """
        n = len(parent)
        if n == 0:
            raise ValueError("an overlay needs at least one rank")
        if parent[0] != -1:
            raise ValueError(f"rank 0 is the root: parent[0] must be -1, not {parent[0]}")
        ints = list(range(n))  # one int object per rank, shared by every list below
        kids: list[list[int] | None] = [None] * n
        for r in range(1, n):
            p = parent[r]
            if not 0 <= p < n or p == r:
                raise ValueError(f"rank {r} has an invalid parent {p}")
            lst = kids[p]
            if lst is None:
                kids[p] = [ints[r]]
            else:
                lst.append(ints[r])
        self.size = n
        self.parent = [-1] + [ints[parent[r]] for r in range(1, n)]
        self.children = [_EMPTY if k is None else tuple(sorted(k)) for k in kids]
        # Depths by breadth-first walk; also proves every rank is reachable from 0.
        depth = [-1] * n
        depth[0] = 0
        todo = deque([0])
        seen = 1
        while todo:
            r = todo.popleft()
            d = depth[r] + 1
            for c in self.children[r]:
                depth[c] = d
                todo.append(c)
                seen += 1
        if seen != n:
            stray = [r for r in range(n) if depth[r] < 0]
            raise ValueError(f"ranks {stray[:10]} are not connected to rank 0 (parent cycle)")
        self.depth = depth
        self.height = max(depth)
        self._graph: nx.DiGraph | None = None

    # ------------------------------------------------------------------ builders

    @classmethod
    def kary(cls, size: int, fanout: int) -> Overlay:
        """Flux's k-ary TBON: rank ``r``'s parent is ``(r - 1) // fanout``."""
        if not isinstance(size, int) or size < 1:
            raise ValueError(f"overlay size must be a positive integer, not {size!r}")
        if not isinstance(fanout, int) or fanout < 1:
            raise ValueError(f"fanout must be a positive integer, not {fanout!r}")
        return cls([-1] + [(r - 1) // fanout for r in range(1, size)])

    @classmethod
    def from_graph(cls, g: Any) -> Overlay:
        """Any networkx tree on nodes ``0..n-1``, rooted at 0.

        Undirected trees are accepted as they are.  A directed graph must be a tree
        with every edge pointing away from rank 0 (parent -> child) or every edge
        pointing towards it (child -> parent).  Raises :class:`ValueError` naming
        the problem: bad labels, missing ranks, cycles, extra edges, disconnection.
        """
        if not isinstance(g, nx.Graph):
            raise ValueError(f"expected a networkx graph, not {type(g).__name__}")
        nodes = list(g.nodes)
        n = len(nodes)
        if n == 0:
            raise ValueError("the graph has no nodes")
        bad = [x for x in nodes if not isinstance(x, int) or isinstance(x, bool)]
        if bad:
            raise ValueError(f"bad node labels {bad[:5]!r}: nodes must be the integers 0..n-1")
        missing = sorted(set(range(n)) - set(nodes))
        if missing:
            extra = sorted(set(nodes) - set(range(n)))
            raise ValueError(
                f"nodes must be 0..{n - 1}: missing {missing[:10]}, unexpected {extra[:10]}"
            )
        loops = list(nx.selfloop_edges(g))
        if loops:
            raise ValueError(f"not a tree: self-loop at node {loops[0][0]}")
        m = g.number_of_edges()
        if m != n - 1:
            raise ValueError(f"not a tree: {m} edges for {n} nodes (a tree has {n - 1})")
        und = g.to_undirected(as_view=True) if g.is_directed() else g
        parent = [-2] * n
        parent[0] = -1
        todo = deque([0])
        while todo:
            r = todo.popleft()
            for c in und.neighbors(r):
                if parent[c] == -2:
                    parent[c] = r
                    todo.append(c)
        stray = [r for r in range(n) if parent[r] == -2]
        if stray:
            raise ValueError(f"not a tree: nodes {stray[:10]} are not connected to node 0")
        if g.is_directed():
            down = sum(1 for r in range(1, n) if g.has_edge(parent[r], r))
            if down not in (0, n - 1):
                raise ValueError(
                    "directed graph mixes edge directions: edges must all point away "
                    "from node 0 (parent -> child) or all towards it (child -> parent)"
                )
        return cls(parent)

    # ------------------------------------------------------------------ queries

    @property
    def graph(self) -> nx.DiGraph:
        """A networkx ``DiGraph`` with edges parent -> child (built once, on demand)."""
        if self._graph is None:
            g = nx.DiGraph()
            g.add_nodes_from(range(self.size))
            g.add_edges_from((self.parent[r], r) for r in range(1, self.size))
            self._graph = g
        return self._graph

    def _check(self, r: int) -> None:
        if not 0 <= r < self.size:
            raise ValueError(f"rank {r} is not in this overlay of {self.size} ranks")

    def next_hop(self, src: int, dst: int) -> int:
        """The neighbour of ``src`` on the way to ``dst`` (``src`` itself if equal)."""
        self._check(src)
        self._check(dst)
        if src == dst:
            return src
        parent = self.parent
        d_src = self.depth[src]
        d = self.depth[dst]
        if d <= d_src:
            return parent[src]
        while d > d_src + 1:
            dst = parent[dst]
            d -= 1
        return dst if parent[dst] == src else parent[src]

    def legs(self, src: int, dst: int) -> tuple[list[int], list[int]]:
        """The links crossed from ``src`` to ``dst``, named by their child end, in path
        order: ``ups`` climb (``c -> parent[c]``), then ``downs`` descend
        (``parent[c] -> c``).  ``len(ups) + len(downs)`` is the hop count."""
        self._check(src)
        self._check(dst)
        parent = self.parent
        depth = self.depth
        ups: list[int] = []
        downs: list[int] = []
        a, b = src, dst
        da, db = depth[a], depth[b]
        while da > db:
            ups.append(a)
            a = parent[a]
            da -= 1
        while db > da:
            downs.append(b)
            b = parent[b]
            db -= 1
        while a != b:
            ups.append(a)
            a = parent[a]
            downs.append(b)
            b = parent[b]
        downs.reverse()
        return ups, downs

    def path(self, src: int, dst: int) -> list[int]:
        """Every rank from ``src`` to ``dst`` inclusive along the tree."""
        ups, downs = self.legs(src, dst)
        top = self.parent[ups[-1]] if ups else src  # the lowest common ancestor
        return [*ups, top, *downs]

    def ancestors(self, r: int) -> list[int]:
        """The ranks above ``r``, nearest first (empty for rank 0)."""
        self._check(r)
        out = []
        parent = self.parent
        while r > 0:
            r = parent[r]
            out.append(r)
        return out

    def ranks_at_depth(self, d: int) -> list[int]:
        """Ranks whose distance from rank 0 is ``d``, ascending (empty past the leaves)."""
        depth = self.depth
        return [r for r in range(self.size) if depth[r] == d]

    def subtree_size(self, r: int) -> int:
        """How many ranks an event forwarded to ``r`` reaches (``r`` included)."""
        self._check(r)
        count = 0
        todo = [r]
        children = self.children
        while todo:
            x = todo.pop()
            count += 1
            todo.extend(children[x])
        return count

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"<Overlay size={self.size} height={self.height}>"
