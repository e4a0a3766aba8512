"""The records of a history: what clients did and when each rank moved its root.

Theory of operation
-------------------
A *history* is the evidence a run leaves behind, independent of how it was produced
(the virtual-time simulator, the live MQTT ranks, or a real Flux instance driven by
a script).  Checkers (``kvs_sim.checks``) and metrics (``kvs_sim.metrics``) read
nothing else, so anything that can write these records can be checked.

A history has four parts:

* a :class:`Header`: the seed, a free-form ``config`` (``size``, ``fanout``,
  ``depth`` of each rank, latencies...) and the ``claims``, the guarantees the
  scenario says must hold;
* :class:`Op` records, one per client operation, Jepsen style: a process invoked
  an operation at ``invoke`` and saw it complete at ``complete`` (``None``: it never
  did, the outcome is unknown).  ``version`` is the *truth* as the producer knows
  it (the root version a read was served from, the version a commit produced);
  ``reported_version`` is what the API told the client.  Keeping both is what lets
  a checker explain the Flux 0.88 follower off-by-one: a commit on a follower
  reports one less than the version it produced;
* :class:`RootEvent` records: rank ``rank`` applied root ``version`` of namespace
  ``ns`` at ``time``.  Rank 0's record is the moment the version was created;
* :class:`NemesisInterval` records: a fault (partition, crash, pause, slow rank,
  latency spike, loss) that held ``ranks`` from ``start`` to ``end`` (``None``: never
  healed).  A leader crash's ``detail`` names what it lost (``lost_versions``,
  ``lost_ops``).

An operation whose outcome is unknown is *indeterminate* (Jepsen's ``:info``):
``indeterminate`` is set (it failed, typically ``ETIMEDOUT``, while its rank or the
leader was down) or it never completed.  Checkers treat it as "may or may not have
taken effect" (:attr:`Op.outcome_unknown`).

Program order of a process is real-time order: operation B of a process comes
after A when ``A.complete <= B.invoke`` (ties broken by invocation time, then id:
see :meth:`Op.precedes`).  Operations of one process that overlap
(asynchronous futures) are concurrent and no session guarantee orders them.

Values are JSON.  In ``writes``, ``null`` means the key was unlinked; a read that
failed with ``ENOENT`` read "absent".  Times are floats in seconds, on one clock.

The records are frozen; :class:`~kvs_sim.history.Recorder` builds them and
:func:`~kvs_sim.history.save` / :func:`~kvs_sim.history.load` move them to and
from JSON Lines (see ``docs/history-format.md``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

FORMAT_NAME = "kvs-sim-history"
"""The ``format`` field of every header."""

FORMAT_VERSION = 1
"""The ``version`` field of headers this code writes and reads."""

OP_NAMES = frozenset(
    {"commit", "get", "get_version", "wait_version", "send", "recv", "watch", "dropcache", "cas"}
)
"""Operation names with a defined meaning (``cas`` comes from other systems' histories);
others are kept by :func:`~kvs_sim.history.load` and refused by a strict load."""

READ_OPS = frozenset({"get", "watch"})
"""Operations that read a key's value at a version."""

NEMESIS_NAMES = frozenset({"partition", "crash", "pause", "slow", "spike", "loss"})
"""Nemesis names with a defined meaning; others are kept and ignored by checkers."""


class HistoryError(ValueError):
    """A history cannot be read, or a record is invalid.

    Raised by :func:`~kvs_sim.history.load` (with the file name and line number),
    by :func:`~kvs_sim.history.record_from_dict` for an invalid record, and by
    :class:`~kvs_sim.history.Recorder` when it is misused (completing an unknown
    or already completed operation).  Not raised for unknown operation names or
    unknown fields: those are kept, so newer producers stay readable.
    """


def read_history_file(
    path: str | os.PathLike[str], parse: Callable[[IO[str], str], History]
) -> History:
    """``parse(file, name)`` on the text file at ``path``; a file that is missing,
    a directory, not UTF-8 or unreadable raises :class:`HistoryError` in one line."""
    name = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            return parse(f, name)
    except FileNotFoundError:
        raise HistoryError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise HistoryError(f"{name}: is a directory, not a history file") from None
    except UnicodeDecodeError as e:
        raise HistoryError(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise HistoryError(f"{name}: cannot read: {e.strerror or e}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """The first record of a history: how it was made and what it claims."""

    seed: int | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    claims: tuple[str, ...] = ()
    version: int = FORMAT_VERSION
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields this code does not know, kept for round trips."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Op:
    """One client operation, from invocation to completion.

    ``ok`` is True when it succeeded; ``error`` is the errno name when it failed
    (``"ENOENT"``, ``"ETIMEDOUT"``...).  An operation with ``complete=None`` never
    completed: ``ok`` is False and a commit's effect is unknown unless ``version``
    says which version it went into.  ``indeterminate`` marks a failure whose
    effect is unknown (a commit that timed out while the leader was down may still
    be applied); see :attr:`outcome_unknown`.
    """

    id: int
    process: str
    rank: int
    op: str
    ns: str = "primary"
    key: str | None = None
    value: Any = None
    invoke: float = 0.0
    complete: float | None = None
    ok: bool = False
    error: str | None = None
    version: int | None = None
    reported_version: int | None = None
    writes: Mapping[str, Any] | None = None
    token: str | None = None
    indeterminate: bool = False
    epoch: int = 0
    """The leader epoch of ``version`` (versions restart after a leader crash)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields this code does not know, kept for round trips."""

    @property
    def completed(self) -> bool:
        """True when the operation completed (successfully or not)."""
        return self.complete is not None

    @property
    def outcome_unknown(self) -> bool:
        """True when it may or may not have taken effect: marked indeterminate, or
        never completed (Jepsen's ``:info``)."""
        return self.indeterminate or self.complete is None

    def precedes(self, other: Op) -> bool:
        """True when this operation completed before ``other`` was invoked.

        Program order is real time: ``self.complete <= other.invoke``.  At a tie
        the op invoked first, then the one recorded first, comes first; so two
        zero-duration ops at one instant are ordered by id and never precede each
        other both ways.
        """
        return self.complete is not None and done_key(self) < start_key(other)


@dataclass(frozen=True, slots=True, kw_only=True)
class RootEvent:
    """Rank ``rank`` applied root ``version`` of ``ns`` (leader ``epoch``) at ``time``."""

    rank: int
    ns: str
    version: int
    time: float
    epoch: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class NemesisInterval:
    """A fault named ``name`` acting on ``ranks`` from ``start`` to ``end``.

    ``end`` is None when it was never healed (the run ended first).  ``detail``
    is the nemesis's own description (a partition's ``links`` and ``mode``, a slow
    rank's ``factor``, a leader crash's ``lost_versions`` and ``lost_ops``...).
    """

    name: str
    start: float
    end: float | None = None
    ranks: tuple[int, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields this code does not know, kept for round trips."""

    def active(self, time: float) -> bool:
        """True when the fault held at ``time`` (``start <= time < end``)."""
        return self.start <= time and (self.end is None or time < self.end)

    def overlaps(self, start: float, end: float | None) -> bool:
        """True when the fault held at some moment of ``[start, end]`` (``end`` None:
        unbounded)."""
        ends_after = self.end is None or self.end > start
        return ends_after and (end is None or self.start <= end)


def start_key(op: Op) -> tuple[float, float, int]:
    """Where ``op`` starts in the order of :meth:`Op.precedes`."""
    return (op.invoke, op.invoke, op.id)


def done_key(op: Op) -> tuple[float, float, int]:
    """Where ``op`` ends in the order of :meth:`Op.precedes` (after every start
    key when it never completed)."""
    end = op.complete if op.complete is not None else float("inf")
    return (end, op.invoke, op.id)


def program_order_key(op: Op) -> tuple[float, int]:
    """Sort key for a process's operations: by invocation time, then id."""
    return (op.invoke, op.id)


@dataclass(frozen=True, slots=True)
class History:
    """A header, the operations, the root records and the nemeses of one run.

    ``ops``, ``roots`` and ``nemeses`` keep the order they were recorded (or read)
    in; the helpers below never reorder them in place.
    """

    header: Header
    ops: tuple[Op, ...] = ()
    roots: tuple[RootEvent, ...] = ()
    nemeses: tuple[NemesisInterval, ...] = ()

    def op(self, op_id: int) -> Op:
        """The operation with id ``op_id`` (KeyError if there is none)."""
        for o in self.ops:
            if o.id == op_id:
                return o
        raise KeyError(op_id)

    def ops_by_id(self) -> dict[int, Op]:
        """Every operation by its id."""
        return {o.id: o for o in self.ops}

    def processes(self) -> dict[str, list[Op]]:
        """Each process's operations in program order (invocation time, then id)."""
        out: dict[str, list[Op]] = {}
        for o in sorted(self.ops, key=program_order_key):
            out.setdefault(o.process, []).append(o)
        return out

    def namespaces(self) -> list[str]:
        """Every namespace named by an operation or a root record, sorted."""
        return sorted({o.ns for o in self.ops} | {r.ns for r in self.roots})

    def commits(self, ns: str | None = None) -> list[Op]:
        """Commits (of ``ns``, or all) that went into a known version."""
        return [
            o
            for o in self.ops
            if o.op == "commit" and o.version is not None and (ns is None or o.ns == ns)
        ]

    def commits_by_version(self, ns: str) -> dict[int, list[Op]]:
        """The commits of ``ns`` merged into each version, by version."""
        out: dict[int, list[Op]] = {}
        for o in self.commits(ns):
            assert o.version is not None
            out.setdefault(o.version, []).append(o)
        return dict(sorted(out.items()))

    def created(self, ns: str) -> dict[int, float]:
        """When each version of ``ns`` was created (rank 0's root records)."""
        out: dict[int, float] = {}
        for r in self.roots:
            if r.rank == 0 and r.ns == ns and r.version not in out:
                out[r.version] = r.time
        return out

    def final_versions(self) -> dict[str, int]:
        """The last version of each namespace.

        Taken from rank 0's root records when there are any for the namespace,
        else from any rank's root records or commits.
        """
        out: dict[str, int] = {}
        for ns in self.namespaces():
            leader = [r.version for r in self.roots if r.ns == ns and r.rank == 0]
            if leader:
                out[ns] = max(leader)
                continue
            seen = [r.version for r in self.roots if r.ns == ns]
            seen += [o.version for o in self.commits(ns) if o.version is not None]
            if seen:
                out[ns] = max(seen)
        return out

    def crashes(self, rank: int | None = None) -> list[NemesisInterval]:
        """Crash intervals (of ``rank``, or all), in recorded order."""
        return [n for n in self.nemeses if n.name == "crash" and (rank is None or rank in n.ranks)]

    def ranks(self) -> list[int]:
        """Every rank: ``range(config["size"])`` when given, plus any rank named."""
        found = {o.rank for o in self.ops} | {r.rank for r in self.roots}
        found |= {r for n in self.nemeses for r in n.ranks}
        size = self.header.config.get("size")
        if isinstance(size, int) and not isinstance(size, bool):
            found |= set(range(size))
        return sorted(found)
