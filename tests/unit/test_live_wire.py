"""The live transport's hot path (kvs_sim.live.wire) against paho's own packets:
a fake socket feeds bytes, and what paho itself would build or store is the
reference."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kvs_sim.live import wire
from kvs_sim.live.mqtt_packets import pack_properties, varint
from kvs_sim.live.wire import FastPath, Incoming


class FakeSock:
    """Hands out the queued chunks, one per ``recv``; records sends."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.sent = b""
        self.sends = 0

    def recv(self, _n: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)

    def send(self, data: bytes) -> int:
        self.sent += bytes(data)
        self.sends += 1
        return len(data)

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        pass


def _fast(chunks: list[bytes]) -> tuple[FastPath, Any, FakeSock, list[Incoming]]:
    client = aiomqtt.Client("127.0.0.1", 1, protocol=aiomqtt.ProtocolVersion.V5)
    got: list[Incoming] = []
    fast = FastPath(client, got.append)
    pc: Any = client._client
    sock = FakeSock(chunks)
    pc._sock = sock
    return fast, pc, sock, got


def _paho_publish(pc: Any, topic: str, payload: bytes, mid: int, props: Properties | None) -> bytes:
    """The PUBLISH paho itself builds."""
    pc._out_packet.clear()
    pc._send_publish(mid, topic.encode(), payload, 1, False, False, None, props)
    packet = pc._out_packet.popleft()["packet"]
    return bytes(packet)


def _read_all(pc: Any) -> None:
    while pc._sock.chunks:
        pc.loop_read()


async def test_a_publish_split_across_reads_is_delivered_once_then_acked() -> None:
    fast, pc, sock, got = _fast([])
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = "kvs-sim/c/client/a/u1"
    props.CorrelationData = b"42"
    props.MessageExpiryInterval = 10
    data = _paho_publish(pc, "kvs-sim/c/req/a/3", b'{"v":1}', 7, props)
    data += _paho_publish(pc, "kvs-sim/c/rank/1", b"x" * 300, 8, None)
    sock.chunks = [data[:1], data[1:2], data[2:20], data[20:-5], data[-5:]]
    _read_all(pc)
    assert got == [
        Incoming("kvs-sim/c/req/a/3", b'{"v":1}', "kvs-sim/c/client/a/u1", b"42"),
        Incoming("kvs-sim/c/rank/1", b"x" * 300),
    ]
    # The PUBACKs wait (ACK_DELAY at most) for something else to write: a reply.
    assert not pc._out_packet and fast._ack_timer is not None
    assert fast.publish("kvs-sim/c/client/a/u1", b"r", 1, False, b"")
    fast._write()
    assert sock.sends == 1 and fast._ack_timer is None
    assert sock.sent.endswith(b"\x40\x02\x00\x07\x40\x02\x00\x08")
    assert sock.sent.startswith(b"\x32")


async def test_owed_pubacks_go_alone_after_a_while_or_when_many() -> None:
    fast, pc, sock, _ = _fast([])
    data = b"".join(_paho_publish(pc, "t", b"p", mid, None) for mid in (1, 2))
    sock.chunks = [data]
    _read_all(pc)
    await asyncio.sleep(wire.ACK_DELAY * 3)
    assert sock.sent == b"\x40\x02\x00\x01\x40\x02\x00\x02"
    many = b"".join(_paho_publish(pc, "t", b"p", mid, None) for mid in range(3, 3 + wire.ACK_BATCH))
    sock.chunks = [many]
    _read_all(pc)
    assert fast._scheduled is not None  # written on the next loop turn


async def test_a_publish_is_built_and_stored_as_paho_would() -> None:
    fast, pc, sock, _ = _fast([])
    pc._last_mid = 40
    wire_props = pack_properties(None, b"9", 3)
    assert fast.publish("kvs-sim/c/client/a/u", b"reply", 1, False, wire_props)
    ours = bytes(pc._out_packet.pop()["packet"])
    props = Properties(PacketTypes.PUBLISH)
    props.MessageExpiryInterval = 3
    props.CorrelationData = b"9"
    assert ours == _paho_publish(pc, "kvs-sim/c/client/a/u", b"reply", 41, props)
    stored = pc._out_messages[41]
    assert (stored.topic, stored.payload, stored.qos, pc._inflight_messages) == (
        "kvs-sim/c/client/a/u",
        b"reply",
        1,
        1,
    )
    # After a reconnect paho resends it, flagged as a duplicate, from the store.
    pc._messages_reconnect_reset()
    assert stored.dup and stored.state == paho.mqtt_ms_publish
    resent = _paho_publish(pc, stored.topic, stored.payload, 41, stored.properties)
    assert resent == ours
    # The PUBACK (with a reason code and no properties) forgets it.
    pc._messages_reconnect_reset_out()
    pc._inflight_messages = 1
    sock.chunks = [b"\x40\x03\x00\x29\x00"]
    _read_all(pc)
    assert 41 not in pc._out_messages and pc._inflight_messages == 0


async def test_publishes_beyond_the_in_flight_window_wait_for_a_puback() -> None:
    fast, pc, sock, _ = _fast([])
    pc._max_inflight_messages = 1
    assert fast.publish("t/1", b"a", 1, False, b"")
    assert fast.publish("t/2", b"b", 1, False, b"")
    pc._out_packet.clear()
    assert pc._out_messages[2].state == paho.mqtt_ms_queued
    sock.chunks = [b"\x40\x02\x00\x01"]
    _read_all(pc)
    assert list(pc._out_messages) == [2] and pc._out_messages[2].state != paho.mqtt_ms_queued
    sent = b"".join(bytes(p["packet"]) for p in pc._out_packet)
    assert sent.startswith(b"\x32") and sent.endswith(b"t/2\x00\x02\x00b")


async def test_other_packets_go_to_paho() -> None:
    _fast_path, pc, sock, got = _fast([])
    seen: list[int] = []
    pc._packet_handle = lambda: seen.append(pc._in_packet["command"]) or 0
    # PINGRESP, then a publish with a user property (not parsed here), then SUBACK.
    user = b"\x26" + b"\x00\x01k\x00\x01v"
    body = b"\x00\x01t" + b"\x00\x05" + varint(len(user)) + user + b"p"
    sock.chunks = [b"\xd0\x00" + b"\x32" + varint(len(body)) + body + b"\x90\x04\x00\x01\x00\x01"]
    _read_all(pc)
    assert seen == [0xD0, 0x32, 0x90] and got == []


async def test_a_handler_that_raises_loses_only_its_message() -> None:
    fast, pc, sock, got = _fast([])

    def boom(inc: Incoming) -> None:
        if inc.payload == b"bad":
            raise RuntimeError("boom")
        got.append(inc)

    fast.deliver = boom
    a = _paho_publish(pc, "t", b"bad", 1, None) + _paho_publish(pc, "t", b"good", 2, None)
    sock.chunks = [a]
    _read_all(pc)
    assert [i.payload for i in got] == [b"good"]
