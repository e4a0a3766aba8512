"""A follower asks again for what a restarted parent lost (live mode's request_retry)."""

from __future__ import annotations

import errno
from typing import Any

from kvs_sim.core.content import MemoryStore
from kvs_sim.core.txn import Txn
from kvs_sim.rank import RankConfig, make_rank
from kvs_sim.rank.messages import (
    CommitReq,
    LoadReq,
    LoadResp,
    LookupReq,
    Reply,
    RootReq,
    RootResp,
    SetRoot,
    Timer,
)


class FakePort:
    """Records what a rank does; time moves only when the test says so."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sent: list[tuple[int, Any]] = []
        self.replies: list[Any] = []
        self.timers: list[tuple[float, Any]] = []

    def now(self) -> float:
        return self.t

    def work(self, seconds: float) -> None:
        pass

    def send(self, dst: int, msg: Any) -> None:
        self.sent.append((dst, msg))

    def publish(self, msg: Any) -> None:
        pass

    def respond(self, msg: Any) -> None:
        self.replies.append(msg)

    def timer(self, delay: float, msg: Any) -> None:
        self.timers.append((self.t + delay, msg))


def test_a_lost_load_is_asked_for_again_until_it_arrives() -> None:
    store = MemoryStore()
    leader_port = FakePort()
    leader = make_rank(0, -1, leader_port, RankConfig(), store=store)
    txn = Txn()
    txn.put("x", 42)
    leader.handle(CommitReq(client=1, ns="primary", ops=txn.ops))
    leader.handle(leader_port.timers.pop()[1])  # the apply timer
    root = leader.roots["primary"]

    port = FakePort()
    follower = make_rank(
        3, 1, port, RankConfig(request_retry=2.0), primary=(root.seq, root.rootref, 0, 0)
    )
    follower.handle(LookupReq(client=7, ns="primary", key="x"))
    ((dst, first),) = port.sent
    assert dst == 1 and isinstance(first, LoadReq)
    ((when, timer),) = port.timers
    assert when == 2.0 and timer == Timer(kind="load", data=first.ref)

    # The parent restarted and lost the request: the timer asks again.
    port.sent.clear()
    port.timers.clear()
    port.t = 2.0
    follower.handle(timer)
    assert port.sent == [(1, LoadReq(origin=3, ref=first.ref))]
    assert port.timers == [(4.0, timer)]

    # The answer arrives; the lookup completes; a late timer does nothing.
    follower.handle(LoadResp(ref=first.ref, data=store.load(first.ref)))
    port.sent.clear()
    follower.handle(timer)
    assert port.sent == []
    assert follower.counters is not None and follower.counters["load_retries"] == 1


def test_without_request_retry_no_timer_is_set() -> None:
    port = FakePort()
    follower = make_rank(2, 0, port, RankConfig())
    follower.start()
    assert [type(m) for _, m in port.sent] == [RootReq]
    assert port.timers == []


def test_a_restarted_leader_resumes_in_a_new_epoch_that_followers_accept() -> None:
    store = MemoryStore()
    port = FakePort()
    leader = make_rank(0, -1, port, RankConfig(), store=store)
    for value, flags in ((1, 4), (2, 0)):  # a SYNC commit (checkpoint), then one more
        txn = Txn()
        txn.put("x", value)
        leader.handle(CommitReq(client=value, ns="primary", ops=txn.ops, flags=flags))
        leader.handle(port.timers.pop()[1])
    assert leader.roots["primary"].seq == 2

    fport = FakePort()
    follower = make_rank(1, 0, fport, RankConfig())
    root = leader.roots["primary"]
    follower.roots.clear()
    follower.handle(RootResp(ns="primary", seq=root.seq, rootref=root.rootref))
    unlink = Txn()
    unlink.unlink("y")
    follower.handle(CommitReq(client=9, ns="primary", ops=unlink.ops))

    # The leader restarts from its checkpoint (version 1), in epoch 1.
    port2 = FakePort()
    published: list[object] = []
    port2.publish = published.append  # type: ignore[method-assign]
    restarted = make_rank(0, -1, port2, RankConfig(), store=store)
    restarted.start()
    (event,) = published
    assert isinstance(event, SetRoot) and (event.seq, event.epoch) == (1, 1)

    follower.handle(event)  # older sequence, newer epoch: taken
    assert (follower.roots["primary"].seq, follower.roots["primary"].epoch) == (1, 1)
    (lost,) = [r for r in fport.replies if isinstance(r, Reply) and r.client == 9]
    assert lost.errnum == errno.ECONNRESET  # the relayed commit's fate is unknown
    stale = SetRoot(ns="primary", seq=5, rootref=root.rootref, epoch=0)
    follower.handle(stale)  # a late event of the old leader: ignored
    assert follower.roots["primary"].seq == 1
