"""MQTT topic validation, matching (against a reference matcher) and TopicBus."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kvs_sim.topics import TopicBus, topic_matches, validate_filter, validate_topic


def reference_matches(filt: str, topic: str) -> bool:
    """MQTT 4.7 read literally, level by level, recursively."""

    def rec(f: list[str], t: list[str]) -> bool:
        if not f:
            return not t
        if f[0] == "#":
            return True
        if not t:
            return False
        return (f[0] == "+" or f[0] == t[0]) and rec(f[1:], t[1:])

    if topic.startswith("$") and filt.split("/", maxsplit=1)[0] in ("+", "#"):
        return False
    return rec(filt.split("/"), topic.split("/"))


@pytest.mark.parametrize(
    ("filt", "topic", "expect"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/+", "a/", True),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("a/#", "ab", False),
        ("#", "a/b", True),
        ("#", "/", True),
        ("+/+", "/finance", True),
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("#", "$SYS/x", False),
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("$SYS/#", "$SYS", True),
        ("a/+/c", "a/b/c", True),
        ("+/+/+", "a/b", False),
    ],
)
def test_examples(filt: str, topic: str, expect: bool) -> None:
    validate_filter(filt)
    validate_topic(topic)
    assert topic_matches(filt, topic) is expect
    assert reference_matches(filt, topic) is expect


@pytest.mark.parametrize(
    ("filt", "message"),
    [
        ("", "empty"),
        ("a/#/b", "last level"),
        ("a#", "fill its level"),
        ("a/b+", "fill its level"),
        ("a\0b", "NUL"),
        ("x" * 70000, "bytes"),
    ],
)
def test_bad_filters(filt: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_filter(filt)


@pytest.mark.parametrize("topic", ["", "a/+", "a/#", "a\0"])
def test_bad_topics(topic: str) -> None:
    with pytest.raises(ValueError):
        validate_topic(topic)


LEVEL = st.sampled_from(["", "a", "b", "$x", "ab"])
TOPIC = st.lists(LEVEL, min_size=1, max_size=5).map("/".join).filter(bool)
FILTER_LEVEL = st.sampled_from(["", "a", "b", "$x", "+"])


@st.composite
def filters(draw: st.DrawFn) -> str:
    levels = draw(st.lists(FILTER_LEVEL, min_size=1, max_size=5))
    if draw(st.booleans()):
        levels.append("#")
    filt = "/".join(levels)
    assume(filt)
    return filt


@given(filters(), TOPIC)
def test_matches_agree_with_reference(filt: str, topic: str) -> None:
    validate_filter(filt)
    validate_topic(topic)
    assert topic_matches(filt, topic) == reference_matches(filt, topic)


@given(TOPIC)
def test_topic_matches_itself_and_hash(topic: str) -> None:
    assert topic_matches(topic, topic)
    assert topic_matches("#", topic) == (not topic.startswith("$"))


def test_bus_order_and_unsubscribe() -> None:
    bus = TopicBus()
    log: list[tuple[str, str, Any]] = []

    def cb(name: str):
        return lambda topic, msg: log.append((name, topic, msg))

    t1 = bus.subscribe("kvs/#", cb("all"))
    t2 = bus.subscribe("kvs/event/setroot", cb("exact"))
    bus.subscribe("kvs/+/setroot", cb("plus"))
    bus.subscribe("kvs/event/setroot", cb("exact2"))
    assert bus.publish("kvs/event/setroot", 1) == 4
    assert [x[0] for x in log] == ["all", "exact", "plus", "exact2"]
    log.clear()
    bus.unsubscribe(t2)
    bus.unsubscribe(t1)
    assert bus.publish("kvs/event/setroot", 2) == 2
    assert [x[0] for x in log] == ["plus", "exact2"]
    assert bus.publish("other", 3) == 0
    assert len(bus) == 2 and [f for _, f in bus.subscriptions()] == [
        "kvs/+/setroot",
        "kvs/event/setroot",
    ]
    with pytest.raises(KeyError):
        bus.unsubscribe(t1)
    with pytest.raises(ValueError):
        bus.subscribe("a/#/b", cb("bad"))
    with pytest.raises(ValueError):
        bus.publish("a/+", None)


def test_bus_unsubscribe_during_publish() -> None:
    bus = TopicBus()
    log: list[str] = []
    tokens: dict[str, int] = {}

    def first(topic: str, msg: Any) -> None:
        log.append("first")
        if "second" in tokens:
            bus.unsubscribe(tokens.pop("second"))
            bus.subscribe("t", lambda t, m: log.append("late"))

    tokens["first"] = bus.subscribe("t", first)
    tokens["second"] = bus.subscribe("#", lambda t, m: log.append("second"))
    assert bus.publish("t", None) == 1
    assert log == ["first"]
    bus.publish("t", None)
    assert log == ["first", "first", "late"]
