"""Ranks in separate network namespaces: every hop between the two groups crosses a
(virtual) network link to a broker on a routable address, as across hosts.

The broker listens on one end of a veth pair in this namespace; ranks 0-1 run
here, ranks 2-3 inside a fresh namespace (``ip netns exec``) at the other end.
Skipped where ``ip netns`` is not allowed (no root, no CAP_NET_ADMIN).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kvs_sim.handle import Handle
from kvs_sim.live.broker import Broker, MosquittoNotFound
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.launch import UpCluster, stop, wait_ready

pytestmark = pytest.mark.live


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """A namespace linked to this one; yields (its name, the address here)."""
    tag = os.getpid() % 50000
    name, here, there = f"kvssim{tag}", f"kvs{tag}a", f"kvs{tag}b"
    net = f"10.213.{tag % 250}"
    try:
        _ip("netns", "add", name)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"ip netns is not allowed here: {exc}")
    try:
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", name)
        _ip("addr", "add", f"{net}.1/30", "dev", here)
        _ip("link", "set", here, "up")
        for cmd in (["addr", "add", f"{net}.2/30", "dev", there], ["link", "set", there, "up"],
                    ["link", "set", "lo", "up"]):  # fmt: skip
            _ip("netns", "exec", name, "ip", *cmd)
        yield name, f"{net}.1"
    finally:
        subprocess.run(["ip", "link", "del", here], check=False, capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True, timeout=10)


async def test_ranks_across_network_namespaces(netns: tuple[str, str]) -> None:
    name, address = netns
    try:
        broker = Broker(host=address)
    except MosquittoNotFound as exc:
        pytest.skip(f"live tests need mosquitto: {exc}")
    with broker, UpCluster(broker.url, 4, {"here": "0-1"}) as up:
        far = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-m", "kvs_sim", "up", "--size", "4",
             "--broker", broker.url, "--cluster", up.name, "--ranks", "2-3", "--no-statedir"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            wait_ready([far])
            async with LiveClient(broker.url, cluster=up.name) as c:
                deep = Handle(LiveBackend(c), 3)  # in the other namespace, parent 1 here
                await deep.put("netns", "crossed")
                assert await deep.get("netns") == "crossed"
                near = Handle(LiveBackend(c), 1)
                await near.wait_version(await deep.get_version())
                assert await near.get("netns") == "crossed"
        finally:
            stop(far)
