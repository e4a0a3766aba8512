"""Running one variant of a scenario in virtual time, and checking what it recorded.

Theory of operation
-------------------
:func:`prepare` turns a scenario and the command line into a :class:`Setup` for
one variant: merged options, claims, the overlay, a
:class:`~kvs_sim.history.Recorder` with the history header, and the
:class:`ScenarioArgs` the scenario function gets.  :func:`run_variant` builds a
cluster from it with a :class:`Trace` (the engine tracer), runs the scenario
function, lets the cluster settle (events still travelling, so that
"eventually" can be checked), and :func:`finish` checks the history and computes
the metrics into a :class:`VariantRun`.  A scenario that raises, stalls (waits
for something that never happens) or runs past ``max_time`` becomes a
:class:`ScenarioFailed` whose message is one line with the scenario's own
failing line.  The live engine (:mod:`kvs_sim.live.scenario`) shares
:func:`prepare` and :func:`finish`.  Everything here is a pure function of the
options and the seed: no wall clock, no randomness but the cluster's (the tracer
only counts and copies deliveries).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kvs_sim.checks import Verdict, check_all, undecided_claims, violated_claims
from kvs_sim.history import History, Recorder
from kvs_sim.metrics import compute_metrics
from kvs_sim.scenario._load import Scenario, ScenarioError, own_line, variant_options
from kvs_sim.scenario._params import CLUSTER_OPTIONS, forward_seconds
from kvs_sim.scenario._summaries import cache_summary, traffic

SETTLE = 0.1
"""Virtual seconds the cluster may run after the scenario returns (events in flight)."""

MAX_TRACE = 1_000_000
"""Deliveries kept for the space-time diagram; later ones are only counted."""


class ScenarioFailed(Exception):
    """The scenario ran and failed: it raised, stalled, or exceeded ``max_time``.
    The message is one line (with the scenario's own failing line when it has one);
    ``cause`` is the original exception, if any."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass
class ScenarioArgs:
    """What the scenario function gets besides the cluster."""

    size: int
    fanout: int
    seed: int
    events: str
    latency: str
    commit_response: str
    variant: str | None
    params: dict[str, Any]
    expected_ops: int | None = None
    live: bool = False
    """On live ranks (``--live``): real time, so a figure only virtual time makes
    exact may be marked sim-only in the findings."""

    def expect(self, ops: int) -> None:
        """Say how many client operations the run will make (for the progress bar)."""
        self.expected_ops = max(1, int(ops))


class Trace:
    """The engine tracer of a run: counts replies, keeps deliveries for plots."""

    __slots__ = ("deliveries", "dropped", "keep", "replies")

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.deliveries: list[tuple[float, int, int, str]] = []
        self.dropped = 0
        self.replies = 0

    def count_reply(self) -> None:
        """A reply reached a client (live runs, which have no tracer, call this)."""
        self.replies += 1

    def __call__(self, t: float, src: int, dst: int, msg: Any) -> None:
        if dst < 0:
            self.replies += 1
        if self.keep:
            if len(self.deliveries) < MAX_TRACE:
                self.deliveries.append((t, src, dst, type(msg).__name__))
            else:
                self.dropped += 1


@dataclass
class VariantRun:
    """One variant's run: its options, history, verdicts, metrics and findings."""

    name: str | None
    options: dict[str, Any]
    claims: tuple[str, ...]
    history: History
    verdicts: list[Verdict]
    metrics: dict[str, Any]
    findings: dict[str, Any]
    focus: dict[str, Any]
    traffic: dict[str, Any]
    cache: dict[str, Any]
    parent: list[int]
    trace: Trace
    transit: Callable[[int, int, str], float]
    end_time: float
    overridden: list[str] = field(default_factory=list)

    @property
    def violated(self) -> list[str]:
        return violated_claims(self.verdicts, self.claims)

    @property
    def undecided(self) -> list[str]:
        """Claimed guarantees not decided within the checkers' time budget."""
        return undecided_claims(self.verdicts, self.claims)


def run_variant(
    scenario: Scenario,
    cli: Mapping[str, Any],
    variant: str | None = None,
    *,
    keep_trace: bool = True,
    on_start: Callable[[Any, ScenarioArgs, Trace], None] | None = None,
) -> VariantRun:
    """Run one variant of ``scenario`` and check it (see the module docstring).

    ``on_start(cluster, args, trace)`` is called before the scenario starts (the
    command uses it to show progress)."""
    from kvs_sim.nemesis import parse_kinds
    from kvs_sim.rank import RankConfig
    from kvs_sim.sim.cluster import Cluster

    setup = prepare(scenario, cli, variant)
    opts = setup.opts
    trace = Trace(keep_trace)
    cluster = Cluster(
        opts["size"],
        opts["fanout"],
        seed=opts["seed"],
        latency=opts["latency"],
        events=opts["events"],
        forward_cost=forward_seconds(opts["forward_cost"]),
        config=RankConfig(
            commit_response=opts["commit_response"],
            ryw_via=opts["ryw_via"],
            cache_expiry=float(opts["cache_expiry"]),
            checkpoint_period=float(opts["checkpoint_period"]) or None,
        ),
        record=setup.recorder,
        tracer=trace,
        nemeses=scenario.nemeses,
        nemesis=parse_kinds(opts["nemesis"]) if opts["nemesis"] else None,
        nemesis_interval=forward_seconds(opts["nemesis_interval"]),
    )
    if on_start is not None:
        on_start(cluster, setup.args, trace)
    result = _drive(scenario, cluster, setup.args, float(opts["max_time"]))
    cluster.heal_all()  # faults end with the run, so "eventually" can be judged
    if cluster.engine.pending_events:
        cluster.run(until=cluster.now + SETTLE)
    depth = setup.overlay.depth
    return finish(
        scenario,
        setup,
        result,
        setup.recorder.history(),
        traffic=traffic(cluster.engine.link_messages(), depth, cluster.engine.deliveries),
        cache=cache_summary([cluster.stats(r) for r in range(cluster.size)], depth),
        trace=trace,
        transit=_transit(cluster, opts["latency"]),
        end_time=cluster.now,
    )


@dataclass
class Setup:
    """One variant, ready to run: its options, claims, overlay, recorder, args."""

    variant: str | None
    opts: dict[str, Any]
    overridden: list[str]
    claims: tuple[str, ...]
    overlay: Any
    recorder: Recorder
    args: ScenarioArgs


def prepare(
    scenario: Scenario, cli: Mapping[str, Any], variant: str | None, *, live: bool = False
) -> Setup:
    """Options, claims, a recorder with the history header, and the scenario's args
    for one variant, in a simulation or (``live``) on real ranks."""
    from kvs_sim.overlay import Overlay

    opts, overridden = variant_options(scenario, cli, variant)
    over = scenario.variants.get(variant, {}) if variant is not None else {}
    claims = tuple(over.get("claims", scenario.claims))
    params = {k: v for k, v in opts.items() if k not in CLUSTER_OPTIONS}
    overlay = Overlay.kary(opts["size"], opts["fanout"])
    if live:  # the network is real: no latency model, no forwarding cost
        for name in ("ryw_via", "cache_expiry"):
            if opts[name] != CLUSTER_OPTIONS[name]:
                raise ScenarioError(
                    f"{name}={opts[name]!r} is a simulation option: live ranks run "
                    f"with {CLUSTER_OPTIONS[name]!r}"
                )
        opts = {**opts, "latency": "live MQTT"}
        model: dict[str, Any] = {"mode": "live"}
    else:
        model = {"latency": opts["latency"], "forward_cost": forward_seconds(opts["forward_cost"])}
    config = {
        "scenario": scenario.name,
        "variant": variant,
        "size": opts["size"],
        "fanout": opts["fanout"],
        "seed": opts["seed"],
        "depth": list(overlay.depth),
        "events": opts["events"],
        **model,
        "commit_response": opts["commit_response"],
        "ryw_via": opts["ryw_via"],
        "cache_expiry": opts["cache_expiry"],
        "params": params,
    }
    if opts["checkpoint_period"]:
        config["checkpoint_period"] = opts["checkpoint_period"]
    if opts["nemesis"]:
        config["nemesis"] = opts["nemesis"]
        config["nemesis_interval"] = opts["nemesis_interval"]
    args = ScenarioArgs(
        size=opts["size"],
        fanout=opts["fanout"],
        seed=opts["seed"],
        events=opts["events"],
        latency=opts["latency"],
        commit_response=opts["commit_response"],
        variant=variant,
        params=params,
        live=live,
    )
    recorder = Recorder(seed=opts["seed"], config=config, claims=claims)
    return Setup(variant, opts, overridden, claims, overlay, recorder, args)


def finish(
    scenario: Scenario,
    setup: Setup,
    result: Any,
    history: History,
    *,
    traffic: dict[str, Any],
    cache: dict[str, Any],
    trace: Trace,
    transit: Callable[[int, int, str], float],
    end_time: float,
) -> VariantRun:
    """Check and measure a finished run."""
    findings, focus = result_parts(scenario, result)
    return VariantRun(
        name=setup.variant,
        options=setup.opts,
        claims=setup.claims,
        history=history,
        verdicts=check_all(history, setup.claims),
        metrics=compute_metrics(history),
        findings=findings,
        focus=focus,
        traffic=traffic,
        cache=cache,
        parent=list(setup.overlay.parent),
        trace=trace,
        transit=transit,
        end_time=end_time,
        overridden=setup.overridden,
    )


def _drive(scenario: Scenario, cluster: Any, args: ScenarioArgs, max_time: float) -> Any:
    where = f"{scenario.path}"
    try:
        coro = scenario.fn(cluster, args)  # a sync scenario runs entirely here
    except Exception as e:
        raise ScenarioFailed(f"{where} failed: {own_line(e, scenario.path)}", e) from None
    if not inspect.iscoroutine(coro):
        return coro
    task = cluster.spawn(coro)
    try:
        cluster.engine.run_until_complete(task, timeout=max_time)
    except Exception as e:
        if task.done():
            raise ScenarioFailed(f"{where} failed: {own_line(e, scenario.path)}", e) from None
        if isinstance(e, TimeoutError):
            raise ScenarioFailed(
                f"{where} did not finish within {max_time:g} s of virtual time "
                f"(seed {args.seed}); raise max_time in DEFAULTS if it needs longer"
            ) from None
        if isinstance(e, RuntimeError) and "idle" in str(e):
            raise ScenarioFailed(
                f"{where} stalled at t={cluster.now:.6g} s (seed {args.seed}): the "
                "simulation went idle while the scenario still waited for something"
            ) from None
        raise ScenarioFailed(
            f"{where}: internal error at t={cluster.now:.6g} s (seed {args.seed}): "
            f"{type(e).__name__}: {e}",
            e,
        ) from None
    return task.result()


def result_parts(scenario: Scenario, result: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    if result is None:
        return {}, {}
    if not isinstance(result, Mapping) or not set(result) <= {"findings", "focus"}:
        what = sorted(set(result)) if isinstance(result, Mapping) else type(result).__name__
        raise ScenarioFailed(
            f"{scenario.path}: scenario() must return None or a dict with 'findings' "
            f"and/or 'focus', got {what}"
        )
    findings = dict(result.get("findings") or {})
    focus = dict(result.get("focus") or {})
    return findings, focus


def _transit(cluster: Any, latency: str) -> Callable[[int, int, str], float]:
    """How long a delivery of ``name`` from ``src`` to ``dst`` travelled (exact for
    constant latencies, the mean otherwise); used to draw where arrows start."""
    from kvs_sim.sim.engine import BROKER, CLIENT
    from kvs_sim.sim.latency import parse_latency

    engine, overlay = cluster.engine, cluster.overlay
    model = parse_latency(latency)
    lat = float(getattr(model, "mean", 0.0)) + float(getattr(model, "floor", 0.0))
    hop = float(getattr(engine, "_hop_cost", 5e-6))
    client = float(getattr(engine, "_client_latency", 20e-6))

    def transit(src: int, dst: int, name: str) -> float:
        if CLIENT in (src, dst):
            return client
        if src == BROKER:
            return lat
        if src == dst:
            return 0.0
        if name in ("SetRoot", "NamespaceRemoved"):
            return lat + (hop if src != 0 else 0.0)
        ups, downs = overlay.legs(src, dst)
        hops = len(ups) + len(downs)
        return hops * lat + (hops - 1) * hop

    return transit
