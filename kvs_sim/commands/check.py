"""``kvs-sim check [--model M] [--timeout S] [--json] FILE...``: verdicts on saved histories.

Theory of operation
-------------------
The command is a thin shell over :mod:`kvs_sim.history`, :mod:`kvs_sim.checks` and
:mod:`kvs_sim.metrics`.  Each FILE is a kvs-sim history (JSON Lines,
``docs/history-format.md``) or a Jepsen/Knossos EDN history (``.edn``, or a first
line that is an EDN map).  Without ``--model`` a kvs-sim history is checked
against the claims of its header, with every checker's verdict and the metrics
shown; ``--model`` checks one model instead: ``linearizable`` (per key, within
``--timeout`` seconds per key), ``sequential`` (the version order as witness) or
``session`` (what Flux promises: read-your-writes, monotonic reads and writes,
writes-follow-reads, causal hand-off).  An EDN history has no header: its model
defaults to ``linearizable``.

Input is validated strictly: a record that breaks the format (a rank beyond the
cluster's size, an unknown operation, a ``null`` in the depth list...), a file cut
off before its footer, a history with no operations, or a claim no checker knows
is one line on stderr naming the file (and line), exit 2.

Exit codes (the contract scripts and CI rely on), over all files: 2 if any file
could not be used; else 1 if a claimed guarantee was violated in any; else 3 if
one was not decided within the time budget; else 0.

``--json`` prints one JSON object per file (a list when several files are
given): ``{"history", "model", "claims", "violated_claims", "unknown_claims",
"undecided_claims", "ok", "exit_code", "verdicts", "notes", "metrics"}`` (metrics
without their per-sample lists, and only without ``--model``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from kvs_sim.commands._argtypes import positive_seconds

MODELS = ("linearizable", "sequential", "session")
SESSION = (
    "read-your-writes",
    "monotonic-reads",
    "monotonic-writes",
    "writes-follow-reads",
    "causal",
)


def register(subparsers: Any) -> None:
    """Add the ``check`` subcommand to the ``kvs-sim`` parser."""
    p = subparsers.add_parser(
        "check",
        help="check recorded histories (kvs-sim JSON Lines or Jepsen EDN)",
        description="Check histories: kvs-sim JSON Lines (docs/history-format.md) or "
        "Jepsen/Knossos EDN.  Exit 0 if every claimed guarantee held, 1 if one was "
        "violated, 2 if a history cannot be used, 3 if a verdict was not reached "
        "within the time budget.",
    )
    p.add_argument("history", nargs="+", metavar="FILE", help="history file (.jsonl or .edn)")
    p.add_argument(
        "--model",
        choices=MODELS,
        help="check this model only (default: the claims in the history's header; "
        "linearizable for EDN histories)",
    )
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=60.0,
        metavar="S",
        help="seconds per key for the linearizability search before the verdict is "
        "'unknown' (default 60)",
    )
    p.add_argument("--json", action="store_true", help="print verdicts (and metrics) as JSON")
    p.add_argument(
        "--plot",
        metavar="DIR",
        help="draw each linearizability counterexample as a PNG into DIR",
    )
    p.set_defaults(func=run)


class BadInput(Exception):
    """A history that cannot be checked: the one-line reason."""


def _without_samples(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {k: v for k, v in m.items() if k != "samples"} if isinstance(m, dict) else m
        for name, m in metrics.items()
    }


def _load(path: str, notes: list[str]) -> Any:
    from kvs_sim.history import HistoryError, load, load_edn, looks_like_edn

    try:
        if looks_like_edn(path):
            return load_edn(path)
        return load(path, strict=True, notes=notes)
    except HistoryError as e:
        raise BadInput(str(e)) from None


def check_file(path: str, model: str | None, timeout: float) -> dict[str, Any]:
    """Load, validate and check one file; the result as a dict (see module doc)."""
    from kvs_sim.checks import (
        check_all,
        claim_error,
        run_checker,
        undecided_claims,
        violated_claims,
    )

    notes: list[str] = []
    history = _load(path, notes)
    if not history.ops:
        raise BadInput(f"{path}: the history has no operations: nothing to check")
    edn = history.header.config.get("format") == "jepsen-edn"
    if model is None:
        claims = list(history.header.claims) or (["linearizable"] if edn else [])
    else:
        claims = list(SESSION) if model == "session" else [model]
    for c in claims:
        why = claim_error(c)
        if why is not None:
            raise BadInput(f"{path}: header: {why}")
    if model is None and not edn:
        verdicts = check_all(history, claims, budget=timeout)
    else:
        verdicts = [run_checker(c, history, timeout) for c in claims]
    broken = violated_claims(verdicts, claims)
    undecided = undecided_claims(verdicts, claims)
    code = 1 if broken else 3 if undecided else 0
    return {
        "history": path,
        "model": model,
        "claims": claims,
        "violated_claims": broken,
        "unknown_claims": [],
        "undecided_claims": undecided,
        "ok": code == 0,
        "exit_code": code,
        "notes": notes,
        "_history": history,
        "_verdicts": verdicts,
        "_full": model is None and not edn,
    }


def run(args: argparse.Namespace) -> int:
    """Check every file; return the exit code described in the module docstring."""
    results: list[dict[str, Any]] = []
    worst = 0
    for path in args.history:
        try:
            result = check_file(path, args.model, args.timeout)
        except BadInput as e:
            print(f"kvs-sim check: {e}", file=sys.stderr)
            worst = 2
            continue
        results.append(result)
        if worst != 2:
            worst = max(worst, result["exit_code"], key=(0, 3, 1).index)
    try:
        _print(args, results)
        if args.plot:
            _plots(args.plot, results)
    except BrokenPipeError:  # `kvs-sim check h.jsonl | head`: the verdict still counts
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as e:
        print(f"kvs-sim check: cannot write the plots: {e.strerror or e}", file=sys.stderr)
        return 4
    return worst


def _plots(folder: str, results: list[dict[str, Any]]) -> None:
    from kvs_sim.plots.linearizability import draw

    os.makedirs(folder, exist_ok=True)
    for r in results:
        for v in r["_verdicts"]:
            if v.guarantee != "linearizable":
                continue
            stem = os.path.splitext(os.path.basename(r["history"]))[0]
            for i, bad in enumerate(v.violations, start=1):
                out = os.path.join(folder, f"{stem}-linearizable-{i}.png")
                draw(r["_history"], bad, out)
                print(f"wrote {out}")


def _print(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    from kvs_sim.checks import render_verdicts, report
    from kvs_sim.metrics import compute_metrics, render_tables

    if args.json:
        docs = []
        for r in results:
            doc = {k: v for k, v in r.items() if not k.startswith("_")}
            doc["verdicts"] = [v.to_dict() for v in r["_verdicts"]]
            if r["_full"]:
                doc["metrics"] = _without_samples(compute_metrics(r["_history"]))
            docs.append(doc)
        if docs:
            print(json.dumps(docs[0] if len(args.history) == 1 else docs, indent=2))
        return
    from rich.console import Console

    console = Console(file=sys.stdout)
    for r in results:
        history = r["_history"]
        seed = history.header.seed
        console.print(
            f"[bold]{r['history']}[/bold]: {len(history.ops)} ops, {len(history.roots)} root "
            f"records, seed {seed if seed is not None else 'none'}",
            highlight=False,
            soft_wrap=True,  # never break a path across lines
        )
        for note in r["notes"]:
            console.print(f"note: {note}", highlight=False, style="yellow", soft_wrap=True)
        if r["_full"]:
            for item in render_verdicts(r["_verdicts"], r["claims"], history):
                console.print(item)
            for table in render_tables(compute_metrics(history)):
                console.print(table)
        else:
            print(report(r["_verdicts"], r["claims"], history), flush=True)
