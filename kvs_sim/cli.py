"""The ``kvs-sim`` command line: a thin dispatcher over ``kvs_sim.commands``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from kvs_sim import __version__
from kvs_sim.commands import COMMAND_MODULES
from kvs_sim.live.eventloop import EventLoopError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvs-sim",
        description="Simulate the Flux KVS: scenarios in virtual time, checkers, live MQTT ranks.",
    )
    parser.add_argument("--version", action="version", version=f"kvs-sim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        modname = f"kvs_sim.commands.{name}"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("kvs-sim: interrupted", file=sys.stderr)
        return 130
    except EventLoopError as exc:
        print(f"kvs-sim: {exc}", file=sys.stderr)
        return 2
