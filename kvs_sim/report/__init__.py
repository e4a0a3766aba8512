"""Run reports in the browser: one self-contained, interactive HTML page per run.

Theory of operation
-------------------
:func:`write_reports` turns a saved run (a directory written by ``kvs-sim run``,
or a history file) into ``report.html`` files that open offline: the scenario's
story and parameters, the guarantees with their verdicts and evidence, an
interactive space-time diagram of every message and operation (WebGL, no cap;
a heatmap when too many are in view to draw one by one),
the propagation tree with a version slider, staleness and lag by depth, cache
faults and commit latency.  A scenario with variants gets one report per variant
and an index page linking them.  Clicking a violation zooms the diagram to its
operations and draws them in red.

The pieces: :mod:`._data` gathers what a page shows (no plotting);
:mod:`._spacetime` and :mod:`._panels` build the plotly figures; :mod:`._page`
lays out the HTML around them with ``report.css``, the linking script
``report.js`` and ``spacetime.js``, the diagram's level of detail over the
columns of :mod:`._columns`.  :mod:`.tracefile` saves and loads a run's message trace
(standard library only, so any run can save it).  plotly and numpy (the
``html`` extra) are imported only when a page is rendered: importing this
package costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kvs_sim.report._data import REPORT_FILE, ReportError, RunData, load_runs
from kvs_sim.report.tracefile import (
    TRACE_FILE,
    Messages,
    TraceError,
    load_messages,
    messages_from_deliveries,
    save_messages,
    save_run_trace,
)

if TYPE_CHECKING:
    from kvs_sim.history import History

__all__ = [
    "REPORT_FILE",
    "TRACE_FILE",
    "Messages",
    "ReportError",
    "RunData",
    "TraceError",
    "Written",
    "html_available",
    "load_messages",
    "load_runs",
    "messages_from_deliveries",
    "save_messages",
    "save_run_trace",
    "write_reports",
]


@dataclass(frozen=True)
class Written:
    """A page written: where, how big, and for which run (None: the index)."""

    path: Path
    size: int
    run: RunData | None


def html_available() -> str | None:
    """None if reports can be drawn here, else why not (one line)."""
    try:
        import numpy  # noqa: F401
        import plotly  # noqa: F401
    except ImportError:
        return "HTML reports need plotly and numpy: pip install 'kvs-sim[html]'"
    return None


def write_reports(
    path: str | Path,
    *,
    histories: list[History] | None = None,
    out: str | Path | None = None,
) -> list[Written]:
    """Write the report of every run saved at ``path`` (see the module docstring).

    ``histories`` are the runs' histories when the caller has them in memory;
    ``out`` is the file to write for a single run (default: ``report.html`` in
    the run's directory).  Raises :class:`ReportError` for a path holding no run,
    ValueError for ``out`` with several runs, OSError if a page cannot be written."""
    from kvs_sim.report._page import render_index, render_run

    runs = load_runs(path, histories)
    if out is not None and len(runs) > 1:
        raise ValueError(f"{path} holds {len(runs)} runs (variants): --out needs a single run")
    written = []
    for run in runs:
        target = Path(out) if out is not None else run.directory / REPORT_FILE
        written.append(_write(target, render_run(run), run))
    if len(runs) > 1:
        top = Path(path)
        links = [str(r.directory.relative_to(top) / REPORT_FILE) for r in runs]
        written.append(_write(top / REPORT_FILE, render_index(runs, links), None))
    return written


def _write(target: Path, text: str, run: RunData | None) -> Written:
    target.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    target.write_bytes(data)
    return Written(target, len(data), run)
