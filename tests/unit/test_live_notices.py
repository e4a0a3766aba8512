"""Overlay notices on live ranks (kvs_sim.live.notices): which lost ranks each
hosted rank is told about, from process statuses, in-process crashes and drop
partitions."""

from __future__ import annotations

import json
from typing import Any

from kvs_sim.live.notices import Notices
from kvs_sim.overlay import Overlay
from kvs_sim.rank.messages import PeerBack, PeerLost


def _notices(hosted: list[int]) -> tuple[Notices, list[tuple[int, Any]]]:
    told: list[tuple[int, Any]] = []
    n = Notices(Overlay.kary(7, 2), hosted, "own", lambda r, msg: told.append((r, msg)))
    n.live = True
    return n, told


def _status(ranks: list[int], state: str, started: float) -> bytes:
    return json.dumps({"ranks": ranks, "state": state, "started": started}).encode()


def test_a_dead_process_is_lost_to_every_rank_below_it_and_back_when_it_restarts() -> None:
    n, told = _notices([3, 4, 5])
    n.status("s/low", _status([0, 1], "up", 1.0))
    assert told == []
    n.status("s/low", _status([0, 1], "down", 1.0))  # its will
    assert told == [
        (3, PeerLost(rank=0)),
        (3, PeerLost(rank=1)),
        (4, PeerLost(rank=0)),
        (4, PeerLost(rank=1)),
        (5, PeerLost(rank=0)),
    ]
    told.clear()
    n.status("s/low", _status([0, 1], "up", 2.0))  # the same command again
    assert sorted(told, key=str) == sorted(
        [
            (3, PeerBack(rank=0)),
            (3, PeerBack(rank=1)),
            (4, PeerBack(rank=0)),
            (4, PeerBack(rank=1)),
            (5, PeerBack(rank=0)),
        ],
        key=str,
    )


def test_a_stale_down_of_an_older_process_does_not_keep_a_rank_lost() -> None:
    n, told = _notices([3])
    n.status("s/new", _status([0, 1], "up", 5.0))
    n.status("s/old", _status([0, 1, 2], "down", 1.0))  # an older layout's will
    assert told == []  # 0 and 1: the newer process is up; 2 is not above 3


def test_drop_partitions_and_in_process_crashes() -> None:
    n, told = _notices([1, 3, 4])
    n.faults(frozenset(), frozenset({(1, 3)}))  # the link 1-3 cut, dropping
    assert told == [(3, PeerLost(rank=1))]
    n.faults(frozenset({1}), frozenset())  # healed; rank 1 crashed inside its process
    assert told[1:] == [(4, PeerLost(rank=1))]  # 3 still has 1 lost: nothing new for it
    told.clear()
    n.forget(1)
    n.faults(frozenset(), frozenset())
    assert (3, PeerBack(rank=1)) in told and (4, PeerBack(rank=1)) in told
    assert all(r != 1 for r, _ in told)  # the restarted rank itself is told nothing


def test_nothing_is_told_before_the_ranks_start() -> None:
    n, told = _notices([3])
    n.live = False
    n.faults(frozenset({1}), frozenset())
    assert told == []
    n.live = True
    n.sync()
    assert told == [(3, PeerLost(rank=1))]


def test_a_down_status_counts_only_once_it_outlasts_the_grace() -> None:
    from kvs_sim.live.notices import DOWN_GRACE

    pending: list[tuple[float, Any]] = []
    told: list[tuple[int, Any]] = []
    n = Notices(
        Overlay.kary(7, 2),
        [3],
        "own",
        lambda r, msg: told.append((r, msg)),
        later=lambda delay, fn: pending.append((delay, fn)),
    )
    n.live = True
    n.status("s/low", _status([0, 1], "up", 1.0))
    # a broker restart: the restored session's will, then the process is back
    n.status("s/low", _status([0, 1], "down", 1.0))
    assert told == [] and [d for d, _ in pending] == [DOWN_GRACE]
    n.status("s/low", _status([0, 1], "up", 1.0))
    pending.pop()[1]()
    assert told == []  # never lost
    # a real crash: still down when the grace is over
    n.status("s/low", _status([0, 1], "down", 1.0))
    assert told == []
    pending.pop()[1]()
    assert told == [(3, PeerLost(rank=0)), (3, PeerLost(rank=1))]
