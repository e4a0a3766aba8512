"""Scenarios: small Python files that drive client processes on a simulated cluster.

The scenario format
-------------------
A scenario is one Python file (``scenarios/*.py``)::

    \"\"\"What it demonstrates (first line: a one-line title; then the story).\"\"\"

    CLAIMS = ("read-your-writes", "convergence")      # guarantees that must hold
    DEFAULTS = {"size": 63, "fanout": 2, "writes": 20} # optional
    MIN_SIZE = 3                                       # optional
    VARIANTS = {                                       # optional
        "merged": {},
        "no-merge": {"flags": 1, "claims": ("convergence",)},
    }

    async def scenario(cluster, args):                 # or a plain `def`
        h = cluster.handle(cluster.size - 1, name="writer")
        await h.put("x", 1)
        ...
        return {"findings": {"stale reads": 3}, "focus": {"version": 2}}

* ``CLAIMS`` (required): names from :data:`kvs_sim.checks.CHECKERS`.  Every
  checker runs on every history; only a claimed guarantee that is *violated*
  fails the run.  Claim what the scenario shows to hold, and nothing more.
* ``DEFAULTS``: cluster options (``size``, ``fanout``, ``seed``, ``events``,
  ``latency``, ``commit_response``, ``max_time`` in virtual seconds) and any
  scenario parameters of the scenario's own (read them from ``args.params``).
  The command line overrides the cluster options.
* ``MIN_SIZE``: the smallest ``--size`` the scenario makes sense for.
* ``VARIANTS``: name -> overrides (same keys as ``DEFAULTS``, plus ``claims``).
  Each variant runs on its own fresh cluster with its own history, checks and
  plots, so comparisons ("with and without NO_MERGE", "fanout 32 vs 2") are one
  command.  A variant's overrides win over the command line.
* ``scenario(cluster, args)``: an ``async def`` is spawned as a process on the
  engine and the run lasts until it returns; a plain ``def`` drives the cluster
  itself with ``cluster.wait(...)``.  ``cluster`` is a recording
  :class:`~kvs_sim.sim.cluster.Cluster`; ``args`` is a :class:`ScenarioArgs`
  (the options, ``variant``, ``params``, and ``expect(ops)`` to size the progress
  bar).  It may return None or a dict with ``findings`` (name -> JSON value, or a list of
  row dicts for a table: shown in the report and saved in ``summary.json``) and
  ``focus`` (``version``: the version whose propagation to draw; ``ranks``: lanes
  of the space-time diagram; ``window``: ``(t0, t1)`` seconds for it; ``title``:
  its title).

Theory of operation
-------------------
:func:`load_scenario` imports the file as a fresh module and validates it,
raising :class:`ScenarioError` (one line, with the file and the reason) for
anything that makes it unusable.  :func:`run_variant` builds a cluster from the
merged options with a :class:`~kvs_sim.history.Recorder` and a tracer, runs the
scenario function, lets the cluster settle (events still travelling, so that
"eventually" can be checked), then checks the history and computes the metrics.
A scenario that raises, stalls (waits for something that never happens) or runs
past ``max_time`` becomes a :class:`ScenarioFailed` whose message is one line
with the scenario's own failing line.  Everything here is a pure function of the
options and the seed: no wall clock, no randomness but the cluster's (the tracer
only counts and copies deliveries).  Rendering and files are
:mod:`kvs_sim.commands.run`'s job; plots are :mod:`kvs_sim.plots`'.  The format is
also described, with examples, in ``scenarios/README.md``.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvs_sim.checks import CHECKERS, Verdict, check_all, violated_claims
from kvs_sim.history import History, Recorder
from kvs_sim.metrics import compute_metrics

CLUSTER_OPTIONS: dict[str, Any] = {
    "size": 8,
    "fanout": 2,
    "seed": 0,
    "events": "tree",
    "latency": "const:100us",
    "forward_cost": "0us",
    "commit_response": "observed",
    "max_time": 60.0,
}
"""Options every run has, with their built-in defaults."""

SETTLE = 0.1
"""Virtual seconds the cluster may run after the scenario returns (events in flight)."""

MAX_TRACE = 1_000_000
"""Deliveries kept for the space-time diagram; later ones are only counted."""

_modules = itertools.count()


class ScenarioError(Exception):
    """The scenario cannot be run: missing file, not Python, no ``scenario``
    function, bad ``CLAIMS``/``DEFAULTS``/``VARIANTS``, or an option out of range.
    The message is one line meant for the user."""


class ScenarioFailed(Exception):
    """The scenario ran and failed: it raised, stalled, or exceeded ``max_time``.
    The message is one line (with the scenario's own failing line when it has one);
    ``cause`` is the original exception, if any."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario file."""

    path: Path
    name: str
    doc: str
    claims: tuple[str, ...]
    defaults: dict[str, Any]
    variants: dict[str, dict[str, Any]]
    min_size: int
    fn: Callable[..., Any]

    @property
    def title(self) -> str:
        """The docstring's first line."""
        return self.doc.strip().splitlines()[0].strip() if self.doc.strip() else self.name


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


# ---------------------------------------------------------------------------
# Loading


def load_scenario(path: str | Path) -> Scenario:
    """Import and validate a scenario file; :class:`ScenarioError` if unusable."""
    p = Path(path)
    if not p.exists():
        raise ScenarioError(f"{path}: no such file")
    if p.is_dir():
        raise ScenarioError(f"{path}: is a directory, not a scenario file")
    if p.suffix != ".py":
        raise ScenarioError(f"{path}: not a Python file (a scenario is a .py file)")
    modname = f"kvs_sim_scenario_{next(_modules)}_{p.stem}"
    spec = importlib.util.spec_from_file_location(modname, p)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise ScenarioError(f"{path}: not valid Python: {e.msg} (line {e.lineno})") from None
    except Exception as e:
        raise ScenarioError(f"{path}: failed to import: {own_line(e, p)}") from None
    finally:
        sys.modules.pop(modname, None)
    fn = getattr(module, "scenario", None)
    if not callable(fn):
        raise ScenarioError(f"{path}: defines no scenario(cluster, args) function")
    claims = _claims(path, getattr(module, "CLAIMS", None), "CLAIMS")
    defaults = _options(path, getattr(module, "DEFAULTS", {}), "DEFAULTS")
    variants_raw = getattr(module, "VARIANTS", None)
    variants: dict[str, dict[str, Any]] = {}
    if variants_raw is not None:
        if not isinstance(variants_raw, Mapping) or not variants_raw:
            raise ScenarioError(f"{path}: VARIANTS must be a non-empty dict of name -> overrides")
        for vname, raw in variants_raw.items():
            if not isinstance(vname, str) or not vname or "/" in vname:
                raise ScenarioError(f"{path}: bad variant name {vname!r}")
            over = _options(path, raw, f"VARIANTS[{vname!r}]")
            if "claims" in over:
                over["claims"] = _claims(path, over["claims"], f"VARIANTS[{vname!r}]['claims']")
            variants[vname] = over
    min_size = getattr(module, "MIN_SIZE", 1)
    if not isinstance(min_size, int) or min_size < 1:
        raise ScenarioError(f"{path}: MIN_SIZE must be an integer >= 1, got {min_size!r}")
    return Scenario(
        path=p,
        name=p.stem,
        doc=inspect.getdoc(module) or "",
        claims=claims,
        defaults=defaults,
        variants=variants,
        min_size=min_size,
        fn=fn,
    )


def _claims(path: str | Path, value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        raise ScenarioError(f"{path}: defines no {what} (the guarantees that must hold)")
    if isinstance(value, str) or not all(isinstance(c, str) for c in value):
        raise ScenarioError(f"{path}: {what} must be a list of guarantee names")
    unknown = [c for c in value if c not in CHECKERS]
    if unknown:
        raise ScenarioError(
            f"{path}: {what} names unknown guarantee {unknown[0]!r} (known: {', '.join(CHECKERS)})"
        )
    return tuple(value)


def _options(path: str | Path, value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ScenarioError(f"{path}: {what} must be a dict with string keys")
    out = dict(value)
    try:
        check_options({k: v for k, v in out.items() if k in CLUSTER_OPTIONS})
    except ValueError as e:
        raise ScenarioError(f"{path}: {what}: {e}") from None
    return out


def check_options(opts: Mapping[str, Any]) -> None:
    """Validate cluster options; ValueError with a one-line reason."""
    from kvs_sim.sim.latency import parse_latency

    for name in ("size", "fanout"):
        if name in opts:
            v = opts[name]
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 1_000_000:
                raise ValueError(f"{name} must be an integer from 1 to 1000000, got {v!r}")
    if "seed" in opts:
        v = opts["seed"]
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"seed must be an integer >= 0, got {v!r}")
    if "events" in opts and opts["events"] not in ("tree", "broker"):
        raise ValueError(f"events must be 'tree' or 'broker', got {opts['events']!r}")
    if "latency" in opts:
        try:
            parse_latency(opts["latency"])
        except (ValueError, TypeError) as e:
            raise ValueError(f"latency: {e}") from None
    if "forward_cost" in opts:
        try:
            forward_seconds(opts["forward_cost"])
        except (ValueError, TypeError) as e:
            raise ValueError(f"forward_cost: {e}") from None
    if "commit_response" in opts and opts["commit_response"] not in ("observed", "documented"):
        raise ValueError(
            f"commit_response must be 'observed' or 'documented', got {opts['commit_response']!r}"
        )
    if "max_time" in opts:
        v = opts["max_time"]
        if not isinstance(v, int | float) or isinstance(v, bool) or not v > 0:
            raise ValueError(f"max_time must be a number of seconds > 0, got {v!r}")


def forward_seconds(value: Any) -> float:
    """A per-copy forwarding cost given as seconds or a duration like ``"5us"``."""
    from kvs_sim.sim.latency import parse_duration

    seconds = parse_duration(value) if isinstance(value, str) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        raise ValueError(f"must be a duration >= 0 (like 5us), got {value!r}")
    return float(seconds)


def variant_options(
    scenario: Scenario, cli: Mapping[str, Any], variant: str | None
) -> tuple[dict[str, Any], list[str]]:
    """Options for one variant: built-ins < DEFAULTS < command line < variant.

    Returns the options and the command-line options the variant overrode."""
    opts = {**CLUSTER_OPTIONS, **scenario.defaults}
    given = {k: v for k, v in cli.items() if v is not None}
    opts.update(given)
    over = scenario.variants.get(variant, {}) if variant is not None else {}
    overridden = [k for k in over if k in given and given[k] != over[k]]
    opts.update({k: v for k, v in over.items() if k != "claims"})
    try:
        check_options(opts)
    except ValueError as e:
        raise ScenarioError(f"{scenario.path}: {e}") from None
    if opts["size"] < scenario.min_size:
        raise ScenarioError(
            f"{scenario.name} needs --size >= {scenario.min_size}, got {opts['size']}"
        )
    return opts, overridden


# ---------------------------------------------------------------------------
# Running


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
        config=RankConfig(commit_response=opts["commit_response"]),
        record=setup.recorder,
        tracer=trace,
    )
    if on_start is not None:
        on_start(cluster, setup.args, trace)
    result = _drive(scenario, cluster, setup.args, float(opts["max_time"]))
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
    from kvs_sim.sim.overlay import Overlay

    opts, overridden = variant_options(scenario, cli, variant)
    over = scenario.variants.get(variant, {}) if variant is not None else {}
    claims = tuple(over.get("claims", scenario.claims))
    params = {k: v for k, v in opts.items() if k not in CLUSTER_OPTIONS}
    overlay = Overlay.kary(opts["size"], opts["fanout"])
    if live:  # the network is real: no latency model, no forwarding cost
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
        "params": params,
    }
    args = ScenarioArgs(
        size=opts["size"],
        fanout=opts["fanout"],
        seed=opts["seed"],
        events=opts["events"],
        latency=opts["latency"],
        commit_response=opts["commit_response"],
        variant=variant,
        params=params,
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
        verdicts=check_all(history),
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


def own_line(exc: BaseException, path: Path) -> str:
    """``ValueError: boom (line 12: raise ValueError("boom"))``: the exception and
    the deepest line of ``path`` in its traceback."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    target = path.resolve()
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == target
    ]
    if not frames:
        return text
    last = frames[-1]
    code = f": {last.line.strip()}" if last.line else ""
    return f"{text} (line {last.lineno}{code})"


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


def cache_summary(stats: list[dict[str, Any]], depth: list[int]) -> dict[str, Any]:
    """Follower cache activity by tree depth, from each rank's ``stats``: object
    lookups served from the cache (hits), objects faulted in from the parent
    (faults), objects served to children (loads served), and what the caches hold
    at the end."""
    rows: dict[int, dict[str, int]] = {}
    for r, st in enumerate(stats):
        if r == 0 or not st:
            continue
        counters = st.get("counters", {})
        row = rows.setdefault(
            depth[r], {"ranks": 0, "hits": 0, "faults": 0, "loads_served": 0, "objects": 0}
        )
        row["ranks"] += 1
        for key in ("hits", "faults", "loads_served"):
            row[key] += counters.get(key, 0)
        row["objects"] += st.get("cache", {}).get("objects", 0)
    by_depth = [{"depth": d, **row} for d, row in sorted(rows.items())]
    return {
        "hits": sum(r["hits"] for r in by_depth),
        "faults": sum(r["faults"] for r in by_depth),
        "by_depth": by_depth,
    }


def traffic(links: Mapping[tuple[int, int], int], depth: list[int], deliveries: int) -> dict:
    """Messages per overlay link: total, mean, the busiest link, rank 0's share."""
    if not links:
        return {"deliveries": deliveries, "links": 0}
    busiest = max(links.items(), key=lambda kv: (kv[1], -kv[0][0], -kv[0][1]))
    from_0 = sum(n for (a, _), n in links.items() if a == 0)
    to_0 = sum(n for (_, b), n in links.items() if b == 0)
    by_depth: dict[int, list[int]] = {}
    for (a, b), n in links.items():
        if a >= 0 and b >= 0:
            by_depth.setdefault(max(depth[a], depth[b]), []).append(n)
    return {
        "deliveries": deliveries,
        "links": len(links),
        "messages": sum(links.values()),
        "mean_per_link": sum(links.values()) / len(links),
        "busiest_link": list(busiest[0]),
        "busiest_link_messages": busiest[1],
        "sent_by_rank0": from_0,
        "received_by_rank0": to_0,
        "mean_per_link_by_depth": {str(d): sum(v) / len(v) for d, v in sorted(by_depth.items())},
    }
