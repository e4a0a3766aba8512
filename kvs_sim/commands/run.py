"""``kvs-sim run SCENARIO.py``: run a scenario, check it, report, write files and plots.

Theory of operation
-------------------
The command is the user-facing shell over :mod:`kvs_sim.scenario` (load and run a
scenario file; the format is documented there and in ``scenarios/README.md``),
:mod:`kvs_sim.checks`, :mod:`kvs_sim.metrics` and :mod:`kvs_sim.plots`:

1. validate the options (one line on stderr and exit 2 if one is bad), load the
   scenario (one line and exit 2 if it cannot be used);
2. run each variant of the scenario (a scenario without ``VARIANTS`` is one run)
   on a fresh recording cluster (simulated, or with ``--live`` real ranks over
   MQTT: :mod:`kvs_sim.live.scenario`), with a progress bar on the terminal when
   a run takes more than half a second of wall time;
3. for each run: print the guarantees (with evidence), the metric tables and the
   scenario's findings;
4. once every run is done, replace the previous run's files in ``--out`` (default
   ``out/<scenario>``, or ``out/<scenario>-live`` with ``--live``: a folder holds
   one run's files, never a mix) by this run's: ``history.jsonl`` (and its messages,
   ``trace.json.gz``: :mod:`kvs_sim.report.tracefile`),
   ``propagation.png`` and ``spacetime.png`` per run (with variants each run gets
   a subdirectory named after it), ``staleness.png`` (every run, one row each)
   and ``summary.json``, then remove the earlier run's files not written over,
   and say where everything went.  The folder is checked to be writable before
   anything runs, and each file is written whole or not at all
   (:mod:`kvs_sim.outputs`); a run that fails leaves the previous files.
   With ``--html``, ``report.html`` per run (:mod:`kvs_sim.report`, the same
   pages as ``kvs-sim report OUT``).

Exit codes: 0 every claimed guarantee held in every run; 1 one was violated;
2 bad options or an unusable scenario file; 3 the scenario failed while running
(it raised, stalled, or ran past its ``max_time``): one line naming the
scenario's failing line, no traceback unless ``--traceback``; also 3 when no
claim was violated but one was not decided within the checkers' time budget
(unknown, as ``kvs-sim check`` says it); 4 the output could
not be written (a read-only folder, a full disk): one line;
the same when the HTML report cannot be written.

``summary.json``: ``{"scenario", "title", "story", "file", "seed", "config", "claims", "ok",
"exit_code", "runs": [{"variant", "config", "claims", "violated_claims", "ok",
"guarantees": {NAME: {"claimed", "verdict", "checked", "violations": [{"summary",
"ops", "evidence"}], "notes"}}, "metrics", "findings", "traffic", "files"}],
"files"}``; metrics without their per-sample lists (those are in the history).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from kvs_sim.commands._progress import RunProgress
from kvs_sim.commands._run_report import print_comparison, print_files, print_run

PROG = "kvs-sim run"
MAX_EVIDENCE = 20
"""Violations per guarantee written to summary.json with their evidence."""


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand to the ``kvs-sim`` parser."""
    p = subparsers.add_parser(
        "run",
        help="run a scenario: report, history, summary and plots",
        description="Run SCENARIO.py on a simulated instance in virtual time, check the "
        "guarantees it claims, print a report and write history.jsonl, summary.json and "
        "PNG plots into --out.  Exit 0 if every claimed guarantee held, 1 if one was "
        "violated, 2 for bad options or scenario files, 3 if the scenario failed, 4 if "
        "the output could not be written.",
    )
    p.add_argument("scenario", help="scenario file (see scenarios/README.md)")
    p.add_argument("--size", metavar="N", help="number of ranks (default: the scenario's)")
    p.add_argument(
        "--fanout", metavar="K", help="k of the k-ary tree overlay (default: the scenario's)"
    )
    p.add_argument(
        "--seed", metavar="S", help="simulation seed, an integer >= 0 (default: the scenario's)"
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="output directory (default: out/<scenario name>, out/<scenario name>-live with "
        "--live); the previous run's files in it are replaced",
    )
    p.add_argument(
        "--events", metavar="tree|broker", help="how setroot events travel: tree or broker"
    )
    p.add_argument(
        "--latency", metavar="SPEC", help="per-hop latency, e.g. const:100us, lognormal:100us,0.5"
    )
    p.add_argument(
        "--forward-cost",
        metavar="DURATION",
        help="what a rank spends per copy when it forwards an event to its children (e.g. 5us)",
    )
    p.add_argument(
        "--nemesis",
        metavar="KINDS",
        help="a random nemesis process drawn from the seed, one fault at a time: "
        "comma-separated kinds from partition, crash, pause, slow, spike, loss "
        "(docs/faults.md)",
    )
    p.add_argument(
        "--nemesis-interval",
        metavar="DURATION",
        help="with --nemesis: about how long each fault lasts and the gap between two "
        "(default 50ms)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one of the scenario's parameters (its DEFAULTS), e.g. --set "
        "writers=32, or a cluster option without a flag of its own (cache_expiry, ryw_via, "
        "commit_response, max_time); VALUE is JSON if it parses, else a string (repeatable)",
    )
    p.add_argument(
        "--live",
        action="store_true",
        help="run on real ranks over MQTT (starts a private mosquitto and kvs-sim up "
        "processes), in real time",
    )
    p.add_argument(
        "--broker", metavar="URL", help="with --live: use this broker (mqtt://HOST:PORT)"
    )
    p.add_argument(
        "--processes",
        type=int,
        default=3,
        metavar="N",
        help="with --live: rank processes to start (default 3)",
    )
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    p.add_argument(
        "--animate",
        action="store_true",
        help="also write wave.gif: the focus version's setroot wave going down the tree",
    )
    p.add_argument(
        "--html",
        action="store_true",
        help="also write report.html: an interactive report that opens offline "
        "(the same as kvs-sim report OUT afterwards)",
    )
    p.add_argument(
        "--traceback", action="store_true", help="show the full traceback if the scenario fails"
    )
    p.set_defaults(func=run)


def _cli_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options given on the command line, parsed; ValueError with one line."""
    from kvs_sim.scenario import check_options

    out: dict[str, Any] = {}
    for name in ("size", "fanout", "seed"):
        text = getattr(args, name)
        if text is None:
            continue
        try:
            out[name] = int(text)
        except ValueError:
            raise ValueError(f"--{name} must be an integer, got {text!r}") from None
    for name in ("events", "latency", "forward_cost", "nemesis", "nemesis_interval"):
        if getattr(args, name) is not None:
            out[name] = getattr(args, name)
    try:
        check_options(out)
    except ValueError as e:
        name, sep, rest = str(e).partition(" ")
        raise ValueError(f"--{name.replace('_', '-')}{sep}{rest}") from None
    return out


def _parameters(items: list[str], scenario: Any) -> dict[str, Any]:
    """``--set NAME=VALUE`` options, checked against the scenario's parameters
    (name, type and range: see :mod:`kvs_sim.scenario._params`) or, for the name
    of a cluster option (``cache_expiry``, ``ryw_via``, ...), as that option."""
    from kvs_sim.scenario import CLUSTER_OPTIONS, check_options, check_param

    known = scenario.settable
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set takes NAME=VALUE, got {item!r}")
        if name not in known and name not in CLUSTER_OPTIONS:
            raise ValueError(
                f"--set {name}: {scenario.name} has no such parameter "
                f"(it has: {', '.join(known) or 'none'}; cluster options: "
                f"{', '.join(CLUSTER_OPTIONS)})"
            )
        try:
            out[name] = json.loads(text)
        except ValueError:
            out[name] = text
        try:
            if name in CLUSTER_OPTIONS:
                check_options({name: out[name]})
            else:
                check_param(scenario.params[name], out[name])
        except ValueError as e:
            raise ValueError(f"--set {e}") from None
    return out


def run(args: argparse.Namespace) -> int:
    """Run the scenario; return the exit code described in the module docstring."""
    from rich.console import Console

    from kvs_sim.outputs import EXIT_OUTPUT, OutputError, check_writable
    from kvs_sim.scenario import ScenarioError, ScenarioFailed, load_scenario, variant_options

    try:
        if args.broker is not None and not args.live:
            raise ValueError("--broker goes with --live")
        if args.html:
            from kvs_sim.report import html_available

            if html_available():
                raise ValueError(f"--html: {html_available()}")
        if args.processes < 1:
            raise ValueError(f"--processes must be >= 1, got {args.processes}")
        if args.broker is not None:
            from kvs_sim.live.topics import parse_url

            parse_url(args.broker)
        cli = _cli_options(args)
        scenario = load_scenario(args.scenario)
        cli.update(_parameters(args.set, scenario))
        variants: list[str | None] = list(scenario.variants) or [None]
        for v in variants:
            variant_options(scenario, cli, v)
    except (ValueError, ScenarioError) as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else default_out(scenario.name, live=args.live)
    try:
        check_writable(out)
    except OutputError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return EXIT_OUTPUT
    console = Console(file=sys.stdout, highlight=False)
    base, _ = variant_options(scenario, cli, None)
    story = scenario.doc.strip().partition("\n")[2].strip()
    console.print(f"[bold]{scenario.name}[/bold]: {scenario.title}")
    if story:
        console.print(story, style="dim")
    console.print(
        f"[bold]size {base['size']}, fanout {base['fanout']}, seed {base['seed']}, "
        + ("live MQTT ranks" if args.live else f"latency {base['latency']}")
        + f", events {base['events']}"
        + (f"; variants: {', '.join(scenario.variants)}" if scenario.variants else "")
        + "[/bold]"
    )
    results: list[Any] = []
    for v in variants:
        try:
            with RunProgress(scenario.name if v is None else f"{scenario.name} [{v}]") as progress:
                if args.live:
                    result = _run_live(scenario, cli, v, args, progress)
                else:
                    result = _run_one(
                        scenario,
                        cli,
                        v,
                        keep_trace=not args.no_plots or args.html,
                        progress=progress,
                    )
        except ScenarioFailed as e:
            if args.traceback and e.cause is not None:
                traceback.print_exception(e.cause, file=sys.stderr)
            print(f"{PROG}: {e}", file=sys.stderr)
            return 3
        except ScenarioError as e:  # live: no broker to be had
            print(f"{PROG}: {e}", file=sys.stderr)
            return 2
        print_run(console, result, scenario)
        results.append(result)
    try:
        runs, top, code = _write_all(scenario, base, results, out, args)
    except (OutputError, OSError) as e:
        reason = str(e) if isinstance(e, OutputError) else f"cannot write into {out}: {e}"
        print(f"{PROG}: {reason}", file=sys.stderr)
        return EXIT_OUTPUT
    failed = [r for r, _ in runs if r.violated]
    if len(runs) > 1:
        print_comparison(console, runs)
    print_files(console, runs, top)
    if args.html and not _write_html(out, runs):
        return 4
    open_ = [r for r, _ in runs if r.undecided]
    if failed:
        verdict = f"claimed guarantees violated in {', '.join(_label(r) for r in failed)}"
    elif open_:
        names = sorted({c for r in open_ for c in r.undecided})
        verdict = (
            f"not decided within the checkers' time budget: {', '.join(names)} "
            f"(try kvs-sim check --timeout S on the history)"
        )
    else:
        verdict = "all claimed guarantees held"
    colour = "red" if failed else "yellow" if open_ else "green"
    console.print(f"[bold {colour}]{verdict}[/] (exit {code})")
    return code


def default_out(name: str, *, live: bool) -> Path:
    """``out/<scenario>`` for a simulated run, ``out/<scenario>-live`` for a live one,
    so one never leaves its files among the other's."""
    return Path("out") / (f"{name}-live" if live else name)


OUTPUT_NAMES = (
    "history.jsonl",
    "summary.json",
    "propagation.png",
    "spacetime.png",
    "staleness.png",
    "spacetime_variants.png",
    "wave.gif",
)
"""The files a run writes (per variant folder, and at the top)."""


def previous_outputs(out: Path, variants: list[str | None]) -> set[Path]:
    """What an earlier run left in ``out``: the files its ``summary.json`` lists
    (inside ``out`` only) and the files a run writes under their usual names, at
    the top and in this run's variant folders.  Files of the user's own are not
    among them."""
    old: set[Path] = set()
    try:
        summary = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        summary = {}
    summary = summary if isinstance(summary, dict) else {}
    listed = [*dict(summary.get("files") or {}).values()]
    for item in summary.get("runs") or []:
        listed += [*dict(item.get("files") or {}).values()] if isinstance(item, dict) else []
    root = out.resolve()
    for f in listed:
        p = Path(str(f))
        if p.resolve().is_relative_to(root):
            old.add(p)
    folders = {out} | {out / v for v in variants if v is not None} | {p.parent for p in old}
    for folder in folders:
        old |= {folder / name for name in OUTPUT_NAMES}
    return {p for p in old if p.is_file()}


def remove_stale(out: Path, stale: set[Path], written: set[Path]) -> list[Path]:
    """Remove the earlier run's files this run did not write over, and the
    variant folders that leaves empty, so ``out`` holds one run's files."""
    keep = {p.resolve() for p in written}
    removed = [p for p in sorted(stale) if p.resolve() not in keep and p.is_file()]
    for p in removed:
        p.unlink()
    for folder in sorted({p.parent for p in removed} - {out}, key=lambda f: -len(f.parts)):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def _write_all(
    scenario: Any, base: dict[str, Any], results: list[Any], out: Path, args: Any
) -> tuple[list[tuple[Any, dict[str, str]]], dict[str, str], int]:
    """Write this run's files over the folder's previous run (each file whole, so a
    failure leaves the earlier file), then remove the earlier run's other files."""
    from kvs_sim.outputs import write_text

    stale = previous_outputs(out, [r.name for r in results])
    runs = []
    for result in results:
        vdir = out if result.name is None else out / result.name
        files = _write_run(result, vdir, out, plots=not args.no_plots)
        if args.animate:
            files["animation"] = str(_animate(result, vdir))
        runs.append((result, files))
    top: dict[str, str] = {}
    if not args.no_plots:
        top["staleness"] = str(_staleness_plot(scenario, runs, out))
        side_by_side = _variants_spacetime(scenario, runs, out)
        if side_by_side is not None:
            top["spacetime_variants"] = str(side_by_side)
    code = 1 if any(r.violated for r in results) else 3 if any(r.undecided for r in results) else 0
    summary = _summary(scenario, base, runs, top, code)
    summary["mode"] = "live" if args.live else "simulation"
    summary["story"] = scenario.doc.strip().partition("\n")[2].strip()
    write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    top["summary"] = str(out / "summary.json")
    written = {Path(f) for _, files in runs for f in files.values()}
    remove_stale(out, stale, written | {Path(f) for f in top.values()})
    return runs, top, code


def _run_one(scenario: Any, cli: dict[str, Any], variant: str | None, **kw: Any) -> Any:
    from kvs_sim.scenario import run_variant

    progress = kw.pop("progress")
    return run_variant(scenario, cli, variant, on_start=progress.attach, **kw)


def _run_live(
    scenario: Any, cli: dict[str, Any], variant: str | None, args: Any, progress: Any
) -> Any:
    from kvs_sim.live.scenario import run_variant_live

    return run_variant_live(
        scenario,
        cli,
        variant,
        broker_url=args.broker,
        processes=args.processes,
        on_start=progress.attach,
    )


def _write_html(out: Path, runs: list[tuple[Any, dict[str, str]]]) -> bool:
    """Write the HTML reports (:mod:`kvs_sim.report`); False if they cannot be written."""
    from kvs_sim.commands.report import print_written
    from kvs_sim.report import write_reports

    try:
        written = write_reports(out, histories=[r.history for r, _ in runs])
    except OSError as e:
        print(f"{PROG}: cannot write the HTML report: {e.strerror}", file=sys.stderr)
        return False
    print_written(written)
    return True


def _label(run: Any) -> str:
    return run.name if run.name is not None else "the run"


# ---------------------------------------------------------------------------
# Files


def _write_run(run: Any, vdir: Path, out: Path, *, plots: bool) -> dict[str, str]:
    from kvs_sim import plots as P
    from kvs_sim.history import save
    from kvs_sim.outputs import atomic_write

    vdir.mkdir(parents=True, exist_ok=True)
    from kvs_sim.report import save_run_trace

    files = {"history": str(vdir / "history.jsonl")}
    atomic_write(vdir / "history.jsonl", lambda tmp: save(run.history, tmp))
    trace = save_run_trace(run, vdir)  # the messages, for kvs-sim report
    if trace is not None:
        files["trace"] = str(trace)
    if not plots:
        return files
    h = run.history
    version = run.focus.get("version", P.focus_version(h))
    applied = P.applied_times(h, version)
    created = h.created("primary").get(version, 0.0)
    committers = {o.rank for o in h.commits("primary") if o.version == version}
    suffix = f" [{run.name}]" if run.name else ""
    files["propagation"] = str(
        P.plot_propagation(
            run.parent,
            applied,
            vdir / "propagation.png",
            version=version,
            created=created,
            committers=committers,
            title=f"Version {version} spreading down the overlay{suffix}",
            note=f"fanout {run.options['fanout']}, {run.options['latency']} per hop",
        )
    )
    if not run.trace.deliveries:  # a live run: no tracer, no space-time diagram
        return files
    files["spacetime"] = str(P.plot_spacetime(path=vdir / "spacetime.png", **_spacetime(run)))
    return files


def _spacetime(run: Any) -> dict[str, Any]:
    """The arguments of :func:`~kvs_sim.plots.plot_spacetime` for one run's focus."""
    from kvs_sim import plots as P

    h = run.history
    version = run.focus.get("version", P.focus_version(h))
    committers = {o.rank for o in h.commits("primary") if o.version == version}
    window = tuple(run.focus.get("window") or P.focus_window(h, version))
    handoffs, marks = P.client_marks(h, window)
    depth = h.header.config.get("depth") or []
    suffix = f" [{run.name}]" if run.name else ""
    return {
        "deliveries": run.trace.deliveries,
        "lanes": run.focus.get("ranks") or P.focus_lanes(run.parent, sorted(committers)),
        "window": window,
        "handoffs": handoffs,
        "labels": marks,
        "transit": run.transit,
        "lane_labels": {r: f"rank {r} (depth {depth[r]})" for r in range(len(depth))},
        "title": run.focus.get("title", f"Messages around version {version}") + suffix,
        "nemeses": h.nemeses,
        "note": ""
        if str(run.options["latency"]).startswith("const")
        else "send times estimated from the mean link latency",
    }


def _variants_spacetime(
    scenario: Any, runs: list[tuple[Any, dict[str, str]]], out: Path
) -> Path | None:
    """Every variant's space-time diagram in one figure, one above the other."""
    from kvs_sim import plots as P

    traced = [run for run, _ in runs if run.trace.deliveries]
    if len(traced) < 2:
        return None
    return P.plot_spacetime_panels(
        [_spacetime(run) for run in traced],
        out / "spacetime_variants.png",
        title=f"{scenario.name}: the variants side by side",
    )


def _animate(run: Any, vdir: Path) -> Path:
    """The focus version's wave down the tree, as ``wave.gif`` beside the plots."""
    from kvs_sim import plots as P
    from kvs_sim.plots.animation import plot_wave, wave_inputs

    h = run.history
    version = run.focus.get("version", P.focus_version(h))
    timelines, window, reads = wave_inputs(h, version)
    committers = {o.rank for o in h.commits("primary") if o.version == version}
    suffix = f" [{run.name}]" if run.name else ""
    return plot_wave(
        run.parent,
        timelines,
        vdir / "wave.gif",
        window=window,
        reads=reads,
        marks={r: "commit" for r in committers},
        title=f"Version {version} going down the tree{suffix}",
    )


def _staleness_plot(scenario: Any, runs: list[tuple[Any, dict[str, str]]], out: Path) -> Path:
    from kvs_sim import plots as P

    series = {
        (r.name or ""): P.staleness_data(r.history, r.metrics["propagation"]) for r, _ in runs
    }
    return P.plot_staleness(
        series, out / "staleness.png", title=f"{scenario.name}: staleness by tree depth"
    )


def _summary(
    scenario: Any,
    base: dict[str, Any],
    runs: list[tuple[Any, dict[str, str]]],
    top: dict[str, str],
    code: int,
) -> dict[str, Any]:
    from kvs_sim.checks import describe, verdict_word
    from kvs_sim.history import record_to_dict

    items = []
    for r, files in runs:
        ops = r.history.ops_by_id()
        guarantees = {}
        for v in r.verdicts:
            shown = v.violations[:MAX_EVIDENCE]
            guarantees[v.guarantee] = {
                "claimed": v.guarantee in r.claims,
                "verdict": verdict_word(v),
                "checked": v.checked,
                "violations": [
                    {**bad.to_dict(), "evidence": [describe(ops[i]) for i in bad.ops if i in ops]}
                    for bad in shown
                ],
                "more_violations": len(v.violations) - len(shown),
                "notes": list(v.notes),
            }
        items.append(
            {
                "variant": r.name,
                "config": {k: v for k, v in r.options.items()},
                "claims": list(r.claims),
                "violated_claims": r.violated,
                "ok": not r.violated,
                "guarantees": guarantees,
                "metrics": _without_samples(r.metrics),
                "findings": r.findings,
                "nemeses": [record_to_dict(n) for n in r.history.nemeses],
                "traffic": r.traffic,
                "cache": r.cache,
                "end_time": r.end_time,
                "files": files,
            }
        )
    return {
        "scenario": scenario.name,
        "title": scenario.title,
        "file": str(scenario.path),
        "seed": base["seed"],
        "config": base,
        "claims": list(scenario.claims),
        "ok": code == 0,
        "exit_code": code,
        "runs": items,
        "files": dict(top),
    }


def _without_samples(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {k: v for k, v in m.items() if k != "samples"} if isinstance(m, dict) else m
        for name, m in metrics.items()
    }
