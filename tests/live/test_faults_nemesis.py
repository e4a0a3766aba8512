"""Live nemeses: partitions, setroot pauses and slow ranks applied by rank
processes from the retained nemesis topic; crash and stop by signal, by hand."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from live_helpers import until

from kvs_sim.handle import Handle
from kvs_sim.live.broker import Broker
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.engine import LiveEngine
from kvs_sim.live.nemesis import Control

pytestmark = pytest.mark.live

SIZE = 4  # 0 -> 1, 2; 1 -> 3


@pytest.fixture
async def cluster(broker: Broker) -> AsyncIterator[tuple[str, list[LiveEngine]]]:
    name = "n" + uuid.uuid4().hex[:8]
    engines = [
        LiveEngine(broker.url, cluster=name, size=SIZE, ranks=rs, local=True)
        for rs in ([0, 1], [2, 3])
    ]
    await asyncio.gather(*(e.start() for e in engines))
    yield name, engines
    for e in engines:
        await e.stop()


def _versions(engines: list[LiveEngine]) -> dict[int, int]:
    return {r: rank.roots["primary"].seq for e in engines for r, rank in e.ranks.items()}


async def test_a_held_partition_delays_its_side_until_the_heal(
    broker: Broker, cluster: tuple[str, list[LiveEngine]]
) -> None:
    name, engines = cluster
    async with Control(broker.url, name) as ctl, LiveClient(broker.url, cluster=name) as c:
        h0 = Handle(LiveBackend(c), 0)
        await until(lambda: set(_versions(engines).values()) == {0}, what="start")
        cut = ctl.add({"name": "partition", "links": [[0, 2], [1, 3]], "mode": "hold"})
        await until(lambda: all(e.faults.active for e in engines), what="faults applied")
        await h0.put("p.a", 1)
        await until(lambda: _versions(engines)[1] == 1, what="rank 1 on version 1")
        await asyncio.sleep(0.3)
        assert _versions(engines)[2] == 0 and _versions(engines)[3] == 0  # cut off
        ctl.heal(cut)
        await until(lambda: set(_versions(engines).values()) == {1}, what="heal")
        assert await Handle(LiveBackend(c), 3).get("p.a") == 1


async def test_a_paused_rank_gets_its_setroots_in_order_at_the_unpause(
    broker: Broker, cluster: tuple[str, list[LiveEngine]]
) -> None:
    name, engines = cluster
    async with Control(broker.url, name) as ctl, LiveClient(broker.url, cluster=name) as c:
        h0 = Handle(LiveBackend(c), 0)
        pause = ctl.add({"name": "pause", "ranks": [1]})
        await until(lambda: all(e.faults.active for e in engines), what="faults applied")
        for i in range(3):
            await h0.put("q.a", i)
        await until(lambda: _versions(engines)[3] == 3, what="rank 3 (child of the paused 1)")
        assert _versions(engines)[1] == 0  # paused; its child still got the events
        ctl.heal(pause)
        await until(lambda: _versions(engines)[1] == 3, what="unpause")
        assert await Handle(LiveBackend(c), 1).get("q.a") == 2


async def test_a_slow_rank_answers_later_but_correctly(
    broker: Broker, cluster: tuple[str, list[LiveEngine]]
) -> None:
    name, engines = cluster
    async with Control(broker.url, name) as ctl, LiveClient(broker.url, cluster=name) as c:
        h2 = Handle(LiveBackend(c), 2)
        ctl.add({"name": "slow", "ranks": [2], "factor": 50.0})
        await until(lambda: all(e.faults.active for e in engines), what="faults applied")
        for i in range(5):
            await h2.put("s.a", i)
            assert await h2.get("s.a") == i
        host = engines[1]
        assert host.faults.stats["delayed"] >= 10
        ctl.heal()
