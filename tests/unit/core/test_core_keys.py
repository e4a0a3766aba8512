"""Key normalisation and splitting follow Flux."""

import pytest

from kvs_sim.core.errors import InvalidArgument
from kvs_sim.core.keys import (
    is_root,
    join_key,
    key_components,
    key_prefixes,
    normalize_key,
    parent_and_name,
    split_namespace,
)

NORMALISE = [
    ("a", "a"),
    ("a.b.c", "a.b.c"),
    ("a..b", "a.b"),
    ("a...b....c", "a.b.c"),
    (".a", "a"),
    ("a.", "a"),
    ("..a.b..", "a.b"),
    (".", "."),
    ("..", "."),
    ("....", "."),
    ("with space.x", "with space.x"),
]


@pytest.mark.parametrize(("key", "want"), NORMALISE)
def test_normalize_table(key: str, want: str) -> None:
    assert normalize_key(key) == want


def test_normalize_clean_key_is_identity() -> None:
    key = "a.b.c"
    assert normalize_key(key) is key


@pytest.mark.parametrize("bad", ["", None, 1, b"a"])
def test_invalid_keys(bad: object) -> None:
    with pytest.raises(InvalidArgument) as info:
        normalize_key(bad)  # type: ignore[arg-type]
    assert "invalid key" in str(info.value)


def test_empty_key_message() -> None:
    with pytest.raises(InvalidArgument, match=r"invalid key ''"):
        normalize_key("")


def test_components() -> None:
    assert key_components(".") == []
    assert key_components("..") == []
    assert key_components("a") == ["a"]
    assert key_components(".a..b.c.") == ["a", "b", "c"]


def test_join() -> None:
    assert join_key("a", "b") == "a.b"
    assert join_key("a.b", "c") == "a.b.c"
    assert join_key(".", "a") == "a"
    assert join_key("a.", ".b") == "a.b"
    assert join_key() == "."
    assert join_key(".", ".") == "."
    with pytest.raises(InvalidArgument):
        join_key("a", None)  # type: ignore[arg-type]


def test_parent_and_name() -> None:
    assert parent_and_name("a.b.c") == ("a.b", "c")
    assert parent_and_name("a") == (".", "a")
    assert parent_and_name("..a..b") == ("a", "b")
    with pytest.raises(InvalidArgument):
        parent_and_name(".")


def test_prefixes_and_root() -> None:
    assert key_prefixes("a.b.c") == [".", "a", "a.b"]
    assert key_prefixes("a") == ["."]
    assert key_prefixes(".") == []
    assert is_root("..")
    assert not is_root("a")


def test_split_namespace() -> None:
    assert split_namespace("a.b") == (None, "a.b")
    assert split_namespace("ns::a..b") == ("ns", "a.b")
    for bad in ("::a", "ns::", ""):
        with pytest.raises(InvalidArgument):
            split_namespace(bad)
