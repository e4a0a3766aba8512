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

*A lean hot path.*  Incoming messages are passed to the engine's callback
straight from the socket's reader callback, rather than through aiomqtt's
queue and a task per message, and the packets that make up nearly all traffic
(PUBLISH and PUBACK) are parsed and built by :mod:`kvs_sim.live.wire` rather
than by paho; everything else is paho's.  The callback must not raise; an
exception is logged and the message dropped.  aiomqtt's ``messages`` iterator
is still used, as the way to learn that the connection was lost.

*A connection that survives the broker.*  With ``persistent=True`` the client
asks for a session expiry interval, so the broker keeps its subscriptions and
queues QoS 1 messages while it is away (and, with persistence on, across a broker
restart); it connects with ``clean_start=False`` to resume that session.  A new
Transport first ends any session a previous one with the same client id left (a
clean start with no session expiry, then a disconnect): a new process never
receives what the broker queued for a previous one (a restarted rank process
must not apply requests sent to the dead one, whose clients were told they
failed).  The session proper is not itself made by a clean start: mosquitto
2.0.11 did not restore such a session after its own restart (its subscriptions
and queue were gone, ``tests/live/test_engine_toy.py``).  :meth:`run` reconnects
with exponential backoff (``backoff`` doubles from 50 ms up to 2 s) and
re-subscribes after each connection.  The *first* connection is different: if the broker
cannot be reached within ``connect_timeout`` seconds, :meth:`start` raises
:class:`BrokerUnreachable` naming the URL, so a command line can say so.

Only this module and :mod:`kvs_sim.live.wire` touch aiomqtt/paho internals
(``Client._client``, the paho client); they are pinned by ``aiomqtt>=2.3,<3``.
Nagle's algorithm is switched off on the client socket (``TCP_NODELAY``), which
a request/response round trip needs as much as the broker's ``set_tcp_nodelay``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kvs_sim.live.mqtt_packets import pack_properties, varint
from kvs_sim.live.topics import BrokerURL
from kvs_sim.live.wire import FastPath, Incoming, OnMessage

__all__ = ["BrokerUnreachable", "Incoming", "NotAuthorized", "OnMessage", "Transport", "Will"]

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
        self._fast: FastPath | None = None
        self._early: list[tuple[str, bytes, int, bool, bytes]] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._fresh = False
        """The session a previous process may have left was ended (``_run``)."""

    # -- lifecycle -----------------------------------------------------------

    def _make_client(self, *, discard: bool = False) -> aiomqtt.Client:
        """The connection's client; ``discard``: a bare one (no will, no session)
        whose clean start ends whatever session a previous process left."""
        props = Properties(PacketTypes.CONNECT)
        if self.persistent and not discard:
            props.SessionExpiryInterval = self.session_expiry
        tls = None
        if self.url.tls or self.ca_file:
            tls = aiomqtt.TLSParameters(ca_certs=self.ca_file)
        will = None
        if self.will is not None and not discard:
            will = aiomqtt.Will(self.will.topic, self.will.payload, qos=1, retain=True)
        client = aiomqtt.Client(
            self.url.host,
            self.url.port,
            username=self.url.username,
            password=self.url.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=discard or not self.persistent,
            properties=props,
            tls_params=tls,
            will=will,
            timeout=self.connect_timeout,
            max_inflight_messages=1000,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        if discard:
            return client
        client.pending_calls_threshold = 1000
        self._paho = client._client
        self._paho.on_message = self._deliver  # what the hot path leaves to paho
        self._fast = FastPath(client, self._call)
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
                if self.persistent and not self._fresh:
                    # A new process starts a new session: first a clean start with
                    # no session expiry ends the one a previous process with this
                    # client id left, and what the broker queued for it (a Flux
                    # request to a dead broker is lost with its connection).  The
                    # session proper is then made with clean_start=False, so that
                    # mosquitto saves it across its own restart.
                    async with self._make_client(discard=True):
                        pass
                    self._fresh = True
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

    async def subscribe(self, topic: str) -> None:
        """Subscribe to ``topic`` now (if connected) and after every reconnection."""
        if topic in self.subscriptions:
            return
        self.subscriptions.append(topic)
        if self._client is not None and self.connected.is_set():
            await self._client.subscribe(topic, qos=self.qos)

    def write_now(self) -> None:
        """Write what is queued now rather than on the next loop turn."""
        if self._fast is not None:
            self._fast.write_now()

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
        lost = getattr(self._client, "_disconnected", None)
        if lost is not None and lost.done() and not lost.cancelled():
            lost.exception()  # a connection lost at shutdown is no news (nor a warning)

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
        props = pack_properties(
            response_topic, correlation, None if expiry is None else max(1, math.ceil(expiry))
        )
        if self._paho is None or self.connections == 0:
            self._early.append((topic, payload, qos, retain, props))
            return
        self._send(topic, payload, qos, retain, props)

    def _send(self, topic: str, payload: bytes, qos: int, retain: bool, props: bytes) -> None:
        assert self._paho is not None and self._fast is not None
        if self._fast.publish(topic, payload, qos, retain, props):
            return
        # No socket: paho keeps a QoS 1 message and sends it on reconnect.
        properties = Properties(PacketTypes.PUBLISH)
        properties.unpack(varint(len(props)) + props)
        info = self._paho.publish(topic, payload, qos, retain, properties)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            log.warning("publish to %s failed: %s", topic, paho.error_string(info.rc))

    def _flush_early(self) -> None:
        early, self._early = self._early, []
        assert self._paho is not None
        for topic, payload, qos, retain, props in early:
            self._send(topic, payload, qos, retain, props)

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
        except Exception:
            log.exception("dropped a message on %r: cannot read it", message._topic)
            return
        self._call(incoming)

    def _call(self, incoming: Incoming) -> None:
        if self.on_message is None:
            return
        try:
            self.on_message(incoming)
        except Exception:
            log.exception("dropped a message on %r: handler failed", incoming.topic)
