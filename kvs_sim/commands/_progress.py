"""The progress bar of ``kvs-sim run``.

Theory of operation
-------------------
A rich progress bar appears on a terminal only, and only once a run has taken
half a second of wall time.  It reads the run's counters (client replies, the
cluster's clock) from rich's refresh thread: the run itself is never paused or
sliced, so showing progress cannot change a simulation.
"""

from __future__ import annotations

import sys
import threading
from typing import Any


class RunProgress:
    """A rich progress bar for one run, shown on a terminal only, and only once the
    run has taken ``delay`` seconds of wall time (short runs print nothing).

    It reads the run's counters (client replies, virtual time) at each refresh,
    from rich's refresh thread: the simulation itself is never paused or sliced,
    so showing progress cannot change a run."""

    def __init__(self, label: str, delay: float = 0.5) -> None:
        self.label = label
        self.delay = delay
        self.cluster: Any = None
        self.args: Any = None
        self.trace: Any = None
        self._progress: Any = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._closed = False

    def attach(self, cluster: Any, args: Any, trace: Any) -> None:
        self.cluster, self.args, self.trace = cluster, args, trace

    def __enter__(self) -> RunProgress:
        from rich.console import Console

        console = Console(file=sys.stderr)
        if console.is_terminal:
            self._timer = threading.Timer(self.delay, self._start, (console,))
            self._timer.daemon = True
            self._timer.start()
        return self

    def _start(self, console: Any) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with self._lock:
            if self._closed:
                return
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                _live_column(self, bar=True),
                _live_column(self, bar=False),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            self._progress.add_task(self.label, total=None)
            self._progress.start()

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._progress is not None:
                self._progress.stop()


def _live_column(state: RunProgress, bar: bool) -> Any:
    """A rich column rendering the bar (ops done of ops expected) or the counters,
    read live at each refresh (defined here so rich.progress loads only when used)."""
    from rich.progress import ProgressColumn
    from rich.progress_bar import ProgressBar
    from rich.text import Text

    class LiveColumn(ProgressColumn):
        def render(self, task: Any) -> Any:
            done = state.trace.replies if state.trace is not None else 0
            total = state.args.expected_ops if state.args is not None else None
            if bar:
                if total:
                    return ProgressBar(total=total, completed=min(done, total), width=20)
                return ProgressBar(total=None, pulse=True, width=20)
            now = state.cluster.now if state.cluster is not None else 0.0
            of = f"/{total}" if total else ""
            return Text(f"{done}{of} ops, virtual t={1e3 * now:.1f} ms")

    return LiveColumn()
