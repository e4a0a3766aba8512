"""The leader's checkpoints: periodic, on SYNC, at shutdown (a start mark, no
checkpoint, at start); a restarted leader refuses commits relayed to its
previous incarnation."""

from __future__ import annotations

import errno

from test_rank_retry import FakePort

from kvs_sim.core.content import MemoryStore
from kvs_sim.core.flags import SYNC
from kvs_sim.core.txn import Txn
from kvs_sim.rank import RankConfig, make_rank
from kvs_sim.rank.durable import is_checkpoint
from kvs_sim.rank.messages import (
    CheckpointLookupReq,
    CommitReq,
    RelayCommit,
    RelayCommitResp,
    Timer,
)


def _put(key: str, value: object) -> tuple[dict[str, object], ...]:
    txn = Txn()
    txn.put(key, value)
    return txn.ops


def _commit(leader: object, port: FakePort, value: int, flags: int = 0) -> None:
    leader.handle(CommitReq(client=value, ns="primary", ops=_put("x", value), flags=flags))  # type: ignore[attr-defined]
    kind = "apply"
    (i,) = [n for n, (_, t) in enumerate(port.timers) if t.kind == kind]
    leader.handle(port.timers.pop(i)[1])  # type: ignore[attr-defined]


def test_a_periodic_leader_marks_its_start_so_any_restart_is_a_new_epoch() -> None:
    store, port = MemoryStore(), FakePort()
    leader = make_rank(0, -1, port, RankConfig(checkpoint_period=5.0), store=store)
    leader.start()
    assert store.get_checkpoint() is not None  # the empty root, epoch 0: a start mark
    assert not is_checkpoint(store.get_checkpoint())
    assert port.timers == []  # nothing waits for a checkpoint: an idle run stays idle
    _commit(leader, port, 1)
    assert store.get_checkpoint()["sequence"] == 0  # type: ignore[index]
    assert port.timers == [(5.0, Timer(kind="checkpoint"))]  # armed by the new version
    leader.handle(port.timers.pop()[1])  # the period elapses
    assert store.get_checkpoint()["sequence"] == 1  # type: ignore[index]
    assert port.timers == []  # re-armed by the next version only
    _commit(leader, port, 2)
    assert port.timers == [(5.0, Timer(kind="checkpoint"))]
    again = make_rank(0, -1, FakePort(), RankConfig(), store=store)
    assert (again.roots["primary"].seq, again.epoch) == (1, 1)  # type: ignore[attr-defined]


def test_without_a_period_only_sync_commits_checkpoint() -> None:
    store, port = MemoryStore(), FakePort()
    leader = make_rank(0, -1, port, RankConfig(), store=store)
    leader.start()
    assert store.get_checkpoint() is None and port.timers == []
    _commit(leader, port, 1, flags=SYNC)
    assert store.get_checkpoint()["sequence"] == 1  # type: ignore[index]
    assert leader.checkpoint() is False  # type: ignore[attr-defined]  # nothing new


def test_a_restarted_leader_refuses_commits_relayed_to_its_previous_incarnation() -> None:
    store = MemoryStore()
    first = make_rank(0, -1, FakePort(), RankConfig(checkpoint_period=5.0), store=store)
    first.start()
    port = FakePort()
    leader = make_rank(0, -1, port, RankConfig(), store=store)
    assert leader.epoch == 1  # type: ignore[attr-defined]
    stale = RelayCommit(origin=3, name="3.1", ns="primary", ops=_put("y", 1), epoch=0)
    leader.handle(stale)
    ((dst, resp),) = port.sent
    assert dst == 3 and isinstance(resp, RelayCommitResp)
    assert resp.errnum == errno.ECONNRESET
    assert leader.roots["primary"].seq == 0  # never applied
    fresh = RelayCommit(origin=3, name="3.2", ns="primary", ops=_put("y", 2), epoch=1)
    leader.handle(fresh)
    leader.handle(port.timers.pop()[1])
    assert leader.roots["primary"].seq == 1


def _lookup(leader: object, port: FakePort) -> object:
    port.replies.clear()
    leader.handle(CheckpointLookupReq(client=99))  # type: ignore[attr-defined]
    (reply,) = port.replies
    return reply


def test_no_checkpoint_until_one_is_written_as_flux() -> None:
    """Flux writes no checkpoint at start: a lookup answers ENOENT until a SYNC
    commit, a period after a change, or a shutdown writes one; a restart before
    then still begins a new epoch (from the start mark), at version 0."""
    store, port = MemoryStore(), FakePort()
    leader = make_rank(0, -1, port, RankConfig(checkpoint_period=5.0), store=store)
    leader.start()
    assert _lookup(leader, port).errnum == errno.ENOENT  # type: ignore[attr-defined]
    assert "checkpoints" not in (leader.counters or {})  # type: ignore[attr-defined]
    port = FakePort()
    again = make_rank(0, -1, port, RankConfig(checkpoint_period=5.0), store=store)
    again.start()
    assert (again.roots["primary"].seq, again.epoch) == (0, 1)  # type: ignore[attr-defined]
    assert _lookup(again, port).errnum == errno.ENOENT  # type: ignore[attr-defined]
    assert again.checkpoint() is True  # type: ignore[attr-defined]  # a clean shutdown
    reply = _lookup(again, port)
    assert reply.errnum == 0 and reply.value["sequence"] == 0  # type: ignore[attr-defined]
    assert again.checkpoint() is False  # type: ignore[attr-defined]  # already written
