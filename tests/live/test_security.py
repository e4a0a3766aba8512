"""A secured live cluster: every forgery of issue 16 is refused.

One broker for the module with accounts for cluster ``sec`` only (owner uid 0,
guests 1000 and 1001), seven real ranks in two ``kvs-sim up`` processes (0-2,
3-6: rank 2's children 5 and 6 take events from ``down/2``).
"""

from __future__ import annotations

import asyncio
import errno
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kvs_sim.handle import Handle
from kvs_sim.live import codec
from kvs_sim.live import topics as tp
from kvs_sim.live.broker import Broker, MosquittoNotFound
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.launch import UpCluster
from kvs_sim.live.transport import NotAuthorized, Transport
from kvs_sim.rank import messages as m

pytestmark = pytest.mark.live

CLUSTER, SIZE = "sec", 7


@pytest.fixture(scope="module")
def secured() -> Iterator[Broker]:
    try:
        b = Broker(clusters=[CLUSTER], guests=(1000, 1001))
    except MosquittoNotFound as exc:
        pytest.skip(f"live tests need mosquitto: {exc}")
    with b, UpCluster(b.url, SIZE, {"a": "0-2", "b": "3-6"}, cluster=CLUSTER):
        yield b


@pytest.fixture
async def owner(secured: Broker) -> AsyncIterator[LiveClient]:
    async with LiveClient(secured.url, cluster=CLUSTER, timeout=10) as c:
        yield c


def _kvs(broker: Broker, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    cmd = [sys.executable, "-m", "kvs_sim", "kvs", "--broker", broker.url, "--cluster", CLUSTER]
    return subprocess.run(
        [*cmd, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
    )


def _publish_as(broker: Broker, role: int | str, topic: str, payload: bytes) -> None:
    """One QoS 1 publish by ``role``'s account (its own connection: mosquitto
    disconnects an MQTT v5 client that publishes where the ACL forbids)."""
    a = broker.account(CLUSTER, role)
    subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5", "-q", "1",
         "-u", a.username, "-P", a.password, "-t", topic, "-s"],
        check=False, input=payload, capture_output=True, timeout=10,
    )  # fmt: skip


def _commit(key: str, value: object, userid: int = 0) -> m.CommitReq:
    from kvs_sim.core.txn import Txn

    txn = Txn()
    txn.put(key, value)
    return m.CommitReq(client=1, ns="primary", ops=txn.ops, userid=userid)


async def _spy(broker: Broker, role: int | str, filters: list[str]) -> tuple[Transport, list[str]]:
    from kvs_sim.live.topics import parse_url

    seen: list[str] = []
    t = Transport(
        parse_url(broker.login_url(CLUSTER, role)),
        client_id=f"spy-{role}-{id(seen)}",
        subscriptions=filters,
        on_message=lambda inc: seen.append(inc.topic),
        persistent=False,
    )
    await t.start()
    return t, seen


async def test_nobody_without_credentials_gets_in(secured: Broker) -> None:
    sub = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(secured.port), "-t", "kvs-sim/#", "-C", "1",
         "-W", "2"],
        check=False, capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert sub.returncode != 0 and "not authori" in sub.stderr.lower()
    anon = Transport(tp.parse_url(secured.url), client_id="anon", connect_timeout=1)
    with pytest.raises(NotAuthorized, match="refused the login without credentials"):
        await anon.start()
    await anon.close()


async def test_cli_without_credentials_is_one_clear_line(secured: Broker, tmp_path: Path) -> None:
    run = _kvs(secured, "get", "a", XDG_CONFIG_HOME=str(tmp_path))  # no credentials file here
    assert run.returncode == 1
    assert run.stderr.strip().count("\n") == 0
    assert "refused the login without credentials" in run.stderr
    run = _kvs(secured, "--credentials", str(tmp_path / "none.json"), "get", "a")
    assert (run.returncode, run.stderr.strip()) == (
        1,
        f"kvs-sim kvs: credentials file {tmp_path / 'none.json'} does not exist",
    )


async def test_a_guest_reads_nothing_but_its_own_replies(
    secured: Broker, owner: LiveClient
) -> None:
    spy, seen = await _spy(secured, 1000, ["#", "kvs-sim/#", f"kvs-sim/{CLUSTER}/#"])
    watcher, all_seen = await _spy(secured, 0, [f"kvs-sim/{CLUSTER}/#"])  # the owner sees all
    h = Handle(LiveBackend(owner), 6)
    for i in range(5):
        await h.put("secret", i)
    await asyncio.sleep(0.3)
    await spy.close()
    await watcher.close()
    assert seen == []
    assert any("/event/" in t for t in all_seen) and any("/rank/" in t for t in all_seen)


async def test_a_forged_commit_request_cannot_act_as_uid_0(
    secured: Broker, owner: LiveClient
) -> None:
    async with LiveClient(secured.url, cluster=CLUSTER, userid=1000, timeout=5) as guest:
        assert guest.userid == 1000
        # Straight onto a rank topic, or onto the owner's request topic: the broker drops it.
        for topic in (tp.rank_topic(CLUSTER, 3), tp.req_topic(CLUSTER, "sec.uid0", 3)):
            payload = codec.encode_envelope(3, -1, _commit("forged.a", 1), f"x:{topic}")
            _publish_as(secured, 1000, topic, payload)
        # On its own request topic the payload's userid is ignored: the guest is uid 1000.
        reply = await guest.request(lambda i: _commit("forged.b", 1, userid=0), rank=3)
        assert reply.errnum == errno.EPERM
        assert "user 1000" in reply.errmsg
    await asyncio.sleep(0.3)
    for key in ("forged.a", "forged.b"):
        with pytest.raises(FileNotFoundError):
            await Handle(LiveBackend(owner), 3).get(key)


async def test_a_forged_setroot_moves_no_rank(secured: Broker, owner: LiveClient) -> None:
    h0 = Handle(LiveBackend(owner), 0)
    await h0.put("sr", "real")
    version = await h0.get_version()
    forged = m.SetRoot(ns="primary", seq=999, rootref="sha1-" + "0" * 40)
    for topic in (tp.down_topic(CLUSTER, 2), tp.event_topic(CLUSTER, "primary", "setroot")):
        _publish_as(secured, 1000, topic, codec.encode_envelope(-1, 2, forged, f"g:{topic}"))
    # Even with the ranks' own account, a setroot out of place is dropped by the ranks:
    # on a rank topic, on the down topic of a rank that is no parent here, or on down/2
    # claiming to come from another rank.
    rogue = Transport(tp.parse_url(secured.login_url(CLUSTER)), client_id="rogue", persistent=False)
    await rogue.start()
    for i, (topic, src) in enumerate(
        [
            (tp.rank_topic(CLUSTER, 5), 2),
            (tp.down_topic(CLUSTER, 5), 5),
            (tp.down_topic(CLUSTER, 2), 0),
        ]
    ):
        rogue.publish(topic, codec.encode_envelope(5, src, forged, f"r:{i}"))
    await rogue.flush()
    await rogue.close()
    await asyncio.sleep(0.3)
    for rank in (5, 6):
        h = Handle(LiveBackend(owner), rank)
        await h.wait_version(version)
        assert await h.get_version() == version
        assert await h.get("sr") == "real"
    for rank in (5, 6):
        h = Handle(LiveBackend(owner), rank)
        await h.put(f"after.{rank}", rank)
        assert await h.get(f"after.{rank}") == rank


async def test_eperm_through_the_live_path(secured: Broker, owner: LiveClient) -> None:
    await Handle(LiveBackend(owner), 0).namespace_create("g1000", owner=1000)
    async with (
        LiveClient(secured.url, cluster=CLUSTER, userid=1000) as g1,
        LiveClient(secured.url, cluster=CLUSTER, userid=1001) as g2,
    ):
        mine = Handle(LiveBackend(g1), 4, userid=1000)
        await mine.put("k", "v", ns="g1000")
        assert await mine.get("k", ns="g1000") == "v"
        with pytest.raises(PermissionError):
            await mine.get("sr")  # primary belongs to the owner
        other = Handle(LiveBackend(g2), 4, userid=1000)  # claims 1000; the broker says 1001
        with pytest.raises(PermissionError):
            await other.get("k", ns="g1000")
    run = _kvs(secured, "--userid", "1001", "-N", "g1000", "--rank", "5", "get", "k")
    assert (run.returncode, run.stderr.strip()) == (
        1,
        "kvs-sim kvs: k: Operation not permitted (user 1001 may not access namespace 'g1000')",
    )
    run = _kvs(secured, "--userid", "1000", "-N", "g1000", "--rank", "5", "get", "k")
    assert (run.returncode, run.stdout) == (0, '"v"\n')  # stored as JSON, printed as stored
    run = _kvs(secured, "--userid", "4242", "get", "k")
    assert run.returncode == 1
    assert "no account for uid 4242 of cluster 'sec'" in run.stderr
    assert run.stderr.strip().count("\n") == 0


async def test_another_clusters_accounts_are_refused(secured: Broker) -> None:
    with pytest.raises(Exception, match="no accounts for cluster 'other'"):
        LiveClient(secured.url, cluster="other")
