"""A leader killed and restarted from its SQLite checkpoint: followers that stayed
up take its root (a new epoch), even though they had seen later versions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kvs_sim.core.flags import SYNC
from kvs_sim.handle import Handle
from kvs_sim.live.broker import Broker
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.launch import UpCluster

pytestmark = pytest.mark.live


async def test_followers_follow_a_restarted_leader(broker: Broker, tmp_path: Path) -> None:
    store = tmp_path / "leader.sqlite"
    with UpCluster(
        broker.url, 4, {"leader": "0", "rest": "1-3"}, extra=["--store", str(store)]
    ) as cluster:
        async with LiveClient(cluster.url, cluster=cluster.name, timeout=10) as client:
            h3 = Handle(LiveBackend(client), 3)
            await h3.put("state", "checkpointed", flags=SYNC)
            await h3.put("state", "lost with the leader")
            assert await h3.get_version() == 2

            cluster.restart("leader")  # SIGKILL, then resume from the checkpoint

            h0 = Handle(LiveBackend(client), 0)
            assert await h0.get_version() == 1
            assert await h0.get("state") == "checkpointed"
            # Rank 3 had version 2; it takes the restarted leader's older root...
            for _ in range(100):
                if await h3.get_version() == 1:
                    break
                await asyncio.sleep(0.05)
            assert await h3.get("state") == "checkpointed"
            # ...and new commits from it work and are read back.
            await h3.put("state", "after restart")
            assert await h3.get("state") == "after restart"
            assert await h0.get("state") == "after restart"
