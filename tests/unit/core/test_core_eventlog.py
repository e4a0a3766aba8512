"""RFC 18 eventlogs: events checked, encoded one per line, decoded, formatted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvs_sim.core import eventlog as rfc18
from kvs_sim.core.errors import InvalidArgument


def test_events_encode_as_one_json_line_each() -> None:
    first = rfc18.make_event(1.5, "submit", {"user": 5})
    second = rfc18.make_event(2.0, "start", '{"rank": 3}')
    log = rfc18.encode_event(first) + rfc18.encode_event(second)
    assert log == (
        b'{"timestamp":1.5,"name":"submit","context":{"user":5}}\n'
        b'{"timestamp":2.0,"name":"start","context":{"rank":3}}\n'
    )
    assert rfc18.decode(log) == [first, second]
    assert rfc18.decode(b"") == [] and rfc18.decode(None) == []


@pytest.mark.parametrize(
    ("event", "why"),
    [
        ([1], "must be a JSON object"),
        ({"name": "x"}, "'timestamp' must be a number"),
        ({"timestamp": True, "name": "x"}, "'timestamp' must be a number"),
        ({"timestamp": -1, "name": "x"}, "finite number >= 0"),
        ({"timestamp": float("nan"), "name": "x"}, "finite number >= 0"),
        ({"timestamp": 1}, "'name' must be a non-empty string"),
        ({"timestamp": 1, "name": ""}, "'name' must be a non-empty string"),
        ({"timestamp": 1, "name": "x", "context": [1]}, "'context' must be a JSON object"),
    ],
)
def test_malformed_events_are_einval_saying_why(event: object, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        rfc18.validate_event(event)
    with pytest.raises(InvalidArgument, match=why):
        rfc18.encode_event(event)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("log", "why"),
    [
        (b'{"timestamp":1,"name":"a"}', "does not end in a newline"),
        (b'{"timestamp":1,"name":"a"}\nnot json\n', "eventlog line 2: not JSON"),
        (b'{"timestamp":1,"name":"a"}\n\n', "eventlog line 2: not JSON"),
        (b'{"timestamp":1}\n', "eventlog line 1: 'name'"),
        (b"\xff\n", "not UTF-8"),
    ],
)
def test_malformed_logs_are_einval_naming_the_line(log: bytes, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        rfc18.decode(log)


def test_context_text_must_be_a_json_object() -> None:
    with pytest.raises(InvalidArgument, match="not JSON"):
        rfc18.make_event(1, "x", "{oops")
    with pytest.raises(InvalidArgument, match="'context' must be a JSON object"):
        rfc18.make_event(1, "x", "[1, 2]")


def test_formats_as_flux_prints_them() -> None:
    event = rfc18.make_event(1796158039.605155, "start", {"rank": 3, "note": "x y"})
    assert rfc18.EventFormatter().format(event) == '1796158039.605155 start rank=3 note="x y"'
    assert rfc18.EventFormatter(unformatted=True).format(rfc18.make_event(2, "a", {})) == (
        '{"timestamp":2,"name":"a"}'
    )
    human = rfc18.EventFormatter(human=True)
    assert human.format(event) == '[Dec01 20:47] start rank=3 note="x y"'
    later = rfc18.make_event(1796158040.855155, "finish")
    assert human.format(later) == "[  +1.250000] finish"
    colored = rfc18.EventFormatter(color=True).format(rfc18.make_event(1, "a"))
    assert "\033[33ma\033[0m" in colored
    with pytest.raises(ValueError, match="unformatted"):
        rfc18.EventFormatter(unformatted=True, human=True)


_names = st.text(min_size=1, max_size=8).filter(lambda s: "\n" not in s)
_context = st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=3)


@given(st.lists(st.tuples(st.floats(0, 1e10), _names, st.none() | _context), max_size=6))
def test_any_appended_events_decode_back_in_order(events: list) -> None:
    made = [rfc18.make_event(ts, name, ctx) for ts, name, ctx in events]
    log = b"".join(rfc18.encode_event(e) for e in made)
    assert rfc18.decode(log) == made
