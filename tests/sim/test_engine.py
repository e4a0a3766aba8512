"""The virtual-time engine, driven by small toy ranks defined here."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from kvs_sim.overlay import Overlay
from kvs_sim.sim.engine import BROKER, CLIENT, Engine
from kvs_sim.sim.latency import Constant, LinkModel, Uniform
from kvs_sim.sim.process import CancelledError, SimFuture

D = 100e-6  # per-hop latency used by most tests
HOP = 5e-6
CL = 20e-6


@dataclass(frozen=True, slots=True, kw_only=True)
class Msg:
    kind: str
    data: Any = None
    src: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Req:
    client: int
    count: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    client: int
    value: Any = None
    final: bool = True


class Toy:
    """Logs ``(time, msg)`` it handles; optional work per message and scripted
    behaviour per message kind."""

    def __init__(self, engine: Engine, rank: int, work: float = 0.0) -> None:
        self.engine = engine
        self.rank = rank
        self.work = work
        self.log: list[tuple[float, Any]] = []
        self.on_start: list[Any] = []

    def start(self) -> None:
        for fn in self.on_start:
            fn(self.engine)

    def handle(self, msg: Any) -> None:
        port = self.engine
        self.log.append((port.now(), msg))
        if self.work:
            port.work(self.work)
        if isinstance(msg, Msg):
            if msg.kind == "forward":  # data: list of (dst, payload)
                for dst, payload in msg.data:
                    port.send(dst, Msg(kind="data", data=payload, src=self.rank))
            elif msg.kind == "publish":
                port.publish(Event(seq=msg.data))
            elif msg.kind == "echo":
                port.send(msg.src, Msg(kind="data", data=msg.data, src=self.rank))
        elif isinstance(msg, Req):
            for i in range(msg.count):
                port.respond(Reply(client=msg.client, value=i, final=i == msg.count - 1))


def make(
    size: int = 7,
    fanout: int = 2,
    *,
    latency: Any = None,
    seed: int = 1,
    events: str = "tree",
    work: float = 0.0,
    loss: float = 0.0,
    tracer: Any = None,
) -> tuple[Engine, list[Toy]]:
    links = LinkModel(latency or Constant(D), loss=loss)
    eng = Engine(
        Overlay.kary(size, fanout),
        links=links,
        rng=random.Random(seed),
        events=events,
        hop_cost=HOP,
        client_latency=CL,
        tracer=tracer,
    )
    toys = [Toy(eng, r, work) for r in range(size)]
    eng.attach(toys)
    return eng, toys


def kick(eng: Engine, rank: int, msg: Any, at: float = 0.0) -> None:
    """Inject ``msg`` at ``rank`` at time ``at`` as if from a timer."""
    toy = eng._ranks[rank]

    def go(e: Engine) -> None:
        e.timer(at, msg)

    toy.on_start.append(go)


def test_send_latency_and_work_before_send() -> None:
    eng, toys = make(7)
    # 3 -> 1 -> 0 -> 2 -> 5: four hops, three intermediate ranks
    kick(eng, 3, Msg(kind="forward", data=[(5, "x")]))
    eng.start()
    eng.run()
    [(t, msg)] = toys[5].log
    assert msg.data == "x"
    assert t == pytest.approx(4 * D + 3 * HOP)
    toys[6].work = 0.0
    eng2, toys2 = make(7, work=50e-6)
    kick(eng2, 3, Msg(kind="forward", data=[(1, "y")]))
    eng2.start()
    eng2.run()
    assert toys2[1].log[0][0] == pytest.approx(50e-6 + D)  # left after the work
    assert eng2.busy_time()[3] == pytest.approx(50e-6)


def test_fifo_under_service_time() -> None:
    eng, toys = make(3, work=30e-6)
    toys[0].work = 0.0
    kick(eng, 0, Msg(kind="forward", data=[(1, i) for i in range(5)]))
    eng.start()
    eng.run()
    times = [t for t, _ in toys[1].log]
    assert [m.data for _, m in toys[1].log] == [0, 1, 2, 3, 4]
    assert times == pytest.approx([D + i * 30e-6 for i in range(5)])
    assert eng.busy_time()[1] == pytest.approx(150e-6)
    assert eng.queue_length(1) == 0


def test_message_arriving_exactly_when_rank_frees_keeps_fifo() -> None:
    eng, toys = make(2, work=D)
    toys[0].work = 0.0
    # Two messages arrive at D (rank busy until 2D); a third arrives at exactly 2D.
    kick(eng, 0, Msg(kind="forward", data=[(1, "a"), (1, "b")]))
    kick(eng, 0, Msg(kind="forward", data=[(1, "c")]), at=D)
    eng.start()
    eng.run()
    assert [m.data for _, m in toys[1].log] == ["a", "b", "c"]
    assert [t for t, _ in toys[1].log] == pytest.approx([D, 2 * D, 3 * D])


@pytest.mark.parametrize("events", ["tree", "broker"])
@pytest.mark.parametrize("latency", [None, Uniform(50e-6, 150e-6)])
@pytest.mark.parametrize("publisher", [0, 4])
def test_events_reach_every_other_rank_once(events: str, latency: Any, publisher: int) -> None:
    eng, toys = make(31, 2, latency=latency, events=events)
    kick(eng, publisher, Msg(kind="publish", data=1))
    eng.start()
    eng.run()
    for r, toy in enumerate(toys):
        events_seen = [m for _, m in toy.log if isinstance(m, Event)]
        assert len(events_seen) == (0 if r == publisher else 1), r
    assert eng.deliveries == 30 + 1


def test_tree_event_times_follow_depth() -> None:
    eng, toys = make(15, 2)
    kick(eng, 0, Msg(kind="publish", data=1))
    eng.start()
    eng.run()
    ov = eng.overlay
    for r in range(1, 15):
        [(t, _)] = toys[r].log
        assert t == pytest.approx(D + (ov.depth[r] - 1) * (HOP + D))


def test_broker_mode_serves_one_copy_at_a_time() -> None:
    eng, toys = make(5, events="broker")
    kick(eng, 0, Msg(kind="publish", data=1))
    eng.start()
    eng.run()
    times = [toys[r].log[0][0] for r in range(1, 5)]
    assert times == pytest.approx([D + i * 2e-6 + D for i in range(1, 5)])
    links = eng.link_messages()
    assert links[(0, BROKER)] == 1
    assert all(links[(BROKER, r)] == 1 for r in range(1, 5))


def test_events_are_forwarded_while_the_rank_is_busy() -> None:
    eng, toys = make(7)
    toys[1].work = 1.0  # rank 1 takes a second per message
    kick(eng, 1, Msg(kind="data"))  # makes rank 1 busy from 0 to 1 s
    kick(eng, 0, Msg(kind="publish", data=1))
    eng.start()
    eng.run()
    assert toys[3].log[0][0] == pytest.approx(2 * D + HOP)  # not delayed by rank 1
    assert toys[1].log[1][0] == pytest.approx(1.0)  # rank 1 itself takes it when free


@pytest.mark.parametrize("events", ["tree", "broker"])
def test_event_order_per_link_with_random_latency(events: str) -> None:
    eng, toys = make(15, 2, latency=Uniform(10e-6, 500e-6), events=events, seed=3)
    for i in range(40):
        kick(eng, 0, Msg(kind="publish", data=i), at=i * 5e-6)
    eng.start()
    eng.run()
    for toy in toys[1:]:
        assert [m.seq for _, m in toy.log if isinstance(m, Event)] == list(range(40))


def test_per_pair_fifo_with_random_latency() -> None:
    eng, toys = make(15, 2, latency=Uniform(1e-6, 1e-3), seed=5)
    kick(eng, 9, Msg(kind="forward", data=[(12, i) for i in range(100)]))
    for i in range(50):
        kick(eng, 3, Msg(kind="forward", data=[(12, 1000 + i)]), at=i * 1e-6)
    eng.start()
    eng.run()
    seen = [m.data for _, m in toys[12].log]
    assert [x for x in seen if x < 1000] == list(range(100))
    assert [x for x in seen if x >= 1000] == list(range(1000, 1050))
    assert seen != sorted(seen)  # the two senders did interleave


def test_client_request_reply_and_streams() -> None:
    eng, _ = make(3)
    got: list[tuple[float, Any]] = []
    cid = eng.request(2, lambda c: Req(client=c, count=3), lambda r: got.append((eng.now(), r)))
    eng.run()
    assert [r.value for _, r in got] == [0, 1, 2]
    assert [t for t, _ in got] == pytest.approx([2 * CL] * 3)
    assert all(r.client == cid for _, r in got)
    assert eng.open_clients == 0
    # A reply to a forgotten id is counted and dropped.
    eng2, _toys2 = make(3)
    kick(eng2, 1, Req(client=999))
    eng2.start()
    eng2.run()
    assert eng2.replies_dropped == 1


def test_respond_from_the_wrong_rank_is_an_error() -> None:
    eng, _toys = make(3)
    cid = eng.request(1, lambda c: Msg(kind="data"), lambda r: None)
    kick(eng, 2, Req(client=cid))
    eng.start()
    with pytest.raises(RuntimeError, match="attached to 1"):
        eng.run()


def test_timers_and_call_later() -> None:
    eng, toys = make(2)
    kick(eng, 1, Msg(kind="tick"), at=1e-3)
    seen: list[float] = []
    eng.call_later(2e-3, lambda: seen.append(eng.now()))
    eng.call_at(5e-4, seen.append, 7)
    eng.start()
    eng.run()
    assert toys[1].log[0][0] == pytest.approx(1e-3)
    assert seen == [7, pytest.approx(2e-3)]


def test_port_outside_a_rank_is_an_error() -> None:
    eng, _ = make(2)
    for call in (
        lambda: eng.send(1, "x"),
        lambda: eng.publish("x"),
        lambda: eng.work(1.0),
        lambda: eng.timer(1.0, "x"),
        lambda: eng.respond(Reply(client=1)),
    ):
        with pytest.raises(RuntimeError, match="outside a rank"):
            call()
    errors: list[BaseException] = []

    def inside_callback() -> None:
        try:
            eng.send(1, "x")
        except RuntimeError as err:
            errors.append(err)

    eng.call_later(0.0, inside_callback)
    eng.run()
    assert len(errors) == 1


def test_run_until_sets_the_clock_and_includes_the_boundary() -> None:
    eng, toys = make(2)
    kick(eng, 1, Msg(kind="a"), at=1e-3)
    kick(eng, 1, Msg(kind="b"), at=2e-3)
    eng.start()
    eng.run(until=1e-3)
    assert [m.kind for _, m in toys[1].log] == ["a"]
    assert eng.now() == 1e-3
    eng.run(until=1.5e-3)
    assert eng.now() == 1.5e-3 and len(toys[1].log) == 1
    with pytest.raises(ValueError):
        eng.run(until=1e-3)
    eng.run()
    assert eng.now() == pytest.approx(2e-3) and eng.pending_events == 0


def test_spawn_await_sleep_and_exceptions() -> None:
    eng, _ = make(3)

    def ask(rank: int, count: int) -> SimFuture:
        fut = eng.future()
        eng.request(rank, lambda c: Req(client=c, count=count), fut.set_result)
        return fut

    async def child(x: int) -> int:
        await eng.sleep(1e-3)
        return x * 2

    async def main() -> tuple[float, Any, int]:
        reply = await ask(2, 1)
        doubled = await eng.spawn(child(21))
        return eng.now(), reply.value, doubled

    t, value, doubled = eng.run_until_complete(eng.spawn(main()))
    assert (value, doubled) == (0, 42)
    assert t == pytest.approx(2 * CL + 1e-3)

    async def fails() -> None:
        await eng.sleep(1e-6)
        raise KeyError("boom")

    async def catches() -> str:
        try:
            await eng.spawn(fails())
        except KeyError as err:
            return f"caught {err}"
        return "no"

    assert eng.run_until_complete(eng.spawn(catches())) == "caught 'boom'"
    with pytest.raises(KeyError, match="boom"):
        eng.run_until_complete(eng.spawn(fails()))


def test_cancel_a_sleeping_task() -> None:
    eng, _ = make(2)
    log: list[str] = []

    async def sleeper() -> None:
        try:
            await eng.sleep(10.0)
        except CancelledError:
            log.append("cancelled")
            raise

    task = eng.spawn(sleeper())
    eng.run(until=1.0)
    assert task.cancel()
    eng.run()
    assert task.cancelled() and log == ["cancelled"]
    with pytest.raises(CancelledError):
        task.result()
    assert eng.now() == pytest.approx(10.0)  # the sleep's timer still fires, harmlessly


def test_awaiting_a_foreign_object_is_a_clear_error() -> None:
    eng, _ = make(2)

    class Foreign:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield "not a SimFuture"

    async def bad() -> None:
        await Foreign()

    with pytest.raises(TypeError, match="only SimFuture"):
        eng.run_until_complete(eng.spawn(bad()))


def test_run_until_complete_idle_and_timeout() -> None:
    eng, _ = make(2)
    never = eng.future()
    with pytest.raises(RuntimeError, match="simulation went idle before"):
        eng.run_until_complete(never)
    eng.call_later(5.0, lambda: None)
    with pytest.raises(TimeoutError):
        eng.run_until_complete(never, timeout=1.0)
    assert eng.now() == pytest.approx(1.0)
    done = eng.future()
    done.set_result(3)
    assert eng.run_until_complete(done) == 3


def traced_run(
    seed: int,
    latency: Any,
    *,
    stepwise: bool = False,
    events: str = "tree",
    slow: tuple[float, ...] = (),
) -> list:
    """``slow``: virtual times at which client code toggles ``slow_path``."""
    log: list[tuple[float, int, int, Any]] = []
    eng, _toys = make(
        31, 2, latency=latency, seed=seed, events=events, work=3e-6, tracer=log_to(log)
    )
    for at in slow:
        eng.call_at(at, lambda: setattr(eng, "slow_path", not eng.slow_path))
    for i in range(5):
        kick(eng, 0, Msg(kind="publish", data=i), at=i * 20e-6)
    for r in (7, 20, 30):
        kick(eng, r, Msg(kind="forward", data=[(d, r) for d in (0, 13, 29)]))
        kick(eng, r, Msg(kind="echo", src=1, data=r), at=3e-6)
    eng.request(17, lambda c: Req(client=c, count=2), lambda r: None)
    eng.start()
    if stepwise:
        while eng.step():
            pass
    else:
        eng.run()
    return log


def log_to(log: list) -> Any:
    return lambda t, src, dst, msg: log.append((t, src, dst, msg))


def test_determinism_same_seed_same_trace() -> None:
    lat = Uniform(10e-6, 300e-6)
    a = traced_run(7, lat)
    assert a == traced_run(7, lat)
    assert a != traced_run(8, lat)
    assert traced_run(7, None) == traced_run(8, None)  # fixed latency: seed irrelevant
    assert [x[0] for x in a] == sorted(x[0] for x in a)  # time never goes back
    assert any(src == CLIENT for _, src, _, _ in a)
    assert any(dst == CLIENT for _, _, dst, _ in a)


@pytest.mark.parametrize("latency", [None, Uniform(10e-6, 300e-6)])
@pytest.mark.parametrize("events", ["tree", "broker"])
def test_step_and_run_agree(latency: Any, events: str) -> None:
    assert traced_run(4, latency, events=events) == traced_run(
        4, latency, stepwise=True, events=events
    )


@pytest.mark.parametrize("latency", [None, Uniform(10e-6, 300e-6)])
@pytest.mark.parametrize("events", ["tree", "broker"])
def test_slow_path_gives_the_same_trace(latency: Any, events: str) -> None:
    fast = traced_run(4, latency, events=events)
    assert traced_run(4, latency, events=events, slow=(0.0,)) == fast  # plain path throughout
    toggled = traced_run(4, latency, events=events, slow=(50e-6, 150e-6, 260e-6))
    assert toggled == fast  # switching loops mid-run loses and reorders nothing


def test_slow_path_switches_the_running_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    from kvs_sim.sim import loop

    eng, _ = make(7)
    kick(eng, 0, Msg(kind="publish", data=1))
    kick(eng, 0, Msg(kind="publish", data=2), at=1e-3)
    eng.call_at(0.5e-3, lambda: setattr(eng, "slow_path", True))
    seen: list[bool] = []
    plain = loop.step_entry

    def spy(*args: Any) -> None:
        seen.append(eng.slow_path)
        plain(*args)

    monkeypatch.setattr(loop, "step_entry", spy)
    eng.start()
    eng.run()
    assert eng.slow_path
    assert seen and all(seen)  # only entries after the switch took the plain path
    assert 0 < len(seen) < eng.events_processed  # the first publish took the fast loop
    assert eng.deliveries == 2 + 2 * 6


def test_link_counters() -> None:
    eng, _toys = make(7)
    kick(eng, 3, Msg(kind="forward", data=[(5, "x"), (4, "y")]))
    kick(eng, 0, Msg(kind="publish", data=1))
    eng.start()
    eng.run()
    links = eng.link_messages()
    expect = {(3, 1): 2, (1, 0): 1, (0, 2): 2, (2, 5): 2, (1, 4): 2, (0, 1): 1, (1, 3): 1}
    expect[(2, 6)] = 1
    assert links == expect
    assert eng.deliveries == 2 + 6 + 2  # two sends, six event copies, two kicks
    assert eng.events_processed >= eng.deliveries // 2


def test_loss_drops_whole_subtrees_of_events_only() -> None:
    eng, toys = make(63, 2, loss=0.3, seed=2)
    for i in range(20):
        kick(eng, 0, Msg(kind="publish", data=i), at=i * 1e-3)
    kick(eng, 62, Msg(kind="forward", data=[(31, i) for i in range(20)]))
    eng.start()
    eng.run()
    assert eng.events_lost > 0
    seen = [{m.seq for _, m in toy.log if isinstance(m, Event)} for toy in toys]
    ov = eng.overlay
    for r in range(1, 63):
        assert seen[r] <= seen[ov.parent[r]] or ov.parent[r] == 0
    assert len([m for _, m in toys[31].log if isinstance(m, Msg)]) == 20  # sends never lost


def test_bad_arguments() -> None:
    ov = Overlay.kary(3, 2)
    with pytest.raises(ValueError, match="events"):
        Engine(ov, rng=random.Random(), events="mesh")
    with pytest.raises(ValueError, match="not a link"):
        Engine(ov, links=LinkModel(overrides={(1, 2): Constant(1.0)}), rng=random.Random())
    with pytest.raises(ValueError, match="hop_cost"):
        Engine(ov, rng=random.Random(), hop_cost=-1)
    eng = Engine(ov, rng=random.Random())
    with pytest.raises(ValueError, match="3 ranks"):
        eng.attach([])
    with pytest.raises(RuntimeError, match="attach"):
        eng.start()
    with pytest.raises(ValueError):
        eng.call_later(-1.0, print)
    with pytest.raises(ValueError, match="no such rank"):
        eng.request(9, lambda c: None, print)


def test_link_override_changes_one_link() -> None:
    ov = Overlay.kary(3, 2)
    eng = Engine(
        ov,
        links=LinkModel(Constant(D), {(0, 2): Constant(1e-3)}),
        rng=random.Random(),
        hop_cost=HOP,
    )
    toys = [Toy(eng, r) for r in range(3)]
    eng.attach(toys)
    kick(eng, 0, Msg(kind="publish", data=1))
    eng.start()
    eng.run()
    assert toys[1].log[0][0] == pytest.approx(D)
    assert toys[2].log[0][0] == pytest.approx(1e-3)


def test_idle_memory_per_rank_is_small() -> None:
    import gc
    import tracemalloc

    n = 16384

    class Idle:
        __slots__ = ()

        def handle(self, msg: Any) -> None:
            pass

    ranks = [Idle() for _ in range(n)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        eng = Engine(Overlay.kary(n, 2), rng=random.Random(0))
        eng.attach(ranks)
        eng.start()
        per_rank = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert per_rank < 400, per_rank  # overlay + engine + bound handlers, ~210 B measured


def test_simfuture_states_and_callbacks() -> None:
    from kvs_sim.sim.process import InvalidStateError

    fut = SimFuture()
    seen: list[Any] = []
    fut.add_done_callback(lambda f: seen.append(f.result()))
    assert not fut.done()
    with pytest.raises(InvalidStateError):
        fut.result()
    fut.set_result(5)
    assert seen == [5] and fut.done() and fut.exception() is None
    fut.add_done_callback(lambda f: seen.append("late"))  # runs at once
    assert seen == [5, "late"]
    with pytest.raises(InvalidStateError):
        fut.set_result(6)
    failed = SimFuture()
    failed.set_exception(ValueError("bad"))
    assert isinstance(failed.exception(), ValueError)
    with pytest.raises(ValueError, match="bad"):
        failed.result()
    gone = SimFuture()
    assert gone.cancel() and not gone.cancel() and gone.cancelled()
    with pytest.raises(CancelledError):
        gone.exception()
