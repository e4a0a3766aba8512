"""``kvs-sim check HISTORY.jsonl``: run every checker and the metrics over a history.

Theory of operation
-------------------
The command is a thin shell over :mod:`kvs_sim.history`, :mod:`kvs_sim.checks` and
:mod:`kvs_sim.metrics`: load the history, run :func:`~kvs_sim.checks.check_all`,
compute the metrics, print.  The exit code is the contract scripts and CI rely on:

* 0: every guarantee the history's header claims held (or had nothing to check);
* 1: at least one claimed guarantee was violated (unclaimed ones never fail);
* 2: the history could not be used (missing, unreadable, invalid): one line on
  stderr naming the file, the line and the reason, and no traceback.

``--json`` prints one JSON object instead of tables: ``{"history", "claims",
"violated_claims", "unknown_claims", "ok", "verdicts", "metrics"}`` (metrics
without their per-sample lists, which belong in a notebook, not a terminal).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``check`` subcommand to the ``kvs-sim`` parser."""
    p = subparsers.add_parser(
        "check",
        help="check a recorded history against its claimed guarantees",
        description="Check a history (JSON Lines, see docs/history-format.md): every "
        "guarantee with its evidence, and metrics.  Exit 0 if every claimed guarantee "
        "held, 1 if one was violated, 2 if the history cannot be read.",
    )
    p.add_argument("history", help="history file (.jsonl)")
    p.add_argument("--json", action="store_true", help="print verdicts and metrics as JSON")
    p.set_defaults(func=run)


def _without_samples(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {k: v for k, v in m.items() if k != "samples"} if isinstance(m, dict) else m
        for name, m in metrics.items()
    }


def run(args: argparse.Namespace) -> int:
    """Load, check, print; return the exit code described in the module docstring."""
    from kvs_sim.checks import check_all, violated_claims
    from kvs_sim.history import HistoryError, load
    from kvs_sim.metrics import compute_metrics

    try:
        history = load(args.history)
    except HistoryError as e:
        print(f"kvs-sim check: {e}", file=sys.stderr)
        return 2
    claims = list(history.header.claims)
    verdicts = check_all(history)
    metrics = compute_metrics(history)
    broken = violated_claims(verdicts, claims)
    try:
        _print(
            args=args,
            history=history,
            claims=claims,
            broken=broken,
            verdicts=verdicts,
            metrics=metrics,
        )
    except BrokenPipeError:  # `kvs-sim check h.jsonl | head`: the verdict still counts
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1 if broken else 0


def _print(
    *,
    args: argparse.Namespace,
    history: Any,
    claims: list[str],
    broken: list[str],
    verdicts: list[Any],
    metrics: dict[str, Any],
) -> None:
    from kvs_sim.checks import render_verdicts, unknown_claims
    from kvs_sim.metrics import render_tables

    if args.json:
        doc = {
            "history": args.history,
            "claims": claims,
            "violated_claims": broken,
            "unknown_claims": unknown_claims(claims),
            "ok": not broken,
            "verdicts": [v.to_dict() for v in verdicts],
            "metrics": _without_samples(metrics),
        }
        print(json.dumps(doc, indent=2))
    else:
        from rich.console import Console

        console = Console(file=sys.stdout)
        seed = history.header.seed
        console.print(
            f"[bold]{args.history}[/bold]: {len(history.ops)} ops, {len(history.roots)} root "
            f"records, seed {seed if seed is not None else 'none'}",
            highlight=False,
        )
        for item in render_verdicts(verdicts, claims, history):
            console.print(item)
        for table in render_tables(metrics):
            console.print(table)
