"""A request published to a rank process while it is down is lost with it, as a
Flux request to a dead broker is: the restarted process starts a new broker
session (no replay of what the broker queued for the dead one), so it can never
apply a request whose client was already told it failed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kvs_sim.core.flags import SYNC
from kvs_sim.core.txn import Txn
from kvs_sim.handle import Handle
from kvs_sim.live.broker import Broker
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.launch import UpCluster
from kvs_sim.rank import messages as m

pytestmark = pytest.mark.live


async def test_a_request_queued_for_a_dead_process_is_not_applied_by_its_restart(
    broker: Broker, tmp_path: Path
) -> None:
    with UpCluster(broker.url, 4, {"low": "0-1", "high": "2-3"}, cwd=str(tmp_path)) as cluster:
        async with LiveClient(cluster.url, cluster=cluster.name, timeout=10) as client:
            h0 = Handle(LiveBackend(client), 0)
            await h0.put("before", 1, flags=SYNC)  # checkpointed: kept
            cluster.kill("low")
            # Straight to the leader's and to rank 1's request topics, with no
            # expiry: only the broker's session for the dead process could keep them.
            for rank, key in ((0, "to_leader"), (1, "to_rank1")):
                txn = Txn()
                txn.put(key, "?")
                await client.send(
                    lambda c, t=txn: m.CommitReq(client=c, ns="primary", ops=t.ops), rank=rank
                )
            assert await client.transport.flush(5.0)  # the broker has them
            cluster.start_group("low")
            # Anything the broker replayed to the new process reaches its ranks
            # before this commit does, and rank 0 applies commits in order.
            await h0.put("after", 2)
            assert await h0.get("after") == 2
            await asyncio.sleep(0.2)
            for key in ("to_leader", "to_rank1"):
                with pytest.raises(FileNotFoundError):
                    await h0.get(key)
            assert await h0.get("before") == 1
