"""The leader's content and checkpoints: what survives a crash and what does not.

Theory of operation
-------------------
:class:`LeaderContent` is the leader's object cache in front of its backing
:class:`~kvs_sim.core.content.ContentStore`.  New objects are *dirty* until
flushed; the leader flushes after every batch, so every object of every version
reaches the store.  What makes a version survive a crash is the *checkpoint*: the
store's pointer to the primary namespace's root (``sequence``, ``rootref``,
``epoch``).  A restarted leader resumes from it, in a new epoch.

:class:`Checkpoints` decides when to write one, as Flux does: after every
``SYNC`` commit (before the commit is answered), every ``checkpoint_period``
seconds while versions are waiting (``RankConfig.checkpoint_period``; None:
never), and at a clean shutdown; never at start (a leader with a period writes
a start mark instead, :data:`START_MARK`).  It also keeps the log of primary versions
created since the last checkpoint with the transactions merged into each: exactly
what a crash at this moment loses (:meth:`Checkpoints.at_risk`).

A SYNC commit is never lost: its version is checkpointed before it is answered,
and a later crash resumes at or after it.
"""

from __future__ import annotations

import errno
from typing import Any

from kvs_sim.core.content import ContentStore, LazyBlob, blobref
from kvs_sim.core.errors import NoSuchKey


class LeaderContent:
    """The leader's object cache in front of its backing content store.

    Objects are bytes, or :class:`~kvs_sim.core.content.LazyBlob` versions of large
    directories (``accepts_lazy``, see :mod:`kvs_sim.core.dirs`), which lookups use
    decoded and loads turn into bytes."""

    __slots__ = ("backing", "cache", "dirty", "hash_name")

    accepts_lazy = True

    def __init__(self, backing: ContentStore) -> None:
        self.backing = backing
        self.hash_name = backing.hash_name
        self.cache: dict[str, bytes | LazyBlob] = {}
        self.dirty: set[str] = set()

    def store(self, data: bytes | LazyBlob) -> str:
        ref = data.ref if isinstance(data, LazyBlob) else blobref(data, self.hash_name)
        if ref not in self.cache:
            self.cache[ref] = data
            if ref not in self.backing:
                self.dirty.add(ref)
        return ref

    def get(self, ref: str) -> bytes | LazyBlob | None:
        data = self.cache.get(ref)
        if data is None and ref in self.backing:
            data = self.cache[ref] = self.backing.load(ref)
        return data

    def load(self, ref: str) -> bytes | LazyBlob:
        data = self.get(ref)
        if data is None:
            raise NoSuchKey(errno.ENOENT, f"blobref {ref} is not in the content store")
        return data

    def flush(self) -> int:
        dirty = self.dirty
        for ref in dirty:
            self.backing.store(self.cache[ref])
        n = len(dirty)
        dirty.clear()
        return n

    def drop(self) -> int:
        """Drop every clean entry; return how many."""
        keep = {ref: self.cache[ref] for ref in self.dirty}
        dropped = len(self.cache) - len(keep)
        self.cache = keep
        return dropped


START_MARK = "start"
"""Set in the record a leader with a checkpoint period writes when it starts
fresh: the record carries the epoch, so even a restart before the first
checkpoint begins a new epoch, but it is no checkpoint: Flux writes none at
start (only on SYNC, every period after a change, at shutdown), so a checkpoint
lookup answers ENOENT until one is written."""


def is_checkpoint(record: dict[str, Any] | None) -> bool:
    """A stored record is a checkpoint (not None, not a leader's start mark)."""
    return record is not None and not record.get(START_MARK)


class Checkpoints:
    """When the leader checkpoints the primary root, and what is not checkpointed yet."""

    __slots__ = ("_log", "period", "seq", "store", "timer_set")

    def __init__(self, store: ContentStore, period: float | None, seq: int) -> None:
        self.store = store
        self.period = period
        self.seq = seq
        """The sequence of the last checkpoint (what a restart would resume from)."""
        self.timer_set = False
        """A periodic checkpoint timer is pending."""
        self._log: list[tuple[int, tuple[str, ...]]] = []

    def created(self, seq: int, names: tuple[str, ...]) -> None:
        """The primary namespace got version ``seq`` from transactions ``names``."""
        self._log.append((seq, names))

    def write(self, *, seq: int, rootref: str, epoch: int, now: float, start: bool = False) -> None:
        """Checkpoint primary version ``seq`` (flushed first: the objects are there);
        ``start``: only the start mark (:data:`START_MARK`)."""
        self.store.flush()
        record = {"version": 1, "sequence": seq, "timestamp": now, "rootref": rootref}
        record["epoch"] = epoch
        if start:
            record[START_MARK] = True
        self.store.put_checkpoint(record)
        self.store.flush()
        self.seq = seq
        self._log = [(s, n) for s, n in self._log if s > seq]

    def at_risk(self) -> list[tuple[int, tuple[str, ...]]]:
        """``(version, transaction names)`` of every primary version a crash now loses."""
        return list(self._log)

    def wants_timer(self) -> bool:
        """True when a periodic checkpoint should be scheduled now (one is pending at most)."""
        if self.period is None or self.timer_set or not self._log:
            return False
        self.timer_set = True
        return True


def resume_point(store: ContentStore, epoch: int | None) -> tuple[int, str, int] | None:
    """``(seq, rootref, epoch)`` a leader starting on ``store`` resumes from, or None
    for a fresh start.  ``epoch`` (a restarter that knows the previous epoch) wins
    when it is later than the one the checkpoint implies."""
    checkpoint: dict[str, Any] | None = store.get_checkpoint()
    if checkpoint is None:
        return None
    seq, rootref = int(checkpoint["sequence"]), str(checkpoint["rootref"])
    new = int(checkpoint.get("epoch", 0)) + 1
    if epoch is not None and epoch > new:
        new = epoch
    store.put_checkpoint({**checkpoint, "epoch": new})
    store.flush()
    return seq, rootref, new
