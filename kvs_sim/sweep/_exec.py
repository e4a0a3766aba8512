"""Running a sweep's jobs on Dask: a local cluster of processes, or a scheduler.

Theory of operation
-------------------
Sweeps go to an existing engine, Dask distributed, never a home-made one.
:func:`client` opens a ``distributed.Client``: on a ``LocalCluster`` of worker
processes (one thread each: the simulator is pure Python, so processes, not
threads, use the cores) by default, or on the scheduler at ``--scheduler
tcp://HOST:8786``, which must be reachable within a few seconds (else one
line, :class:`SweepError`).  :func:`execute` submits every job, and hands each
result to ``on_result`` as it completes (the caller saves it at once); a job
whose worker died is reported as a failed run, and the sweep goes on.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from kvs_sim.sweep._grid import Job, SweepError
from kvs_sim.sweep._job import empty_row, run_job

CONNECT_TIMEOUT = "5s"


@contextlib.contextmanager
def client(
    workers: int | None = None, scheduler: str | None = None, existing: Any = None
) -> Iterator[Any]:
    """A Dask client (see the module doc); ``existing`` is used as it is."""
    if existing is not None:
        yield existing
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SweepError("sweeps need dask[distributed]: pip install 'kvs-sim[sweep]'") from None
    if scheduler is not None:
        try:
            c = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise SweepError(
                f"cannot reach the Dask scheduler at {scheduler}: {e.__class__.__name__}: {e}"
            ) from None
        with c:
            yield c
        return
    n = workers or os.cpu_count() or 1
    # Shutting a local cluster down on a loaded machine makes its heartbeats log
    # tracebacks about closed connections; they say nothing about the sweep.
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        )
        with cluster, Client(cluster) as c:
            yield c
    finally:
        quiet.setLevel(level)


def execute(dask_client: Any, jobs: list[Job], on_result: Callable[[dict[str, Any]], None]) -> None:
    """Run ``jobs`` on the client's workers; ``on_result(result)`` for each one."""
    from distributed import as_completed

    if not jobs:
        return
    futures = {
        dask_client.submit(run_job, job, key=f"kvs-sim-{job.run_id}", pure=False): job
        for job in jobs
    }
    for future in as_completed(list(futures)):
        job = futures[future]
        try:
            result = future.result()
        except Exception as e:  # the worker died or the task could not run
            result = {
                **empty_row(job),
                "status": "failed",
                "error": f"the worker could not run it: {type(e).__name__}: {e}",
                "lost": True,
            }
        on_result(result)
        future.release()
