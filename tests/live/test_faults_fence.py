"""A live fault is in effect before the scenario's next request: ``inject``
fences the handles' requests until every rank process applies the fault.

The controller's MQTT connection and the clients' are different, and the broker
keeps no order between them.  Here the process hosting ranks 0-2 gets every
nemesis state 150 ms late (as a loaded broker or process may deliver it a few
milliseconds late): without the fence the commit made right after ``inject``
reached rank 0 first, and its setroot went to rank 2 *inside the process*
(``local``) before the partition cutting rank 2 off existed, so the cut-off
subtree saw a root from across the cut."""

from __future__ import annotations

import asyncio
import errno
import uuid
from typing import Any

import pytest
from live_helpers import until

from kvs_sim.live.broker import Broker
from kvs_sim.live.cluster import LiveCluster
from kvs_sim.live.engine import LiveEngine
from kvs_sim.live.faults import nemesis_topic
from kvs_sim.live.nemesis import Control
from kvs_sim.live.schedule import LiveNemeses
from kvs_sim.nemesis import Partition, subtree

pytestmark = pytest.mark.live

SIZE = 7  # 0 -> 1, 2; 1 -> 3, 4; 2 -> 5, 6
LATE = 0.15


def _late_nemesis(engine: LiveEngine, cluster: str) -> None:
    """Hand this engine every nemesis payload ``LATE`` seconds after it arrived."""
    transport = engine.transport
    deliver = transport.on_message
    assert deliver is not None
    topic = nemesis_topic(cluster)

    def on_message(inc: Any) -> None:
        if inc.topic == topic:
            asyncio.get_running_loop().call_later(LATE, deliver, inc)
        else:
            deliver(inc)

    transport.on_message = on_message


async def test_a_drop_partition_holds_from_the_first_request_after_inject(
    broker: Broker,
) -> None:
    name = "f" + uuid.uuid4().hex[:8]
    engines = [
        LiveEngine(broker.url, cluster=name, size=SIZE, ranks=rs, local=True, report_roots=True)
        for rs in ([0, 1, 2], [3, 4, 5, 6])
    ]
    _late_nemesis(engines[0], name)
    await asyncio.gather(*(e.start() for e in engines))
    rank2 = engines[0].ranks[2]
    try:
        async with (
            LiveCluster(broker.url, name, SIZE, 2) as cluster,
            Control(broker.url, name) as control,
        ):
            cluster.nemeses = LiveNemeses(None, cluster, control, [])
            writer, reader = cluster.handle(0), cluster.handle(6)
            await writer.put("x", 0)
            version = await writer.get_version()
            await reader.wait_version(version)
            assert await reader.get("x") == 0  # warm: rank 6 holds its root's objects
            cut = subtree(cluster.overlay.parent, 2)
            cluster.inject(Partition(ranks=cut, mode="drop"), 1.0)
            await writer.put("x", 1)  # on rank 0, which shares its process with rank 2
            await asyncio.sleep(0.05)
            assert rank2.roots["primary"].seq == version  # nothing crossed the cut
            for _ in range(3):
                try:
                    assert await reader.get("x") == 0  # stale, from its own root
                except OSError as e:  # its root moved: an object from across the cut
                    assert e.errno != errno.EHOSTUNREACH, "rank 6 saw a root from across the cut"
                    raise
            assert cluster.version(6) == version
            # At the heal rank 6 fetches the root again (asked twice if the first
            # request met the process still cutting the link: its heal came late).
            await until(lambda: cluster.version(6) > version, timeout=6, what="the heal")
            assert await reader.get("x") == 1
    finally:
        for e in engines:
            await e.stop()
