"""Run a scenario file on live ranks: ``kvs-sim run SCENARIO.py --live``.

Theory of operation
-------------------
The same scenario function that runs in virtual time runs here in real time:
:func:`run_variant_live` starts (or reuses) a mosquitto broker, starts the
cluster's ranks as ``kvs-sim up --report-roots`` processes (the ranks split into
a few contiguous groups, one process each), attaches a
:class:`~kvs_sim.live.cluster.LiveCluster` and awaits the scenario under asyncio
with ``max_time`` as a wall-clock limit.  Every client operation is recorded as
in a simulation, and the ranks' own root reports give the root records, so the
same checkers and metrics apply.  The result is the simulator's
:class:`~kvs_sim.scenario.VariantRun`, so the report, ``summary.json`` and plots
come from the same code; what only a simulation can know is left out (per-link
message counts, the space-time diagram).

Options that model the network in a simulation (``latency``, ``forward_cost``)
mean nothing here: the network is the loopback interface and the broker.  The
seed only seeds what the scenario itself draws; a live run is not reproducible.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from kvs_sim.live import eventloop
from kvs_sim.scenario import (
    Scenario,
    ScenarioArgs,
    ScenarioError,
    ScenarioFailed,
    Setup,
    Trace,
    VariantRun,
    cache_summary,
    finish,
    own_line,
    prepare,
)

SETTLE = 2.0
"""Wall seconds allowed after the scenario for every rank to reach the last version."""


def groups(size: int, processes: int) -> dict[str, str]:
    """Ranks ``0..size-1`` split into at most ``processes`` contiguous groups."""
    n = max(1, min(processes, size))
    bounds = [size * i // n for i in range(n + 1)]
    out = {}
    for i in range(n):
        lo, hi = bounds[i], bounds[i + 1] - 1
        out[f"g{i}"] = str(lo) if lo == hi else f"{lo}-{hi}"
    return out


@contextlib.contextmanager
def _broker(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    from kvs_sim.live.broker import Broker, BrokerError

    try:
        broker = Broker()
    except BrokerError as exc:
        raise ScenarioError(f"--live needs a broker: {exc}") from None
    with broker:
        yield broker.url


def run_variant_live(
    scenario: Scenario,
    cli: dict[str, Any],
    variant: str | None = None,
    *,
    broker_url: str | None = None,
    processes: int = 3,
    on_start: Callable[[Any, ScenarioArgs, Trace], None] | None = None,
    nemeses: Iterable[Any] | None = None,
    checkpoint_period: float | None = None,
) -> VariantRun:
    """Run one variant of ``scenario`` on live ranks and check it, inflicting
    ``nemeses`` (a :mod:`kvs_sim.nemesis` schedule, see :mod:`kvs_sim.live.schedule`;
    None: the scenario's ``NEMESES`` and the random process its options ask for,
    as in a simulation).  ``checkpoint_period`` (None: the scenario's option) is
    rank 0's."""
    from kvs_sim.live.launch import UpCluster
    from kvs_sim.live.schedule import bounded, crashed_ranks, isolate

    setup = prepare(scenario, cli, variant, live=True)
    opts, overlay = setup.opts, setup.overlay
    size, fanout = opts["size"], opts["fanout"]
    trace = Trace(keep=False)
    extra = ["--report-roots", "--events", opts["events"]]
    extra += ["--commit-response", opts["commit_response"]]
    if checkpoint_period is None:  # the scenario's (0: only on SYNC and at shutdown)
        checkpoint_period = float(opts["checkpoint_period"])
    extra += ["--checkpoint-period", str(checkpoint_period)]
    entries = sorted(
        bounded(
            nemeses if nemeses is not None else _schedule(scenario, opts, overlay),
            float(opts["max_time"]),
        ),
        key=lambda e: e.at,
    )
    layout = isolate(groups(size, processes), size, crashed_ranks(entries))
    with _broker(broker_url) as url:
        up = UpCluster(url, size, layout, fanout=fanout, extra=extra)
        try:
            up.start()
        except RuntimeError as exc:
            raise ScenarioFailed(f"could not start live ranks on {url}: {exc}") from None
        try:
            result, stats, end = eventloop.run(
                _drive(scenario, url, up, setup, trace, on_start=on_start, nemeses=entries)
            )
        finally:
            up.close()
    raw = setup.recorder.history()
    history = replace(raw, roots=tuple(sorted(raw.roots, key=lambda e: e.time)))
    return finish(
        scenario,
        setup,
        result,
        history,
        traffic={},
        cache=cache_summary(stats, overlay.depth),
        trace=trace,
        transit=lambda src, dst, name: 0.0,
        end_time=end,
    )


def _schedule(scenario: Scenario, opts: dict[str, Any], overlay: Any) -> list[Any]:
    """The scenario's ``NEMESES``, and the random nemesis process ``--nemesis`` asks
    for (its entries up to ``max_time``)."""
    from kvs_sim.live.schedule import bounded
    from kvs_sim.nemesis import parse_kinds, random_process
    from kvs_sim.scenario import forward_seconds

    entries = list(scenario.nemeses)
    if opts["nemesis"]:
        process = random_process(
            int(opts["seed"]),
            parse_kinds(opts["nemesis"]),
            forward_seconds(opts["nemesis_interval"]),
            overlay.parent,
        )
        entries += bounded(process, float(opts["max_time"]))
    return entries


async def _drive(
    scenario: Scenario,
    url: str,
    up: Any,
    setup: Setup,
    trace: Trace,
    *,
    on_start: Callable[[Any, ScenarioArgs, Trace], None] | None,
    nemeses: Sequence[Any] = (),
) -> tuple[Any, list[dict[str, Any]], float]:
    from kvs_sim.live.cluster import LiveCluster
    from kvs_sim.live.nemesis import Control
    from kvs_sim.live.schedule import LiveNemeses

    where = str(scenario.path)
    opts, overlay, args = setup.opts, setup.overlay, setup.args
    max_time = float(opts["max_time"])
    async with (
        LiveCluster(
            url,
            up.name,
            overlay.size,
            opts["fanout"],
            recorder=setup.recorder,
            on_reply=trace.count_reply,
        ) as cluster,
        Control(url, up.name) as control,
    ):
        if on_start is not None:
            on_start(cluster, args, trace)
        inflict = LiveNemeses(up, cluster, control, nemeses)
        cluster.nemeses = inflict  # cluster.inject / heal_all
        running = asyncio.ensure_future(inflict.run())
        try:
            outcome = scenario.fn(cluster, args)
            result = (
                await asyncio.wait_for(outcome, max_time)
                if inspect.isawaitable(outcome)
                else outcome
            )
        except TimeoutError:
            raise ScenarioFailed(
                f"{where} did not finish within {max_time:g} s of wall time on live ranks; "
                "raise max_time in DEFAULTS if it needs longer"
            ) from None
        except Exception as e:
            raise ScenarioFailed(
                f"{where} failed on live ranks: {own_line(e, scenario.path)}", e
            ) from None
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            await inflict.heal_all()  # crashed ranks restart, so convergence is judged
            control.heal()
        await cluster.settle(SETTLE)
        stats = await asyncio.gather(*(cluster.stats(r) for r in range(overlay.size)))
        return result, list(stats), cluster.now
