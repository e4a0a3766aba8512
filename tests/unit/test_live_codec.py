"""The live engine's payload codec, topic layout, URL parsing and overlay routing."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvs_sim.live import codec, topics
from kvs_sim.live.ranks import format_ranks, parse_ranks
from kvs_sim.overlay import Overlay
from kvs_sim.rank import messages as m
from kvs_sim.rank.messages import MESSAGE_TYPES

# ---------------------------------------------------------------------------
# Strategies: every message class, built from its annotations

_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.binary(max_size=8)
_any: st.SearchStrategy[Any] = st.recursive(
    _scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.sampled_from(["a", "$b64", "$map", "x.y", ""]), inner, max_size=3)
    ),
    max_leaves=8,
)


def _strategy(tp: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if tp is Any:
        return _any
    if tp is int:
        return st.integers()
    if tp is str:
        return st.text(max_size=12)
    if tp is bool:
        return st.booleans()
    if tp is bytes:
        return st.binary(max_size=16)
    if tp is type(None):
        return st.none()
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_strategy(a) for a in typing.get_args(tp)))
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return st.lists(_strategy(item), max_size=3).map(tuple)
    if origin is dict:
        _, val = typing.get_args(tp)
        return st.dictionaries(st.text(max_size=6), _strategy(val), max_size=3)
    if dataclasses.is_dataclass(tp):
        return _message(tp)
    raise AssertionError(f"no strategy for {tp!r}")


def _message(cls: Any) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)})


_messages = st.sampled_from(sorted(MESSAGE_TYPES)).flatmap(lambda n: _message(MESSAGE_TYPES[n]))


# ---------------------------------------------------------------------------
# Codec


@pytest.mark.parametrize("name", sorted(MESSAGE_TYPES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_message_type_round_trips(name: str, data: st.DataObject) -> None:
    msg = data.draw(_message(MESSAGE_TYPES[name]))
    assert codec.decode(codec.encode(msg)) == msg


@settings(max_examples=200, deadline=None)
@given(msg=_messages, dst=st.integers(-1, 99), src=st.integers(-1, 99))
def test_envelope_round_trips(msg: Any, dst: int, src: int) -> None:
    env = codec.decode_envelope(codec.encode_envelope(dst, src, msg, "abc:1"))
    assert (env.dst, env.src, env.msg, env.id) == (dst, src, msg, "abc:1")


def test_payload_is_readable_json_with_declared_tuples_as_lists() -> None:
    ev = m.SetRoot(ns="primary", seq=3, rootref="sha1-ab", names=("t1",), keys=("a.b",))
    obj = json.loads(codec.encode(ev))
    assert obj == {
        "v": 1,
        "t": "SetRoot",
        "f": {
            "ns": "primary",
            "seq": 3,
            "rootref": "sha1-ab",
            "names": ["t1"],
            "keys": ["a.b"],
            "owner": 0,
            "epoch": 0,
        },
    }
    assert codec.decode(codec.encode(ev)).names == ("t1",)


def test_nested_messages_bytes_and_tuples_in_any_fields() -> None:
    inner = m.LookupReq(client=4, ns="primary", key="a")
    relay = m.RelayReq(origin=3, req=inner)
    assert codec.decode(codec.encode(relay)) == relay
    reply = m.Reply(client=1, value=("val", b"\x00\xff"))
    back = codec.decode(codec.encode(m.RelayResp(reply=reply)))
    assert back.reply.value == ("val", b"\x00\xff")
    assert isinstance(back.reply, m.Reply)
    assert codec.decode(codec.encode(m.LoadResp(ref="r", data=b"{}"))).data == b"{}"


def test_dicts_that_look_like_tags_are_escaped() -> None:
    reply = m.Reply(client=1, value={"$b64": "dir"})
    assert codec.decode(codec.encode(reply)).value == {"$b64": "dir"}


def _payload(**over: Any) -> bytes:
    obj = {"v": 1, "t": "DropCacheReq", "f": {"client": 1}}
    obj.update(over)
    return json.dumps(obj).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"hello", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "no version"),
        (b'{"t": "Reply"}', "no version"),
        (_payload(v=2), "unsupported payload version 2"),
        (_payload(t="Bogus"), "unknown message type 'Bogus'"),
        (_payload(t=None), "missing message type"),
        (_payload(f=[1]), "fields 'f' must be an object"),
        (_payload(f={"client": 1, "extra": 2}), "unknown field(s) extra"),
        (_payload(f={}), "DropCacheReq:"),
        (_payload(f={"client": {"$b64": "!!"}}), "bad base64"),
        (_payload(f={"client": {"$msg": 3}}), "must be an object"),
    ],
)
def test_foreign_and_malformed_payloads_raise_codec_error(data: bytes, reason: str) -> None:
    with pytest.raises(codec.CodecError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        codec.decode(data)


def test_envelope_fields_are_checked() -> None:
    with pytest.raises(codec.CodecError, match="integer 'dst'"):
        codec.decode_envelope(_payload(dst="x", src=1))
    with pytest.raises(codec.CodecError, match="'to' must be a list of ranks"):
        codec.decode_envelope(_payload(dst=-1, src=1, to=[4, "5"]))


def test_a_forwarded_event_names_the_ranks_it_is_for() -> None:
    event = m.SetRoot(ns="primary", seq=3, rootref="sha1-" + "b" * 40)
    env = codec.decode_envelope(codec.encode_envelope(-1, 1, event, "a:1", to=(4, 5, 7)))
    assert (env.to, env.msg) == ((4, 5, 7), event)
    assert codec.decode_envelope(codec.encode_envelope(-1, 1, event, "a:2")).to is None


@pytest.mark.parametrize(
    "value", [object(), {1: "a"}, float("nan"), {"a": {2}}], ids=["object", "intkey", "nan", "set"]
)
def test_unencodable_values_raise_codec_error(value: Any) -> None:
    with pytest.raises(codec.CodecError, match="cannot encode"):
        codec.encode(m.Reply(client=1, value=value))


def test_non_messages_are_refused() -> None:
    with pytest.raises(codec.CodecError, match="not a kvs-sim message"):
        codec.encode({"t": "Reply"})


# ---------------------------------------------------------------------------
# Topics and URLs


def test_topic_layout() -> None:
    assert topics.rank_topic("c1", 3) == "kvs-sim/c1/rank/3"
    assert topics.event_topic("c1", "primary", "setroot") == "kvs-sim/c1/event/primary/setroot"
    assert (
        topics.event_topic("c1", "a/b+#%", "setroot") == "kvs-sim/c1/event/a%2Fb%2B%23%25/setroot"
    )
    assert topics.unquote_level("a%2Fb%2B%23%25") == "a/b+#%"
    assert topics.client_topic("c1", "c1.uid0", "u") == "kvs-sim/c1/client/c1.uid0/u"
    assert topics.client_topic("c1", None, "u") == "kvs-sim/c1/client/anonymous/u"
    assert topics.req_topic("c1", "c1.uid7", 3) == "kvs-sim/c1/req/c1.uid7/3"
    assert topics.rank_of_topic("c1", "kvs-sim/c1/rank/12") == 12
    assert topics.rank_of_topic("c1", "kvs-sim/c2/rank/12") is None
    assert topics.rank_of_topic("c1", "kvs-sim/c1/rank/x") is None


@pytest.mark.parametrize(
    ("filter_", "topic", "expected"),
    [
        ("kvs-sim/+/event/#", "kvs-sim/c/event/primary/setroot", True),
        ("kvs-sim/c/event/#", "kvs-sim/c/event", True),
        ("kvs-sim/c/rank/+", "kvs-sim/c/rank/1/x", False),
        ("#", "$SYS/broker/uptime", False),
        ("+/broker/uptime", "$SYS/broker/uptime", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
    ],
)
def test_topic_matches(filter_: str, topic: str, expected: bool) -> None:
    assert topics.topic_matches(filter_, topic) is expected


def test_parse_url() -> None:
    u = topics.parse_url("mqtt://al%40x:s3cret@127.0.0.1:1884/c1")
    assert (u.host, u.port, u.cluster, u.username, u.password, u.tls) == (
        "127.0.0.1",
        1884,
        "c1",
        "al@x",
        "s3cret",
        False,
    )
    assert "s3cret" not in str(u)
    assert topics.parse_url("mqtt://localhost").port == 1883
    assert topics.parse_url("mqtts://h").port == 8883


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://h:1", "expected mqtt://"),
        ("127.0.0.1:1883", "expected mqtt://"),
        ("mqtt://:1883", "no host"),
        ("mqtt://h:99999", "bad port"),
        ("mqtt://h:0/c", "port must be 1-65535, got 0"),
        ("mqtt://h:1/a/b", "invalid cluster name"),
        ("mqtt://h:1/c?x=1", "unexpected query"),
    ],
)
def test_bad_urls_are_explained(url: str, reason: str) -> None:
    with pytest.raises(topics.URLError, match=reason.replace("?", r"\?")):
        topics.parse_url(url)


# ---------------------------------------------------------------------------
# Overlay


def test_binary_tree_routing() -> None:
    ov = Overlay.kary(8, 2)
    assert ov.parent == [-1, 0, 0, 1, 1, 2, 2, 3]
    assert ov.children[1] == (3, 4)
    assert ov.depth[7] == 3
    assert ov.ancestors(7) == [3, 1, 0]
    assert ov.next_hop(7, 0) == 3
    assert ov.next_hop(0, 7) == 1
    assert ov.next_hop(1, 7) == 3
    assert ov.next_hop(5, 7) == 2
    assert ov.next_hop(3, 7) == 7


def test_rank_sets() -> None:
    assert parse_ranks("0-3,5", 8) == [0, 1, 2, 3, 5]
    assert format_ranks([5, 0, 1, 2, 3]) == "0-3,5"
    for bad, reason in [("9", "outside"), ("3-1", "3 > 1"), ("a", "invalid"), ("", "no ranks")]:
        with pytest.raises(ValueError, match=reason):
            parse_ranks(bad, 8)


def test_cli_help_does_not_import_mqtt() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from kvs_sim.cli import build_parser; build_parser(); "
        "import kvs_sim.live, kvs_sim.live.codec; print('aiomqtt' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_live_package_exports_resolve() -> None:
    from kvs_sim import live

    for name in live.__all__:
        assert getattr(live, name) is not None
