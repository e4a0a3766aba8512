"""``kvs-sim report RUN_DIR``: an interactive HTML report of a saved run.

Theory of operation
-------------------
A thin shell over :func:`kvs_sim.report.write_reports`: RUN_DIR is a directory
written by ``kvs-sim run`` (``summary.json``, ``history.jsonl`` and, when the run
kept its messages, ``trace.json.gz``; variants in subdirectories), or a bare
history file, which is checked here.  Each run gets ``report.html`` in its
directory (a scenario with variants also an index page at the top); the command
prints every page written and its size.  ``kvs-sim run --html`` writes the same
pages through :func:`print_written` and the same function.

Exit codes: 0 the report was written (whatever the verdicts: it shows them);
2 RUN_DIR holds no run or a file there cannot be read, or plotly is missing;
4 a page could not be written.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

PROG = "kvs-sim report"


def register(subparsers: Any) -> None:
    """Add the ``report`` subcommand to the ``kvs-sim`` parser."""
    p = subparsers.add_parser(
        "report",
        help="write an interactive HTML report of a saved run",
        description="Write report.html for a run saved by kvs-sim run (RUN_DIR with "
        "summary.json and history.jsonl) or for a history file: one self-contained page "
        "that opens offline.  Exit 0 when written, 2 for bad input, 4 if it cannot be written.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory, or a history .jsonl")
    p.add_argument("--out", metavar="FILE", help="where to write (a single run only)")
    p.set_defaults(func=run)


def size_text(n: int) -> str:
    """``812 kB``, ``5.3 MB``."""
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{max(1, round(n / 1e3))} kB"


def print_written(written: list[Any], file: Any = None) -> None:
    """One line per page written, with its size."""
    out = file or sys.stdout
    for w in written:
        what = "index " if w.run is None else "report"
        print(f"  {what}  {w.path} ({size_text(w.size)})", file=out)


def run(args: argparse.Namespace) -> int:
    """Write the report; return the exit code described in the module docstring."""
    from kvs_sim.report import ReportError, html_available, write_reports

    missing = html_available()
    if missing:
        print(f"{PROG}: {missing}", file=sys.stderr)
        return 2
    try:
        written = write_reports(args.run_dir, out=args.out)
    except ReportError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: cannot write the report: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 4
    print("Wrote:")
    print_written(written)
    return 0
