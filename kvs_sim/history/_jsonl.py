"""Reading and writing histories as JSON Lines.

Theory of operation
-------------------
One JSON object per line.  Line 1 is the header; every other line is an operation
(``"kind": "op"``), a root record (``"kind": "root"``) or a nemesis interval
(``"kind": "nemesis"``).  Blank lines are skipped.
The full format is in ``docs/history-format.md``; in short::

    {"kind": "header", "format": "kvs-sim-history", "version": 1, "seed": 7,
     "config": {"size": 4, "fanout": 2}, "claims": ["read-your-writes"]}
    {"kind": "op", "id": 0, "process": "p1", "rank": 3, "op": "commit", "ns": "primary",
     "key": null, "value": null, "invoke": 0.0, "complete": 0.0011, "ok": true,
     "error": null, "version": 5, "reported_version": 4, "writes": {"x": 1},
     "token": null}
    {"kind": "root", "rank": 0, "ns": "primary", "version": 5, "time": 0.0004}
    {"kind": "nemesis", "name": "crash", "start": 0.5, "end": 0.9, "ranks": [0],
     "detail": {"lost_versions": [6], "lost_ops": [4]}}

Reading is strict about what it understands and lenient about what it does not:
a wrong type, a missing required field, a duplicate op id or a line that is not
JSON is a :class:`HistoryError` naming the file, the line and the reason; unknown
fields are kept in ``extra`` and unknown operation names are kept as they are.
Optional op fields may be left out of hand-written files (defaults: ``ns``
``"primary"``, ``ok`` true when the op completed without ``error``, others null).

The last line is a footer, ``{"kind": "footer", "ops": N, "roots": M, "nemeses":
K}``, and the header written with it says ``"footer": true``: a file whose header
promises a footer and that has none (or whose counts differ) was cut off, and is
refused.  Files from before footers existed have neither and are read as they are.

Writing puts every known field on each line, in the order above, then any extra
fields; an op's ``indeterminate`` and an op's or root's ``epoch`` are written
only when set.  Records are
interleaved by time (op ``invoke``, root ``time``, nemesis ``start``) with a
stable merge that keeps each kind's own order, so
``load(save(h)) == h`` and saving what was loaded gives the same bytes back.
"""

from __future__ import annotations

import heapq
import json
import math
import os
from collections.abc import Iterable, Iterator
from typing import Any

from kvs_sim.history._records import (
    FORMAT_NAME,
    FORMAT_VERSION,
    OP_NAMES,
    Header,
    History,
    HistoryError,
    NemesisInterval,
    Op,
    RootEvent,
    read_history_file,
)

_HEADER_FIELDS = ("kind", "format", "version", "seed", "config", "claims", "footer")
_FOOTER_FIELDS = ("kind", "ops", "roots", "nemeses")
_OP_FIELDS = (
    "kind",
    "id",
    "process",
    "rank",
    "op",
    "ns",
    "key",
    "value",
    "invoke",
    "complete",
    "ok",
    "error",
    "version",
    "reported_version",
    "writes",
    "token",
    "indeterminate",
    "epoch",
)
_ROOT_FIELDS = ("kind", "rank", "ns", "version", "time", "epoch")
_NEMESIS_FIELDS = ("kind", "name", "start", "end", "ranks", "detail")

Record = Header | Op | RootEvent | NemesisInterval


# ---------------------------------------------------------------------------
# Records to dicts


def record_to_dict(record: Record) -> dict[str, Any]:
    """The JSON object for one record, fields in the documented order."""
    if isinstance(record, Header):
        out: dict[str, Any] = {
            "kind": "header",
            "format": FORMAT_NAME,
            "version": record.version,
            "seed": record.seed,
            "config": dict(record.config),
            "claims": list(record.claims),
        }
        out.update(record.extra)
        return out
    if isinstance(record, Op):
        out = {"kind": "op"}
        for name in _OP_FIELDS[1:-2]:
            out[name] = getattr(record, name)
        if record.writes is not None:
            out["writes"] = dict(record.writes)
        if record.indeterminate:
            out["indeterminate"] = True
        if record.epoch:
            out["epoch"] = record.epoch
        out.update(record.extra)
        return out
    if isinstance(record, NemesisInterval):
        out = {
            "kind": "nemesis",
            "name": record.name,
            "start": record.start,
            "end": record.end,
            "ranks": list(record.ranks),
            "detail": dict(record.detail),
        }
        out.update(record.extra)
        return out
    out = {
        "kind": "root",
        "rank": record.rank,
        "ns": record.ns,
        "version": record.version,
        "time": record.time,
    }
    if record.epoch:
        out["epoch"] = record.epoch
    return out


# ---------------------------------------------------------------------------
# Dicts to records, validated


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return (isinstance(v, int | float) and not isinstance(v, bool)) and math.isfinite(v)


def _field(d: dict[str, Any], name: str, kind: str, *, required: bool, default: Any = None) -> Any:
    if name not in d:
        if required:
            raise HistoryError(f"missing field {name!r}")
        return default
    v = d[name]
    nullable = kind.endswith("?")
    if v is None and nullable:
        return None
    check = {"int": _is_int, "num": _is_num, "str": lambda x: isinstance(x, str)}
    check["bool"] = lambda x: isinstance(x, bool)
    check["obj"] = lambda x: isinstance(x, dict)
    base = kind.rstrip("?")
    if not check[base](v):
        want = {"int": "an integer", "num": "a finite number", "str": "a string"}.get(base)
        want = want or {"bool": "true or false", "obj": "an object"}[base]
        raise HistoryError(
            f"field {name!r} must be {want}{' or null' if nullable else ''}, not {v!r}"
        )
    if base == "num":
        return float(v)
    return v


def _header_from_dict(d: dict[str, Any]) -> Header:
    fmt = d.get("format")
    if fmt != FORMAT_NAME:
        raise HistoryError(f"header format must be {FORMAT_NAME!r}, not {fmt!r}")
    version = _field(d, "version", "int", required=True)
    if version != FORMAT_VERSION:
        raise HistoryError(f"unsupported history version {version} (this reads {FORMAT_VERSION})")
    claims = d.get("claims", [])
    if not isinstance(claims, list) or not all(isinstance(c, str) for c in claims):
        raise HistoryError(f"field 'claims' must be a list of strings, not {claims!r}")
    return Header(
        seed=_field(d, "seed", "int?", required=False),
        config=_field(d, "config", "obj", required=False, default={}),
        claims=tuple(claims),
        version=version,
        extra={k: v for k, v in d.items() if k not in _HEADER_FIELDS},
    )


def _op_from_dict(d: dict[str, Any]) -> Op:
    op_id = _field(d, "id", "int", required=True)
    process = _field(d, "process", "str", required=True)
    rank = _field(d, "rank", "int", required=True)
    if rank < 0:
        raise HistoryError(f"field 'rank' must not be negative, not {rank}")
    name = _field(d, "op", "str", required=True)
    invoke = _field(d, "invoke", "num", required=True)
    complete = _field(d, "complete", "num?", required=False)
    if complete is not None and complete < invoke:
        raise HistoryError(f"'complete' ({complete}) is before 'invoke' ({invoke})")
    error = _field(d, "error", "str?", required=False)
    ok = _field(d, "ok", "bool", required=False, default=complete is not None and error is None)
    indeterminate = _field(d, "indeterminate", "bool", required=False, default=False)
    if indeterminate and ok:
        raise HistoryError("an indeterminate operation cannot be 'ok'")
    return Op(
        id=op_id,
        process=process,
        rank=rank,
        op=name,
        ns=_field(d, "ns", "str", required=False, default="primary"),
        key=_field(d, "key", "str?", required=False),
        value=d.get("value"),
        invoke=invoke,
        complete=complete,
        ok=ok,
        error=error,
        version=_field(d, "version", "int?", required=False),
        reported_version=_field(d, "reported_version", "int?", required=False),
        writes=_field(d, "writes", "obj?", required=False),
        token=_field(d, "token", "str?", required=False),
        indeterminate=indeterminate,
        epoch=_epoch(d),
        extra={k: v for k, v in d.items() if k not in _OP_FIELDS},
    )


def _root_from_dict(d: dict[str, Any]) -> RootEvent:
    extra = sorted(set(d) - set(_ROOT_FIELDS))
    if extra:
        raise HistoryError(f"unknown field(s) in a root record: {', '.join(extra)}")
    return RootEvent(
        rank=_field(d, "rank", "int", required=True),
        ns=_field(d, "ns", "str", required=False, default="primary"),
        version=_field(d, "version", "int", required=True),
        time=_field(d, "time", "num", required=True),
        epoch=_epoch(d),
    )


def _epoch(d: dict[str, Any]) -> int:
    epoch = _field(d, "epoch", "int", required=False, default=0)
    if epoch < 0:
        raise HistoryError(f"field 'epoch' must not be negative, not {epoch}")
    return int(epoch)


def _nemesis_from_dict(d: dict[str, Any]) -> NemesisInterval:
    start = _field(d, "start", "num", required=True)
    end = _field(d, "end", "num?", required=False)
    if end is not None and end < start:
        raise HistoryError(f"'end' ({end}) is before 'start' ({start})")
    ranks = d.get("ranks", [])
    if not isinstance(ranks, list) or not all(_is_int(r) and r >= 0 for r in ranks):
        raise HistoryError(f"field 'ranks' must be a list of rank numbers, not {ranks!r}")
    return NemesisInterval(
        name=_field(d, "name", "str", required=True),
        start=start,
        end=end,
        ranks=tuple(ranks),
        detail=_field(d, "detail", "obj", required=False, default={}),
        extra={k: v for k, v in d.items() if k not in _NEMESIS_FIELDS},
    )


def record_from_dict(d: Any) -> Record:
    """The record a JSON object describes; :class:`HistoryError` if it is invalid."""
    if not isinstance(d, dict):
        raise HistoryError(f"a record must be a JSON object, not {type(d).__name__}")
    kind = d.get("kind")
    if kind == "header":
        return _header_from_dict(d)
    if kind == "op":
        return _op_from_dict(d)
    if kind == "root":
        return _root_from_dict(d)
    if kind == "nemesis":
        return _nemesis_from_dict(d)
    raise HistoryError(
        f"unknown record kind {kind!r} (expected 'header', 'op', 'root' or 'nemesis')"
    )


def _reject_constant(name: str) -> Any:
    raise HistoryError(f"{name} is not valid JSON")


def _check_config(config: dict[str, Any]) -> int | None:
    """Validate the config keys the format documents; the cluster size, if given."""
    size = config.get("size")
    if size is not None and not (_is_int(size) and size >= 1):
        raise HistoryError(f"config 'size' must be a positive integer, not {size!r}")
    fanout = config.get("fanout")
    if fanout is not None and not (_is_int(fanout) and fanout >= 1):
        raise HistoryError(f"config 'fanout' must be a positive integer, not {fanout!r}")
    depth = config.get("depth")
    if depth is not None:
        if not isinstance(depth, list):
            raise HistoryError(f"config 'depth' must be a list of integers, not {depth!r}")
        for r, d in enumerate(depth):
            if not (_is_int(d) and d >= 0):
                raise HistoryError(
                    f"config 'depth' must list a non-negative integer per rank, "
                    f"not {d!r} for rank {r}"
                )
        if size is not None and len(depth) != size:
            raise HistoryError(f"config 'depth' lists {len(depth)} ranks but 'size' is {size}")
    return size if size is not None else (len(depth) if depth is not None else None)


def _footer_from_dict(d: dict[str, Any]) -> dict[str, int]:
    extra = sorted(set(d) - set(_FOOTER_FIELDS))
    if extra:
        raise HistoryError(f"unknown field(s) in the footer: {', '.join(extra)}")
    out = {}
    for name in _FOOTER_FIELDS[1:]:
        n = _field(d, name, "int", required=name != "nemeses", default=0)
        if n < 0:
            raise HistoryError(f"footer field {name!r} must not be negative, not {n}")
        out[name] = n
    return out


def _check_record(
    record: Header | Op | RootEvent | NemesisInterval, size: int | None, strict: bool
) -> None:
    if isinstance(record, Header):
        return
    ranks = record.ranks if isinstance(record, NemesisInterval) else (record.rank,)
    for rank in ranks:
        if size is not None and rank >= size:
            raise HistoryError(
                f"rank {rank} is beyond the cluster (config 'size' is {size}: ranks 0-{size - 1})"
            )
    if strict and isinstance(record, Op) and record.op not in OP_NAMES:
        raise HistoryError(
            f"unknown operation {record.op!r} (known: {', '.join(sorted(OP_NAMES))})"
        )


def from_lines(
    lines: Iterable[str],
    source: str = "<history>",
    *,
    strict: bool = False,
    notes: list[str] | None = None,
) -> History:
    """Parse a history from its lines; errors name ``source`` and the line number.

    Every record is validated against the format (``docs/history-format.md``): types,
    required fields, config ``size``/``fanout``/``depth``, ranks within ``size``.
    ``strict`` also refuses operation names the format does not define (``kvs-sim
    check`` reads strictly; by default they are kept, so newer producers stay
    readable).  A file whose header promises a footer (every file :func:`save`
    writes) must end with one whose counts match, else it was cut off or tampered
    with.  A file without the promise (written before footers existed) is read as
    it is; a note saying so is appended to ``notes`` when given.
    """
    header: Header | None = None
    ops: list[Op] = []
    roots: list[RootEvent] = []
    nemeses: list[NemesisInterval] = []
    ids: dict[int, int] = {}
    size: int | None = None
    promised = False
    footer: dict[str, int] | None = None
    last = 0
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        last = lineno
        try:
            d = json.loads(line, parse_constant=_reject_constant)
            if header is None and not (isinstance(d, dict) and d.get("kind") == "header"):
                raise HistoryError("the first record must be the header")
            if footer is not None:
                raise HistoryError("a record after the footer (the footer must be last)")
            if isinstance(d, dict) and d.get("kind") == "footer":
                footer = _footer_from_dict(d)
                continue
            record = record_from_dict(d)
            if header is not None and isinstance(record, Header):
                raise HistoryError("a second header (only the first record is a header)")
            if isinstance(record, Header):
                size = _check_config(dict(record.config))
                promised = d.get("footer") is True
            _check_record(record, size, strict)
            if isinstance(record, Op) and record.id in ids:
                raise HistoryError(f"duplicate op id {record.id} (first on line {ids[record.id]})")
        except json.JSONDecodeError as e:
            raise HistoryError(f"{source}:{lineno}: not JSON: {e.msg} (column {e.colno})") from None
        except HistoryError as e:
            raise HistoryError(f"{source}:{lineno}: {e}") from None
        if isinstance(record, Header):
            header = record
        elif isinstance(record, Op):
            ids[record.id] = lineno
            ops.append(record)
        elif isinstance(record, NemesisInterval):
            nemeses.append(record)
        else:
            roots.append(record)
    if header is None:
        raise HistoryError(f"{source}: empty history (expected a header on line 1)")
    history = History(header, tuple(ops), tuple(roots), tuple(nemeses))
    if footer is None:
        if promised:
            raise HistoryError(
                f"{source}: cut off after line {last}: no footer record, and the header "
                f"promises one (the file is incomplete)"
            )
        if notes is not None:
            notes.append(
                f"{source}: no footer record (written before kvs-sim wrote footers): "
                f"whether the file is complete cannot be told"
            )
        return history
    found = {"ops": len(ops), "roots": len(roots)}
    found["nemeses"] = len(nemeses)
    for name, n in found.items():
        if footer[name] != n:
            raise HistoryError(
                f"{source}:{last}: the footer counts {footer[name]} {name} records but the "
                f"file has {n}: records are missing"
            )
    return history


def to_lines(history: History) -> Iterator[str]:
    """The lines of ``history`` (without newlines): header, records by time, footer."""

    def when(r: Op | RootEvent | NemesisInterval) -> float:
        if isinstance(r, Op):
            return r.invoke
        return r.start if isinstance(r, NemesisInterval) else r.time

    ops: Iterable[Op | RootEvent | NemesisInterval] = history.ops
    roots: Iterable[Op | RootEvent | NemesisInterval] = history.roots
    nemeses: Iterable[Op | RootEvent | NemesisInterval] = history.nemeses
    yield _dumps({**record_to_dict(history.header), "footer": True})
    for record in heapq.merge(ops, roots, nemeses, key=when):
        yield _dumps(record_to_dict(record))
    footer = {"kind": "footer", "ops": len(history.ops), "roots": len(history.roots)}
    footer["nemeses"] = len(history.nemeses)
    yield _dumps(footer)


def _dumps(d: dict[str, Any]) -> str:
    try:
        return json.dumps(d, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise HistoryError(f"record cannot be written as JSON: {e}: {d!r}") from None


def save(history: History, path: str | os.PathLike[str]) -> None:
    """Write ``history`` to ``path`` as JSON Lines (UTF-8)."""
    with open(path, "w", encoding="utf-8") as f:
        for line in to_lines(history):
            f.write(line)
            f.write("\n")


def load(
    path: str | os.PathLike[str], *, strict: bool = False, notes: list[str] | None = None
) -> History:
    """Read a history; :class:`HistoryError` with a one-line reason if it cannot.

    A missing or unreadable file, text that is not UTF-8, a line that is not JSON,
    a record that is invalid or a file cut off before its footer all raise
    :class:`HistoryError` naming the path (and the line number where one applies).
    ``strict`` and ``notes``: see :func:`from_lines`.
    """
    return read_history_file(
        path, lambda f, name: from_lines(f, source=name, strict=strict, notes=notes)
    )
