"""A live run's handles and a rank whose process was SIGKILLed: requests to it
fail at once with ECONNRESET until its process is back (nothing else would
answer them: a restarted process gets nothing sent to the dead one)."""

from __future__ import annotations

import asyncio
import errno
import itertools
from typing import Any

from kvs_sim.live.cluster import _ClockedBackend
from kvs_sim.rank import messages as m


class _Client:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._waiters: dict[int, Any] = {}
        self.sent: list[int] = []

    def _publish(self, ident: int, build: Any, rank: int | None) -> None:
        self.sent.append(rank if rank is not None else -1)


async def test_requests_to_a_dead_process_fail_at_once_until_it_restarts() -> None:
    client = _Client()
    backend = _ClockedBackend(client, 0.0, lambda: None)  # type: ignore[arg-type]
    got: list[Any] = []
    build = lambda c: m.GetRootReq(client=c, ns="primary")  # noqa: E731
    backend.request(3, build, got.append)  # in flight when the process dies
    backend.down.add(3)
    assert backend.fail_pending([3], errno.ECONNRESET, "the rank crashed") == 1
    backend.request(3, build, got.append)  # while it is down: not sent, failed
    await asyncio.sleep(0)
    assert [r.errnum for r in got] == [errno.ECONNRESET, errno.ECONNRESET]
    assert client.sent == [3] and not backend.pending
    backend.down.discard(3)
    backend.request(3, build, got.append)
    assert client.sent == [3, 3] and len(got) == 2
