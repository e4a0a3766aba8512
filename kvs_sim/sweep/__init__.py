"""Parameter sweeps: a scenario at every grid point times every seed, on Dask.

Theory of operation
-------------------
A single run is an anecdote; research results are distributions over seeds and
parameters.  :func:`sweep` (and ``kvs-sim sweep``, :mod:`kvs_sim.commands.sweep`)
runs a scenario file at every point of a grid of options times a list of seeds
and returns one tidy :class:`pandas.DataFrame`, a row per run x variant x
measurement.  The pieces, one module each:

* :mod:`._grid`: the grid, the seeds and one :class:`Job` per run, checked as
  ``kvs-sim run`` would check them, with the run's id and its ``kvs-sim run``
  command line;
* :mod:`._job`: one run on a worker, and its tidy rows (metrics by depth, the
  t-visibility and k-staleness curves, guarantees' verdicts);
* :mod:`._exec`: Dask distributed (a ``LocalCluster`` of processes, or a
  scheduler address);
* :mod:`._store`: the output folder: a file per finished run (so a rerun skips
  them), then Parquet (or CSV) tables;
* :mod:`._stats`: bootstrap confidence intervals and the curves over seeds that
  :mod:`kvs_sim.plots.sweep` draws.

Runs are in virtual time, so each is a pure function of its options and seed:
any row can be reproduced alone by its ``command``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kvs_sim.sweep._exec import client, execute
from kvs_sim.sweep._grid import Job, SweepError, command, jobs, parse_grid, parse_seeds
from kvs_sim.sweep._job import metric_rows, run_job, verdict_rows
from kvs_sim.sweep._stats import bootstrap_ci, curves, summarize_metric
from kvs_sim.sweep._store import finished, read_table, save_run, tables, write_tables


class SweepResult:
    """What a sweep produced: the three tables, and the runs skipped or failed."""

    def __init__(self, frames: dict[str, Any], skipped: int, ran: int, paths: dict[str, Path]):
        self.results = frames["results"]
        self.verdicts = frames["verdicts"]
        self.runs = frames["runs"]
        self.skipped = skipped
        self.ran = ran
        self.paths = paths

    @property
    def failed(self) -> Any:
        """The runs table's failed runs."""
        return self.runs[self.runs["status"] == "failed"] if len(self.runs) else self.runs


def sweep(
    scenario: str | Path,
    grid: dict[str, list[Any]] | list[str] | None = None,
    seeds: int | str | list[int] = 10,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    out: str | Path | None = None,
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
    full: bool = False,
) -> Any:
    """Run ``scenario`` at every point of ``grid`` times every seed; the tidy
    ``results`` DataFrame (``full=True``: a :class:`SweepResult` with the verdicts
    and runs tables too).

    ``grid`` is ``{"size": [63, 255], "fanout": [2, 8]}`` (or ``--grid`` strings);
    ``seeds`` a count, ``"5-9"``, ``"1,4,9"`` or a list.  Runs go to ``client`` (a
    ``distributed.Client``), else the scheduler at ``scheduler``, else a local
    cluster of ``workers`` processes (default: all cores).  With ``out`` every
    finished run is saved there and a rerun skips it; tables are written there.
    Bad input raises :class:`SweepError` (one line)."""
    return run_sweep(
        scenario,
        grid,
        seeds,
        workers=workers,
        scheduler=scheduler,
        dask_client=client,
        out=Path(out) if out is not None else None,
        on_result=on_result,
        full=full,
    )


def plan(
    scenario: str | Path, grid: Any, seeds: Any
) -> tuple[Any, dict[str, list[Any]], list[Job]]:
    """Load the scenario and expand the grid into jobs (SweepError on bad input)."""
    from kvs_sim.scenario import ScenarioError, load_scenario

    try:
        sc = load_scenario(scenario)
    except ScenarioError as e:
        raise SweepError(str(e)) from None
    if grid is None:
        g: dict[str, list[Any]] = {}
    elif isinstance(grid, dict):
        g = parse_grid([f"{k}={_json_list(v)}" for k, v in grid.items()], sc)
    else:
        g = parse_grid(list(grid), sc)
    return sc, g, jobs(sc, g, parse_seeds(seeds))


def _json_list(values: Any) -> str:
    import json

    if isinstance(values, str) or not hasattr(values, "__iter__"):
        values = [values]
    return json.dumps(list(values))


def run_sweep(
    scenario: str | Path,
    grid: Any,
    seeds: Any,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_client: Any = None,
    out: Path | None = None,
    on_result: Callable[[dict[str, Any], int, int], None] | None = None,
    full: bool = False,
    on_plan: Callable[[list[Job], int], None] | None = None,
) -> Any:
    """:func:`sweep`, with ``on_plan(jobs, already_done)`` called before the runs."""
    _, g, all_jobs = plan(scenario, grid, seeds)
    done = finished(out, [j.run_id for j in all_jobs]) if out is not None else {}
    done = {k: r for k, r in done.items() if not r.get("lost")}
    todo = [j for j in all_jobs if j.run_id not in done]
    if on_plan is not None:
        on_plan(all_jobs, len(done))
    results = dict(done)
    count = [len(done)]

    def collect(result: dict[str, Any]) -> None:
        if out is not None:
            save_run(out, result)
        results[result["run_id"]] = result
        count[0] += 1
        if on_result is not None:
            on_result(result, count[0], len(all_jobs))

    if todo:
        with client(workers, scheduler, dask_client) as c:
            execute(c, todo, collect)
    ordered = [results[j.run_id] for j in all_jobs if j.run_id in results]
    frames = tables(ordered, list(g))
    paths = write_tables(out, frames) if out is not None else {}
    result = SweepResult(frames, len(done), len(todo), paths)
    return result if full else result.results


__all__ = [
    "Job",
    "SweepError",
    "SweepResult",
    "bootstrap_ci",
    "command",
    "curves",
    "finished",
    "jobs",
    "metric_rows",
    "parse_grid",
    "parse_seeds",
    "plan",
    "read_table",
    "run_job",
    "run_sweep",
    "save_run",
    "summarize_metric",
    "sweep",
    "tables",
    "verdict_rows",
    "write_tables",
]
