"""The tree overlay as the live engine routes over it, and rank-set parsing.

Theory of operation
-------------------
Ranks ``0..size-1`` form a k-ary tree rooted at rank 0 (Flux's TBON layout):
the parent of ``r > 0`` is ``(r - 1) // k``.  A message travels hop by hop: from
rank ``a`` towards ``b`` the next hop is the child of ``a`` whose subtree holds
``b`` when ``b`` is below ``a``, else ``a``'s parent.  Responses thereby retrace
requests, as on Flux's overlay.

An engine may also be given an explicit ``parents`` list (any tree rooted at 0);
routing then uses it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence


class Overlay:
    """Parent/children/next-hop of a tree rooted at rank 0."""

    __slots__ = ("_children", "_depth", "parents", "size")

    def __init__(self, parents: Sequence[int]) -> None:
        if not parents or parents[0] != -1:
            raise ValueError("rank 0 must be the root (parents[0] == -1)")
        self.size = len(parents)
        self.parents = tuple(parents)
        self._children: list[list[int]] = [[] for _ in parents]
        self._depth = [0] * self.size
        for r in range(1, self.size):
            p = parents[r]
            if not 0 <= p < self.size or p == r:
                raise ValueError(f"rank {r}: invalid parent {p}")
            self._children[p].append(r)
        for r in range(1, self.size):  # reject cycles: every rank must reach 0
            seen, a = 0, r
            while a != 0:
                a = parents[a]
                seen += 1
                if seen > self.size:
                    raise ValueError(f"rank {r} does not reach rank 0 (cycle)")
            self._depth[r] = seen

    @classmethod
    def kary(cls, size: int, fanout: int) -> Overlay:
        """Flux's k-ary tree of ``size`` ranks."""
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        if fanout < 1:
            raise ValueError(f"fanout must be >= 1, got {fanout}")
        return cls([-1] + [(r - 1) // fanout for r in range(1, size)])

    def parent(self, rank: int) -> int:
        """The parent of ``rank``; -1 for rank 0."""
        return self.parents[rank]

    def children(self, rank: int) -> list[int]:
        return self._children[rank]

    def depth(self, rank: int) -> int:
        return self._depth[rank]

    def ancestors(self, rank: int) -> list[int]:
        out = []
        while rank > 0:
            rank = self.parents[rank]
            out.append(rank)
        return out

    def next_hop(self, here: int, dst: int) -> int:
        """The neighbour of ``here`` on the tree path to ``dst`` (``dst`` if adjacent)."""
        if here == dst:
            return dst
        a = dst
        while a > 0:
            p = self.parents[a]
            if p == here:
                return a
            a = p
        return self.parents[here]

    def deepest(self) -> int:
        """The highest-numbered rank of greatest depth."""
        return max(range(self.size), key=lambda r: (self._depth[r], r))


def parse_ranks(spec: str, size: int) -> list[int]:
    """Parse ``0-3,5`` into ``[0, 1, 2, 3, 5]``, every rank below ``size``."""
    out: set[int] = set()
    for raw in spec.split(","):
        part = raw.strip()
        if not part:
            continue
        lo_s, sep, hi_s = part.partition("-")
        try:
            lo = int(lo_s)
            hi = int(hi_s) if sep else lo
        except ValueError:
            raise ValueError(f"invalid rank range {part!r} in {spec!r}") from None
        if lo > hi:
            raise ValueError(f"invalid rank range {part!r}: {lo} > {hi}")
        if lo < 0 or hi >= size:
            raise ValueError(f"rank range {part!r} outside 0-{size - 1}")
        out.update(range(lo, hi + 1))
    if not out:
        raise ValueError(f"no ranks in {spec!r}")
    return sorted(out)


def format_ranks(ranks: Sequence[int]) -> str:
    """The inverse of :func:`parse_ranks`: ``[0, 1, 2, 5]`` -> ``0-2,5``."""
    parts: list[str] = []
    rs = sorted(set(ranks))
    i = 0
    while i < len(rs):
        j = i
        while j + 1 < len(rs) and rs[j + 1] == rs[j] + 1:
            j += 1
        parts.append(str(rs[i]) if i == j else f"{rs[i]}-{rs[j]}")
        i = j + 1
    return ",".join(parts)
