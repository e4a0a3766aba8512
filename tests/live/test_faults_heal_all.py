"""Healing every nemesis at the end of a live run while a timed heal is still
restarting a killed rank process: heal_all waits for that restart, so the rank
answers the very next request (a request sent before its new process subscribed
would be lost, and wait for the client's timeout)."""

from __future__ import annotations

import asyncio
import errno

import pytest

from kvs_sim.live.broker import Broker
from kvs_sim.live.client import RequestTimeout
from kvs_sim.live.cluster import LiveCluster
from kvs_sim.live.launch import UpCluster
from kvs_sim.live.nemesis import Control
from kvs_sim.live.schedule import LiveNemeses
from kvs_sim.nemesis import Crash, at
from kvs_sim.rank import messages as m

pytestmark = pytest.mark.live

SIZE = 2


async def test_heal_all_waits_for_a_restart_under_way(broker: Broker) -> None:
    groups = {"r0": "0", "r1": "1"}
    up = await asyncio.to_thread(UpCluster(broker.url, SIZE, groups).start)
    try:
        async with (
            LiveCluster(up.url, up.name, SIZE, 2) as c,
            Control(up.url, up.name) as ctl,
        ):
            nem = LiveNemeses(up, c, ctl, [at(0.0, Crash(rank=1), 0.05)])
            await nem.run()  # rank 1's process is SIGKILLed; its restart is timed
            h = c.handle(1, name="while-down")
            with pytest.raises(OSError) as down:
                await asyncio.wait_for(h.get_version(), 5)
            assert down.value.errno == errno.ECONNRESET  # at once, as in a simulation
            await asyncio.sleep(0.1)  # the timed heal is now restarting the process
            await nem.heal_all()
            try:
                reply = await c.client.request(
                    lambda i: m.GetRootReq(client=i, ns="primary"), rank=1, timeout=3
                )
            except RequestTimeout as exc:
                pytest.fail(f"rank 1 did not answer right after heal_all: {exc}")
            assert reply.errnum == 0
            assert await asyncio.wait_for(h.get_version(), 5) >= 0  # handles work again
    finally:
        await asyncio.to_thread(up.close)
