"""The nemesis model: records validate themselves, schedules order, the seed decides."""

from __future__ import annotations

import itertools

import pytest

import kvs_sim.nemesis as nem
from kvs_sim.nemesis import (
    Crash,
    Loss,
    Partition,
    Pause,
    Schedule,
    Slow,
    Spike,
    at,
    from_spec,
    parse_kinds,
    random_process,
    subtree,
)

# a binary tree of 7 ranks: 0 -> 1, 2; 1 -> 3, 4; 2 -> 5, 6
PARENT = [-1, 0, 0, 1, 1, 2, 2]


def test_public_surface_is_pinned() -> None:
    assert sorted(nem.__all__) == [
        "Crash",
        "KINDS",
        "Loss",
        "MODES",
        "Nemesis",
        "Partition",
        "Pause",
        "Schedule",
        "Scheduled",
        "Slow",
        "Spike",
        "at",
        "from_spec",
        "parse_kinds",
        "random_process",
        "subtree",
    ]


def test_a_subtree_partition_cuts_the_link_to_its_parent() -> None:
    p = Partition(ranks=subtree(PARENT, 1))
    assert p.ranks == (1, 3, 4)
    assert p.cut(PARENT) == ((0, 1),)
    assert p.affected(PARENT) == (1, 3, 4)
    assert Partition(links=((0, 2),)).affected(PARENT) == (0, 2)
    assert p.detail(PARENT) == {"links": [[0, 1]], "mode": "hold"}
    # a set that is not a subtree cuts every link with one end inside
    assert Partition(ranks=(1, 5), mode="drop").cut(PARENT) == ((0, 1), (1, 3), (1, 4), (2, 5))
    assert Partition(links=((3, 1),)).cut(PARENT) == ((1, 3),)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (Partition, "either ranks"),
        (lambda: Partition(ranks=(1,), links=((0, 1),)), "either ranks"),
        (lambda: Partition(ranks=(1,), mode="eat"), "mode"),
        (lambda: Partition(links=((1, 1),)), "two different"),
        (lambda: Crash(rank=-1), "rank number"),
        (lambda: Slow(rank=1, factor=0.5), ">= 1"),
        (lambda: Spike(link=(0, 1), extra=0), "> 0"),
        (lambda: Loss(rate=1.0), "probability"),
        (lambda: at(-1, Crash(rank=0)), ">= 0"),
        (lambda: at(1, Crash(rank=0), 0), "> 0"),
    ],
)
def test_bad_nemeses_are_refused_with_the_reason(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        build()


def test_a_schedule_orders_entries_and_checks_them_against_the_tree() -> None:
    s = Schedule.of([at(2, Pause(rank=3), 1), at(1, Crash(rank=0), 0.5)])
    assert [e.at for e in s] == [1.0, 2.0] and s.entries[0].end == 1.5
    s.check(7, PARENT)
    with pytest.raises(ValueError, match="names rank 9"):
        Schedule.of([at(0, Crash(rank=9))]).check(7, PARENT)
    with pytest.raises(ValueError, match="not a tree link"):
        Schedule.of([at(0, Spike(link=(3, 5)))]).check(7, PARENT)
    with pytest.raises(ValueError, match="not a link of the tree"):
        Schedule.of([at(0, Partition(links=((3, 5),)))]).check(7, PARENT)


def test_scenario_dicts_become_schedule_entries() -> None:
    e = from_spec({"at": 0.5, "for": 0.2, "kind": "partition", "ranks": [1, 3, 4]})
    assert e == at(0.5, Partition(ranks=(1, 3, 4)), 0.2)
    assert from_spec({"at": 1, "kind": "spike", "link": [0, 2], "extra": 0.01}).nemesis == Spike(
        link=(0, 2), extra=0.01
    )
    assert from_spec(e) is e
    with pytest.raises(ValueError, match="no 'kind'"):
        from_spec({"at": 1})
    with pytest.raises(ValueError, match="unknown nemesis 'flood'"):
        from_spec({"at": 1, "kind": "flood"})
    with pytest.raises(ValueError, match="'crash'"):
        from_spec({"at": 1, "kind": "crash", "rank": 1, "colour": "red"})


def test_kinds_are_parsed_with_a_clear_error() -> None:
    assert parse_kinds("partition, crash,pause") == ("partition", "crash", "pause")
    with pytest.raises(ValueError, match=r"unknown nemesis 'nap'.*known: partition"):
        parse_kinds("crash,nap")
    with pytest.raises(ValueError, match="at least one"):
        parse_kinds(" , ")


def test_the_random_process_is_a_function_of_the_seed() -> None:
    kinds = tuple(nem.KINDS)

    def draw(seed: int) -> list[nem.Scheduled]:
        return list(itertools.islice(random_process(seed, kinds, 0.1, PARENT), 40))

    a, b = draw(3), draw(3)
    assert a == b and a != draw(4)
    # one fault at a time: each starts after the previous one healed
    for prev, nxt in itertools.pairwise(a):
        assert prev.end is not None and nxt.at > prev.end
    assert {e.nemesis.name for e in a} == set(kinds)
    Schedule.of(a).check(7, PARENT)
    for e in a:
        assert e.duration is not None and 0.05 <= e.duration <= 0.1
        if isinstance(e.nemesis, Partition):
            assert 0 not in e.nemesis.ranks
        if isinstance(e.nemesis, Pause):
            assert e.nemesis.rank != 0
