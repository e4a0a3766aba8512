"""MQTT v5 packets as kvs-sim's hot path builds them, and the objects it leaves in
paho's queues (the I/O around them is :mod:`kvs_sim.live.wire`).

* :func:`varint` and :func:`pack_properties` build the parts of a PUBLISH;
* :class:`StoredMessage` is a QoS 1 message in paho's store of unacknowledged
  messages, shaped like paho's ``MQTTMessage`` for all paho does with it (resend
  after a reconnect, PUBACK, reconnect reset), with its properties pre-packed
  (:class:`Packed`);
* :func:`queued_packet` wraps bytes for paho's out queue, and :func:`coalesce`
  joins the queued packets into one write when none needs paho once written.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho

__all__ = [
    "PUBACK",
    "PUBLISH",
    "Packed",
    "StoredMessage",
    "coalesce",
    "pack_properties",
    "queued_packet",
    "varint",
]

PUBLISH, PUBACK = 0x30, 0x40
_WAIT_PUBACK = paho.mqtt_ms_wait_for_puback


def varint(n: int) -> bytes:
    """MQTT's variable byte integer."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def pack_properties(
    response_topic: str | None, correlation: bytes | None, expiry: int | None
) -> bytes:
    """The property bytes (without their length) of a PUBLISH."""
    out = b""
    if expiry is not None:
        out += b"\x02" + expiry.to_bytes(4, "big")
    if response_topic is not None:
        t = response_topic.encode()
        out += b"\x08" + len(t).to_bytes(2, "big") + t
    if correlation is not None:
        out += b"\x09" + len(correlation).to_bytes(2, "big") + correlation
    return out


class Packed:
    """Pre-packed properties, as paho's ``_send_publish`` asks them (``pack()``)
    when it resends a stored message after a reconnect."""

    __slots__ = ("data",)

    def __init__(self, props: bytes) -> None:
        self.data = varint(len(props)) + props

    def pack(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"<{len(self.data)} property bytes>"


class _Info:
    """What paho calls on a stored message's ``info`` (nobody waits on ours)."""

    __slots__ = ("mid", "rc")

    def __init__(self) -> None:
        self.mid, self.rc = 0, 0

    def _set_as_published(self) -> None:
        pass


_INFO = _Info()


class StoredMessage:
    """A QoS 1 message in paho's ``_out_messages``, shaped like ``MQTTMessage``
    for everything paho does with it (resend, PUBACK, reconnect reset)."""

    __slots__ = ("_topic", "dup", "info", "mid", "payload", "properties", "qos", "retain",
                 "state", "timestamp")  # fmt: skip

    def __init__(self, mid: int, topic: bytes, payload: bytes, retain: bool, props: bytes) -> None:
        self.mid, self._topic, self.payload, self.qos, self.retain = mid, topic, payload, 1, retain
        self.dup, self.info, self.timestamp, self.state = False, _INFO, 0.0, _WAIT_PUBACK
        self.properties = Packed(props)

    @property
    def topic(self) -> str:
        return self._topic.decode("utf-8")


def coalesce(out: Any) -> None:
    """Join paho's queued packets into one write when none has started and none
    needs paho's attention on completion (only QoS 0 PUBLISHes and DISCONNECT
    do; ours are tagged as PUBACKs, which need none)."""
    if len(out) < 2:
        return
    for p in out:
        kind = p["command"] & 0xF0
        if p["pos"] or not (kind == PUBACK or (kind == PUBLISH and p["qos"])):
            return
    data = b"".join([p["packet"] for p in out])
    out.clear()
    out.append(queued_packet(data))


def queued_packet(data: bytes) -> Any:
    """Bytes for paho's out queue, tagged as a PUBACK (nothing to do once written)."""
    return {"command": PUBACK, "mid": 0, "qos": 1, "pos": 0, "to_process": len(data),
            "packet": data, "info": None}  # fmt: skip
