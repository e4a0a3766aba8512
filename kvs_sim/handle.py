"""A client handle on one rank: the plain Python API of every KVS operation.

Theory of operation
-------------------
A :class:`Handle` turns method calls into client requests
(:mod:`kvs_sim.rank.messages`) sent to its rank through a *backend*, and returns
futures completed by the replies.  The backend is the virtual-time engine
(:class:`~kvs_sim.sim.engine.Engine`) in a simulation; anything with the same
four methods (``request``, ``call_later``, ``now``, ``future``) can carry it.

Every future is awaitable from an ``async def`` process running on the engine;
the Flux-compatible layer (:mod:`kvs_sim.flux`) waits on them synchronously.
A reply with an errno becomes the matching :class:`~kvs_sim.core.errors.KVSError`.

When the cluster records a history, each operation is recorded here, at the
moment it is invoked and the moment its answer arrives, with the root version
the rank served it from (reads) or the version it produced (commits), and its
leader epoch.  A commit that fails with an error of :data:`UNKNOWN_OUTCOME` is
recorded as indeterminate: it may or may not have taken effect.
"""

from __future__ import annotations

import base64
import errno
import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from kvs_sim.core import flags as kvsflags
from kvs_sim.core.errors import KVSError, TimedOut, error_for
from kvs_sim.core.namespace import PRIMARY
from kvs_sim.core.txn import Txn
from kvs_sim.rank import messages as m

UNKNOWN_OUTCOME = frozenset({errno.ECONNRESET, errno.EHOSTUNREACH, errno.ETIMEDOUT})
"""Errors after which a commit may or may not have been applied: its rank, or a
rank on the way to the leader, crashed (or the answer did not come in time).  A
commit failing with one is recorded as indeterminate."""


class Future(Protocol):
    def done(self) -> bool: ...
    def result(self) -> Any: ...
    def set_result(self, value: Any) -> None: ...
    def set_exception(self, exc: BaseException) -> None: ...
    def add_done_callback(self, fn: Callable[[Any], None]) -> None: ...


class Backend(Protocol):
    """What a handle needs from an engine."""

    def request(
        self, rank: int, build: Callable[[int], Any], on_reply: Callable[[Any], None]
    ) -> int: ...
    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any) -> Any: ...
    def now(self) -> float: ...
    def future(self) -> Any: ...


def decode_value(data: Any) -> Any:
    """Flux's rule for values read back: JSON if it parses, else UTF-8 text, else
    bytes.  An empty value reads back as None; anything not bytes is returned as is."""
    if not isinstance(data, bytes | bytearray):
        return data
    if not data:
        return None
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return bytes(data)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _jsonable(value: Any) -> Any:
    """A value as a history can hold it (bytes become ``{"$bytes": base64}``)."""
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    return value


def txn_writes(ops: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What a transaction writes, key by key, as a history records it."""
    writes: dict[str, Any] = {}
    for op in ops:
        dirent = op.get("dirent")
        key = op["key"]
        if dirent is None:
            writes[key] = None
        elif dirent.get("type") == "val":
            value = decode_value(base64.b64decode(dirent["data"]))
            if op.get("flags", 0) & kvsflags.APPEND:
                value = {"$append": _jsonable(value)}
            writes[key] = _jsonable(value)
        elif dirent.get("type") == "symlink":
            writes[key] = {"$symlink": dirent["data"]}
        else:
            writes[key] = {"$" + str(dirent.get("type")): True}
    return writes


class WatchStream:
    """The answers of one watch: a callback per answer and an async iterator."""

    def __init__(self, handle: Handle, key: str, ns: str) -> None:
        self.handle = handle
        self.key = key
        self.ns = ns
        self.client = -1
        self.values: list[Any] = []
        self.error: KVSError | None = None
        self.ended = False
        self.started = 0.0  # when the client started the watch
        self.callbacks: list[Callable[[WatchStream, Any], None]] = []
        self._waiter: Any = None

    def on_value(self, fn: Callable[[WatchStream, Any], None]) -> None:
        self.callbacks.append(fn)

    def next(self) -> Any:
        """A future of the next answer not taken yet (raises the end error)."""
        fut = self.handle.backend.future()
        if self.values:
            fut.set_result(self.values.pop(0))
        elif self.ended:
            fut.set_exception(self.error or error_for(errno.ENODATA, "watch ended"))
        else:
            self._waiter = fut
        return fut

    def cancel(self) -> Any:
        return self.handle._call(
            lambda c: m.WatchCancelReq(client=c, watch=self.client), record=None
        )

    def _deliver(self, reply: m.Reply) -> None:
        if reply.errnum:
            self.ended = True
            self.error = error_for(
                reply.errnum, reply.errmsg or f"watch of {self.key!r}", filename=self.key
            )
            value: Any = self.error
        else:
            value = reply.value
            self.handle._record_watch(self, value, reply.seq, reply.epoch)
        for fn in self.callbacks:
            fn(self, value)
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            if reply.errnum:
                waiter.set_exception(self.error)
            else:
                waiter.set_result(value)
        elif not reply.errnum:
            self.values.append(value)


class Handle:
    """A client of one rank.  ``name`` identifies the process in histories."""

    def __init__(
        self,
        backend: Backend,
        rank: int,
        *,
        userid: int = 0,
        name: str | None = None,
        recorder: Any = None,
    ) -> None:
        self.backend = backend
        self.rank = rank
        self.userid = userid
        self.name = name or f"client@{rank}"
        self.recorder = recorder

    # -- plumbing ----------------------------------------------------------------

    def _call(
        self,
        build: Callable[[int], Any],
        *,
        record: tuple[str, Callable[[], dict[str, Any]]] | None,
        finish: Callable[[m.Reply], Any] | None = None,
        done: Callable[[int, m.Reply | None, Any], None] | None = None,
        key: str | None = None,
    ) -> Any:
        """Send one request; ``key`` (what it is about) becomes the error's filename."""
        fut = self.backend.future()
        rec_id = -1
        if record is not None and self.recorder is not None:
            op, fields = record
            rec_id = self.recorder.invoke(
                process=self.name, rank=self.rank, op=op, time=self.backend.now(), **fields()
            )

        def on_reply(reply: m.Reply) -> None:
            if fut.done():
                return
            if reply.errnum:
                err = error_for(reply.errnum, reply.errmsg, filename=key)
                if rec_id >= 0:
                    self.recorder.complete(
                        rec_id,
                        time=self.backend.now(),
                        error=_errname(reply.errnum),
                        version=reply.seq if reply.seq >= 0 else None,
                        indeterminate=record is not None
                        and record[0] == "commit"
                        and reply.errnum in UNKNOWN_OUTCOME,
                        epoch=reply.epoch,
                    )
                fut.set_exception(err)
                return
            value = finish(reply) if finish is not None else reply.value
            if rec_id >= 0 and done is not None:
                done(rec_id, reply, value)
            elif rec_id >= 0:
                self.recorder.complete(
                    rec_id, time=self.backend.now(), version=reply.seq, epoch=reply.epoch
                )
            fut.set_result(value)

        self.backend.request(self.rank, build, on_reply)
        return fut

    # -- reads -------------------------------------------------------------------

    def lookup(
        self, key: str, *, ns: str = PRIMARY, want: str = "value", rootref: str | None = None
    ) -> Any:
        """Raw lookup: bytes for ``value``, entries for ``dir`` (see LookupReq)."""
        return self._call(
            lambda c: m.LookupReq(
                client=c, ns=ns, key=key, want=want, rootref=rootref, userid=self.userid
            ),
            record=None,
            key=key,
        )

    def get(self, key: str, *, ns: str = PRIMARY) -> Any:
        """The decoded value of ``key`` (Flux's decoding rule)."""

        def done(rec_id: int, reply: m.Reply | None, value: Any) -> None:
            self.recorder.complete(
                rec_id,
                time=self.backend.now(),
                value=_jsonable(value),
                version=reply.seq if reply else None,
                epoch=reply.epoch if reply else 0,
            )

        return self._call(
            lambda c: m.LookupReq(client=c, ns=ns, key=key, want="value", userid=self.userid),
            record=("get", lambda: {"ns": ns, "key": key}),
            finish=lambda r: decode_value(r.value),
            done=done,
            key=key,
        )

    def getroot(self, *, ns: str = PRIMARY) -> Any:
        return self._call(lambda c: m.GetRootReq(client=c, ns=ns, userid=self.userid), record=None)

    def get_version(self, *, ns: str = PRIMARY) -> Any:
        return self._call(
            lambda c: m.GetRootReq(client=c, ns=ns, userid=self.userid),
            record=("get_version", lambda: {"ns": ns}),
            finish=lambda r: r.value["seq"],
        )

    def wait_version(self, version: int, *, ns: str = PRIMARY, timeout: float | None = None) -> Any:
        fut = self._call(
            lambda c: m.WaitVersionReq(client=c, ns=ns, version=version, userid=self.userid),
            record=("wait_version", lambda: {"ns": ns, "version": version}),
        )
        if timeout is not None and timeout >= 0:

            def expire() -> None:
                if not fut.done():
                    fut.set_exception(
                        TimedOut(
                            errno.ETIMEDOUT, f"version {version} not reached within {timeout} s"
                        )
                    )

            timer = self.backend.call_later(timeout, expire)
            if hasattr(timer, "cancel"):
                fut.add_done_callback(lambda _: timer.cancel())
        return fut

    def watch(self, key: str, *, ns: str = PRIMARY, flags: int = 0) -> WatchStream:
        stream = WatchStream(self, key, ns)
        stream.started = self.backend.now()

        def build(c: int) -> m.WatchReq:
            stream.client = c
            return m.WatchReq(client=c, ns=ns, key=key, flags=flags, userid=self.userid)

        self.backend.request(self.rank, build, stream._deliver)
        return stream

    def _record_watch(self, stream: WatchStream, value: Any, seq: int, epoch: int = 0) -> None:
        if self.recorder is not None:
            now = self.backend.now()
            self.recorder.op(
                process=self.name,
                rank=self.rank,
                op="watch",
                ns=stream.ns,
                key=stream.key,
                value=_jsonable(decode_value(value) if isinstance(value, bytes) else value),
                version=seq,
                # A response is one element of a stream the client asked for when it
                # started the watch: it is ordered after nothing later than that.
                invoke=stream.started,
                complete=now,
                epoch=epoch,
            )

    # -- writes ------------------------------------------------------------------

    def commit(
        self, txn: Txn | Iterable[dict[str, Any]], *, ns: str = PRIMARY, flags: int = 0
    ) -> Any:
        """Commit a transaction; the future gives ``{"seq", "rootref"}`` as the API
        reports it (see ``commit_response`` in the rank configuration)."""
        ops = tuple(txn.ops if isinstance(txn, Txn) else txn)

        def done(rec_id: int, reply: m.Reply | None, value: Any) -> None:
            self.recorder.complete(
                rec_id,
                time=self.backend.now(),
                version=reply.seq if reply else None,
                reported_version=value.get("seq") if isinstance(value, dict) else None,
                epoch=reply.epoch if reply else 0,
            )

        return self._call(
            lambda c: m.CommitReq(client=c, ns=ns, ops=ops, flags=flags, userid=self.userid),
            record=("commit", lambda: {"ns": ns, "writes": txn_writes(ops)}),
            done=done,
        )

    def put(self, key: str, value: Any, *, ns: str = PRIMARY, flags: int = 0) -> Any:
        """Put one JSON value and commit it."""
        txn = Txn()
        txn.put(key, value)
        return self.commit(txn, ns=ns, flags=flags)

    # -- administration ----------------------------------------------------------

    def dropcache(self) -> Any:
        return self._call(lambda c: m.DropCacheReq(client=c), record=("dropcache", lambda: {}))

    def stats(self) -> Any:
        return self._call(lambda c: m.StatsReq(client=c), record=None)

    def namespace_create(self, name: str, owner: int | None = None, flags: int = 0) -> Any:
        owner = self.userid if owner is None else owner
        return self._call(
            lambda c: m.NamespaceCreateReq(
                client=c, ns=name, owner=owner, flags=flags, userid=self.userid
            ),
            record=None,
        )

    def namespace_remove(self, name: str) -> Any:
        return self._call(
            lambda c: m.NamespaceRemoveReq(client=c, ns=name, userid=self.userid), record=None
        )

    def namespace_list(self) -> Any:
        return self._call(lambda c: m.NamespaceListReq(client=c, userid=self.userid), record=None)

    def checkpoint_lookup(self) -> Any:
        return self._call(lambda c: m.CheckpointLookupReq(client=c), record=None)


def _errname(errnum: int) -> str:
    return errno.errorcode.get(errnum, str(errnum))
