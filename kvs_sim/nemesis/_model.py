"""The faults (nemeses) a run can suffer, as plain frozen records.

Theory of operation
-------------------
A *nemesis* is one kind of fault with its target; a :class:`Scheduled` entry says
when it starts (``at``, seconds of run time) and how long it lasts (``duration``;
None: for the rest of the run).  A :class:`Schedule` is an ordered tuple of entries.

The records decide nothing about transport: each engine applies them its own way
(the virtual-time engine holds or drops messages on crossed links, crashes and
rebuilds rank state machines, multiplies service times; the live engine kills and
stops processes, holds subscriptions).  What they mean for Flux is in
``docs/faults.md``.

* :class:`Partition` cuts tree links: ``ranks`` (every link between the set and
  the rest of the tree, e.g. a subtree from its parent) or explicit ``links``
  (``(parent, child)`` pairs).  ``mode="hold"``: messages across the cut wait
  for the heal, in order; ``"drop"``: they are lost (the ranks' request retry
  recovers, as Flux's overlay would after reconnecting).
* :class:`Crash` kills ``rank`` (its cache, queues and pending requests are gone)
  and restarts it ``duration`` later (never, if None).
* :class:`Pause` holds setroot delivery to ``rank`` (Flux's tests use this knob to
  make eventual-consistency races deterministic); the held events arrive in order
  at the unpause.
* :class:`Slow` multiplies ``rank``'s service time by ``factor``.
* :class:`Spike` adds ``extra`` seconds to every message on ``link``.
* :class:`Loss` loses events on ``links`` (None: every link) with probability
  ``rate``: the engine's existing loss model, joining the same schedule.

Every nemesis has a ``name`` (the history's nemesis record ``name``) and
:meth:`ranks`/:meth:`detail` for that record.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

MODES = ("hold", "drop")
"""How a partition treats messages across the cut."""


def _rank(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a rank number >= 0, not {value!r}")
    return value


def _link(value: Any) -> tuple[int, int]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"a link is a pair of ranks (parent, child), not {value!r}")
    a, b = (_rank("a link end", x) for x in value)
    if a == b:
        raise ValueError(f"a link joins two different ranks, not {value!r}")
    return (a, b)


def _seconds(name: str, value: Any, *, positive: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, not {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Partition:
    """Cut the links around ``ranks`` (or the given ``links``) until the heal."""

    name: ClassVar[str] = "partition"
    ranks: tuple[int, ...] = ()
    links: tuple[tuple[int, int], ...] = ()
    mode: str = "hold"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ranks", tuple(sorted({_rank("rank", r) for r in self.ranks})))
        object.__setattr__(self, "links", tuple(_link(x) for x in self.links))
        if bool(self.ranks) == bool(self.links):
            raise ValueError("a partition names either ranks (cut off together) or links")
        if self.mode not in MODES:
            raise ValueError(f"partition mode must be 'hold' or 'drop', not {self.mode!r}")

    def cut(self, parent: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """The ``(parent, child)`` tree links this partition cuts, for a tree given
        by each rank's parent (-1 for the root)."""
        if self.links:
            out = []
            for a, b in self.links:
                if b < len(parent) and parent[b] == a:
                    out.append((a, b))
                elif a < len(parent) and parent[a] == b:
                    out.append((b, a))
                else:
                    raise ValueError(f"link {(a, b)} is not a link of the tree")
            return tuple(out)
        inside = set(self.ranks)
        if max(inside) >= len(parent):
            raise ValueError(f"partition names rank {max(inside)}, the tree has {len(parent)}")
        return tuple(
            (p, c) for c, p in enumerate(parent) if p >= 0 and ((c in inside) != (p in inside))
        )

    def affected(self, parent: Sequence[int]) -> tuple[int, ...]:
        """The ranks cut off (given as ``ranks``), or both ends of each cut link."""
        if self.ranks:
            return self.ranks
        return tuple(sorted({r for link in self.cut(parent) for r in link}))

    def detail(self, parent: Sequence[int]) -> dict[str, Any]:
        return {"links": [list(x) for x in self.cut(parent)], "mode": self.mode}


@dataclass(frozen=True, slots=True, kw_only=True)
class Crash:
    """Kill ``rank``; it restarts after the scheduled duration (never if None)."""

    name: ClassVar[str] = "crash"
    rank: int

    def __post_init__(self) -> None:
        _rank("crash rank", self.rank)

    def affected(self, parent: Sequence[int]) -> tuple[int, ...]:
        return (self.rank,)

    def detail(self, parent: Sequence[int]) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Pause:
    """Hold setroot delivery to ``rank`` until the unpause."""

    name: ClassVar[str] = "pause"
    rank: int

    def __post_init__(self) -> None:
        _rank("pause rank", self.rank)

    def affected(self, parent: Sequence[int]) -> tuple[int, ...]:
        return (self.rank,)

    def detail(self, parent: Sequence[int]) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Slow:
    """``rank``'s service time is multiplied by ``factor``."""

    name: ClassVar[str] = "slow"
    rank: int
    factor: float = 10.0

    def __post_init__(self) -> None:
        _rank("slow rank", self.rank)
        f = self.factor
        if not isinstance(f, int | float) or isinstance(f, bool) or not 1 <= f < math.inf:
            raise ValueError(f"slow factor must be a finite number >= 1, not {f!r}")
        object.__setattr__(self, "factor", float(f))

    def affected(self, parent: Sequence[int]) -> tuple[int, ...]:
        return (self.rank,)

    def detail(self, parent: Sequence[int]) -> dict[str, Any]:
        return {"factor": self.factor}


@dataclass(frozen=True, slots=True, kw_only=True)
class Spike:
    """Every message crossing ``link`` (either way) takes ``extra`` seconds more."""

    name: ClassVar[str] = "spike"
    link: tuple[int, int]
    extra: float = 0.01

    def __post_init__(self) -> None:
        object.__setattr__(self, "link", _link(self.link))
        object.__setattr__(self, "extra", _seconds("spike extra", self.extra, positive=True))

    def affected(self, parent: Sequence[int]) -> tuple[int, ...]:
        return tuple(sorted(self.link))

    def detail(self, parent: Sequence[int]) -> dict[str, Any]:
        return {"links": [list(self.link)], "extra": self.extra}


@dataclass(frozen=True, slots=True, kw_only=True)
class Loss:
    """Events on ``links`` (None: every link) are lost with probability ``rate``."""

    name: ClassVar[str] = "loss"
    rate: float
    links: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        r = self.rate
        if not isinstance(r, int | float) or isinstance(r, bool) or not 0 < r < 1:
            raise ValueError(f"loss rate must be a probability in (0, 1), not {r!r}")
        if self.links is not None:
            object.__setattr__(self, "links", tuple(_link(x) for x in self.links))

    def affected(self, parent: Sequence[int]) -> tuple[int, ...]:
        if self.links is None:
            return ()
        return tuple(sorted({r for link in self.links for r in link}))

    def detail(self, parent: Sequence[int]) -> dict[str, Any]:
        links = None if self.links is None else [list(x) for x in self.links]
        return {"links": links, "rate": self.rate}


Nemesis = Union[Partition, Crash, Pause, Slow, Spike, Loss]  # noqa: UP007 (runtime alias)
"""Any one fault."""

KINDS: dict[str, type] = {k.name: k for k in (Partition, Crash, Pause, Slow, Spike, Loss)}
"""Nemesis classes by name."""


@dataclass(frozen=True, slots=True)
class Scheduled:
    """``nemesis`` starts at ``at`` seconds and lasts ``duration`` (None: to the end)."""

    at: float
    nemesis: Nemesis
    duration: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _seconds("a nemesis start", self.at))
        if self.duration is not None:
            object.__setattr__(
                self, "duration", _seconds("a nemesis duration", self.duration, positive=True)
            )
        if type(self.nemesis) not in KINDS.values():
            raise ValueError(f"not a nemesis: {self.nemesis!r}")

    @property
    def end(self) -> float | None:
        return None if self.duration is None else self.at + self.duration


@dataclass(frozen=True, slots=True)
class Schedule:
    """Scheduled nemeses, in start order (ties keep the order given)."""

    entries: tuple[Scheduled, ...] = field(default=())

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.entries, key=lambda e: e.at))
        object.__setattr__(self, "entries", ordered)

    @classmethod
    def of(cls, entries: Iterable[Scheduled]) -> Schedule:
        return cls(tuple(entries))

    def __add__(self, other: Schedule) -> Schedule:
        return Schedule(self.entries + other.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Scheduled]:
        return iter(self.entries)

    def check(self, size: int, parent: Sequence[int]) -> None:
        """ValueError naming the first entry that does not fit a cluster of ``size``
        ranks on the tree ``parent`` (a rank or link that does not exist)."""
        for e in self.entries:
            n = e.nemesis
            for r in n.affected(parent):
                if r >= size:
                    raise ValueError(f"{n.name} at {e.at:g} s names rank {r}; size is {size}")
            if isinstance(n, Spike | Loss):
                for a, b in [n.link] if isinstance(n, Spike) else (n.links or ()):
                    if not (parent[b] == a or parent[a] == b):
                        raise ValueError(f"{n.name} at {e.at:g} s: {(a, b)} is not a tree link")
            if isinstance(n, Partition):
                n.cut(parent)


def at(t: float, nemesis: Nemesis, duration: float | None = None) -> Scheduled:
    """``at(0.5, Crash(rank=0), 0.2)``: the schedule entry for "at t, for d"."""
    return Scheduled(t, nemesis, duration)


def subtree(parent: Sequence[int], rank: int) -> tuple[int, ...]:
    """``rank`` and every rank below it in the tree ``parent``."""
    children: dict[int, list[int]] = {}
    for c, p in enumerate(parent):
        children.setdefault(p, []).append(c)
    out, todo = [], [rank]
    while todo:
        r = todo.pop()
        out.append(r)
        todo.extend(children.get(r, ()))
    return tuple(sorted(out))
