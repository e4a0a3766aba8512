"""The live engine with toy ranks: routing, events, clients, robustness."""

from __future__ import annotations

import asyncio
import errno
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
from live_helpers import ToyRank, make_toy, until

from kvs_sim.live import credentials as cr
from kvs_sim.live.broker import Broker, free_port
from kvs_sim.live.client import LiveClient
from kvs_sim.live.engine import LiveEngine
from kvs_sim.live.topics import parse_url
from kvs_sim.live.transport import BrokerUnreachable, NotAuthorized, Transport
from kvs_sim.rank import messages as m

pytestmark = pytest.mark.live

SIZE = 8  # binary tree: 0 -> 1,2; 1 -> 3,4; 2 -> 5,6; 3 -> 7


def _engine(url: str, cluster: str, ranks: Sequence[int], **kw: object) -> LiveEngine:
    return LiveEngine(url, cluster=cluster, size=SIZE, ranks=ranks, make_rank=make_toy, **kw)  # type: ignore[arg-type]


def _commit(key: str, value: object) -> object:
    return lambda c: m.CommitReq(client=c, ns="primary", ops=({"key": key, "value": value},))


@pytest.fixture
def cluster() -> str:
    return "t" + uuid.uuid4().hex[:8]


@pytest.fixture(params=["tree", "broker"])
async def three(
    broker: Broker, cluster: str, request: pytest.FixtureRequest
) -> AsyncIterator[list[LiveEngine]]:
    """Eight toy ranks over three engines, started leaves first."""
    engines = [
        _engine(broker.url, cluster, rs, events=request.param)
        for rs in ([6, 7], [3, 4, 5], [0, 1, 2])
    ]
    await asyncio.gather(*(e.start() for e in engines))
    yield engines
    for e in engines:
        await e.stop()


def _ranks(engines: list[LiveEngine]) -> dict[int, ToyRank]:
    return {r: rank for e in engines for r, rank in e.ranks.items()}


async def test_commit_from_deepest_rank_reaches_every_rank(
    broker: Broker, cluster: str, three: list[LiveEngine]
) -> None:
    ranks = _ranks(three)
    await until(lambda: all(r.started for r in ranks.values()), what="ranks started")
    async with LiveClient(broker.url, cluster=cluster, rank=7) as c:
        reply = await c.request(_commit("a", 1))
        assert (reply.errnum, reply.seq) == (0, 1)
        got = await c.request(lambda i: m.LookupReq(client=i, ns="primary", key="a"))
        assert got.value == 1  # read-your-writes on rank 7
        missing = await c.request(lambda i: m.LookupReq(client=i, ns="primary", key="zz"))
        assert missing.errnum == errno.ENOENT
    await until(lambda: all(r.seq == 1 for r in ranks.values()), what="setroot everywhere")
    assert all(r.events == [1] for n, r in ranks.items() if n != 0)
    # the relay went 7 -> 3 -> 1 -> 0: forwarded by the engines of 3 and 1
    assert sum(e.stats["forwarded"] for e in three) >= 2


@pytest.mark.parametrize(
    "layout",
    [
        ([0, 1, 2], [3, 4, 5], [6, 7]),
        ([0], [1, 2, 4, 6], [3, 5, 7]),
        ([0, 3], [1, 5, 6], [2, 4, 7]),
    ],
    ids=["subtrees", "rank0-alone", "scattered"],
)
async def test_local_tree_events_reach_every_rank_once_in_order(
    broker: Broker, cluster: str, layout: tuple[list[int], ...]
) -> None:
    # In-process hops direct: one forward per event and destination process,
    # naming its ranks (down/<lowest parent>, "to"); each rank sees each event once.
    engines = [_engine(broker.url, cluster, rs, local=True) for rs in layout]
    await asyncio.gather(*(e.start() for e in engines))
    try:
        ranks = _ranks(engines)
        await until(lambda: all(r.started for r in ranks.values()), what="ranks started")
        async with LiveClient(broker.url, cluster=cluster, rank=7) as c:
            for i in range(1, 4):
                reply = await c.request(_commit("a", i), rank=7 if i % 2 else 0)
                assert (reply.errnum, reply.seq) == (0, i)
        await until(lambda: all(r.seq == 3 for r in ranks.values()), what="setroot everywhere")
        await asyncio.sleep(0.1)
        assert {n: r.events for n, r in ranks.items() if n != 0} == {
            n: [1, 2, 3] for n in range(1, SIZE)
        }
        assert sum(e.stats["dropped"] for e in engines) == 0
    finally:
        for e in engines:
            await e.stop()


async def test_rank_to_rank_traffic_is_neither_lost_nor_duplicated(
    three: list[LiveEngine],
) -> None:
    ranks = _ranks(three)
    leaves = next(e for e in three if 7 in e.ranks)
    leaves.deliver(7, m.Timer(kind="ping", data=[0, 200]))
    leaves.deliver(6, m.Timer(kind="ping", data=[5, 50]))
    await until(lambda: len(ranks[7].pongs) == 200 and len(ranks[6].pongs) == 50, what="pongs")
    assert ranks[0].loads == [f"7:{i}" for i in range(200)]  # in order, once each
    assert ranks[5].loads == [f"6:{i}" for i in range(50)]
    leaves.deliver(7, m.Timer(kind="after", data=0.01))
    await until(lambda: ranks[7].loads == ["fired"], what="timer")


async def test_watch_streams_until_cancelled(
    broker: Broker, cluster: str, three: list[LiveEngine]
) -> None:
    ranks = _ranks(three)
    await until(lambda: all(r.started for r in ranks.values()), what="ranks started")
    async with LiveClient(broker.url, cluster=cluster, rank=5) as c:
        w = await c.watch(lambda i: m.WatchReq(client=i, ns="primary", key="w"))
        first = await w.next(timeout=5)
        assert (first.value, first.final) == (None, False)
        for v in (1, 2):
            await c.request(_commit("w", v), rank=0)
            assert (await w.next(timeout=5)).value == v
        await w.cancel()
        end = await w.next(timeout=5)
        assert (end.errnum, end.final) == (errno.ENODATA, True)


async def test_bad_payloads_and_crashing_handlers_are_dropped(
    broker: Broker, cluster: str, three: list[LiveEngine]
) -> None:
    topic = f"kvs-sim/{cluster}/rank/3"
    ranks = broker.account(cluster)  # only rank accounts may publish there
    for payload in ("garbage", '{"v": 9}', '{"v":1,"dst":3,"src":0,"t":"Nope","f":{}}'):
        subprocess.run(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
             "-u", ranks.username, "-P", ranks.password, "-t", topic, "-m", payload],
            check=True, timeout=10,
        )  # fmt: skip
    host = next(e for e in three if 3 in e.ranks)
    await until(lambda: host.stats["dropped"] >= 3, what="drops")
    async with LiveClient(broker.url, cluster=cluster, rank=3) as c:
        with pytest.raises(TimeoutError, match="no reply from rank 3"):
            await c.request(lambda i: m.StatsReq(client=i), timeout=0.3)  # the toy raises
        await c.request(_commit("after", "crash"))  # ...and the rank still works


async def test_followers_wait_for_their_ancestors(broker: Broker, cluster: str) -> None:
    leaves = _engine(broker.url, cluster, range(1, SIZE))
    started = asyncio.ensure_future(leaves.start())
    await asyncio.sleep(0.3)
    assert not leaves.ready.is_set()  # rank 0 is not up: nothing started yet
    leader = _engine(broker.url, cluster, [0])
    await leader.start()
    await asyncio.wait_for(started, 5)
    async with LiveClient(broker.url, cluster=cluster, rank=0) as c:
        await c.request(_commit("k", "v"))
    await until(lambda: all(r.seq == 1 for r in leaves.ranks.values()), what="setroot")
    await leaves.stop()
    await leader.stop()


async def test_unreachable_broker_is_named() -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(BrokerUnreachable, match=f"at {url}"):
        async with LiveClient(url, connect_timeout=0.5):
            pass
    with pytest.raises(BrokerUnreachable, match=f"at {url}"):
        await _engine(url, "x", [0], connect_timeout=0.5).start()
    assert time.monotonic() - t0 < 5


async def test_no_message_lost_across_a_broker_restart(cluster: str) -> None:
    with Broker() as b:
        leader = _engine(b.url, cluster, [0])
        other = _engine(b.url, cluster, range(1, SIZE))
        await leader.start()
        await other.start()
        ranks = {**leader.ranks, **other.ranks}
        b.stop()
        # published while the broker is down: held by the client, sent on reconnect
        other.deliver(7, m.Timer(kind="ping", data=[0, 30]))
        leader.deliver(0, m.Timer(kind="ping", data=[7, 5]))  # (a write notices the loss)
        b.start()
        await until(other.transport.connected.is_set, what="reconnect")
        other.deliver(4, m.Timer(kind="ping", data=[0, 30]))
        await other.transport.flush(5)
        # Whatever is still queued for the leader's session survives (persistence),
        # and the leader's process resumes that session when it reconnects.
        b.restart()
        leader.deliver(0, m.Timer(kind="ping", data=[7, 5]))
        r0 = leader.ranks[0]
        await until(lambda: len(r0.loads) == 60, timeout=10, what="all pings at the leader")
        assert sorted(r0.loads) == sorted(
            [f"7:{i}" for i in range(30)] + [f"4:{i}" for i in range(30)]
        )
        await until(lambda: len(ranks[7].pongs) == 30 and len(ranks[4].pongs) == 30, what="pongs")
        await until(lambda: len(ranks[7].loads) == 10, what="the leader's pings")
        await other.stop()
        await leader.stop()


async def test_a_new_process_gets_nothing_queued_for_the_previous_one(cluster: str) -> None:
    with Broker() as b:
        leader = _engine(b.url, cluster, [0])
        other = _engine(b.url, cluster, range(1, SIZE))
        await leader.start()
        await other.start()
        await leader.stop()  # the broker queues for its session...
        other.deliver(7, m.Timer(kind="ping", data=[0, 30]))
        await other.transport.flush(5)
        leader2 = _engine(b.url, cluster, [0])  # ... which a new process does not resume
        await leader2.start()
        other.deliver(4, m.Timer(kind="ping", data=[0, 5]))
        r0 = leader2.ranks[0]
        await until(lambda: len(r0.loads) >= 5, timeout=10, what="the new pings")
        await asyncio.sleep(0.2)
        assert sorted(r0.loads) == [f"4:{i}" for i in range(5)]
        await other.stop()
        await leader2.stop()


async def test_username_and_password(cluster: str) -> None:
    with Broker() as b:
        good = b.login_url(cluster, 0)
        bad = good.replace(f":{b.account(cluster, 0).password}@", ":wrong@")
        with pytest.raises(NotAuthorized, match=r"\*\.uid0@127\.0\.0\.1.*refused the login"):
            async with LiveClient(bad, connect_timeout=0.5):
                pass
        async with _engine(b.url, cluster, range(SIZE)), LiveClient(good, cluster=cluster) as c:
            assert (await c.request(_commit("auth", 1))).errnum == 0


async def test_a_process_fed_by_the_leaders_reads_the_event_topic(
    broker: Broker, cluster: str
) -> None:
    # Ranks 4-7 have their parents (1, 2, 3) in the leader's process: that process
    # reads the leader's event topic and says so, so the leader addresses them
    # there ("to") and publishes nothing on down/<r>: one publish per commit fewer.
    engines = [_engine(broker.url, cluster, rs, local=True) for rs in ([0, 1, 2, 3], [4, 5, 6, 7])]
    await asyncio.gather(*(e.start() for e in engines))
    topics: list[str] = []
    login, ca_file = cr.login(parse_url(broker.url), cluster, cr.OWNER_UID)
    spy = Transport(
        login,
        ca_file=ca_file,
        client_id=f"spy-{cluster}",
        subscriptions=[f"kvs-sim/{cluster}/down/#", f"kvs-sim/{cluster}/event/#"],
        on_message=lambda inc: topics.append(inc.topic),
        persistent=False,
    )
    await spy.start()
    try:
        ranks = _ranks(engines)
        await until(lambda: all(r.started for r in ranks.values()), what="ranks started")
        await until(lambda: engines[0].tree.readers, what="the reader's status")
        assert engines[1].reads_events and not engines[0].reads_events
        async with LiveClient(broker.url, cluster=cluster, rank=0) as c:
            for i in range(1, 4):
                assert (await c.request(_commit("a", i))).seq == i
        await until(lambda: all(r.seq == 3 for r in ranks.values()), what="setroot everywhere")
        await asyncio.sleep(0.1)
        assert {n: r.events for n, r in ranks.items() if n != 0} == {
            n: [1, 2, 3] for n in range(1, SIZE)
        }
        assert [t.split("/")[2] for t in topics] == ["event"] * 3  # nothing on down/
        assert sum(e.stats["dropped"] for e in engines) == 0
    finally:
        await spy.close()
        for e in engines:
            await e.stop()
