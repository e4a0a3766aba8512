"""Watches: a lookup that keeps answering as commits change the key.

Theory of operation
-------------------
A watch lives on the rank its client talks to.  It answers once with the
current value (or waits for the key to appear with ``WAITCREATE``), then looks
the key up again whenever a new root mentions it, and answers again:

* plain: every time a setroot's changed keys include the key;
* ``WATCH_UNIQ``: only when the value differs from the last one sent;
* ``WATCH_FULL``: also when a change to a parent directory (or anything below
  the key) may have altered it, e.g. the parent was removed (``ENOENT``); like
  ``WATCH_UNIQ``, only when the value differs (Flux compares under both);
* ``WATCH_APPEND``: the data appended since the last answer, one answer per
  appended blob as Flux's kvs-watch gives them (an appended value is a valref
  with one blobref per append: two appends in one commit are two answers, an
  empty append an empty one; the first answer(s): the blob(s) already there); a
  value that is overwritten or shortened ends the stream with ``EINVAL``.

When the rank skipped versions (it learned a newer root without the keys in
between), every watch of the namespace looks again.  A key removed under a watch
ends the stream with ``ENOENT``; cancelling ends it with ``ENODATA``.

Each root that concerns a watch is queued on it and looked up *at that root*; the
lookups run concurrently (one stalled on a missing object parks only itself) and
the answers go out in root order, as Flux's kvs-watch module does (one lookup per
setroot, responses in commit order).  So a watcher misses a value only when
commits were merged into one version (or under ``WATCH_UNIQ``), never because its
rank was busy faulting objects in.
"""

from __future__ import annotations

import errno
from collections import deque
from typing import TYPE_CHECKING

from kvs_sim.core.content import as_bytes
from kvs_sim.core.errors import (
    InvalidArgument,
    IsDirectory,
    KVSError,
    NoData,
    NoSuchKey,
    NotSupported,
)
from kvs_sim.core.flags import WAITCREATE, WATCH_APPEND, WATCH_FULL, WATCH_UNIQ
from kvs_sim.core.keys import normalize_key
from kvs_sim.core.lookup import Stall, lookup
from kvs_sim.rank.messages import WatchCancelReq, WatchReq

if TYPE_CHECKING:
    from kvs_sim.rank.base import NsRoot, RankBase


_OVERWRITTEN = "value of key watched with WATCH_APPEND overwritten"


class Watch:
    """One client's watch of one key."""

    __slots__ = ("blobs", "client", "flags", "key", "last", "ns", "queue", "started")

    def __init__(self, client: int, ns: str, key: str, flags: int) -> None:
        self.client = client
        self.ns = ns
        self.key = key
        self.flags = flags
        self.last: bytes | None = None
        self.blobs = 0  # WATCH_APPEND: how many of the value's blobs were answered
        self.started = False
        self.queue: deque[Pending] = deque()  # roots to answer for, oldest first


class Pending:
    """The lookup of a watched key at one root, and its outcome once known."""

    __slots__ = ("chunks", "error", "rootref", "seq", "started", "value")

    def __init__(self, rootref: str, seq: int) -> None:
        self.rootref = rootref
        self.seq = seq
        self.chunks: list[bytes] | None = None
        """WATCH_APPEND: the value's blobs (None: a single ``val``)."""
        self.started = False
        self.value: bytes | None = None
        self.error: KVSError | None = None

    @property
    def ready(self) -> bool:
        return self.value is not None or self.error is not None


def _touches(changed: str, key: str) -> bool:
    """True if a change to ``changed`` may alter ``key`` (same, parent or child)."""
    return changed == key or key.startswith(changed + ".") or changed.startswith(key + ".")


def on_watch(rank: RankBase, req: WatchReq) -> None:
    rank.port.work(rank.config.service.lookup)
    st = rank.request_ns(req)
    if st is None:
        return
    try:
        key = normalize_key(req.key)
    except KVSError as err:
        rank.reply_error(req.client, err)
        return
    watch = Watch(req.client, req.ns, key, req.flags)
    if st.watches is None:
        st.watches = []
    st.watches.append(watch)
    if rank.watches_by_client is None:
        rank.watches_by_client = {}
    rank.watches_by_client[req.client] = watch
    watch.queue.append(Pending(st.rootref, st.seq))
    watch_look(rank, watch)


def on_watch_cancel(rank: RankBase, req: WatchCancelReq) -> None:
    rank.port.work(rank.config.service.message)
    watch = (rank.watches_by_client or {}).get(req.watch)
    if watch is not None:
        end_watch(rank, watch, NoData(errno.ENODATA, "watch cancelled"))
    rank.reply(req.client, None)


def refresh_watches(rank: RankBase, name: str, st: NsRoot, keys: tuple[str, ...] | None) -> None:
    changed = None if keys is None else frozenset(keys)
    for watch in list(st.watches or ()):
        if changed is not None:
            if watch.flags & WATCH_FULL:
                if not any(_touches(k, watch.key) for k in changed):
                    continue
            elif watch.key not in changed:
                continue
        watch.queue.append(Pending(st.rootref, st.seq))
        watch_look(rank, watch)


def watch_look(rank: RankBase, watch: Watch) -> None:
    """Start a lookup at every queued root not started yet, then answer from the
    head of the queue for as long as the head's outcome is known."""
    if watch.ns not in rank.roots:
        end_watch(rank, watch, NotSupported(errno.EOPNOTSUPP, f"namespace {watch.ns!r} gone"))
        return
    for entry in list(watch.queue):
        if not entry.started:
            _look_at(rank, watch, entry)
    while watch.queue and watch.queue[0].ready:
        entry = watch.queue.popleft()
        if entry.value is not None:
            if not watch_emit(rank, watch, entry.value, entry.seq, entry.chunks):
                return
        elif isinstance(entry.error, NoSuchKey) and not watch.started and watch.flags & WAITCREATE:
            continue  # not created yet: wait for a root that has it
        elif isinstance(entry.error, IsDirectory) and watch.started and watch.flags & WATCH_APPEND:
            end_watch(
                rank, watch, InvalidArgument("value of key watched with WATCH_APPEND overwritten")
            )
            return
        else:
            assert entry.error is not None
            end_watch(rank, watch, entry.error)
            return


def _look_at(rank: RankBase, watch: Watch, entry: Pending) -> None:
    """Look the watched key up at ``entry``'s root; a stall resumes the watch later."""
    entry.started = True
    try:
        entry.value = lookup(rank.load_object, entry.rootref, watch.key, resolve_ns=rank.resolve_ns)
        if watch.flags & WATCH_APPEND:
            entry.chunks = _blobs(rank, entry.rootref, watch.key)
    except Stall as exc:

        def resume(err: KVSError | None) -> None:
            if err is not None:
                entry.error = err
            else:
                entry.started = False  # look again, now that the object is in
            if (rank.watches_by_client or {}).get(watch.client) is watch:
                watch_look(rank, watch)

        rank.stall(exc, resume)
    except KVSError as err:
        entry.error = err


def _blobs(rank: RankBase, rootref: str, key: str) -> list[bytes] | None:
    """The blobs of ``key``'s valref at ``rootref`` (None for a ``val``).  The value
    lookup just loaded them, so nothing stalls here."""
    obj = lookup(rank.load_object, rootref, key, want="treeobj", resolve_ns=rank.resolve_ns)
    if obj.get("type") != "valref":
        return None
    return [as_bytes(rank.load_object(ref) or b"") for ref in obj["data"]]


def watch_emit(
    rank: RankBase, watch: Watch, value: bytes, seq: int, chunks: list[bytes] | None = None
) -> bool:
    """Answer ``value`` as the watch's flags say; False if that ended the watch."""
    if watch.flags & WATCH_APPEND:
        return _emit_appended(rank, watch, value, seq, chunks)
    if not watch.started:
        watch.started = True
        watch.last = value
        rank.reply(watch.client, value, seq=seq, final=False)
        return True
    last = watch.last or b""
    if watch.flags & (WATCH_UNIQ | WATCH_FULL) and value == last:
        return True  # Flux's kvs-watch compares under FULL as under UNIQ
    watch.last = value
    rank.reply(watch.client, value, seq=seq, final=False)
    return True


def _emit_appended(
    rank: RankBase, watch: Watch, value: bytes, seq: int, chunks: list[bytes] | None
) -> bool:
    """WATCH_APPEND: one answer per blob not answered yet (see the module)."""
    last = watch.last or b""
    blobs = chunks if chunks is not None else [value]
    if watch.started:
        if chunks is None and value == last:
            return True  # the same single value looked up again: nothing new
        if chunks is None or len(blobs) < watch.blobs or not value.startswith(last):
            short = len(value) < len(last)
            why = "key watched with WATCH_APPEND shortened" if short else _OVERWRITTEN
            end_watch(rank, watch, InvalidArgument(why))
            return False
    watch.started = True
    new, watch.blobs, watch.last = blobs[watch.blobs :], len(blobs), value
    for blob in new:
        rank.reply(watch.client, blob, seq=seq, final=False)
    return True


def end_watch(rank: RankBase, watch: Watch, err: KVSError) -> None:
    st = rank.roots.get(watch.ns)
    if st is not None and st.watches and watch in st.watches:
        st.watches.remove(watch)
    by_client = rank.watches_by_client
    if by_client and by_client.get(watch.client) is watch:
        del by_client[watch.client]
    rank.reply_error(watch.client, err)
