"""Jepsen/Knossos histories in EDN, read as kvs-sim histories.

Theory of operation
-------------------
Jepsen writes a history as one EDN map per line::

    {:process 0, :type :invoke, :f :write, :value [3 1], :time 1200, :index 7}
    {:process 0, :type :ok,     :f :write, :value [3 1], :time 1900, :index 8}

``:type`` is ``:invoke`` for the invocation and ``:ok``, ``:fail`` or ``:info``
(outcome unknown) for the completion of the same process's pending operation;
``:f`` is ``:read``, ``:write`` or ``:cas``.  Keyed histories (Jepsen's
*independent* checker) carry ``[key value]`` tuples, a cas ``[key [old new]]``;
plain ones a register's value (a cas ``[old new]``), read here as the key
``register``.  A file is keyed when every read and write value is a pair.  Ops of
the ``:nemesis`` process (faults, not client operations) are skipped; other
lines with an unknown ``:f`` are refused.

Each invocation and its completion become one :class:`~kvs_sim.history.Op`:
a read is a ``get`` (the value from the completion; ``nil`` reads absent), a
write a one-key ``commit``, a cas the op ``cas`` with ``[old, new]`` as its
value.  ``:fail`` is ``ok`` false with error ``"fail"``; ``:info``, or an
invocation never completed, is indeterminate (``complete`` null; an ``:info``
completion also sets ``indeterminate``).  Times: ``:time`` (nanoseconds) when it
increases strictly with the lines, else the line number (``config.time_unit`` is
then ``"index"``), so real-time order is always the file's order.  The header
says ``config.format: "jepsen-edn"`` and claims ``linearizable``.

The parser reads EDN's data subset (maps, vectors, lists, sets, keywords,
symbols, strings, numbers, characters, ``nil``/``true``/``false``, tags and
``#_`` discards) with one regular expression.  ``edn_format`` (PyPI) parses the
same lines correctly but took 2.6 ms per line here (over 4 minutes for 100,000
operations); this reader takes a few microseconds.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

from kvs_sim.history._records import Header, History, HistoryError, Op, read_history_file

_TOKEN = re.compile(
    r"""[\s,]+|;[^\n]*|(?P<open>\#\{|[\[{(])|(?P<close>[\]})])|"(?P<str>(?:[^"\\]|\\.)*)"
    |(?P<tag>\#_|\#[A-Za-z][^\s,\[\]{}()"]*)|\\(?P<char>newline|space|tab|u[0-9a-fA-F]{4}|.)
    |(?P<atom>[^\s,\[\]{}()"\\;]+)""",
    re.VERBOSE,
)
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_DISCARD = object()


class Keyword(str):
    """An EDN keyword (``:read``), kept apart from strings."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f":{self!s}"


def _atom(text: str) -> Any:
    if text[0] == ":":
        return Keyword(text[1:])
    if text == "nil":
        return None
    if text in ("true", "false"):
        return text == "true"
    if _INT.fullmatch(text):
        return int(text.rstrip("N"))
    if _FLOAT.fullmatch(text):
        return float(text.rstrip("M"))
    return text  # a symbol


def _unescape(s: str) -> str:
    if "\\" not in s:
        return s
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|.)",
        lambda m: (
            chr(int(m.group(1)[1:], 16))
            if len(m.group(1)) == 5
            else _ESCAPES.get(m.group(1), m.group(1))
        ),
        s,
    )


def parse(text: str) -> Any:
    """The one EDN value in ``text``; HistoryError if it is not exactly one."""
    stack: list[tuple[str, list[Any]]] = [("top", [])]
    pending_tags = [0]
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind is None:
            continue
        if kind == "open":
            stack.append((m.group("open"), []))
            pending_tags.append(0)
            continue
        if kind == "tag":
            if m.group("tag") == "#_":
                stack[-1][1].append(_DISCARD)
            continue
        if kind == "close":
            opener, items = stack.pop()
            pending_tags.pop()
            want = {"[": "]", "(": ")", "{": "}", "#{": "}"}[opener] if opener != "top" else ""
            if m.group("close") != want:
                raise HistoryError(f"unbalanced {m.group('close')!r} at column {m.start() + 1}")
            value = _collection(opener, _drop_discarded(items))
        elif kind == "str":
            value = _unescape(m.group("str"))
        elif kind == "char":
            c = m.group("char")
            value = {"newline": "\n", "space": " ", "tab": "\t"}.get(c) or (
                chr(int(c[1:], 16)) if len(c) == 5 and c[0] == "u" else c
            )
        else:
            value = _atom(m.group("atom"))
        stack[-1][1].append(value)
    if len(stack) != 1:
        raise HistoryError(f"unclosed {stack[-1][0]!r}")
    items = _drop_discarded(stack[0][1])
    if len(items) != 1:
        raise HistoryError(f"expected one EDN value, found {len(items)}")
    return items[0]


def _drop_discarded(items: list[Any]) -> list[Any]:
    if _DISCARD not in items:
        return items
    out: list[Any] = []
    skip = 0
    for x in items:
        if x is _DISCARD:
            skip += 1
        elif skip:
            skip -= 1
        else:
            out.append(x)
    return out


def _collection(opener: str, items: list[Any]) -> Any:
    if opener == "{":
        if len(items) % 2:
            raise HistoryError("a map with an odd number of forms")
        return {_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)}
    if opener == "#{":
        return [*items]
    return items


def _hashable(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_hashable(v) for v in x)
    if isinstance(x, dict):
        return tuple(sorted((str(k), str(v)) for k, v in x.items()))
    return x


def looks_like_edn(path: str | os.PathLike[str]) -> bool:
    """True for a ``.edn`` file, or one whose first non-blank character starts a map
    followed by a keyword (``{:``)."""
    if os.fspath(path).endswith(".edn"):
        return True
    try:
        with open(path, encoding="utf-8") as f:
            head = f.read(256).lstrip()
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith("{:")


def _json(x: Any) -> Any:
    """An EDN value as JSON (keywords become their names)."""
    if isinstance(x, list):
        return [_json(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _json(v) for k, v in x.items()}
    return str(x) if isinstance(x, Keyword) else x


def load_edn(path: str | os.PathLike[str]) -> History:
    """Read a Jepsen/Knossos EDN history (see the module docstring)."""
    return read_history_file(path, lambda f, name: from_edn_lines(f, source=name))


_FS = {"read": "get", "write": "commit", "cas": "cas"}


def _process(p: Any) -> str:
    """Jepsen's process numbers as names: ``process 3``."""
    return f"process {p}" if isinstance(p, int) else str(_json(p))


def from_edn_lines(lines: Any, source: str = "<edn>") -> History:
    """Parse EDN history lines; errors name ``source`` and the line number."""
    events: list[tuple[int, dict[Any, Any]]] = []
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith(";"):
            continue
        try:
            m = parse(text)
            if not isinstance(m, dict):
                raise HistoryError("each line must be an EDN map")
            if m.get(Keyword("process")) == Keyword("nemesis"):
                continue
            t = m.get(Keyword("type"))
            if t not in ("invoke", "ok", "fail", "info") or not isinstance(t, Keyword):
                raise HistoryError(f"':type' must be :invoke, :ok, :fail or :info, not {t!r}")
            f = m.get(Keyword("f"))
            if not isinstance(f, Keyword) or str(f) not in _FS:
                raise HistoryError(f"':f' {f!r} is not a register operation (:read :write :cas)")
            if Keyword("process") not in m:
                raise HistoryError("missing ':process'")
        except HistoryError as e:
            raise HistoryError(f"{source}:{lineno}: {e}") from None
        events.append((lineno, m))
    if not events:
        raise HistoryError(f"{source}: no client operations in the EDN history")
    return _build(events, source)


def _build(events: list[tuple[int, dict[Any, Any]]], source: str) -> History:
    k = Keyword
    times: list[Any] = [m.get(k("time")) for _, m in events]
    by_time = all(isinstance(t, int | float) for t in times) and all(
        a < b for a, b in itertools.pairwise(times)
    )
    values = [m.get(k("value")) for _, m in events if m.get(k("f")) != "cas"]
    keyed = all(isinstance(v, list) and len(v) == 2 for v in values if v is not None) and any(
        v is not None for v in values
    )
    open_: dict[Any, tuple[int, float, dict[Any, Any]]] = {}
    ops: list[Op] = []
    for n, ((lineno, m), t) in enumerate(zip(events, times, strict=True)):
        when = float(t) / 1e9 if by_time and t is not None else float(n)
        proc = m[k("process")]
        if m[k("type")] == "invoke":
            if proc in open_:
                raise HistoryError(
                    f"{source}:{lineno}: process {proc!r} invokes again before its operation "
                    f"of line {open_[proc][0]} completed"
                )
            open_[proc] = (lineno, when, m)
            continue
        if proc not in open_:
            raise HistoryError(f"{source}:{lineno}: a completion with no invocation before it")
        _, start, inv = open_.pop(proc)
        if inv[k("f")] != m[k("f")]:
            raise HistoryError(f"{source}:{lineno}: completes a different :f than its invocation")
        ops.append(_op(len(ops), inv, m, start, when, keyed, source, lineno))
    for lineno, start, inv in open_.values():
        ops.append(_op(len(ops), inv, None, start, None, keyed, source, lineno))
    config = {"format": "jepsen-edn", "time_unit": "s" if by_time else "index", "keyed": keyed}
    ops.sort(key=lambda o: o.invoke)
    header = Header(config=config, claims=("linearizable",))
    return History(header, tuple(ops))


def _op(  # noqa: PLR0917
    op_id: int,
    inv: dict[Any, Any],
    done: dict[Any, Any] | None,
    start: float,
    end: float | None,
    keyed: bool,
    source: str,
    lineno: int,
) -> Op:
    k = Keyword
    f = str(inv[k("f")])
    status = None if done is None else str(done[k("type")])
    value = (done if done is not None and f == "read" and status == "ok" else inv).get(k("value"))
    key = "register"
    if keyed:
        if not (isinstance(value, list) and len(value) == 2):
            raise HistoryError(f"{source}:{lineno}: a keyed history needs [key value] values")
        key, value = str(_json(value[0])), value[1]
    value = _json(value)
    if f == "cas" and not (isinstance(value, list) and len(value) == 2):
        raise HistoryError(f"{source}:{lineno}: a cas needs an [old new] value")
    indeterminate = status in (None, "info")
    fields: dict[str, Any] = {
        "id": op_id,
        "process": _process(inv[k("process")]),
        "rank": 0,
        "op": _FS[f],
        "key": key,
        "invoke": start,
        "complete": None if indeterminate else end,
        "ok": status == "ok",
        "error": "fail" if status == "fail" else None,
        "indeterminate": indeterminate and done is not None,
    }
    if f == "write":
        fields["writes"] = {key: value}
        fields["key"] = None
    else:
        fields["value"] = value if status == "ok" or f == "cas" else None
    return Op(**fields)
