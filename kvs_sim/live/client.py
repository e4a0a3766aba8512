"""An external client of a live cluster: requests to a rank, replies by MQTT v5.

Theory of operation
-------------------
A :class:`LiveClient` owns one MQTT connection with a random client id, logged in
with the account of ``userid`` (the instance owner's by default) from the
broker's credentials file (:func:`kvs_sim.live.credentials.login`) unless the URL
names one, and subscribed to its own reply topic
``kvs-sim/<cluster>/client/<account>/<uuid>``.  Its session is
persistent for a minute, so replies published while the broker restarts are
queued for it, and requests made while it is away are held by paho and sent on
reconnection.
A request is any client request of :mod:`kvs_sim.rank.messages`, built by the
caller around a client-local integer id (``build(id) -> msg``).  It is published
to the target rank's request topic ``kvs-sim/<cluster>/req/<account>/<rank>``
(the ranks take the caller's uid from that account, not from the payload) with
that reply topic as *response topic* and the id as *correlation data*; the
hosting engine answers there (see
:mod:`kvs_sim.live.engine`).  Replies are matched to waiters by correlation data
only.

* :meth:`LiveClient.request` waits for one final :class:`Reply` (``timeout``
  seconds, else :class:`RequestTimeout` naming the rank; the request carries an
  MQTT message expiry of the timeout, rounded up to whole seconds, so a broker
  holding it for a rank process that is down discards it instead of delivering
  it after the client gave up).  Errors are *not*
  raised: the reply carries ``errnum``/``errmsg`` as the rank produced them.
* :meth:`LiveClient.watch` returns a :class:`Watch`: an async iterator over the
  stream of replies (``final=False`` ones, then the final one), which
  :meth:`Watch.cancel` ends (the rank sends a final ``ENODATA``).

A broker that cannot be reached raises
:class:`~kvs_sim.live.transport.BrokerUnreachable` from ``__aenter__`` with the
URL in the message.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from kvs_sim.live import codec
from kvs_sim.live import credentials as cr
from kvs_sim.live import topics as tp
from kvs_sim.live.transport import Incoming, Transport
from kvs_sim.rank.messages import Reply, WatchCancelReq

log = logging.getLogger("kvs_sim.live")

CLIENT_SESSION_EXPIRY = 60
"""Seconds the broker keeps a client's session (its replies) while it is away."""

Build = Callable[[int], Any] | Any
"""A request, or a function of the client-local id returning one."""


class RequestTimeout(TimeoutError):
    """No final reply arrived within the timeout; the message names the rank."""


class Watch:
    """A stream of replies to one watch request."""

    def __init__(self, client: LiveClient, ident: int, rank: int) -> None:
        self.client = client
        self.id = ident
        self.rank = rank
        self.queue: asyncio.Queue[Reply] = asyncio.Queue()
        self.done = False

    def __aiter__(self) -> AsyncIterator[Reply]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[Reply]:
        while not self.done:
            reply = await self.queue.get()
            if reply.final:
                self.done = True
                self.client._waiters.pop(self.id, None)
            yield reply

    async def next(self, timeout: float | None = None) -> Reply:
        """The next reply of the stream (raises :class:`RequestTimeout`)."""
        try:
            reply = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            raise RequestTimeout(f"no watch reply from rank {self.rank} in {timeout:g} s") from None
        if reply.final:
            self.done = True
            self.client._waiters.pop(self.id, None)
        return reply

    async def cancel(self) -> None:
        """Ask the rank to end the stream (a final ``ENODATA`` reply follows)."""
        if not self.done:
            await self.client.send(lambda c: WatchCancelReq(client=c, watch=self.id), self.rank)


class LiveClient:
    """``async with LiveClient(url, rank=3) as c: reply = await c.request(...)``."""

    def __init__(
        self,
        url: str | tp.BrokerURL,
        *,
        cluster: str | None = None,
        rank: int = 0,
        timeout: float = 10.0,
        connect_timeout: float = 3.0,
        ca_file: str | None = None,
        userid: int | None = None,
        credentials: str | Path | None = None,
    ) -> None:
        url = url if isinstance(url, tp.BrokerURL) else tp.parse_url(url)
        self.cluster = tp.check_cluster(cluster or url.cluster or tp.DEFAULT_CLUSTER)
        role = cr.OWNER_UID if userid is None else userid
        self.url, found_ca = cr.login(url, self.cluster, role, credentials)
        self.account = self.url.username
        """The broker account this client acts as (None: no credentials)."""
        self.userid = cr.uid_of(self.account, self.cluster) if self.account else None
        """The uid the ranks see this client as (None: whatever requests claim)."""
        self.rank = rank
        self.timeout = timeout
        self.uuid = uuid.uuid4().hex
        self.reply_topic = tp.client_topic(self.cluster, self.account, self.uuid)
        self._ids = itertools.count(1)
        self._waiters: dict[int, asyncio.Future[Reply] | Watch | Callable[[Reply], None]] = {}
        self.transport = Transport(
            self.url,
            client_id=f"kvs-sim-client-{self.uuid}",
            subscriptions=[self.reply_topic],
            on_message=self._on_reply,
            session_expiry=CLIENT_SESSION_EXPIRY,
            ca_file=ca_file or found_ca,
            connect_timeout=connect_timeout,
        )

    async def __aenter__(self) -> LiveClient:
        await self.transport.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.transport.close(flush_timeout=1.0)

    def _on_reply(self, inc: Incoming) -> None:
        try:
            reply = codec.decode(inc.payload)
            ident = int(inc.correlation or b"")
        except (codec.CodecError, ValueError) as exc:
            log.warning("dropped a reply on %s: %s", inc.topic, exc)
            return
        waiter = self._waiters.get(ident)
        if waiter is None:
            log.debug("reply for unknown request %d dropped", ident)
        elif isinstance(waiter, Watch):
            waiter.queue.put_nowait(reply)
        elif isinstance(waiter, asyncio.Future):
            if not waiter.done():
                waiter.set_result(reply)
        else:
            if reply.final:
                del self._waiters[ident]
            waiter(reply)

    async def send(self, build: Build, rank: int | None = None) -> int:
        """Publish a request without waiting for a reply; returns its id."""
        ident = next(self._ids)
        self._publish(ident, build, rank)
        return ident

    def _publish(
        self, ident: int, build: Build, rank: int | None, expiry: float | None = None
    ) -> None:
        msg = build(ident) if callable(build) else build
        dst = self.rank if rank is None else rank
        payload = codec.encode_envelope(dst, -1, msg, f"{self.uuid}:{ident}")
        self.transport.publish(
            tp.req_topic(self.cluster, self.account, dst),
            payload,
            response_topic=self.reply_topic,
            correlation=str(ident).encode(),
            expiry=expiry,
        )

    async def request(
        self, build: Build, *, rank: int | None = None, timeout: float | None = None
    ) -> Reply:
        """Send a request and wait for its final reply."""
        ident = next(self._ids)
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiters[ident] = fut
        wait = self.timeout if timeout is None else timeout
        # A request the client gives up on must not be applied later behind its
        # back (e.g. queued by the broker for a rank process that is down): it
        # expires at the broker with the timeout.
        self._publish(ident, build, rank, expiry=wait)
        try:
            return await asyncio.wait_for(fut, wait)
        except TimeoutError:
            dst = self.rank if rank is None else rank
            raise RequestTimeout(
                f"no reply from rank {dst} of cluster {self.cluster!r} at {self.url} "
                f"within {wait:g} s"
            ) from None
        finally:
            self._waiters.pop(ident, None)

    async def watch(self, build: Build, *, rank: int | None = None) -> Watch:
        """Start a streaming request (a ``WatchReq``); iterate the result."""
        ident = next(self._ids)
        w = Watch(self, ident, self.rank if rank is None else rank)
        self._waiters[ident] = w
        self._publish(ident, build, rank)
        return w


class LiveBackend:
    """The backend of a :class:`kvs_sim.handle.Handle` on a live cluster.

    ``Handle(LiveBackend(client), rank)`` gives the same Python API over MQTT as
    over the simulator; its futures are asyncio futures of the running loop, or of
    ``loop`` if given (a loop that runs only while someone waits, as for blocking
    ``flux.kvs`` calls).
    """

    def __init__(self, client: LiveClient, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.client = client
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop if self._loop is not None else asyncio.get_running_loop()

    def request(
        self, rank: int, build: Callable[[int], Any], on_reply: Callable[[Any], None]
    ) -> int:
        ident = next(self.client._ids)
        self.client._waiters[ident] = on_reply
        self.client._publish(ident, build, rank)
        return ident

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Any:
        return self.loop.call_later(delay, fn, *args)

    def now(self) -> float:
        return time.monotonic()  # as the rank processes stamp roots (not uvloop's ms)

    def future(self) -> asyncio.Future[Any]:
        return self.loop.create_future()
