"""The codec writes payload heads directly and reuses an event's text: the bytes
must stay exactly those of one JSON object in the documented field order."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_live_codec import _messages

from kvs_sim.live import codec
from kvs_sim.rank import messages as m


def _reference(msg: Any, **head: Any) -> bytes:
    obj = {"v": codec.VERSION, **head, **codec._enc_msg(msg)}
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()


@settings(max_examples=200, deadline=None)
@given(
    msg=_messages,
    dst=st.integers(-1, 99),
    src=st.integers(-1, 99),
    ident=st.text(max_size=10),
    to=st.none() | st.lists(st.integers(0, 99), max_size=4).map(tuple),
)
def test_envelope_bytes_are_the_json_object(
    msg: Any, dst: int, src: int, ident: str, to: tuple[int, ...] | None
) -> None:
    head: dict[str, Any] = {"dst": dst, "src": src, "id": ident}
    if to is not None:
        head["to"] = list(to)
    assert codec.encode_envelope(dst, src, msg, ident, to) == _reference(msg, **head)
    assert codec.encode(msg) == _reference(msg)


@settings(max_examples=100, deadline=None)
@given(msg=_messages, client=st.integers(0, 10**6))
def test_encode_with_a_client_is_encode_of_the_replaced_message(msg: Any, client: int) -> None:
    if not any(f.name == "client" for f in dataclasses.fields(msg)):
        return
    assert codec.encode(msg, client=client) == codec.encode(dataclasses.replace(msg, client=client))
    assert codec.decode(codec.encode(msg, client=client)).client == client


def test_an_event_encoded_twice_gets_each_head_and_the_same_body() -> None:
    one = m.SetRoot(ns="primary", seq=1, rootref="sha1-" + "a" * 40, names=("0.1",))
    two = m.SetRoot(ns="primary", seq=2, rootref="sha1-" + "b" * 40, names=("0.2",))
    for ev in (one, two, one):
        a = codec.encode_envelope(-1, 0, ev, "x:1")
        b = codec.encode_envelope(-1, 1, ev, "x:2", (4, 5))
        assert a == _reference(ev, dst=-1, src=0, id="x:1")
        assert b == _reference(ev, dst=-1, src=1, id="x:2", to=[4, 5])
        assert codec.decode_envelope(b).msg == ev
    reply = m.Reply(client=1, value={"k": [1]})
    assert codec.encode(reply) == _reference(reply)
    reply.value["k"].append(2)  # a mutable message is never reused from memory
    assert codec.encode(reply) == _reference(reply)


def test_odd_head_types_take_the_general_path() -> None:
    ev = m.NamespaceRemoved(ns="n")
    assert codec.encode_envelope(True, -1, ev) == _reference(ev, dst=True, src=-1, id="")


def test_decoding_takes_what_json_takes_and_finds_every_tag() -> None:
    ev = m.SetRoot(ns="primary", seq=1, rootref="r", names=("a",))
    text = codec.encode(ev).decode()
    assert codec.decode(" " + text + "\n") == ev  # whitespace, as json.loads allows
    with pytest.raises(codec.CodecError, match="not JSON"):
        codec.decode(text + "x")
    with pytest.raises(codec.CodecError, match="not JSON"):
        codec.decode("\ufeff" + text)
    # a tag key escaped (\u0024 is "$") is still a tag
    escaped = '{"v":1,"t":"LoadResp","f":{"ref":"r","data":{"\\u0024b64":"AP8="}}}'
    assert codec.decode(escaped).data == b"\x00\xff"
    env = codec.decode_envelope(codec.encode_envelope(0, -1, m.LoadResp(ref="r", data=b"x"), "i"))
    assert env.msg.data == b"x"
