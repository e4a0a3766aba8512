"""One MQTT v5 connection for the live engine and its clients.

Theory of operation
-------------------
:class:`Transport` wraps one ``aiomqtt.Client`` and gives the engine three
things rank logic needs and aiomqtt does not directly offer:

*Publishing that never blocks.*  ``Port.send`` is synchronous, so
:meth:`Transport.publish` hands the message to paho (the client under aiomqtt)
and returns at once; paho keeps every unacknowledged QoS 1 message in its
outgoing store until the broker's PUBACK arrives, and resends it after a
reconnect.  Awaiting each PUBACK (``await client.publish``) would cost a round
trip per hop and cap a rank at a few thousand messages per second.  Before the
first connection, publishes wait in a small list.

*Delivery without a queue hop.*  Incoming messages are passed to the engine's
callback straight from paho's ``on_message``, inside the event loop's reader
callback, rather than through aiomqtt's queue and a task per message.  The
callback must not raise (paho would drop the connection); it is wrapped so
that an exception is logged and the message dropped.  aiomqtt's ``messages``
iterator is still used, as the way to learn that the connection was lost.

*Writes without a detour.*  aiomqtt answers paho's "I have data to write" by
scheduling ``add_writer`` from another loop turn, waiting for epoll to report the
socket writable, writing, and removing the writer again: two ``epoll_ctl`` calls,
a self-pipe write and an extra loop turn per burst.  The socket is almost always
writable, so this transport writes on the next loop turn (``call_soon``) and
registers a writer only if the kernel buffer is full.  On this machine it saves
about 0.1 ms per hop.

*Fewer system calls.*  paho writes each packet with its own ``send`` and reads
each incoming one with three ``recv`` calls (type, length, rest); on this VM a
system call that wakes the broker on the other vCPU is the dearest thing on the
path.  The transport joins the packets queued in one loop turn (QoS 1 PUBLISH and
PUBACK) into one write, and reads the socket 64 KiB at a time into a buffer that
paho's reads are served from.

*A connection that survives the broker.*  With ``persistent=True`` the client
connects with ``clean_start=False`` and a session expiry interval, so the broker
keeps its subscriptions and queues QoS 1 messages while it is away (and, with
persistence on, across a broker restart).  :meth:`run` reconnects with
exponential backoff (``backoff`` doubles from 50 ms up to 2 s) and re-subscribes
after each connection.  The *first* connection is different: if the broker
cannot be reached within ``connect_timeout`` seconds, :meth:`start` raises
:class:`BrokerUnreachable` naming the URL, so a command line can say so.

Only this module touches aiomqtt/paho internals (``Client._client``, the paho
client); they are pinned by ``aiomqtt>=2.3,<3``.  Nagle's algorithm is switched
off on the client socket (``TCP_NODELAY``), which a request/response round trip
needs as much as the broker's ``set_tcp_nodelay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kvs_sim.live.topics import BrokerURL

log = logging.getLogger("kvs_sim.live")

SESSION_EXPIRY = 3600
"""Seconds the broker keeps an offline persistent session (and its queue)."""


class BrokerUnreachable(ConnectionError):
    """The first connection to the broker failed; the message names the URL.

    Raised by :meth:`Transport.start` only; later disconnections are retried.
    """


class NotAuthorized(BrokerUnreachable):
    """The broker refused the login (bad or missing credentials): not retried."""


_REFUSED = {
    4: "bad user name or password",
    5: "not authorized",
    134: "bad user name or password",
    135: "not authorized",
}
"""CONNACK codes of a refused login (MQTT 3.1.1 and 5)."""


def _refusal(exc: Exception) -> str | None:
    rc = getattr(exc, "rc", None)
    return _REFUSED.get(getattr(rc, "value", rc))  # type: ignore[arg-type]


def check_ca_file(path: str | None) -> None:
    """FileNotFoundError naming ``path`` if it is given and not a readable file."""
    if path is not None and not os.path.isfile(path):
        raise FileNotFoundError(f"CA file {path} does not exist")
    if path is not None and not os.access(path, os.R_OK):
        raise PermissionError(f"CA file {path} is not readable")


@dataclass(frozen=True, slots=True)
class Incoming:
    """One received publish."""

    topic: str
    payload: bytes
    response_topic: str | None = None
    correlation: bytes | None = None


OnMessage = Callable[[Incoming], None]

_READ_SIZE = 65536
_PUBLISH, _PUBACK = 0x30, 0x40


def _coalesce(out: Any) -> None:
    """Join paho's queued outgoing packets into one write (one ``send``) when they
    are all QoS 1 PUBLISH or PUBACK packets not yet started: paho does nothing on
    their completion (unacknowledged messages are kept, and resent, elsewhere)."""
    if len(out) < 2:
        return
    for p in out:
        kind = p["command"] & 0xF0
        if p["pos"] or not (kind == _PUBACK or (kind == _PUBLISH and p["qos"])):
            return
    data = b"".join(p["packet"] for p in out)
    out.clear()
    out.append(
        {"command": _PUBACK, "mid": 0, "qos": 1, "pos": 0, "to_process": len(data),
         "packet": data, "info": None}
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Will:
    """A retained message the broker publishes if the connection dies."""

    topic: str
    payload: bytes


class Transport:
    """A persistent-session MQTT v5 connection with non-blocking QoS 1 publishes."""

    def __init__(
        self,
        url: BrokerURL,
        *,
        client_id: str,
        subscriptions: Iterable[str] = (),
        on_message: OnMessage | None = None,
        persistent: bool = True,
        session_expiry: int = SESSION_EXPIRY,
        ca_file: str | None = None,
        will: Will | None = None,
        connect_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.05, 2.0),
        qos: int = 1,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        check_ca_file(ca_file)
        self.url = url
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.on_message = on_message
        self.persistent = persistent
        self.session_expiry = session_expiry
        self.ca_file = ca_file
        self.will = will
        self.connect_timeout = connect_timeout
        self.backoff = backoff
        self.qos = qos
        """QoS of the subscriptions and the default of :meth:`publish`."""
        self.on_connect = on_connect
        """Called after each (re)connection, once subscribed."""
        self.connected = asyncio.Event()
        self.connections = 0
        """How many times a connection was established (1 + reconnects)."""
        self._client: aiomqtt.Client | None = None
        self._paho: paho.Client | None = None
        self._early: list[tuple[str, bytes, int, bool, Properties | None]] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle -----------------------------------------------------------

    def _make_client(self) -> aiomqtt.Client:
        props = Properties(PacketTypes.CONNECT)
        if self.persistent:
            props.SessionExpiryInterval = self.session_expiry
        tls = None
        if self.url.tls or self.ca_file:
            tls = aiomqtt.TLSParameters(ca_certs=self.ca_file)
        will = None
        if self.will is not None:
            will = aiomqtt.Will(self.will.topic, self.will.payload, qos=1, retain=True)
        client = aiomqtt.Client(
            self.url.host,
            self.url.port,
            username=self.url.username,
            password=self.url.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=not self.persistent,
            properties=props,
            tls_params=tls,
            will=will,
            timeout=self.connect_timeout,
            max_inflight_messages=1000,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        client.pending_calls_threshold = 1000
        self._paho = client._client
        self._paho.on_message = self._deliver
        self._direct_writes(client, self._paho)
        self._buffered_reads(client, self._paho)
        return client

    async def start(self) -> None:
        """Connect (retrying until ``connect_timeout``), subscribe, and keep the
        connection up in a background task until :meth:`close`."""
        if self._task is not None:
            return
        self._client = self._make_client()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.client_id)
        waiter = asyncio.ensure_future(self.connected.wait())
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            self._task.result()  # raises BrokerUnreachable

    async def _run(self) -> None:
        assert self._client is not None
        loop = asyncio.get_running_loop()
        first_deadline = loop.time() + self.connect_timeout
        delay = self.backoff[0]
        while not self._closing:
            try:
                async with self._client as client:
                    self.connections += 1
                    delay = self.backoff[0]
                    if self.subscriptions:
                        await client.subscribe([(t, self.qos) for t in self.subscriptions])
                    self._flush_early()
                    if self.on_connect is not None:
                        self.on_connect()
                    self.connected.set()
                    if self.connections > 1:
                        log.warning("reconnected to %s", self.url)
                    async for _ in client.messages:  # only ends by raising on disconnect
                        pass
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                if self._closing:
                    return
                refused = _refusal(exc)
                if refused and self.connections == 0:
                    who = (
                        f"as {self.url.username!r}" if self.url.username else "without credentials"
                    )
                    raise NotAuthorized(
                        f"the MQTT broker at {self.url} refused the login {who}: {refused}"
                    ) from None
                if self.connections == 0 and loop.time() >= first_deadline:
                    raise BrokerUnreachable(
                        f"cannot reach the MQTT broker at {self.url}: {exc}"
                    ) from None
                if self.connections:
                    log.warning(
                        "connection to %s lost (%s); retrying in %.2f s", self.url, exc, delay
                    )
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    async def flush(self, timeout: float = 2.0) -> bool:
        """Wait until every QoS 1 publish so far was acknowledged; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (self._paho is not None and self._paho._out_messages) or self._early:
            if loop.time() > deadline or not self.connected.is_set():
                return False
            await asyncio.sleep(0.005)
        return True

    async def close(self, flush_timeout: float = 2.0) -> None:
        """Flush outstanding publishes (bounded), disconnect cleanly, stop the task."""
        if self._task is None:
            return
        if self.connected.is_set():
            await self.flush(flush_timeout)
        self._closing = True
        task, self._task = self._task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError, BrokerUnreachable):
            await task

    # -- traffic -------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int | None = None,
        retain: bool = False,
        response_topic: str | None = None,
        correlation: bytes | None = None,
        expiry: float | None = None,
    ) -> None:
        """Queue a publish; never blocks, never raises for a lost connection.
        ``expiry`` (seconds, rounded up to MQTT's whole seconds): the broker
        discards the message if it could not deliver it by then."""
        if qos is None:
            qos = self.qos
        props = None
        if response_topic is not None or correlation is not None or expiry is not None:
            props = Properties(PacketTypes.PUBLISH)
            if response_topic is not None:
                props.ResponseTopic = response_topic
            if correlation is not None:
                props.CorrelationData = correlation
            if expiry is not None:
                props.MessageExpiryInterval = max(1, math.ceil(expiry))
        if self._paho is None or self.connections == 0:
            self._early.append((topic, payload, qos, retain, props))
            return
        info = self._paho.publish(topic, payload, qos, retain, props)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            log.warning("publish to %s failed: %s", topic, paho.error_string(info.rc))
        # MQTT_ERR_NO_CONN: paho holds a QoS 1 message and sends it on reconnect.

    @staticmethod
    def _direct_writes(client: aiomqtt.Client, pc: paho.Client) -> None:
        """Write queued packets on the next loop turn (see the module docstring);
        fall back to a writer callback only when the socket buffer is full."""
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        state = {"scheduled": False, "fd": -1}

        def write_now() -> None:
            state["scheduled"] = False
            _coalesce(pc._out_packet)
            try:
                pc.loop_write()
            except Exception as exc:
                if not client._disconnected.done():
                    client._disconnected.set_exception(exc)
                return
            sock = pc._sock
            if pc.want_write() and sock is not None and state["fd"] < 0:
                state["fd"] = sock.fileno()
                loop.add_writer(state["fd"], write_now)

        def register(_c: Any, _u: Any, _sock: Any) -> None:
            if state["scheduled"]:
                return
            state["scheduled"] = True
            if threading.get_ident() == loop_thread:
                loop.call_soon(write_now)
            else:
                loop.call_soon_threadsafe(write_now)

        def unregister(_c: Any, _u: Any, _sock: Any) -> None:
            if state["fd"] >= 0:
                loop.remove_writer(state["fd"])
                state["fd"] = -1

        pc.on_socket_register_write = register
        pc.on_socket_unregister_write = unregister

    @staticmethod
    def _buffered_reads(client: aiomqtt.Client, pc: paho.Client) -> None:
        """Read the socket 64 KiB at a time (see the module docstring): paho asks
        for one byte, then each length byte, then the rest of every packet, one
        ``recv`` each.  Bytes left over when paho stops reading are handed to it
        on the next loop turn, since the socket will not signal them again."""
        loop = asyncio.get_running_loop()
        raw = pc._sock_recv
        state: dict[str, Any] = {"data": b"", "pos": 0, "sock": None, "scheduled": False}

        def drain() -> None:
            state["scheduled"] = False
            if pc._sock is None or state["pos"] >= len(state["data"]):
                return
            try:
                pc.loop_read()
            except Exception as exc:
                if not client._disconnected.done():
                    client._disconnected.set_exception(exc)

        def recv(bufsize: int) -> bytes:
            if pc._sock is not state["sock"]:  # a new connection: nothing buffered
                state.update(data=b"", pos=0, sock=pc._sock)
            data, pos = state["data"], state["pos"]
            if pos >= len(data):
                data, pos = raw(_READ_SIZE), 0
                if not data:
                    return data  # EOF
            out = data[pos : pos + bufsize]
            pos += len(out)
            state["data"], state["pos"] = data, pos
            if pos < len(data) and not state["scheduled"]:
                state["scheduled"] = True
                loop.call_soon(drain)
            return out

        pc._sock_recv = recv  # type: ignore[method-assign]

    def _flush_early(self) -> None:
        early, self._early = self._early, []
        assert self._paho is not None
        for topic, payload, qos, retain, props in early:
            self._paho.publish(topic, payload, qos, retain, props)

    def _deliver(self, _client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        if self.on_message is None:
            return
        props = getattr(message, "properties", None)
        try:
            incoming = Incoming(
                topic=message.topic,
                payload=bytes(message.payload),
                response_topic=getattr(props, "ResponseTopic", None),
                correlation=getattr(props, "CorrelationData", None),
            )
            self.on_message(incoming)
        except Exception:
            log.exception("dropped a message on %r: handler failed", message._topic)
