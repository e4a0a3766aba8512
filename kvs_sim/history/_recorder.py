"""Recording a history while a run happens.

Theory of operation
-------------------
A :class:`Recorder` is an append-only list of records in memory.  A producer (the
simulator's client layer, a live test driver) calls it at two moments per client
operation, the way Jepsen records a history:

1. when the client *invokes* the operation: :meth:`Recorder.invoke` returns a new
   op id (ids increase from 0 in invocation order);
2. when the answer arrives: :meth:`Recorder.complete` with that id, the time, and
   the outcome (``version``, ``value``, ``error``...).

An operation that is known in full at once (a test writing a history by hand)
goes through :meth:`Recorder.op`, which is ``invoke`` and ``complete`` in one call.
Root records go through :meth:`Recorder.root`.  A fault goes through
:meth:`Recorder.nemesis` when it starts (it returns the interval's index) and
:meth:`Recorder.heal` when it ends, which may add to its ``detail`` (a leader
crash adds what it lost).  :meth:`Recorder.history` takes a snapshot at any time;
an operation not completed yet appears with ``complete=None`` and ``ok=False``,
and a fault not healed yet with ``end=None``: that is how a history says "outcome
unknown" and "never healed".  An operation that failed without knowing whether it
took effect is completed with ``indeterminate=True``.

The recorder reads no clock: every time is passed in by the caller, so a
virtual-time run records virtual time and a replayed seed records the same bytes.
Values must be JSON (they are checked, and copied through JSON, when recorded), so
a history saved and loaded again compares equal to the one recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from kvs_sim.history._records import (
    Header,
    History,
    HistoryError,
    NemesisInterval,
    Op,
    RootEvent,
)

_UNSET: Any = object()


def _json_copy(what: str, value: Any) -> Any:
    """``value`` copied through JSON, so what is recorded is what will be loaded."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise HistoryError(f"{what} must be JSON-serialisable: {e}") from None


class Recorder:
    """Collects the records of one run; see the module docstring for the protocol.

    >>> rec = Recorder(seed=1, config={"size": 2, "fanout": 2}, claims=["read-your-writes"])
    >>> c = rec.invoke(process="p1", rank=1, op="commit", writes={"x": 1}, time=0.0)
    >>> rec.root(rank=0, version=1, time=0.4)
    >>> rec.root(rank=1, version=1, time=0.7)
    >>> rec.complete(c, time=0.8, version=1, reported_version=0)
    >>> rec.op(process="p1", rank=1, op="get", key="x", value=1, version=1, invoke=0.9,
    ...        complete=1.0)
    1
    >>> len(rec.history().ops)
    2
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        config: Mapping[str, Any] | None = None,
        claims: Iterable[str] = (),
    ) -> None:
        self.header = Header(
            seed=seed,
            config=_json_copy("config", dict(config or {})),
            claims=tuple(claims),
        )
        self._ops: list[Op] = []
        self._index: dict[int, int] = {}
        self._roots: list[RootEvent] = []
        self._nemeses: list[NemesisInterval] = []

    # -- operations -----------------------------------------------------------

    def invoke(
        self,
        *,
        process: str,
        rank: int,
        op: str,
        time: float,
        ns: str = "primary",
        key: str | None = None,
        value: Any = None,
        version: int | None = None,
        writes: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> int:
        """Record that ``process`` on ``rank`` invoked ``op`` at ``time``; returns its id.

        Give what is known at invocation: the ``key`` of a get or watch, the
        ``writes`` of a commit, the ``version`` a wait_version waits for, the
        ``token`` (and ``value``) of a send.
        """
        op_id = len(self._ops)
        record = Op(
            id=op_id,
            process=process,
            rank=rank,
            op=op,
            ns=ns,
            key=key,
            value=_json_copy("value", value),
            invoke=float(time),
            version=version,
            writes=None if writes is None else _json_copy("writes", dict(writes)),
            token=token,
        )
        self._index[op_id] = len(self._ops)
        self._ops.append(record)
        return op_id

    def complete(
        self,
        op_id: int,
        *,
        time: float,
        ok: bool | None = None,
        error: str | None = None,
        value: Any = _UNSET,
        version: int | None = _UNSET,
        reported_version: int | None = _UNSET,
        token: str | None = _UNSET,
        indeterminate: bool = False,
        epoch: int = 0,
    ) -> None:
        """Record that operation ``op_id`` completed at ``time``.

        ``ok`` defaults to ``error is None``.  ``value`` is what a read returned
        (or a recv received), ``version`` the version served or produced,
        ``reported_version`` what the API returned for a commit.  Fields not given
        keep what :meth:`invoke` recorded.  ``indeterminate=True`` says the
        operation failed (``error``) without knowing whether it took effect; it
        cannot be ``ok``.  ``epoch`` is the leader epoch of ``version``.
        Completing an unknown or already completed operation raises
        :class:`HistoryError`.
        """
        if op_id not in self._index:
            raise HistoryError(f"complete({op_id}): no such operation was invoked")
        i = self._index[op_id]
        record = self._ops[i]
        if record.complete is not None:
            raise HistoryError(f"complete({op_id}): operation already completed")
        if time < record.invoke:
            raise HistoryError(
                f"complete({op_id}): completion time {time} is before invocation {record.invoke}"
            )
        changes: dict[str, Any] = {
            "complete": float(time),
            "ok": (error is None) if ok is None else ok,
            "error": error,
            "indeterminate": indeterminate,
        }
        if epoch:
            changes["epoch"] = epoch
        if indeterminate and changes["ok"]:
            raise HistoryError(f"complete({op_id}): an indeterminate operation cannot be ok")
        if value is not _UNSET:
            changes["value"] = _json_copy("value", value)
        if version is not _UNSET:
            changes["version"] = version
        if reported_version is not _UNSET:
            changes["reported_version"] = reported_version
        if token is not _UNSET:
            changes["token"] = token
        self._ops[i] = replace(record, **changes)

    def op(
        self,
        *,
        process: str,
        rank: int,
        op: str,
        invoke: float,
        complete: float | None,
        ns: str = "primary",
        key: str | None = None,
        value: Any = None,
        ok: bool | None = None,
        error: str | None = None,
        version: int | None = None,
        reported_version: int | None = None,
        writes: Mapping[str, Any] | None = None,
        token: str | None = None,
        indeterminate: bool = False,
        epoch: int = 0,
    ) -> int:
        """Record a whole operation at once (``complete=None``: it never completed)."""
        op_id = self.invoke(
            process=process,
            rank=rank,
            op=op,
            time=invoke,
            ns=ns,
            key=key,
            value=value,
            version=version,
            writes=writes,
            token=token,
        )
        if complete is not None:
            self.complete(
                op_id,
                time=complete,
                ok=ok,
                error=error,
                reported_version=reported_version,
                indeterminate=indeterminate,
                epoch=epoch,
            )
        elif error is not None or reported_version is not None:
            i = self._index[op_id]
            self._ops[i] = replace(self._ops[i], error=error, reported_version=reported_version)
        return op_id

    def pending(self) -> list[int]:
        """Ids of operations invoked and not completed yet."""
        return [o.id for o in self._ops if o.complete is None]

    # -- roots ----------------------------------------------------------------

    def root(
        self, *, rank: int, version: int, time: float, ns: str = "primary", epoch: int = 0
    ) -> None:
        """Record that ``rank`` applied root ``version`` of ``ns`` at ``time``.

        Rank 0 records the creation of each version; followers record each setroot
        they apply (not the ones they skip as old).
        """
        self._roots.append(
            RootEvent(rank=rank, ns=ns, version=version, time=float(time), epoch=epoch)
        )

    # -- nemeses --------------------------------------------------------------

    def nemesis(
        self,
        *,
        name: str,
        start: float,
        ranks: Iterable[int] = (),
        end: float | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """Record that fault ``name`` began on ``ranks`` at ``start``; returns its index.

        Give ``end`` when it is known already; otherwise :meth:`heal` sets it.
        ``detail`` is JSON (a partition's links and mode, a slow rank's factor...).
        """
        if end is not None and end < start:
            raise HistoryError(f"nemesis {name!r}: end {end} is before start {start}")
        self._nemeses.append(
            NemesisInterval(
                name=name,
                start=float(start),
                end=None if end is None else float(end),
                ranks=tuple(sorted(set(ranks))),
                detail=_json_copy("detail", dict(detail or {})),
            )
        )
        return len(self._nemeses) - 1

    def heal(self, index: int, *, time: float, detail: Mapping[str, Any] | None = None) -> None:
        """Record that the fault :meth:`nemesis` returned ``index`` for ended at
        ``time``; ``detail`` is merged into what was recorded at its start."""
        if not 0 <= index < len(self._nemeses):
            raise HistoryError(f"heal({index}): no such nemesis was recorded")
        record = self._nemeses[index]
        if record.end is not None:
            raise HistoryError(f"heal({index}): nemesis {record.name!r} already ended")
        if time < record.start:
            raise HistoryError(f"heal({index}): time {time} is before its start {record.start}")
        merged = {**record.detail, **_json_copy("detail", dict(detail or {}))}
        self._nemeses[index] = replace(record, end=float(time), detail=merged)

    def amend(self, index: int, detail: Mapping[str, Any]) -> None:
        """Merge ``detail`` into nemesis ``index`` (healed or not): what a crash
        lost is known when the restarted leader reports its checkpoint."""
        if not 0 <= index < len(self._nemeses):
            raise HistoryError(f"amend({index}): no such nemesis was recorded")
        record = self._nemeses[index]
        merged = {**record.detail, **_json_copy("detail", dict(detail))}
        self._nemeses[index] = replace(record, detail=merged)

    # -- result ---------------------------------------------------------------

    def history(self) -> History:
        """A snapshot of everything recorded so far."""
        return History(self.header, tuple(self._ops), tuple(self._roots), tuple(self._nemeses))
