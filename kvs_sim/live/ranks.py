"""Rank sets on the command line: ``0-3,5`` <-> ``[0, 1, 2, 3, 5]``."""

from __future__ import annotations

from collections.abc import Sequence


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
