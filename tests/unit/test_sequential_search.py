"""Sequential consistency without versions: the search for an order (Jepsen-style
histories), by hand and by property."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kvs_sim.checks import check_sequential
from kvs_sim.checks._sequential_search import search_sequential
from kvs_sim.history import History, from_edn_lines


def edn(*lines: str) -> History:
    return from_edn_lines(list(lines))


def pair(p: int, f: str, value: str, result: str | None = None, kind: str = "ok") -> list[str]:
    done = value if result is None else result
    return [
        f"{{:process {p}, :type :invoke, :f :{f}, :value {value}}}",
        f"{{:process {p}, :type :{kind}, :f :{f}, :value {done}}}",
    ]


def test_a_stale_read_is_sequential_but_not_linearizable() -> None:
    h = edn(*pair(0, "write", "1"), *pair(0, "write", "2"), *pair(1, "read", "nil", "1"))
    v = check_sequential(h)
    assert v.held is True
    assert any("searched" in n for n in v.notes)  # not linearizable: the search answered
    assert any("witness order" in n for n in v.notes)


def test_reads_against_the_order_of_two_writes_are_not_sequential() -> None:
    # p0 writes x then y; p1 sees the new y, then the old (absent) x
    h = edn(
        *pair(0, "write", "[:x 1]"),
        *pair(0, "write", "[:y 1]"),
        *pair(1, "read", "[:y nil]", "[:y 1]"),
        *pair(1, "read", "[:x nil]", "[:x nil]"),
    )
    v = check_sequential(h)
    assert v.held is False
    (bad,) = v.violations
    assert "no order of the 4 operations" in bad.summary
    assert "wrote x=1 over x=absent" in bad.summary
    assert set(bad.ops) >= {0, 3}


def test_two_readers_disagreeing_on_the_order_of_two_writes() -> None:
    # the classic: p2 sees 1 then 2, p3 sees 2 then 1 (unique values)
    h = edn(
        "{:process 0, :type :invoke, :f :write, :value 1}",
        "{:process 1, :type :invoke, :f :write, :value 2}",
        "{:process 0, :type :ok, :f :write, :value 1}",
        "{:process 1, :type :ok, :f :write, :value 2}",
        *pair(2, "read", "nil", "1"),
        *pair(2, "read", "nil", "2"),
        *pair(3, "read", "nil", "2"),
        *pair(3, "read", "nil", "1"),
    )
    assert check_sequential(h).held is False


def test_indeterminate_write_may_or_may_not_have_happened() -> None:
    took = edn(*pair(0, "write", "1", kind="info"), *pair(1, "read", "nil", "1"))
    assert check_sequential(took).held is True
    skipped = edn(*pair(0, "write", "1", kind="info"), *pair(1, "read", "nil", "nil"))
    assert check_sequential(skipped).held is True
    never = edn(*pair(0, "write", "1", kind="fail"), *pair(1, "read", "nil", "1"))
    assert check_sequential(never).held is False


def test_cas_reads_and_writes_atomically() -> None:
    ok = edn(
        *pair(0, "write", "1"),
        *pair(1, "cas", "[1 2]"),
        *pair(0, "read", "nil", "1"),  # p0 may come before p1's cas
        *pair(2, "read", "nil", "2"),
    )
    assert check_sequential(ok).held is True
    bad = edn(*pair(0, "write", "1"), *pair(0, "cas", "[3 4]"), *pair(1, "read", "nil", "4"))
    assert check_sequential(bad).held is False


def test_a_budget_spent_is_unknown_never_held() -> None:
    h = _reversed_readers(60)
    out = search_sequential(h, max_states=5)
    assert out.held is None and "5 states" in out.reason
    v = check_sequential(h, budget=0.0)
    assert v.held is None and v.unknown


def _reversed_readers(n: int) -> History:
    lines = []
    for i in range(n):
        lines += pair(i % 4, "write", str(i))
    for i in range(n):  # one reader per value, reading them all back in reverse
        lines += pair(10, "read", "nil", str(n - 1 - i))
    return edn(*lines)


def _register(ops: list[tuple[int, str, int]]) -> list[str]:
    """Lines of a history executed one op at a time, in list order (so sequential)."""
    value: int | None = None
    lines = []
    for p, f, v in ops:
        if f == "write":
            value = v
            lines += pair(p, "write", str(v))
        else:
            lines += pair(p, "read", "nil", "nil" if value is None else str(value))
    return lines


OPS = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(["read", "write"]), st.integers(0, 3)),
    min_size=1,
    max_size=24,
)


@settings(max_examples=120, deadline=None)
@given(OPS, st.randoms(use_true_random=False))
def test_any_interleaving_of_a_register_is_accepted(
    ops: list[tuple[int, str, int]], rnd: random.Random
) -> None:
    # executed in one order, then each process's ops recorded as if at any real time:
    # the execution order is a sequential witness whatever the timestamps say
    lines = _register(ops)
    pairs = [lines[i : i + 2] for i in range(0, len(lines), 2)]
    by_proc: dict[str, list[list[str]]] = {}
    for pr in pairs:
        by_proc.setdefault(pr[0].split(",")[0], []).append(pr)
    shuffled: list[str] = []
    queues = list(by_proc.values())
    while queues:  # interleave processes at random, keeping each process's order
        q = rnd.choice(queues)
        shuffled += q.pop(0)
        if not q:
            queues.remove(q)
    reads = any(f == "read" for _, f, _ in ops)
    assert check_sequential(edn(*shuffled)).held is (True if reads else None)


@settings(max_examples=80, deadline=None)
@given(OPS)
def test_a_read_of_a_value_never_written_is_caught(ops: list[tuple[int, str, int]]) -> None:
    lines = _register(ops) + pair(9, "read", "nil", "99")
    assert check_sequential(edn(*lines)).held is False
