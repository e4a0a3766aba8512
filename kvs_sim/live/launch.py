"""Launch a live cluster as ``kvs-sim up`` processes (for tests and benchmarks).

Theory of operation
-------------------
:class:`UpCluster` starts one ``python -m kvs_sim up`` process per group of
ranks, all on one broker and cluster name, and waits until each has printed its
``ready`` line (its ranks have started).  Groups can be restarted one at a time,
killed (SIGKILL, as a crash) or stopped (SIGTERM, a clean exit), which is how the
live tests exercise a rank that leaves and rejoins.  Every wait is bounded.
"""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from types import TracebackType

from kvs_sim.live.ranks import format_ranks, parse_ranks


def spawn_up(
    url: str,
    cluster: str,
    size: int,
    ranks: str,
    *,
    fanout: int = 2,
    extra: Iterable[str] = (),
    cwd: str | None = None,
) -> subprocess.Popen[str]:
    """Start ``kvs-sim up`` for ``ranks`` (a spec like ``0-2,5``) in ``cwd``."""
    cmd = [
        sys.executable, "-m", "kvs_sim", "up", "--size", str(size), "--fanout", str(fanout),
        "--broker", url, "--cluster", cluster, "--ranks", ranks, *extra,
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)


def wait_ready(procs: Iterable[subprocess.Popen[str]], timeout: float = 20.0) -> None:
    """Block until every process printed its ``ready`` line (RuntimeError if not)."""
    sel = selectors.DefaultSelector()
    pending = set()
    for p in procs:
        assert p.stdout is not None
        sel.register(p.stdout, selectors.EVENT_READ, p)
        pending.add(p)
    deadline = time.monotonic() + timeout
    try:
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(
                    f"{len(pending)} 'kvs-sim up' processes not ready in {timeout} s"
                )
            for key, _ in sel.select(left):
                p = key.data
                line = p.stdout.readline()
                if not line:
                    p.wait(5)
                    err = p.stderr.read().strip() if p.stderr else ""
                    raise RuntimeError(f"kvs-sim up exited with {p.returncode}: {err}")
                if "ready" in line:
                    pending.discard(p)
                    sel.unregister(p.stdout)
    finally:
        sel.close()


def stop(p: subprocess.Popen[str], timeout: float = 10.0) -> None:
    """SIGTERM (a clean shutdown), SIGKILL after ``timeout``."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for f in (p.stdout, p.stderr):
        if f is not None:
            f.close()


class UpCluster:
    """``with UpCluster(url, 8, {"a": "0-2", "b": "3-7"}) as c: ...``

    Rank 0 keeps its content in ``statedir``; unless one is given (or ``cwd``,
    where ``up`` makes its default one, or ``--statedir``/``--store``/
    ``--no-statedir`` in ``extra``) a private temporary directory is used and
    removed by :meth:`close`."""

    def __init__(
        self,
        url: str,
        size: int,
        groups: Mapping[str, str] | None = None,
        *,
        fanout: int = 2,
        cluster: str | None = None,
        extra: Iterable[str] = (),
        timeout: float = 20.0,
        statedir: str | None = None,
        cwd: str | None = None,
    ) -> None:
        self.url = url
        self.size = size
        self.fanout = fanout
        self.name = cluster or "c" + uuid.uuid4().hex[:8]
        self.groups = dict(groups or {"all": format_ranks(range(size))})
        self.extra = list(extra)
        self.timeout = timeout
        self.procs: dict[str, subprocess.Popen[str]] = {}
        self._statedir: tempfile.TemporaryDirectory[str] | None = None
        self.cwd = cwd
        if (
            statedir is None
            and cwd is None
            and not any(
                a.startswith(("--statedir", "--store", "--no-statedir")) for a in self.extra
            )
        ):
            self._statedir = tempfile.TemporaryDirectory(prefix="kvs-sim-state-")
            statedir = self._statedir.name
        self.statedir = statedir
        """Rank 0's state directory (a private temporary one unless given)."""

    def _spawn(self, group: str) -> subprocess.Popen[str]:
        extra = self.extra if self.statedir is None else [*self.extra, "--statedir", self.statedir]
        return spawn_up(
            self.url,
            self.name,
            self.size,
            self.groups[group],
            fanout=self.fanout,
            extra=extra,
            cwd=self.cwd,
        )

    def start(self) -> UpCluster:
        try:
            self.procs = {g: self._spawn(g) for g in self.groups}
            wait_ready(self.procs.values(), self.timeout)
        except BaseException:
            self.close()
            raise
        return self

    def restart(self, group: str, *, kill: bool = True) -> None:
        """Kill (SIGKILL) or stop (SIGTERM) one group's process and start it again."""
        if kill:
            self.kill(group)
        stop(self.procs[group])
        self.start_group(group)

    def group_of(self, rank: int) -> str:
        """The group whose process hosts ``rank``."""
        for g, spec in self.groups.items():
            if rank in parse_ranks(spec, self.size):
                return g
        raise KeyError(f"no group hosts rank {rank}")

    def kill(self, group: str) -> None:
        """SIGKILL one group's process (a crash) and reap it."""
        p = self.procs[group]
        p.kill()
        p.wait()
        stop(p)

    def start_group(self, group: str) -> None:
        """Start one group's process (again) and wait until it is ready."""
        self.procs[group] = self._spawn(group)
        wait_ready([self.procs[group]], self.timeout)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs.values())

    def close(self) -> None:
        for p in self.procs.values():
            stop(p)
        if self._statedir is not None:
            self._statedir.cleanup()
            self._statedir = None

    def __enter__(self) -> UpCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
