"""``kvs-sim exec``'s endpoint for child processes: ``flux kvs`` from a script's shell-outs.

Theory of operation
-------------------
A Flux script may shell out (``os.system("flux kvs unlink k")``); under
``flux start`` the child reaches the same instance through the local broker.
Under ``kvs-sim exec`` the instance is a simulation inside the exec process, so
:class:`ExecLink` serves it on a Unix socket in a private temporary directory
and prepares the children's environment: ``KVS_SIM_BROKER=unix://SOCKET`` (so
``kvs-sim kvs`` with no ``--broker`` talks to it) and, first on ``PATH``, a
``flux`` stand-in that runs ``kvs-sim kvs`` for ``flux kvs ...`` and refuses
every other ``flux`` subcommand with one line and exit 1.

The protocol is one line per message: the child sends ``ID RANK PAYLOAD`` (a
client request of :mod:`kvs_sim.rank.messages` in the live codec, with a
placeholder client id), the server answers ``ID PAYLOAD`` for each reply (a
watch gets several).  A connection thread takes the simulation's lock, sends the
request from a new simulated client on RANK, and drives virtual time until the
final reply (a watch: its first reply), then lets what the request set in motion
settle (until nothing is left to happen, at most :data:`SETTLE` virtual seconds),
so a child's commit has reached every rank when the child exits, and a child's
watch sees it.  The script's own blocking calls drive the simulation under the
same lock (:class:`LockedInstance`).

Determinism: while the script waits for its child (``os.system``,
``subprocess.run``), the simulation advances only on the child's requests, in
their order: a run is a function of config, seed and what the children ask.  A
child the script does not wait for interleaves with the script by wall-clock
arrival, and a script that waits in the simulation for something only a child
will do finds the simulation idle (as any blocking call on an idle simulation).

:class:`LinkClient` is the child's side, with the interface of
:class:`~kvs_sim.live.client.LiveClient` that :class:`~kvs_sim.live.kvs_tool.Tool`
uses (``request``, ``watch``), over asyncio streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import os
import socket
import stat
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from kvs_sim.live import codec
from kvs_sim.live.client import RequestTimeout
from kvs_sim.rank.messages import Reply, WatchCancelReq, WatchReq

SCHEME = "unix://"
SETTLE = 1.0
"""Virtual seconds a served request may set in motion before its connection lets go."""

_STAND_IN = """#!/bin/sh
# flux stand-in of kvs-sim exec: flux kvs reaches the simulated instance
if [ "$1" = kvs ]; then shift; exec {python} -m kvs_sim kvs --rank {rank} "$@"; fi
echo "flux $1: not available under kvs-sim exec (only flux kvs)" >&2
exit 1
"""


class _LockedBackend:
    """A handle's engine whose ``request``/``call_later`` take ``lock`` (the script's
    requests never enter the event heap while a child's request drives it)."""

    def __init__(self, engine: Any, lock: threading.RLock) -> None:
        self._inner = engine
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def request(self, *args: Any) -> Any:
        with self._lock:
            return self._inner.request(*args)

    def call_later(self, *args: Any) -> Any:
        with self._lock:
            return self._inner.call_later(*args)


class LockedInstance:
    """A simulated instance whose driving (``wait``, ``run``) and whose handles'
    requests take ``lock``."""

    def __init__(self, instance: Any, lock: threading.RLock) -> None:
        self._inner = instance
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def handle(self, *args: Any, **kwargs: Any) -> Any:
        h = self._inner.handle(*args, **kwargs)
        h.backend = _LockedBackend(h.backend, self._lock)
        return h

    def wait(self, fut: Any, timeout: float | None = None) -> Any:
        with self._lock:
            return self._inner.wait(fut, timeout)

    def run(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self._inner.run(*args, **kwargs)


class ExecLink:
    """Serves ``instance`` (a simulated cluster) to child processes; a context manager."""

    def __init__(self, instance: Any, rank: int) -> None:
        self.lock = threading.RLock()
        self.instance = LockedInstance(instance, self.lock)
        """What the script's ``flux.Flux()`` must use, so both sides take the lock."""
        self.rank = rank
        self._dir = tempfile.TemporaryDirectory(prefix="kvs-sim-exec-")
        self.path = Path(self._dir.name) / "sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.path))
        self._sock.listen(16)
        self._closed = False
        stand_in = Path(self._dir.name) / "flux"
        stand_in.write_text(_STAND_IN.format(python=sys.executable, rank=rank))
        stand_in.chmod(stand_in.stat().st_mode | stat.S_IXUSR)
        self._thread = threading.Thread(target=self._accept, daemon=True, name="exec-link")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.path}"

    def environ(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with the children's settings (the broker URL, the stand-in on PATH)."""
        path = env.get("PATH", os.defpath)
        return {**env, "KVS_SIM_BROKER": self.url, "PATH": f"{self._dir.name}:{path}"}

    def close(self) -> None:
        """Stop serving.  The listening socket is shut down first: closing it alone
        does not wake a thread blocked in accept(), which could then accept on
        the next link's socket if that got the same descriptor."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5.0)
        self._sock.close()
        self._dir.cleanup()

    def __enter__(self) -> ExecLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving ------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            if self._closed:
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        write_lock = threading.Lock()
        watches: dict[int, int] = {}  # the child's watch id -> the simulated client id
        held: list[bytes] | None = None  # replies kept back while this child's request drives

        def send(ident: int, reply: Any) -> None:
            line = f"{ident} ".encode() + codec.encode(reply) + b"\n"
            if held is not None:
                held.append(line)
            else:
                send_all(line)

        def send_all(data: bytes) -> None:
            # a child that went away leaves its replies nowhere to go
            with write_lock, contextlib.suppress(OSError):
                conn.sendall(data)

        with conn, conn.makefile("rb") as lines:
            for line in lines:
                try:
                    ident_text, rank_text, payload = line.split(b" ", 2)
                    ident, rank = int(ident_text), int(rank_text)
                    msg = codec.decode(payload)
                except (ValueError, codec.CodecError):
                    return  # not one of ours: drop the connection
                if isinstance(msg, WatchCancelReq):
                    msg = dataclasses.replace(msg, watch=watches.get(msg.watch, -1))
                # The replies go out once the lock is let go: a child that exits on
                # its reply must find the simulation settled and free for the script.
                held = []
                self._request(ident, rank, msg, send, watches)
                lines_out, held = held, None
                send_all(b"".join(lines_out))

    def _request(self, ident: int, rank: int, msg: Any, send: Any, watches: dict[int, int]) -> None:
        engine = self.instance.engine
        with self.lock:
            first = engine.future()

            def on_reply(reply: Reply) -> None:
                send(ident, reply)
                if not first.done():
                    first.set_result(None)

            cid = engine.request(rank, lambda c: dataclasses.replace(msg, client=c), on_reply)
            if isinstance(msg, WatchReq):
                watches[ident] = cid
            try:
                self.instance.wait(first)
            except RuntimeError:  # the simulation went idle: no reply will come
                send(ident, Reply(client=0, errnum=errno.EIO, errmsg="the simulation went idle"))
                return
            self._settle()

    def _settle(self) -> None:
        never = self.instance.engine.future()
        # ends idle (nothing left to happen) or when the settling time is up
        with contextlib.suppress(RuntimeError, TimeoutError):
            self.instance.wait(never, SETTLE)


class _Watch:
    """The child's stream of replies to one watch (``async for``, ``cancel``)."""

    def __init__(self, client: LinkClient, ident: int) -> None:
        self.client = client
        self.id = ident
        self.queue: asyncio.Queue[Reply] = asyncio.Queue()

    def __aiter__(self) -> _Watch:
        return self

    async def __anext__(self) -> Reply:
        if self.id not in self.client._waiters:
            raise StopAsyncIteration
        reply = await self.queue.get()
        if reply.final:
            self.client._waiters.pop(self.id, None)
        return reply

    async def cancel(self) -> None:
        await self.client._send(lambda c: WatchCancelReq(client=c, watch=self.id))


class LinkClient:
    """``async with LinkClient("unix:///...", rank=0) as c: await c.request(build)``."""

    def __init__(self, url: str, *, rank: int = 0, timeout: float = 10.0) -> None:
        self.path = url.removeprefix(SCHEME)
        self.rank = rank
        self.timeout = timeout
        self._ids = iter(range(1, 1 << 62))
        self._waiters: dict[int, Any] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LinkClient:
        try:
            reader, self._writer = await asyncio.open_unix_connection(self.path)
        except OSError as exc:
            raise ConnectionError(f"cannot reach kvs-sim exec at {self.path}: {exc}") from None
        self._reader_task = asyncio.ensure_future(self._read(reader))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader_task is not None:
            self._reader_task.cancel()
        if self._writer is not None:
            self._writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            ident_text, payload = line.split(b" ", 1)
            waiter = self._waiters.get(int(ident_text))
            reply = codec.decode(payload)
            if isinstance(waiter, _Watch):
                waiter.queue.put_nowait(reply)
            elif waiter is not None and not waiter.done():
                waiter.set_result(reply)

    def _write(self, ident: int, build: Any) -> None:
        assert self._writer is not None, "use LinkClient as an async context manager"
        self._writer.write(f"{ident} {self.rank} ".encode() + codec.encode(build(0)) + b"\n")

    async def _send(self, build: Any) -> int:
        ident = next(self._ids)
        self._write(ident, build)
        assert self._writer is not None
        await self._writer.drain()
        return ident

    async def request(self, build: Any, **_: Any) -> Reply:
        """Send a request and wait for its final reply (``timeout`` seconds)."""
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        ident = next(self._ids)
        self._waiters[ident] = fut
        self._write(ident, build)
        try:
            return await asyncio.wait_for(fut, self.timeout)
        except TimeoutError:
            raise RequestTimeout(f"no reply from kvs-sim exec within {self.timeout:g} s") from None
        finally:
            self._waiters.pop(ident, None)

    async def watch(self, build: Any, **_: Any) -> _Watch:
        """Start a watch; iterate the result for its replies."""
        ident = next(self._ids)
        w = _Watch(self, ident)
        self._waiters[ident] = w
        self._write(ident, build)
        return w
