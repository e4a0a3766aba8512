"""Nemeses from the seed, and from the words a user types.

Theory of operation
-------------------
:func:`random_process` is Jepsen's nemesis process: one fault at a time, drawn
from the kinds asked for.  Each fault starts a random gap after the previous one
healed and lasts a random time, both between half and all of ``interval``; its
target is drawn among the ranks (or links) of the tree.  The draws come from a
``random.Random`` seeded with the run's seed and a fixed label, apart from the
engine's own stream, so the faults a seed gives do not depend on the traffic and
the same seed gives the same faults.  The process is an endless iterator; an
engine takes the next entry when the previous one heals and stops at the end of
the run (where everything still active is healed, so convergence can be judged).

:func:`parse_kinds` reads ``--nemesis partition,crash,pause``; :func:`from_spec`
reads one entry of a scenario's ``NEMESES`` list written as a dict
(``{"at": 0.5, "for": 0.2, "kind": "crash", "rank": 0}``), so scenarios need not
import this package.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kvs_sim.nemesis._model import (
    KINDS,
    Crash,
    Loss,
    Nemesis,
    Partition,
    Pause,
    Scheduled,
    Slow,
    Spike,
    subtree,
)

SLOW_FACTOR = 10.0
"""Service-time factor of a randomly drawn slow rank."""

SPIKE_FACTOR = 20.0
"""A randomly drawn latency spike adds this many times the interval / 100."""

LOSS_RATE = 0.2
"""Event loss rate of a randomly drawn lossy period."""


def parse_kinds(text: str) -> tuple[str, ...]:
    """``"partition,crash"`` -> ``("partition", "crash")``; ValueError naming an
    unknown kind and the known ones."""
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if not kinds:
        raise ValueError(f"--nemesis needs at least one kind ({', '.join(KINDS)})")
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown nemesis {k!r} (known: {', '.join(KINDS)})")
    return kinds


def random_process(
    seed: int,
    kinds: Sequence[str],
    interval: float,
    parent: Sequence[int],
    *,
    start: float = 0.0,
    mode: str = "hold",
) -> Iterator[Scheduled]:
    """An endless sequence of faults of ``kinds`` on the tree ``parent``, one at a
    time, drawn from ``seed`` (see the module docstring).  ``mode`` is how drawn
    partitions treat messages."""
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"unknown nemesis {k!r} (known: {', '.join(KINDS)})")
    if not interval > 0:
        raise ValueError(f"the nemesis interval must be > 0 seconds, not {interval!r}")
    rng = random.Random(f"kvs-sim-nemesis:{seed}")
    t = start
    while True:
        t += interval * (0.5 + 0.5 * rng.random())
        duration = interval * (0.5 + 0.5 * rng.random())
        kind = kinds[rng.randrange(len(kinds))]
        yield Scheduled(t, _draw(rng, kind, parent, interval=interval, mode=mode), duration)
        t += duration


def _draw(
    rng: random.Random, kind: str, parent: Sequence[int], *, interval: float, mode: str
) -> Nemesis:
    size = len(parent)
    followers = list(range(1, size))
    if kind == "crash" or (not followers and kind != "loss"):
        return Crash(rank=rng.randrange(size))
    if kind == "partition":
        return Partition(ranks=subtree(parent, rng.choice(followers)), mode=mode)
    if kind == "pause":
        return Pause(rank=rng.choice(followers))
    if kind == "slow":
        return Slow(rank=rng.randrange(size), factor=SLOW_FACTOR)
    if kind == "spike":
        c = rng.choice(followers)
        return Spike(link=(parent[c], c), extra=interval * SPIKE_FACTOR / 100)
    return Loss(rate=LOSS_RATE)


def from_spec(spec: Scheduled | Mapping[str, Any]) -> Scheduled:
    """One ``NEMESES`` entry: a :class:`Scheduled` as is, or a dict with ``at``,
    ``for`` (optional), ``kind`` and the nemesis's own fields; ValueError naming
    what is wrong."""
    if isinstance(spec, Scheduled):
        return spec
    if not isinstance(spec, Mapping):
        raise ValueError(f"a nemesis is a dict like {{'at': 0.5, 'kind': 'crash'}}, not {spec!r}")
    fields = dict(spec)
    try:
        when = fields.pop("at")
        kind = fields.pop("kind")
    except KeyError as e:
        raise ValueError(f"nemesis {dict(spec)!r} has no {e.args[0]!r}") from None
    duration = fields.pop("for", None)
    cls = KINDS.get(kind)
    if cls is None:
        raise ValueError(f"unknown nemesis {kind!r} (known: {', '.join(KINDS)})")
    for name in ("ranks", "links"):
        if name in fields and fields[name] is not None:
            fields[name] = tuple(tuple(x) if isinstance(x, list) else x for x in fields[name])
    if "link" in fields:
        fields["link"] = tuple(fields["link"])
    try:
        nemesis = cls(**fields)
    except TypeError as e:
        raise ValueError(f"nemesis {kind!r}: {e}") from None
    return Scheduled(when, nemesis, duration)
