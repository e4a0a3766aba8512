"""A sweep's runs: the grid of options, the seeds, and one :class:`Job` per run.

Theory of operation
-------------------
``--grid NAME=V1,V2,...`` gives the values of one option: a cluster option
(``size``, ``fanout``, ``events``, ``latency``, ``forward_cost``, ``ryw_via``,
``cache_expiry``, ...) or one of the scenario's parameters (its ``DEFAULTS``).
Each value is JSON if it parses, else a string; a value holding commas (a
latency like ``lognormal:100us,0.5``) is given as a JSON list:
``--grid 'latency=["const:100us","lognormal:100us,0.5"]'``.  Every value is
checked like ``kvs-sim run`` checks it (type, range, choices), and so is every
combination (``--size`` at least the scenario's ``MIN_SIZE``), before anything
runs.  ``--seeds`` is a count (``100``: seeds 0..99), a range (``5-9``) or a
list (``1,4,9``).

The runs are the product of the grid's values (in the order given) times the
seeds.  A run's id is a hash of the scenario's name and source text, its
options and its seed, so a rerun finds the runs already done (an edited
scenario gets new ids), and :func:`command` is the ``kvs-sim run`` line that
reproduces the run alone.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shlex
from dataclasses import dataclass
from typing import Any

from kvs_sim.scenario import (
    CLUSTER_OPTIONS,
    Scenario,
    ScenarioError,
    check_options,
    check_param,
    variant_options,
)

FLAGS = {
    "size": "--size",
    "fanout": "--fanout",
    "events": "--events",
    "latency": "--latency",
    "forward_cost": "--forward-cost",
}
"""Options ``kvs-sim run`` takes as flags of their own; the others go by ``--set``."""

MAX_RUNS = 1_000_000


class SweepError(Exception):
    """Bad sweep input (grid, seeds, scheduler, output folder): one line for the user."""


@dataclass(frozen=True)
class Job:
    """One run of a sweep: a grid point and a seed (the scenario travels as text,
    so a worker on another machine needs only kvs-sim, not the file)."""

    run_id: str
    scenario: str
    path: str
    source: str
    point: dict[str, Any]
    seed: int

    @property
    def options(self) -> dict[str, Any]:
        return {**self.point, "seed": self.seed}


def parse_grid(items: list[str], scenario: Scenario) -> dict[str, list[Any]]:
    """``NAME=V1,V2`` items -> ``{name: [values]}``, checked (SweepError)."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SweepError(f"--grid takes NAME=V1,V2,..., got {item!r}")
        if name == "seed":
            raise SweepError("--grid seed: give the seeds with --seeds")
        if name not in CLUSTER_OPTIONS and name not in scenario.settable:
            raise SweepError(
                f"--grid {name}: {scenario.name} has no such parameter (it has: "
                f"{', '.join(scenario.settable) or 'none'}; cluster options: "
                f"{', '.join(k for k in CLUSTER_OPTIONS if k != 'seed')})"
            )
        if name in grid:
            raise SweepError(f"--grid {name} is given twice")
        values = _values(text)
        if not values:
            raise SweepError(f"--grid {name}= has no values")
        for v in values:
            try:
                if name in CLUSTER_OPTIONS:
                    check_options({name: v})
                else:
                    check_param(scenario.params[name], v)
            except ValueError as e:
                raise SweepError(f"--grid {e}") from None
        grid[name] = list(dict.fromkeys(json.dumps(v) for v in values))
        grid[name] = [json.loads(v) for v in grid[name]]
    return grid


def _values(text: str) -> list[Any]:
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            raise SweepError(f"--grid values {text!r} are not a JSON list") from None
        return list(values)
    out: list[Any] = []
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        try:
            out.append(json.loads(part))
        except ValueError:
            out.append(part)
    return out


def parse_seeds(text: str | int | list[int] | range) -> list[int]:
    """``100`` (0..99), ``5-9``, ``1,4,9`` or a list/range -> the seeds (SweepError)."""
    if isinstance(text, int) and not isinstance(text, bool):
        seeds = list(range(text))
    elif isinstance(text, list | range | tuple):
        seeds = list(text)
    else:
        s = str(text).strip()
        try:
            if "," in s:
                seeds = [int(x) for x in s.split(",") if x.strip()]
            elif "-" in s.lstrip("-"):
                lo, _, hi = s.partition("-")
                seeds = list(range(int(lo), int(hi) + 1))
            else:
                seeds = list(range(int(s)))
        except ValueError:
            raise SweepError(
                f"--seeds takes a count (100), a range (5-9) or a list (1,4,9), got {text!r}"
            ) from None
    if not seeds:
        raise SweepError(f"--seeds {text!r} gives no seeds")
    bad = [x for x in seeds if not isinstance(x, int) or isinstance(x, bool) or x < 0]
    if bad:
        raise SweepError(f"--seeds: a seed is an integer >= 0, got {bad[0]!r}")
    return list(dict.fromkeys(seeds))


def jobs(scenario: Scenario, grid: dict[str, list[Any]], seeds: list[int]) -> list[Job]:
    """Every grid point times every seed, each checked as ``kvs-sim run`` would."""
    n = len(seeds)
    for values in grid.values():
        n *= len(values)
    if n > MAX_RUNS:
        raise SweepError(f"the sweep has {n} runs; at most {MAX_RUNS} are allowed")
    source = scenario.path.read_text()
    digest = hashlib.sha1(source.encode()).hexdigest()
    names = list(grid)
    out = []
    for combo in itertools.product(*(grid[k] for k in names)):
        point = dict(zip(names, combo, strict=True))
        for v in variants_of(scenario):
            try:
                variant_options(scenario, point, v)
            except ScenarioError as e:
                raise SweepError(f"grid point {_label(point)}: {e}") from None
        for seed in seeds:
            key = json.dumps(
                {"scenario": scenario.name, "source": digest, "point": point, "seed": seed},
                sort_keys=True,
            )
            run_id = hashlib.sha1(key.encode()).hexdigest()[:16]
            out.append(Job(run_id, scenario.name, str(scenario.path), source, point, seed))
    return out


def variants_of(scenario: Scenario) -> list[str | None]:
    """The variants a run of ``scenario`` runs (None: a scenario without variants)."""
    return [*scenario.variants] if scenario.variants else [None]


def _label(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "(no grid)"


def command(path: str, point: dict[str, Any], seed: int) -> str:
    """The ``kvs-sim run`` command line that reproduces one run of a sweep."""
    argv = ["kvs-sim", "run", path, "--seed", str(seed)]
    for name, value in point.items():
        if name in FLAGS:
            argv += [FLAGS[name], value if isinstance(value, str) else json.dumps(value)]
        else:
            argv += ["--set", f"{name}={_set_text(value)}"]
    return shlex.join(argv)


def _set_text(value: Any) -> str:
    """VALUE for ``--set``, which reads JSON if it parses, else a string."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
    return json.dumps(value)
