"""Wire encoding of kvs-sim messages for the live (MQTT) engine.

Theory of operation
-------------------
Every payload kvs-sim puts on the broker is one UTF-8 JSON object, so that
``mosquitto_sub -v`` shows it readably::

    {"v": 1, "t": "SetRoot", "f": {"ns": "primary", "seq": 4, ...}}

``v`` is the codec version (this module speaks :data:`VERSION` only), ``t`` the
message class name in :data:`~kvs_sim.rank.messages.MESSAGE_TYPES` and ``f`` its
fields, all of them.  An *envelope* (:func:`encode_envelope`) adds the routing
fields the engine needs at top level: ``dst`` (the final rank), ``src`` (the
sending rank, ``-1`` for an external client) and ``id`` (a sender-unique string
used to drop QoS 1 redeliveries), and, on a forwarded tree event only, ``to``:
the ranks it is for (:mod:`kvs_sim.live.engine` sends one such publish per
process boundary).  The head is written as text in front of the message's JSON,
and an event, which leaves once on its event topic and again on a ``down`` topic
with another head, is serialised once (:func:`_body` keeps the last one's text).

Values that JSON cannot carry are *tagged*: a one-key object whose key starts
with ``$``:

* ``{"$b64": "..."}``: ``bytes`` (base64);
* ``{"$tuple": [...]}``: a tuple inside a field typed ``Any`` (``Reply.value`` of
  a ``want="any"`` lookup is ``("val", b"...")``);
* ``{"$msg": {"t": ..., "f": ...}}``: a message nested in a field typed ``Any``
  (``RelayReq.req``, ``RelayResp.reply``);
* ``{"$map": {...}}``: a plain dict that would otherwise look like a tag (a
  directory holding one entry named ``$b64``).

A field whose *declared* type is a tuple (``CommitReq.ops``, ``SetRoot.names``)
travels as a plain JSON list and is restored from the dataclass annotation, so
the common payloads stay untagged.  Dict keys must be strings (JSON would
silently turn ``1`` into ``"1"``); floats must be finite.

Decoding edits the freshly parsed JSON in place (tags undone, declared tuples
restored) and builds the message from it, rather than copying every container.

Anything that is not a payload of ours -- not JSON, not an object, another
version, an unknown class, fields that do not fit -- raises :class:`CodecError`
with the reason; the engine logs and drops it.  Decoding builds the dataclass,
so a message's own validation runs on the receiving side as well.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import math
import typing
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as _string
from typing import Any, NamedTuple

from kvs_sim.core.treeobj import one_shot_encoder
from kvs_sim.rank.messages import EVENT_TYPES, MESSAGE_TYPES

VERSION = 1
"""The payload format version written by :func:`encode` and accepted by :func:`decode`."""

_TAGS = frozenset({"$b64", "$tuple", "$msg", "$map"})
_SCALARS = frozenset({str, int, bool, type(None)})
"""Types that pass through unchanged (checked by exact type: the hot path)."""


class CodecError(ValueError):
    """A payload could not be encoded or decoded; the message says why.

    Raised for foreign or malformed payloads, unknown versions or classes, and
    values JSON cannot represent.  Never raised for a well-formed payload of
    this version.
    """


class Envelope(NamedTuple):
    """A message with its routing: final destination, sender and a unique id (a
    named tuple: one is built for every payload received)."""

    dst: int
    src: int
    msg: Any
    id: str = ""
    to: tuple[int, ...] | None = None
    """A forwarded tree event: the ranks it is for (None: every child of ``src``)."""


# ---------------------------------------------------------------------------
# Field layout per message class, computed once from the annotations


def _tuple_fields(cls: type) -> frozenset[str]:
    hints = typing.get_type_hints(cls)
    return frozenset(
        f.name for f in dataclasses.fields(cls) if typing.get_origin(hints[f.name]) is tuple
    )


_FIELDS: dict[str, tuple[tuple[str, ...], frozenset[str], frozenset[str]]] = {
    name: (
        tuple(f.name for f in dataclasses.fields(cls)),
        _tuple_fields(cls),
        frozenset(f.name for f in dataclasses.fields(cls)),
    )
    for name, cls in MESSAGE_TYPES.items()
}
"""Per class: its field names in order, those typed as tuples, and all as a set."""


# ---------------------------------------------------------------------------
# Encoding


def _enc(value: Any) -> Any:
    """Map a field value to JSON-compatible data, tagging what JSON lacks."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str and not isinstance(k, str):
                raise CodecError(f"cannot encode dict key {k!r}: keys must be str")
            out[k] = v if type(v) in _SCALARS else _enc(v)
        if len(out) == 1 and next(iter(out)) in _TAGS:
            return {"$map": out}
        return out
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodecError(f"cannot encode non-finite float {value!r}")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list):
        return [_enc(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [_enc(v) for v in value]}
    if isinstance(value, dict):
        return _enc(dict(value))
    if type(value).__name__ in _FIELDS and MESSAGE_TYPES[type(value).__name__] is type(value):
        return {"$msg": _enc_msg(value)}
    raise CodecError(f"cannot encode value of type {type(value).__name__}: {value!r}")


def _enc_msg(msg: Any, client: int | None = None) -> dict[str, Any]:
    name = type(msg).__name__
    layout = _FIELDS.get(name)
    if layout is None or MESSAGE_TYPES[name] is not type(msg):
        raise CodecError(f"not a kvs-sim message: {type(msg).__name__}")
    names, tuples, _ = layout
    fields: dict[str, Any] = {}
    for f in names:
        value = getattr(msg, f)
        if type(value) in _SCALARS:
            fields[f] = value
        elif f in tuples and isinstance(value, tuple):
            fields[f] = [v if type(v) in _SCALARS else _enc(v) for v in value]
        else:
            fields[f] = _enc(value)
    if client is not None:
        if "client" not in fields:
            raise CodecError(f"{name} has no client field")
        fields["client"] = client
    return {"t": name, "f": fields}


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""One encoder for every payload (``json.dumps`` with options builds one per call)."""


_dumps = one_shot_encoder(_ENCODER)  # a message never holds itself (_enc would not return)

_IMMUTABLE = frozenset(EVENT_TYPES)
"""Messages whose fields are all immutable: their text may be reused (an event
leaves on the event topic and again on a ``down`` topic, with another head)."""

_LAST: list[tuple[Any, str]] = [(None, "")]
"""The last such message encoded and its :func:`_body` (one tuple, read whole)."""


def _body(msg: Any, client: int | None = None) -> str:
    """The JSON text of ``{"t": ..., "f": ...}`` for ``msg``, without its opening
    brace: what follows the head fields in a payload."""
    last = _LAST[0]
    if last[0] is msg and client is None:
        return last[1]
    text = _dumps(_enc_msg(msg, client))[1:]
    if client is None and type(msg) in _IMMUTABLE:
        _LAST[0] = (msg, text)
    return text


def encode(msg: Any, client: int | None = None) -> bytes:
    """Encode one message (any class in ``MESSAGE_TYPES``) as a payload; with
    ``client``, as if its ``client`` field were that (a reply handed back under
    the client's own id, without copying the message)."""
    return (f'{{"v":{VERSION},' + _body(msg, client)).encode()


def encode_envelope(
    dst: int, src: int, msg: Any, id: str = "", to: tuple[int, ...] | None = None
) -> bytes:
    """Encode ``msg`` with its routing fields (see the module docstring).  The
    head is written directly; the bytes are those of one JSON object
    ``{"v", "dst", "src", "id", ["to",] "t", "f"}`` in that order."""
    if type(dst) is int and type(src) is int and type(id) is str:
        head = f'{{"v":{VERSION},"dst":{dst},"src":{src},"id":{_string(id)},'
    else:
        head = _ENCODER.encode({"v": VERSION, "dst": dst, "src": src, "id": id})[:-1] + ","
    if to is not None:
        ranks = list(to)
        if all(type(r) is int for r in ranks):
            head += f'"to":[{",".join([str(r) for r in ranks])}],'
        else:
            head += f'"to":{_ENCODER.encode(ranks)},'
    return (head + _body(msg)).encode()


# ---------------------------------------------------------------------------
# Decoding


def _dec(value: Any) -> Any:
    """Undo the tags in freshly parsed JSON ``value``.  Containers are edited in
    place and returned (the parse is private to this decode), not rebuilt."""
    kind = type(value)
    if kind is dict:
        if len(value) == 1:
            tag, inner = next(iter(value.items()))
            decoder = _TAG_DECODERS.get(tag)
            if decoder is not None:
                return decoder(inner)
        for k, v in value.items():
            if type(v) is dict or type(v) is list:
                value[k] = _dec(v)  # an existing key: the dict keeps its size
    elif kind is list:
        for i, v in enumerate(value):
            if type(v) is dict or type(v) is list:
                value[i] = _dec(v)
    return value


def _dec_b64(inner: Any) -> bytes:
    if not isinstance(inner, str):
        raise CodecError(f"$b64 needs a string, got {type(inner).__name__}")
    try:
        return base64.b64decode(inner.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CodecError(f"bad base64 in $b64: {exc}") from None


def _dec_tuple(inner: Any) -> tuple[Any, ...]:
    if not isinstance(inner, list):
        raise CodecError(f"$tuple needs a list, got {type(inner).__name__}")
    return tuple(_dec(v) for v in inner)


def _dec_map(inner: Any) -> dict[str, Any]:
    if not isinstance(inner, dict):
        raise CodecError(f"$map needs an object, got {type(inner).__name__}")
    return {k: _dec(v) for k, v in inner.items()}


def _dec_msg(obj: Any, tagged: bool = True) -> Any:
    if not isinstance(obj, dict):
        raise CodecError(f"a message must be an object, got {type(obj).__name__}")
    name = obj.get("t")
    if not isinstance(name, str):
        raise CodecError("missing message type 't'")
    cls = MESSAGE_TYPES.get(name)
    if cls is None:
        raise CodecError(f"unknown message type {name!r}")
    raw = obj.get("f")
    if not isinstance(raw, dict):
        raise CodecError(f"{name}: fields 'f' must be an object")
    _, tuples, known = _FIELDS[name]
    if not raw.keys() <= known:
        raise CodecError(f"{name}: unknown field(s) {', '.join(sorted(raw.keys() - known))}")
    if tagged:
        for f, value in raw.items():
            kind = type(value)
            if kind is list:
                raw[f] = tuple(_dec(value)) if f in tuples else _dec(value)
            elif kind is dict:
                raw[f] = _dec(value)
    else:  # no tag anywhere: only the declared tuples to restore
        for f in tuples:
            value = raw.get(f)
            if type(value) is list:
                raw[f] = tuple(value)
    try:
        return cls(**raw)
    except (TypeError, ValueError) as exc:
        raise CodecError(f"{name}: {exc}") from None


_TAG_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$b64": _dec_b64,
    "$tuple": _dec_tuple,
    "$msg": _dec_msg,
    "$map": _dec_map,
}


_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # (not in the stubs)


def _parse(text: str) -> Any:
    """``json.loads(text)``, without its wrapping for a payload that is one JSON
    value and nothing else (anything else gets exactly what ``json.loads`` says)."""
    try:
        obj, end = _scan(text, 0)
    except (StopIteration, ValueError):
        end = -1
    return obj if end == len(text) else json.loads(text)


def _load(data: bytes | bytearray | str) -> tuple[dict[str, Any], bool]:
    """The payload's object, and whether it may hold tags (a key starting with
    ``$``, written ``"$`` or escaped): if not, there are none to undo."""
    try:
        # Payloads are UTF-8 (JSON's encoding detection is skipped for them).
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        obj = _parse(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CodecError(f"not a kvs-sim payload (not JSON: {exc})") from None
    if not isinstance(obj, dict) or "v" not in obj:
        raise CodecError("not a kvs-sim payload (no version field 'v')")
    if obj["v"] != VERSION:
        raise CodecError(f"unsupported payload version {obj['v']!r} (this build speaks {VERSION})")
    return obj, '"$' in text or "\\u0024" in text


def decode(data: bytes | bytearray | str) -> Any:
    """Decode a payload made by :func:`encode` (or the message of an envelope)."""
    return _dec_msg(*_load(data))


def decode_envelope(data: bytes | bytearray | str) -> Envelope:
    """Decode a payload made by :func:`encode_envelope`."""
    obj, tagged = _load(data)
    dst, src, ident = obj.get("dst"), obj.get("src"), obj.get("id", "")
    if type(dst) is not int or type(src) is not int:
        raise CodecError("envelope needs integer 'dst' and 'src'")
    if not isinstance(ident, str):
        raise CodecError("envelope 'id' must be a string")
    to = obj.get("to")
    if to is not None:
        if not isinstance(to, list) or any(type(r) is not int for r in to):
            raise CodecError("envelope 'to' must be a list of ranks")
        to = tuple(to)
    return Envelope(dst, src, _dec_msg(obj, tagged), ident, to)
