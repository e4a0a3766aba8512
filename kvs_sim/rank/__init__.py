"""Rank logic: the leader and follower state machines (no I/O, no clock).

``make_rank`` is what an engine calls to host a rank; it hands the rank a
:class:`~kvs_sim.rank.port.Port` and then calls ``rank.start()`` once and
``rank.handle(msg)`` for each message.
"""

from __future__ import annotations

from kvs_sim.core.content import ContentStore
from kvs_sim.rank.base import NO_HOOKS, RankBase, RankHooks
from kvs_sim.rank.config import RankConfig, ServiceTimes
from kvs_sim.rank.follower import Follower
from kvs_sim.rank.leader import Leader
from kvs_sim.rank.port import Port


def make_rank(
    rank: int,
    parent: int,
    port: Port,
    config: RankConfig,
    *,
    store: ContentStore | None = None,
    hooks: RankHooks = NO_HOOKS,
    primary: tuple[int, str, int, int] | None = None,
    rejoin: int = 0,
    epoch: int | None = None,
) -> RankBase:
    """Build rank ``rank``: the leader for 0 (``store`` is its backing store),
    else a follower whose TBON parent is ``parent``.  ``primary`` = (seq, rootref,
    owner, epoch) seeds a follower's primary root; without it the follower asks the leader
    in ``start()``.  A restart: ``rejoin`` counts a follower's restarts (it rejoins
    cold from its parent's root); ``epoch`` is the epoch a restarted leader runs in
    (see :mod:`kvs_sim.rank.recovery`)."""
    if rank == 0:
        return Leader(port, config, store=store, hooks=hooks, epoch=epoch)
    if parent < 0:
        raise ValueError(f"rank {rank} needs a parent rank, got {parent}")
    return Follower(rank, parent, port, config, hooks=hooks, primary=primary, rejoin=rejoin)


__all__ = [
    "Follower",
    "Leader",
    "Port",
    "RankBase",
    "RankConfig",
    "RankHooks",
    "ServiceTimes",
    "make_rank",
]
