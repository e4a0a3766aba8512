"""Linearizability, sequential consistency and staleness bounds on hand-made histories,
plus property tests: generated linearizable registers pass, one stale read is caught."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvs_sim.checks import check_all, check_linearizable, check_sequential, check_staleness
from kvs_sim.checks._registers import RegOp, number
from kvs_sim.checks._search import by_zones, search
from kvs_sim.history import History, Op, Recorder, from_edn_lines, load_edn


def rec() -> Recorder:
    return Recorder(config={"size": 2})


def write(r: Recorder, p: str, v: object, t0: float, t1: float | None, **kw: object) -> int:
    return r.op(process=p, rank=0, op="commit", writes={"x": v}, invoke=t0, complete=t1, **kw)  # type: ignore[arg-type]


def read(r: Recorder, p: str, v: object, t0: float, t1: float, **kw: object) -> int:
    return r.op(process=p, rank=1, op="get", key="x", value=v, invoke=t0, complete=t1, **kw)  # type: ignore[arg-type]


def test_overlapping_ops_may_take_effect_in_either_order() -> None:
    r = rec()
    write(r, "p1", 1, 0.0, 1.0)
    write(r, "p2", 2, 0.5, 2.0)
    read(r, "p3", 1, 1.5, 3.0)  # p2's write may come first, then p1's
    read(r, "p3", 1, 3.5, 4.0)
    v = check_linearizable(r.history())
    assert v.held is True and v.checked == 1


def test_a_stale_read_is_explained_in_words_with_a_failing_subhistory() -> None:
    r = rec()
    a = write(r, "p1", 1, 0.0010, 0.0011)
    b = write(r, "p1", 2, 0.0030, 0.0039)
    c = read(r, "p3", 1, 0.0041, 0.0042)
    read(r, "p2", 2, 0.0041, 0.0042)  # a fine read, not part of the evidence
    v = check_linearizable(r.history())
    assert v.held is False
    (bad,) = v.violations
    assert bad.summary == (
        "p3 read x=1 between 4.1 ms and 4.2 ms, after p1's write x=2 had completed at 3.9 ms; "
        "x=1 was written by p1's write x=1 (completed at 1.1 ms)"
    )
    assert bad.ops == (a, b, c)


def test_reading_the_initial_value_after_a_write_completed() -> None:
    r = rec()
    write(r, "p1", 1, 0.0, 1.0)
    read(r, "p2", None, 2.0, 3.0, ok=False, error="ENOENT")
    (bad,) = check_linearizable(r.history()).violations
    assert bad.summary.startswith("p2 read x absent between 2000 ms and 3000 ms, after p1's")


def test_failed_writes_take_no_effect() -> None:
    r = rec()
    write(r, "p1", 1, 0.0, 1.0)
    write(r, "p1", 2, 1.0, 2.0, ok=False, error="EPERM")
    read(r, "p2", 1, 3.0, 4.0)
    assert check_linearizable(r.history()).held is True
    read(r, "p2", 2, 5.0, 6.0)
    (bad,) = check_linearizable(r.history()).violations
    assert "no operation ever wrote x=2" in bad.summary


def test_indeterminate_writes_may_or_may_not_take_effect() -> None:
    r = rec()
    write(r, "p1", 1, 0.0, 1.0)
    write(r, "p2", 2, 1.5, None)  # never completed
    read(r, "p3", 1, 2.0, 3.0)  # not yet (or never)
    read(r, "p3", 2, 4.0, 5.0)  # now it has
    assert check_linearizable(r.history()).held is True
    read(r, "p3", 1, 6.0, 7.0)  # it cannot be undone
    (bad,) = check_linearizable(r.history()).violations
    assert "outcome unknown" in bad.summary and "could only be: x=2" in bad.summary


def test_the_indeterminate_field_marks_a_completed_op_as_unknown() -> None:
    op = Op(id=0, process="p", rank=0, op="commit", invoke=0.0, complete=1.0, writes={"x": 5})
    op_info = Op(**{**_fields(op), "error": "ETIMEDOUT", "indeterminate": True})
    r = rec()
    h = r.history()
    reads = [
        Op(id=1, process="q", rank=1, op="get", key="x", value=5, invoke=2.0, complete=3.0, ok=True)
    ]
    hist = History(h.header, (op_info, *reads))
    assert check_linearizable(hist).held is True
    failed = Op(**{**_fields(op), "error": "ETIMEDOUT"})
    assert check_linearizable(History(h.header, (failed, *reads))).held is False


def _fields(op: Op) -> dict[str, object]:
    return {name: getattr(op, name) for name in Op.__dataclass_fields__}


EDN_CAS = """\
{:process 0, :type :invoke, :f :write, :value 1}
{:process 0, :type :ok, :f :write, :value 1}
{:process 1, :type :invoke, :f :cas, :value [1 2]}
{:process 2, :type :invoke, :f :read, :value nil}
{:process 1, :type :ok, :f :cas, :value [1 2]}
{:process 2, :type :ok, :f :read, :value 2}
{:process 3, :type :invoke, :f :cas, :value [1 3]}
{:process 3, :type :fail, :f :cas, :value [1 3]}
{:process 4, :type :invoke, :f :cas, :value [2 4]}
{:process 4, :type :info, :f :cas, :value [2 4]}
{:process 2, :type :invoke, :f :read, :value nil}
{:process 2, :type :ok, :f :read, :value 4}
"""


def test_cas_failed_and_indeterminate_in_an_edn_history() -> None:
    hist = from_edn_lines(EDN_CAS.splitlines())
    assert hist.header.config["time_unit"] == "index" and not hist.header.config["keyed"]
    assert [o.op for o in hist.ops] == ["commit", "cas", "get", "cas", "cas", "get"]
    assert check_linearizable(hist).held is True
    bad = EDN_CAS.replace(
        ":value [1 3]}\n{:process 3, :type :fail", ":value [1 3]}\n{:process 3, :type :ok"
    )
    v = check_linearizable(from_edn_lines(bad.splitlines()))
    assert v.held is False
    assert "process 3's cas register 1->3 succeeded" in v.violations[0].summary


def test_keyed_edn_with_nemesis_and_times(tmp_path: Path) -> None:
    path = tmp_path / "h.edn"
    path.write_text(
        "{:process 0, :type :invoke, :f :write, :value [:a 1], :time 1000000}\n"
        '{:process :nemesis, :type :info, :f :start, :value "partition", :time 1500000}\n'
        "{:process 0, :type :ok, :f :write, :value [:a 1], :time 2000000}\n"
        "{:process 1, :type :invoke, :f :read, :value [:b nil], :time 3000000}\n"
        "{:process 1, :type :ok, :f :read, :value [:b 7], :time 4000000}\n"
    )
    hist = load_edn(path)
    assert hist.header.config["keyed"] and hist.header.config["time_unit"] == "s"
    v = check_linearizable(hist)
    assert v.held is False and "no operation ever wrote b=7" in v.violations[0].summary
    assert "between 3 ms and 4 ms" in v.violations[0].summary


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{:process 0, :type :invoke, :f :dance}", "':f' :dance is not a register operation"),
        ("{:process 0, :type :ok, :f :read, :value 1}", "a completion with no invocation"),
        ("[1 2]", "each line must be an EDN map"),
        ("{:process 0, :type :invoke", "unclosed"),
    ],
)
def test_bad_edn_lines_name_the_line(text: str, reason: str) -> None:
    from kvs_sim.history import HistoryError

    with pytest.raises(HistoryError, match=reason) as e:
        from_edn_lines(["", text], source="h.edn")
    assert str(e.value).startswith("h.edn:2: ")


def test_a_key_beyond_the_budget_is_unknown_never_held() -> None:
    r = rec()
    for i in range(50):
        write(r, f"p{i % 4}", i % 3, i, i + 2.5)
        read(r, f"q{i % 4}", (i - 1) % 3, i + 0.5, i + 3)
    v = check_linearizable(r.history(), budget=1e-9)
    assert v.held is None and v.unknown and "time budget" in v.unknown[0]


def test_kvs_sim_versions_are_a_witness_and_sequential_shows_it() -> None:
    r = rec()
    write(r, "p1", 1, 0.0, 1.0, version=1)
    read(r, "p2", 1, 1.5, 2.0, version=1)
    write(r, "p1", 2, 2.5, 3.0, version=2)
    read(r, "p2", 1, 3.5, 4.0, version=1)  # stale: after version 2 was committed
    hist = r.history()
    lin = check_linearizable(hist)
    assert lin.held is False
    seq = check_sequential(hist)
    assert seq.held is True
    assert seq.notes[0].startswith("primary: witness is the leader's version order, versions 1-2")
    assert (
        seq.notes[1] == "  version 1: #0 p1 commit x=1 -> version 1; then 2 observations (values 1)"
    )
    read(r, "p2", 2, 4.5, 5.0, version=2)
    read(r, "p2", 1, 5.5, 6.0, version=1)  # goes back: no sequential order has it
    bad = check_sequential(r.history())
    assert bad.held is False
    assert "the version order puts it after" in bad.violations[0].summary
    keyed = check_linearizable(History(hist.header, hist.ops[:3]))
    assert keyed.held is True and "by versions" in keyed.notes[0]


def test_staleness_bounds_as_claims() -> None:
    r = Recorder(config={"size": 2}, claims=["k-staleness<=1", "t-visibility<=5ms"])
    for v in (1, 2, 3):
        write(r, "p1", v, v * 0.01, v * 0.01 + 0.001, version=v)
    read(r, "p2", 1, 0.0315, 0.032, version=1)  # 2 versions behind; superseded 10.5 ms ago
    hist = r.history()
    verdicts = {v.guarantee: v for v in check_all(hist)}
    k, t = verdicts["k-staleness<=1"], verdicts["t-visibility<=5ms"]
    assert k.held is False and "2 newer commits of x had completed" in k.violations[0].summary
    assert t.held is False and "had completed 10.5ms earlier" in t.violations[0].summary
    assert check_staleness(hist, "k-staleness", 2).held is True
    assert check_staleness(hist, "t-visibility", 0.03).held is True


# -- property tests ---------------------------------------------------------------------


def register_history(rng: random.Random, n: int, values: int) -> list[RegOp]:
    """A linearizable register: each op gets a point inside its interval and the
    values follow those points; 8 processes, overlapping."""
    busy = [0.0] * 8
    points = []
    t = 0.0
    for i in range(n):
        p = rng.randrange(8)
        inv = max(busy[p], t) + rng.random()
        lin = inv + rng.random()
        done = lin + rng.random()
        busy[p], t = done + 0.01, inv
        points.append((lin, i, p, "read" if rng.random() < 0.5 else "write", inv, done))
    points.sort()
    state, ops = "null", []
    for _lin, i, p, f, inv, done in points:
        if f == "write":
            state = str(rng.randrange(values)) if values else str(i)
        op = Op(id=i, process=f"p{p}", rank=0, op=f, invoke=inv, complete=done, ok=True)
        ops.append(RegOp(op, f, state))
    number(ops)
    return ops


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from([0, 2, 5]))
def test_generated_linearizable_registers_are_accepted(rnd: random.Random, values: int) -> None:
    ops = register_history(rnd, 60, values)
    assert search(ops).held is True
    if values == 0:
        assert by_zones(ops).held is True


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_one_injected_stale_read_is_caught(rnd: random.Random) -> None:
    ops = register_history(rnd, 60, 0)  # unique values: a stale read is surely wrong
    writes = [w for w in ops if w.f == "write"]
    cases = [
        (r, old)
        for r in ops
        if r.f == "read"
        for new in writes
        if new.end < r.start
        for old in writes
        if old.end < new.start
    ]
    if not cases:
        return
    r, old = rnd.choice(cases)
    r.value = old.value
    assert search(ops).held is False
    assert by_zones(ops).held is False


def test_the_counterexample_is_drawn_with_the_impossible_op_last(tmp_path: Path) -> None:
    from kvs_sim.plots.linearizability import counterexample_bars, draw

    r = rec()
    write(r, "p1", 1, 0.0010, 0.0011)
    write(r, "p1", 2, 0.0030, 0.0039)
    write(r, "p2", 3, 0.0035, None)
    read(r, "p3", 1, 0.0041, 0.0042)
    hist = r.history()
    (bad,) = check_linearizable(hist).violations
    bars = counterexample_bars(hist, bad)
    assert [b.impossible for b in bars] == [False] * (len(bars) - 1) + [True]
    assert bars[-1].label == "r x=1" and bars[-1].start == pytest.approx(4.1)
    png = draw(hist, bad, tmp_path / "cex.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
