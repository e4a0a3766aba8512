"""Scenarios: small Python files that drive client processes on a simulated cluster.

The scenario format
-------------------
A scenario is one Python file (``scenarios/*.py``)::

    \"\"\"What it demonstrates (first line: a one-line title; then the story).\"\"\"

    CLAIMS = ("read-your-writes", "convergence")      # guarantees that must hold
    DEFAULTS = {"size": 63, "fanout": 2, "writes": 20} # optional
    PARAMS = {"writes": {"min": 1, "help": "commits per writer"}}  # optional
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
* ``DEFAULTS``: cluster options (:data:`CLUSTER_OPTIONS`: ``size``, ``fanout``,
  ``seed``, ``events``, ``latency``, ``forward_cost``, ``commit_response``,
  ``max_time`` in virtual seconds) and any scenario parameters of the scenario's
  own (read them from ``args.params``).  The command line overrides them.
* ``PARAMS``: per parameter ``min``, ``max``, ``choices``, ``type``, ``help``
  (:mod:`kvs_sim.scenario._params`); types are inferred from ``DEFAULTS``, so a
  scenario without ``PARAMS`` still has its parameters type-checked.
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
One module per concept: :mod:`._params` (cluster options and scenario
parameters, and checking them), :mod:`._load` (importing and validating a file;
the options of one variant), :mod:`._run` (running and checking one variant in
virtual time) and :mod:`._summaries` (cache and traffic summaries of a finished
run).  Rendering and files are :mod:`kvs_sim.commands.run`'s job; plots are
:mod:`kvs_sim.plots`'; sweeps over many runs are :mod:`kvs_sim.sweep`'s.  The
format is also described, with examples, in ``scenarios/README.md``.
"""

from kvs_sim.scenario._load import Scenario, ScenarioError, load_scenario, own_line, variant_options
from kvs_sim.scenario._params import (
    CLUSTER_OPTIONS,
    ParamSpec,
    check_options,
    check_param,
    check_params,
    forward_seconds,
)
from kvs_sim.scenario._run import (
    MAX_TRACE,
    SETTLE,
    ScenarioArgs,
    ScenarioFailed,
    Setup,
    Trace,
    VariantRun,
    finish,
    prepare,
    result_parts,
    run_variant,
)
from kvs_sim.scenario._summaries import cache_summary, traffic

__all__ = [
    "CLUSTER_OPTIONS",
    "MAX_TRACE",
    "SETTLE",
    "ParamSpec",
    "Scenario",
    "ScenarioArgs",
    "ScenarioError",
    "ScenarioFailed",
    "Setup",
    "Trace",
    "VariantRun",
    "cache_summary",
    "check_options",
    "check_param",
    "check_params",
    "finish",
    "forward_seconds",
    "load_scenario",
    "own_line",
    "prepare",
    "result_parts",
    "run_variant",
    "traffic",
    "variant_options",
]
