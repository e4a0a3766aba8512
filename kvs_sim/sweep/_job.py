"""One run of a sweep, on a worker: run the scenario, turn the results into rows.

Theory of operation
-------------------
:func:`run_job` is what a Dask worker executes.  It writes the scenario's source
text to a private temporary folder (so workers on other machines need only
kvs-sim), loads it, runs every variant in virtual time without keeping the
trace, and returns a plain dict (cheap to ship back): the run's status, the
one-line reason if it failed, and its rows.  A run that fails (the scenario
raised, stalled, ran out of virtual time, or hit an internal error) is not an
exception of the sweep: its status says ``failed`` and ``error`` says why, and
the sweep goes on.

The rows are tidy, one per measurement: ``variant``, ``metric``, ``depth``
(None where it does not apply), ``x`` (the ``t`` of t-visibility, the ``k`` of
k-staleness; None elsewhere) and ``value``.  :func:`metric_rows` lists what a
run yields: each latency-like metric's summary statistics overall and by depth
(``propagation.mean``, ``commit_latency.p99``, ...), commit merging, convergence,
follower cache faults, overlay traffic, the scenario's numeric findings
(``finding.NAME``), and the PBS curves (``t_visibility``, ``k_staleness``).
Verdict rows give each guarantee's verdict per variant.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from kvs_sim.sweep._grid import Job, command, variants_of

STATS = ("mean", "median", "p99", "max", "count")
LATENCY_METRICS = ("propagation", "staleness_versions", "staleness_time", "commit_latency")


def empty_row(job: Job) -> dict[str, Any]:
    """A job's result before it ran: who it is, how to rerun it, nothing measured."""
    return {
        "run_id": job.run_id,
        "scenario": job.scenario,
        "seed": job.seed,
        "point": job.point,
        "command": command(job.path, job.point, job.seed),
        "metrics": [],
        "verdicts": [],
        "violated": [],
    }


def run_job(job: Job) -> dict[str, Any]:
    """Run one job; never raises for a failing scenario (see the module doc)."""
    from kvs_sim.scenario import ScenarioError, ScenarioFailed, load_scenario, run_variant

    base = empty_row(job)
    with tempfile.TemporaryDirectory(prefix="kvs-sim-sweep-") as tmp:
        path = Path(tmp) / Path(job.path).name
        path.write_text(job.source)
        try:
            scenario = load_scenario(path)
            for v in variants_of(scenario):
                run = run_variant(scenario, job.options, v, keep_trace=False)
                base["metrics"] += [{"variant": v, **row} for row in metric_rows(run)]
                base["verdicts"] += [{"variant": v, **row} for row in verdict_rows(run)]
                base["violated"] += [f"{v}:{c}" if v else c for c in run.violated]
                base["end_time"] = run.end_time
        except (ScenarioFailed, ScenarioError) as e:
            return {**base, "status": "failed", "error": str(e).replace(str(path), job.path)}
        except Exception as e:  # an internal error: the row says so, the sweep goes on
            return {**base, "status": "failed", "error": f"internal error: {type(e).__name__}: {e}"}
    base["status"] = "violated" if base["violated"] else "ok"
    base["error"] = None
    return base


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    return float(x) if math.isfinite(x) else None


def metric_rows(run: Any) -> list[dict[str, Any]]:
    """The tidy rows of one variant's run (see the module doc)."""
    from kvs_sim.metrics import k_staleness, t_visibility

    rows: list[dict[str, Any]] = []

    def add(metric: str, value: Any, depth: int | None = None, x: float | None = None) -> None:
        v = _num(value)
        if v is not None:
            rows.append({"metric": metric, "depth": depth, "x": x, "value": v})

    m = run.metrics
    for name in LATENCY_METRICS:
        for stat in STATS:
            add(f"{name}.{stat}", m[name]["all"][stat])
            for d in m[name]["by_depth"]:
                add(f"{name}.{stat}", d[stat], d["depth"])
    add("merge.commits", m["merge"]["commits"])
    add("merge.versions", m["merge"]["versions"])
    add("merge.ratio", m["merge"]["ratio"])
    conv = [c["convergence_time"] for c in m["convergence"] if c["convergence_time"] is not None]
    add("convergence.time", max(conv) if conv else None)
    add("convergence.missing_ranks", sum(len(c["missing"]) for c in m["convergence"]))
    cache = run.cache
    add("cache.hits", cache.get("hits"))
    add("cache.faults", cache.get("faults"))
    for d in cache.get("by_depth", ()):
        add("cache.faults", d["faults"], d["depth"])
        add("cache.loads_served", d["loads_served"], d["depth"])
    for key in ("messages", "mean_per_link", "busiest_link_messages", "sent_by_rank0"):
        add(f"traffic.{key}", run.traffic.get(key))
    for name, value in run.findings.items():
        add(f"finding.{name}", value)
    add("run.end_time", run.end_time)
    add("run.ops", len(run.history.ops))
    visibility = t_visibility(run.history)
    for r in visibility:
        add("t_visibility", r["p"], r["depth"], r["t"])
    for depth, n in sorted({r["depth"]: r["n"] for r in visibility}.items()):
        add("t_visibility.samples", n, depth)
    for r in k_staleness(run.history):
        add("k_staleness", r["p"], r["depth"], r["k"])
    return rows


def verdict_rows(run: Any) -> list[dict[str, Any]]:
    """One row per guarantee: claimed, verdict, violations, operations checked."""
    from kvs_sim.checks import verdict_word

    return [
        {
            "guarantee": v.guarantee,
            "claimed": v.guarantee in run.claims,
            "verdict": verdict_word(v),
            "violations": len(v.violations),
            "checked": v.checked,
        }
        for v in run.verdicts
    ]
