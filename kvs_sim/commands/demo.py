"""``kvs-sim demo [NAME]``: list the teaching demos, or tell one in the terminal.

Each demo (:mod:`kvs_sim.demo.catalog`) runs on a small simulated cluster in
virtual time and pauses for Enter between steps; ``--auto`` runs straight through
(as the tests and a piped terminal do).  Exit 0 when the demo ran, 2 for an
unknown name.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand to the ``kvs-sim`` parser."""
    p = subparsers.add_parser(
        "demo",
        help="narrated teaching demos in the terminal",
        description="Without NAME: list the demos.  With NAME: run it step by step, "
        "pausing for Enter (or straight through with --auto).",
    )
    p.add_argument("name", nargs="?", help="the demo to run (omit to list them)")
    p.add_argument("--auto", action="store_true", help="do not pause between steps")
    p.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from kvs_sim.demo import DEMOS, Narrator

    console = Console()
    if args.name is None:
        console.print("[bold]Demos[/bold] (run one with: kvs-sim demo NAME [--auto])")
        for name, (title, _) in DEMOS.items():
            console.print(f"  [cyan]{name:<10}[/cyan] {title}")
        return 0
    if args.name not in DEMOS:
        known = ", ".join(DEMOS)
        print(f"kvs-sim demo: no demo named {args.name!r} (known: {known})", file=sys.stderr)
        return 2
    _, demo = DEMOS[args.name]
    demo(Narrator(console, auto=args.auto), args.seed)
    return 0
