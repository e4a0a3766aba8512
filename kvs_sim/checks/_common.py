"""Verdicts, violations and the vocabulary every checker shares.

Theory of operation
-------------------
A checker is a pure function ``History -> Verdict``.  It looks at *cases* (a read
that some guarantee constrains, a pair of successive commits...) and counts them in
``Verdict.checked``; every case that breaks the guarantee becomes a
:class:`Violation` whose ``ops`` are the ids of the smallest set of operations that
prove it (the commit, the hand-off, the read) and whose ``summary`` says it in
plain words.  ``held`` is ``None`` when there was no case at all: "nothing to
check" must not read as "it held".

Shared vocabulary:

* a **read** is a ``get`` or a ``watch`` response with a ``version``: it returned a
  value (``ok``) or found the key absent (``ENOENT``).  Other failures read nothing.
* an **observation** is a read or a successful ``get_version``: the process saw
  the root at ``version``.
* **after**: op B of a process comes after op A when ``A.complete <= B.invoke``
  (see :meth:`~kvs_sim.history.Op.precedes`); overlapping ops are unordered.
* **keys** are compared after Flux's normalisation (``a..b`` is ``a.b``); values
  are compared as JSON (``1`` and ``true`` differ), and "absent" (a ``null`` in a
  commit's ``writes``, a read failing ``ENOENT``) is JSON ``null``.
* a commit's **effect** on a key, walking its ``writes`` in order: writing the key
  sets it; writing or unlinking a parent directory removes it; writing below it
  turns it into a directory (:data:`DIRECTORY`), which no value read matches.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kvs_sim.history import Op, RootEvent, done_key, start_key

DIRECTORY = "\x00<directory>"
"""The effect of writing below a key: it became a directory (canonical form)."""

ABSENT = "null"
"""The canonical form of an absent key (and of a JSON ``null``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """One broken case: what happened, in words, and the ops that prove it."""

    summary: str
    ops: tuple[int, ...] = ()
    roots: tuple[RootEvent, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": self.summary, "ops": list(self.ops)}
        if self.roots:
            out["roots"] = [
                {"rank": r.rank, "ns": r.ns, "version": r.version, "time": r.time}
                for r in self.roots
            ]
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The result of one checker over one history.

    ``held`` is True (every case held), False (at least one violation) or None
    (no case to check, or ``unknown`` lists cases not decided within a time
    budget).  ``notes`` carry findings that are not violations (when a namespace
    converged, say).
    """

    guarantee: str
    held: bool | None
    checked: int
    violations: list[Violation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        guarantee: str,
        checked: int,
        violations: list[Violation],
        notes: Sequence[str] = (),
    ) -> Verdict:
        """A verdict whose ``held`` follows from ``checked`` and ``violations``."""
        held = None if checked == 0 and not violations else not violations
        return cls(
            guarantee=guarantee,
            held=held,
            checked=checked,
            violations=violations,
            notes=list(notes),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "guarantee": self.guarantee,
            "held": self.held,
            "checked": self.checked,
            "violations": [v.to_dict() for v in self.violations],
            "notes": list(self.notes),
            "unknown": list(self.unknown),
        }


def verdict_word(v: Verdict) -> str:
    """``held``, ``violated``, ``unknown`` (not decided within a time budget) or
    ``nothing to check``: the verdict as summaries, reports and sweeps write it."""
    if v.held is None:
        return "unknown" if v.unknown else "nothing to check"
    return "held" if v.held else "violated"


# ---------------------------------------------------------------------------
# Reads and observations


def is_read(op: Op) -> bool:
    """A get or watch response that read a value or found the key absent."""
    return (
        op.op in ("get", "watch")
        and op.key is not None
        and op.version is not None
        and op.complete is not None
        and (op.ok or op.error == "ENOENT")
    )


def is_observation(op: Op) -> bool:
    """A read, or a successful get_version: the process saw ``op.version``."""
    if op.op == "get_version":
        return op.ok and op.version is not None
    return is_read(op)


def read_value(op: Op) -> Any:
    """What a read returned; ``None`` (absent) for ENOENT."""
    return op.value if op.ok else None


def norm_key(key: str) -> str:
    """Flux's key normalisation: redundant dots dropped (``.a..b.`` is ``a.b``)."""
    return ".".join(part for part in key.split(".") if part)


def prefixes(key: str) -> list[str]:
    """A normalised key and its parent directories: ``a.b.c`` -> ``a``, ``a.b``, ``a.b.c``."""
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def canon(value: Any) -> str:
    """A value as canonical JSON, for comparing and hashing values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def effect(commit: Op, key: str) -> str | None:
    """The canonical value ``commit`` left at normalised ``key``; None if untouched."""
    out: str | None = None
    for raw, value in (commit.writes or {}).items():
        w = norm_key(raw)
        if w == key:
            out = canon(value)
        elif key.startswith(w + ".") or not w:
            out = ABSENT
        elif w.startswith(key + ".") and value is not None:
            out = DIRECTORY
    return out


def show_value(c: str) -> str:
    """A canonical value for people: ``1``, ``"new"``, ``absent``, ``a directory``."""
    if c == ABSENT:
        return "absent"
    if c == DIRECTORY:
        return "a directory"
    return c if len(c) <= 40 else c[:37] + "..."


def show_read(op: Op) -> str:
    """``p1 read x=1 at version 3 on rank 2`` (``x absent`` for ENOENT)."""
    c = canon(read_value(op))
    what = f"{op.key} absent" if c == ABSENT else f"{op.key}={show_value(c)}"
    verb = "watched" if op.op == "watch" else "read"
    return f"{op.process} {verb} {what} at version {op.version} on rank {op.rank}"


def show_writes(op: Op) -> str:
    """``x=2`` or ``x=2, y unlinked`` for a commit's writes."""
    parts = []
    for k, v in (op.writes or {}).items():
        parts.append(f"{k} unlinked" if v is None else f"{k}={show_value(canon(v))}")
    if len(parts) > 3:
        parts = [*parts[:3], f"{len(parts) - 3} more"]
    return ", ".join(parts) or "nothing"


def describe(op: Op) -> str:
    """One line for an op in evidence listings."""
    span = f"[{op.invoke:g}, {'?' if op.complete is None else f'{op.complete:g}'}]"
    head = f"#{op.id} {op.process}@rank{op.rank} {op.op}"
    bits: list[str] = []
    if op.op == "commit":
        bits.append("{" + show_writes(op) + "}")
    elif op.key is not None:
        bits.append(op.key)
    if op.op in ("get", "watch") and op.ok:
        bits.append(f"-> {show_value(canon(op.value))}")
    elif op.op in ("send", "recv") and op.value is not None:
        bits.append(f"passing {show_value(canon(op.value))}")
    if op.token is not None:
        bits.append(f"token {op.token}")
    if op.version is not None:
        bits.append(f"version {op.version}")
    if op.reported_version is not None and op.reported_version != op.version:
        bits.append(f"(reported {op.reported_version})")
    if op.error is not None:
        bits.append(op.error)
    elif op.complete is None:
        bits.append("never completed")
    if op.ns != "primary":
        bits.append(f"ns {op.ns}")
    return " ".join([head, *bits, span])


class Latest:
    """The op with the highest version among those that precede a given op.

    Built once from a list of ops; :meth:`before` answers "which of them precedes
    ``op`` in program order (:meth:`~kvs_sim.history.Op.precedes`) with the highest
    version" in O(log n).  Ties on version go to the earliest.
    """

    def __init__(self, ops: list[Op]) -> None:
        done = sorted((o for o in ops if o.complete is not None), key=done_key)
        self._keys = [done_key(o) for o in done]
        self._best: list[Op] = []
        for o in done:
            prev = self._best[-1] if self._best else None
            if prev is not None and (prev.version or 0) >= (o.version or 0):
                self._best.append(prev)
            else:
                self._best.append(o)

    def before(self, op: Op) -> Op | None:
        """The highest-version op that precedes ``op`` (or None)."""
        i = bisect_left(self._keys, start_key(op))
        return self._best[i - 1] if i else None
