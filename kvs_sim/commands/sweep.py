"""``kvs-sim sweep SCENARIO.py``: a scenario over a grid of options times seeds, on Dask.

Theory of operation
-------------------
The user-facing shell over :mod:`kvs_sim.sweep`:

1. check the input before anything runs: the scenario, every ``--grid`` name and
   value (as ``kvs-sim run`` would), ``--seeds``, ``--workers``/``--scheduler``
   (one line on stderr, exit 2), and that ``--out`` can be written (exit 4);
2. run every grid point x seed not already in ``--out`` on Dask (a local cluster
   of worker processes, or ``--scheduler tcp://HOST:8786``), with a progress bar,
   saving each run as it finishes (so an interrupted sweep resumes where it
   stopped when the same command is given again);
3. write ``results``, ``verdicts`` and ``runs`` tables (Parquet, CSV without
   pyarrow; see :mod:`kvs_sim.sweep._store`), and plots: each headline metric
   against each grid parameter that varies (mean over seeds with a 95%
   bootstrap interval, by depth), and the t-visibility / k-staleness curves;
4. report: runs done, skipped, with a claimed guarantee violated, failed (with
   the reason and the command that reproduces each).

Exit codes: 0 every run held its claims; 1 a claimed guarantee was violated in
some run; 2 bad input (unknown parameter, empty grid, bad seeds, an unreachable
scheduler); 3 some run failed (its row says why; the sweep went on); 4 the
output could not be written; 130 interrupted (finished runs are kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

PROG = "kvs-sim sweep"
HEADLINE = (
    ("propagation.mean", "setroot lag, mean (ms)", 1e3),
    ("staleness_time.mean", "first read of a version, mean (ms)", 1e3),
    ("commit_latency.mean", "commit latency, mean (ms)", 1e3),
)
MAX_SHOWN = 10


def register(subparsers: Any) -> None:
    """Add the ``sweep`` subcommand to the ``kvs-sim`` parser."""
    p = subparsers.add_parser(
        "sweep",
        help="run a scenario over a grid of options times seeds (Dask), tables and plots",
        description="Run SCENARIO.py at every point of the --grid times every seed, in "
        "virtual time, on Dask worker processes (or a Dask scheduler), and write tidy "
        "tables (Parquet or CSV) and plots into --out.  A rerun skips the runs already "
        "done.  Exit 0 if every run held its claims, 1 if one was violated, 2 for bad "
        "input, 3 if a run failed, 4 if the output could not be written.",
    )
    p.add_argument("scenario", help="scenario file (see scenarios/README.md)")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="values of one option or scenario parameter (repeatable), e.g. --grid "
        "size=63,255 --grid fanout=2,8,32; a JSON list for values with commas",
    )
    p.add_argument(
        "--seeds",
        default="10",
        metavar="N|A-B|A,B,...",
        help="seeds per grid point: a count (seeds 0..N-1), a range or a list (default 10)",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, metavar="N", help="local worker processes (default: all cores)"
    )
    where.add_argument(
        "--scheduler", metavar="tcp://HOST:8786", help="run on this Dask distributed scheduler"
    )
    p.add_argument(
        "--out", metavar="DIR", help="output directory (default: out/sweep-<scenario name>)"
    )
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    p.add_argument(
        "--html",
        action="store_true",
        help="also write report.html: each metric against the first grid parameter, with "
        "bootstrap intervals by depth, and a link (or the command) for each run's report",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the sweep; return the exit code described in the module docstring."""
    from rich.console import Console

    from kvs_sim.outputs import EXIT_OUTPUT, OutputError, check_writable
    from kvs_sim.sweep import SweepError, plan

    console = Console(file=sys.stdout, highlight=False)
    try:
        if args.workers is not None and args.workers < 1:
            raise SweepError(f"--workers must be >= 1, got {args.workers}")
        scenario, grid, jobs = plan(args.scenario, args.grid, args.seeds)
    except SweepError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("out") / f"sweep-{scenario.name}"
    try:
        check_writable(out)
    except OutputError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return EXIT_OUTPUT
    shape = " x ".join(f"{len(v)} {k}" for k, v in grid.items())
    seeds = len({j.seed for j in jobs})
    console.print(
        f"[bold]{scenario.name}[/bold]: {scenario.title}\n"
        f"[bold]{len(jobs)} runs[/bold] ({shape + ' x ' if shape else ''}{seeds} seeds)"
        + (f" on {args.scheduler}" if args.scheduler else "")
    )
    try:
        result = _execute(console, args, jobs)
    except SweepError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except OutputError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return EXIT_OUTPUT
    except KeyboardInterrupt:
        print(
            f"{PROG}: interrupted; finished runs are saved in {out}: give the same command "
            "again to resume",
            file=sys.stderr,
        )
        return 130
    plots: list[Path] = []
    if not args.no_plots and len(result.results):
        try:
            plots = draw(result.results, grid, out, scenario.name)
        except OutputError as e:
            print(f"{PROG}: {e}", file=sys.stderr)
            return EXIT_OUTPUT
    if args.html and len(result.results):
        if not grid:
            print(f"{PROG}: --html needs a --grid parameter to plot against", file=sys.stderr)
            return 2
        try:
            from kvs_sim.report.sweep import write_sweep_report

            page = write_sweep_report(
                result.results,
                result.runs,
                next(iter(grid)),
                out / "report.html",
                title=f"Sweep of {scenario.name}",
            )
        except ImportError as e:
            print(
                f"{PROG}: --html needs plotly ({e}); pip install 'kvs-sim[html]'", file=sys.stderr
            )
            return 2
        except OSError as e:
            print(f"{PROG}: cannot write {out / 'report.html'}: {e}", file=sys.stderr)
            return EXIT_OUTPUT
        plots.append(page)
    return _report(console, result, out, plots)


def _execute(console: Any, args: argparse.Namespace, jobs: list[Any]) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from kvs_sim.sweep import run_sweep

    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = progress.add_task("runs", total=len(jobs))

    def on_plan(all_jobs: list[Any], done: int) -> None:
        if done:
            console.print(f"{done} runs already done in {args.out or 'the output folder'}: skipped")
        progress.update(task, completed=done)

    def on_result(result: dict[str, Any], done: int, total: int) -> None:
        progress.update(task, completed=done)
        if result["status"] == "failed":
            progress.console.print(f"[red]run {result['run_id']} failed[/red]: {result['error']}")

    out = Path(args.out) if args.out else None
    with progress:
        return run_sweep(
            args.scenario,
            args.grid,
            args.seeds,
            workers=args.workers,
            scheduler=args.scheduler,
            out=out or Path("out") / f"sweep-{Path(args.scenario).stem}",
            on_result=on_result,
            on_plan=on_plan,
            full=True,
        )


def draw(results: Any, grid: dict[str, list[Any]], out: Path, name: str) -> list[Path]:
    """The sweep's plots (see the module doc); returns their paths."""
    from kvs_sim.plots.sweep import plot_metric_vs_param, plot_visibility
    from kvs_sim.sweep import curves, summarize_metric

    varying = [k for k, v in grid.items() if len(v) > 1]
    paths = []
    present = set(results["metric"].unique())
    metrics = [(m, label, k) for m, label, k in HEADLINE if m in present]
    for param in varying:
        second = next((k for k in varying if k != param), None)
        extra = ("variant", second) if second else ("variant",)
        summaries = {m: summarize_metric(results, m, param, extra=extra) for m, _, _ in metrics}
        paths.append(
            plot_metric_vs_param(
                summaries,
                out / f"metrics_vs_{param}.png",
                param=param,
                second=second,
                title=f"{name}: metrics vs {param} (mean over seeds, 95% bootstrap CI)",
                scale={m: k for m, _, k in metrics},
                labels={m: label for m, label, _ in metrics},
            )
        )
    group = [*varying[:2]]
    if results["variant"].notna().any():
        group = ["variant", *group][:2]
    t = curves(results, "t_visibility", group)
    k = curves(results, "k_staleness", group)
    if len(t) or len(k):
        paths.append(
            plot_visibility(
                t,
                k,
                out / "visibility.png",
                group=group,
                title=f"{name}: t-visibility and k-staleness by depth (mean over seeds, 95% CI)",
            )
        )
    return paths


def _report(console: Any, result: Any, out: Path, plots: list[Path]) -> int:
    from rich.table import Table

    runs = result.runs
    counts = runs["status"].value_counts().to_dict() if len(runs) else {}
    t = Table(title="Sweep", title_justify="left", show_header=False)
    t.add_column("")
    t.add_column("", justify="right")
    t.add_row("runs", str(len(runs)))
    t.add_row("run now", str(result.ran))
    t.add_row("already done (skipped)", str(result.skipped))
    for status in ("ok", "violated", "failed"):
        t.add_row(f"status {status}", str(counts.get(status, 0)))
    console.print(t)
    for status, colour in (("failed", "red"), ("violated", "yellow")):
        bad = runs[runs["status"] == status] if len(runs) else runs
        for _, row in bad.head(MAX_SHOWN).iterrows():
            why = row["error"] if status == "failed" else f"violated: {row['violated']}"
            line = f"[{colour}]{row['run_id']}[/] {why}\n  reproduce: {row['command']}"
            console.print(line, soft_wrap=True)
        if len(bad) > MAX_SHOWN:
            console.print(f"... and {len(bad) - MAX_SHOWN} more {status} runs (see the runs table)")
    console.print(f"[bold]Wrote into {out}/[/bold]", soft_wrap=True)
    for name, path in result.paths.items():
        console.print(f"  {name:<9}{path.name}", soft_wrap=True)
    if plots:
        console.print(f"  plots    {', '.join(p.name for p in plots)}", soft_wrap=True)
    console.print("  runs/    one file per finished run (a rerun skips them)", soft_wrap=True)
    code = 3 if counts.get("failed") else 1 if counts.get("violated") else 0
    verdict = {
        0: "[bold green]every run held its claimed guarantees[/]",
        1: "[bold red]a claimed guarantee was violated in some runs[/]",
        3: "[bold red]some runs failed[/]",
    }[code]
    console.print(f"{verdict} (exit {code})")
    return code
