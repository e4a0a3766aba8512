"""Real ranks over mosquitto: 8 ranks in 3 ``kvs-sim up`` processes.

One cluster for the module (binary tree: 0 -> 1,2; 1 -> 3,4; 2 -> 5,6; 3 -> 7),
processes hosting ranks 0-2, 3-5 and 6-7.  The destructive tests (a rank process
killed, the broker restarted) come last and leave the cluster working.
"""

from __future__ import annotations

import asyncio
import errno
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from kvs_sim.handle import Handle
from kvs_sim.live.broker import Broker
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.launch import UpCluster
from kvs_sim.rank import messages as m

pytestmark = pytest.mark.live

SIZE = 8
GROUPS = {"low": "0-2", "mid": "3-5", "leaves": "6-7"}


class Cluster(UpCluster):
    def __init__(self, broker: Broker) -> None:
        super().__init__(broker.url, SIZE, GROUPS)
        self.broker = broker


@pytest.fixture(scope="module")
def cluster(broker: Broker) -> Iterator[Cluster]:
    with Cluster(broker) as c:
        yield c


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[LiveClient]:
    async with LiveClient(cluster.url, cluster=cluster.name, timeout=10) as c:
        yield c


def handle(client: LiveClient, rank: int) -> Handle:
    return Handle(LiveBackend(client), rank)


async def test_read_your_writes_on_every_rank(client: LiveClient) -> None:
    for rank in range(SIZE):
        h = handle(client, rank)
        for i in range(3):
            await h.put(f"ryw.r{rank}", i)
            assert await h.get(f"ryw.r{rank}") == i


async def test_causal_hand_off_through_version(client: LiveClient) -> None:
    writer, reader = handle(client, 3), handle(client, 5)
    for i in range(5):
        await writer.put("causal.x", f"v{i}")
        version = await writer.get_version()  # taken after the commit: safe to pass
        await reader.wait_version(version)
        assert await reader.get("causal.x") == f"v{i}"


async def test_concurrent_writers_converge(client: LiveClient) -> None:
    hs = [handle(client, r) for r in range(SIZE)]
    await asyncio.gather(*(h.put(f"conv.k{r}", r) for r, h in enumerate(hs) for _ in range(3)))
    await asyncio.gather(*(h.put("conv.shared", r) for r, h in enumerate(hs)))
    final = await hs[0].get_version()

    async def settled() -> list[Any]:
        return await asyncio.gather(*(h.get_version() for h in hs))

    deadline = time.monotonic() + 5
    while set(await settled()) != {final}:
        assert time.monotonic() < deadline, "ranks did not converge"
        await asyncio.sleep(0.01)
    keys = [f"conv.k{r}" for r in range(SIZE)] + ["conv.shared"]
    views = await asyncio.gather(*(asyncio.gather(*(h.get(k) for k in keys)) for h in hs))
    assert all(v == views[0] for v in views)
    assert views[0][:SIZE] == list(range(SIZE))


async def test_watch_sees_commits_from_other_ranks(client: LiveClient) -> None:
    w = await client.watch(
        lambda c: m.WatchReq(client=c, ns="primary", key="watched", flags=8), rank=7
    )  # WAITCREATE
    h = handle(client, 2)
    await h.put("watched", 1)
    assert (await w.next(5)).value == b"1"
    await h.put("watched", 2)
    assert (await w.next(5)).value == b"2"
    await w.cancel()
    end = await w.next(5)
    assert end.final and end.errnum == errno.ENODATA


def _kvs(cluster: Cluster, rank: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvs_sim", "kvs", "--broker", f"{cluster.url}/{cluster.name}",
         "--rank", str(rank), "--timeout", "5", *args],
        check=False, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_kvs_command_round_trip(cluster: Cluster) -> None:
    put = _kvs(cluster, 7, "put", "cli.a=1", 'cli.b={"x": [1, 2]}', "cli.c=hello world")
    assert put.returncode == 0, put.stderr
    version = _kvs(cluster, 7, "version")
    assert _kvs(cluster, 5, "wait", version.stdout.strip()).returncode == 0
    got = _kvs(cluster, 5, "get", "cli.a", "cli.b", "cli.c")
    assert got.stdout.splitlines() == ["1", '{"x": [1, 2]}', "hello world"]  # as stored
    assert _kvs(cluster, 5, "ls", "cli").stdout.split() == ["a", "b", "c"]
    missing = _kvs(cluster, 2, "get", "cli.nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "kvs-sim kvs: cli.nope: No such file or directory"


def test_kvs_command_names_an_unreachable_broker() -> None:
    from kvs_sim.live.broker import free_port

    url = f"mqtt://127.0.0.1:{free_port()}"
    r = subprocess.run(
        [sys.executable, "-m", "kvs_sim", "kvs", "--broker", url, "get", "a"],
        check=False, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.startswith(f"kvs-sim kvs: cannot reach the MQTT broker at {url}")
    assert len(r.stderr.strip().splitlines()) == 1


async def test_killed_rank_rejoins(cluster: Cluster) -> None:
    cluster.restart("leaves", kill=True)  # ranks 6 and 7, SIGKILL
    async with LiveClient(cluster.url, cluster=cluster.name) as c:
        await handle(c, 0).put("rejoin.before", 1)
        cluster.restart("leaves", kill=True)
        h7 = handle(c, 7)
        assert await h7.get("rejoin.before") == 1  # learned the current root on start
        await h7.put("rejoin.after", 2)
        assert await handle(c, 0).get("rejoin.after") == 2
        assert await h7.get_version() == await handle(c, 0).get_version()


async def test_no_loss_across_a_broker_restart(cluster: Cluster) -> None:
    async with LiveClient(cluster.url, cluster=cluster.name, timeout=15) as c:
        hs = [handle(c, r) for r in (7, 4, 0)]
        cluster.broker.stop()
        # requests made while the broker is down wait in the client, then flow
        puts = [asyncio.ensure_future(h.put(f"restart.k{i}", i)) for i, h in enumerate(hs * 5)]
        await asyncio.sleep(0.2)
        cluster.broker.start()
        replies = await asyncio.wait_for(asyncio.gather(*puts), 15)
        assert len(replies) == 15
        h0 = handle(c, 0)
        listing = await h0.lookup("restart", want="dir")
        assert sorted(listing) == sorted(f"k{i}" for i in range(15))
        v = await h0.get_version()
        await hs[0].wait_version(v)
        assert await hs[0].get("restart.k14") == 14
    assert cluster.alive()
