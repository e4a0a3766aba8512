"""The hot path of the live transport's MQTT v5 connection, beneath paho.

Theory of operation
-------------------
paho (the client under aiomqtt) spends more CPU per packet than everything else
a rank process does: each incoming packet takes three ``recv`` calls, a fresh
``MQTTMessage``, v5 ``Properties`` and ``ReasonCode`` objects (a PUBACK included)
and a debug log call; each publish a ``MQTTMessage`` with a condition variable.
:class:`FastPath` handles the three packets that make up nearly all traffic and
leaves everything else, and every connection state change, to paho:

*Reads.*  It replaces paho's packet reader: one ``recv`` of up to 64 KiB, then
every complete packet in the buffer is parsed in place.  An incoming PUBLISH
(QoS 0 or 1) becomes an :class:`Incoming` for the transport's callback, with its
response topic and correlation data; its PUBACK is queued *after* the callback
ran, as paho does, and it is not a reason to write: PUBACKs go out with the
next packets written (the handler's reply or forward, as a rule, a loop turn
later), or after :data:`ACK_DELAY`, or at once when :data:`ACK_BATCH` are owed,
so a publish costs no ``send`` of its own on the receiving side.  A PUBACK
for one of our publishes does paho's bookkeeping directly (the message leaves
paho's store of unacknowledged messages, the in-flight count drops).  Any other
packet (CONNACK, SUBACK, PINGRESP, DISCONNECT, a QoS 2 publish), or a PUBLISH
whose properties are not the handful understood here, is handed to paho's own
packet handler unchanged.

*Publishes.*  :meth:`FastPath.publish` builds the PUBLISH packet itself and, at
QoS 1, enters the message into paho's store of unacknowledged messages exactly
as ``paho.Client.publish`` would (an object paho can resend after a reconnect,
with its properties pre-packed), so the delivery guarantee is paho's: a message
is forgotten only when its PUBACK arrives.  While there is no socket, publishes
go through paho, which keeps them for the next connection.

*Writes.*  Packets are written on the next loop turn (``call_soon``), all those
queued in the turn in one ``send``; a writer callback is registered only when
the kernel's buffer is full.  aiomqtt's way (``add_writer`` from another loop
turn, then removing it) costs two ``epoll_ctl`` calls and a loop turn per burst.

Only this module, :mod:`kvs_sim.live.mqtt_packets` (the packets it builds and the
objects it leaves in paho's queues) and :mod:`kvs_sim.live.transport` touch paho
internals; they are pinned by ``aiomqtt>=2.3,<3`` (paho-mqtt 2.x).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from kvs_sim.live.mqtt_packets import (
    PUBACK,
    PUBLISH,
    StoredMessage,
    coalesce,
    queued_packet,
    varint,
)

log = logging.getLogger("kvs_sim.live")

_READ_SIZE = 65536
ACK_DELAY = 0.001
"""Seconds a PUBACK may wait for other packets to share its write."""
ACK_BATCH = 32
"""PUBACKs owed that are written at once (mosquitto stops sending to a client
with ``max_inflight_messages``, 100 in kvs-sim's configuration, unacknowledged)."""
_AGAIN, _PROTOCOL = paho.MQTT_ERR_AGAIN, paho.MQTT_ERR_PROTOCOL
_QUEUED = paho.mqtt_ms_queued
_RESPONSE_TOPIC, _CORRELATION = 0x08, 0x09
_SKIP = {0x01: 1, 0x02: 4, 0x23: 2}
"""PUBLISH properties of fixed size that are read past: payload format,
message expiry, topic alias (never used: we announce no topic alias maximum)."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One received publish."""

    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation: bytes | None = None


OnMessage = Callable[[Incoming], None]


class FastPath:
    """Install the hot path on ``client``'s paho client (see the module docstring);
    ``deliver`` gets every incoming publish and must not raise."""

    def __init__(self, client: aiomqtt.Client, deliver: OnMessage) -> None:
        self.client = client
        self.pc: Any = client._client  # paho.Client, internals used throughout
        self.deliver = deliver
        self.loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._buf = b""
        self._sock: Any = None
        self._scheduled: asyncio.Handle | bool | None = None
        self._writer_fd = -1
        self._acks: list[bytes] = []
        """PUBACKs owed for publishes received on the current socket."""
        self._ack_timer: asyncio.TimerHandle | None = None
        self._ack_rc = ReasonCode(PacketTypes.PUBACK)
        self._ack_props = Properties(PacketTypes.PUBACK)
        pc: Any = self.pc
        self._raw_recv = pc._sock_recv
        pc._packet_read = self._read
        pc.on_socket_register_write = self._register
        pc.on_socket_unregister_write = self._unregister

    # -- writes ----------------------------------------------------------------

    def _register(self, _c: Any = None, _u: Any = None, _sock: Any = None) -> None:
        if self._scheduled is not None:
            return
        if threading.get_ident() == self._thread:
            self._scheduled = self.loop.call_soon(self._write)
        else:  # paho's connect, in aiomqtt's executor thread: mark, then schedule
            self._scheduled = True
            self.loop.call_soon_threadsafe(self._write)

    def write_now(self) -> None:
        """The write :meth:`_register` scheduled, now (from the loop's thread)."""
        scheduled = self._scheduled
        if scheduled is None:
            return
        if isinstance(scheduled, asyncio.Handle):
            scheduled.cancel()
        self._write()

    def _unregister(self, _c: Any, _u: Any, _sock: Any) -> None:
        if self._writer_fd >= 0:
            self.loop.remove_writer(self._writer_fd)
            self._writer_fd = -1

    def _write(self) -> None:
        self._scheduled = None
        pc = self.pc
        if self._ack_timer is not None:
            self._ack_timer.cancel()
            self._ack_timer = None
        if self._acks:
            if pc._sock is self._sock:
                pc._out_packet.append(queued_packet(b"".join(self._acks)))
            self._acks.clear()
        coalesce(pc._out_packet)
        try:
            pc.loop_write()
        except Exception as exc:
            self._lost(exc)
            return
        sock = pc._sock
        if pc.want_write() and sock is not None and self._writer_fd < 0:
            self._writer_fd = sock.fileno()
            self.loop.add_writer(self._writer_fd, self._write)

    def _lost(self, exc: Exception) -> None:
        if not self.client._disconnected.done():
            self.client._disconnected.set_exception(exc)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool, props: bytes) -> bool:
        """Queue a PUBLISH; False if there is no socket (the caller then lets paho
        keep the message for the next connection)."""
        pc = self.pc
        if pc._sock is None or qos not in (0, 1):
            return False
        t = topic.encode()
        head = len(t).to_bytes(2, "big") + t
        if qos:
            mid = pc._mid_generate()
            with pc._out_message_mutex:
                if mid in pc._out_messages:
                    return False  # 65,535 unacknowledged: let paho report it
                msg = StoredMessage(mid, t, payload, retain, props)
                pc._out_messages[mid] = msg
                if pc._inflight_messages >= pc._max_inflight_messages > 0:
                    msg.state = _QUEUED  # paho sends it when a PUBACK makes room
                    return True
                pc._inflight_messages += 1
            head += mid.to_bytes(2, "big")
        body = head + varint(len(props)) + props
        first = bytes((PUBLISH | qos << 1 | retain,))
        data = b"".join((first, varint(len(body) + len(payload)), body, payload))
        pc._out_packet.append(queued_packet(data))
        self._register()
        return True

    # -- reads -----------------------------------------------------------------

    def _read(self) -> int:
        """paho's ``_packet_read``: every complete packet the socket has."""
        pc = self.pc
        if pc._sock is not self._sock:  # a new connection: nothing buffered or owed
            self._sock, self._buf = pc._sock, b""
            self._acks.clear()
        try:
            data = self._raw_recv(_READ_SIZE)
        except BlockingIOError:
            return _AGAIN
        except OSError:
            return paho.MQTT_ERR_CONN_LOST
        if not data:
            return paho.MQTT_ERR_CONN_LOST
        buf = self._buf + data if self._buf else data
        n, pos = len(buf), 0
        acks = self._acks
        rc = 0
        while pos + 2 <= n:
            i, length, shift, complete = pos + 1, 0, 0, False
            while i < n:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                if byte < 0x80:
                    complete = True
                    break
                shift += 7
                if shift > 21:
                    return _PROTOCOL
            if not complete or i + length > n:
                break  # incomplete: wait for more
            cmd, end = buf[pos], i + length
            kind = cmd & 0xF0
            if kind == PUBLISH and not self._publish(cmd, buf, i, end, acks):
                rc = self._slow(cmd, buf[i:end])
            elif kind == PUBACK and length >= 2:
                self._puback((buf[i] << 8) | buf[i + 1])
            elif kind != PUBLISH:
                rc = self._slow(cmd, buf[i:end])
            pos = end
            if rc or pc._sock is not self._sock:
                self._buf = b""
                return rc if rc else _AGAIN
        self._buf = buf[pos:]
        pc._last_bytes_received = time.monotonic()
        if acks:
            if len(acks) >= ACK_BATCH:
                self._register()
            elif self._ack_timer is None:
                self._ack_timer = self.loop.call_later(ACK_DELAY, self._register)
        return _AGAIN

    def _publish(self, cmd: int, buf: bytes, i: int, end: int, acks: list[bytes]) -> bool:
        """Deliver an incoming PUBLISH; False to leave it to paho."""
        qos = (cmd >> 1) & 3
        tlen = (buf[i] << 8) | buf[i + 1]
        if qos > 1 or tlen == 0:
            return False
        j = i + 2 + tlen
        topic = buf[i + 2 : j].decode("utf-8", "replace")
        mid = b""
        if qos:
            mid = buf[j : j + 2]
            j += 2
        plen, shift = 0, 0
        while True:
            byte = buf[j]
            j += 1
            plen |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        k, pend = j, j + plen
        response_topic: str | None = None
        correlation: bytes | None = None
        while k < pend:
            ident = buf[k]
            k += 1
            if ident in (_RESPONSE_TOPIC, _CORRELATION):
                size = (buf[k] << 8) | buf[k + 1]
                value = buf[k + 2 : k + 2 + size]
                k += 2 + size
                if ident == _RESPONSE_TOPIC:
                    response_topic = value.decode("utf-8", "replace")
                else:
                    correlation = bytes(value)
            elif ident in _SKIP:
                k += _SKIP[ident]
            else:
                return False  # a property we do not parse: paho's turn
        try:
            self.deliver(Incoming(topic, bytes(buf[pend:end]), response_topic, correlation))
        except Exception:
            log.exception("dropped a message on %r: handler failed", topic)
        if qos:
            acks.append(b"\x40\x02" + mid)
        return True

    def _puback(self, mid: int) -> None:
        """paho's PUBACK bookkeeping, without its objects."""
        pc = self.pc
        with pc._out_message_mutex:
            msg = pc._out_messages.pop(mid, None)
            if msg is None:
                return
            msg.info._set_as_published()
            pc._inflight_messages -= 1
            if len(pc._out_messages) > pc._inflight_messages:
                pc._update_inflight()  # messages waiting for room, or for a socket
        # aiomqtt's on_publish wakes its own awaited publishes (none of ours).
        on_publish = pc.on_publish
        if on_publish is not None and getattr(self.client, "_pending_publishes", True):
            on_publish(pc, pc._userdata, mid, self._ack_rc, self._ack_props)

    def _slow(self, cmd: int, body: bytes) -> int:
        """Hand one packet to paho's own handler."""
        pc = self.pc
        pc._in_packet = {"command": cmd, "have_remaining": 1, "remaining_count": [],
                         "remaining_mult": 1, "remaining_length": len(body),
                         "packet": bytearray(body), "to_process": 0, "pos": 0}  # fmt: skip
        try:
            rc = pc._packet_handle()
        except paho.MalformedPacket:
            rc = _PROTOCOL
        finally:
            pc._in_packet = {"command": 0, "have_remaining": 0, "remaining_count": [],
                             "remaining_mult": 1, "remaining_length": 0,
                             "packet": bytearray(b""), "to_process": 0, "pos": 0}  # fmt: skip
        return int(rc)
