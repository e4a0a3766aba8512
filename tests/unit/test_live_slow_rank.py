"""A slow rank in a live process stays busy (factor - 1) times each message's
modelled service time, whatever the event loop's timer granularity (uvloop fires
sub-millisecond delays at once; asyncio's wait at least a millisecond)."""

from __future__ import annotations

import asyncio
import time

import pytest

from kvs_sim.live.faults import FaultFilter
from kvs_sim.overlay import Overlay

uvloop = pytest.importorskip("uvloop")

SERVICE = 0.0002  # modelled seconds per message
FACTOR = 3.0  # busy 2 x 0.2 ms = 0.4 ms after each message: under a millisecond
MESSAGES = 25


async def _drain(faults: FaultFilter) -> tuple[float, int]:
    meter = {1: 0.0}
    faults.service = lambda rank: meter[rank]
    handled: list[float] = []
    done = asyncio.get_running_loop().create_future()

    def handle() -> None:
        meter[1] += SERVICE
        handled.append(time.monotonic())
        if len(handled) == MESSAGES:
            done.set_result(None)

    t0 = time.monotonic()
    for _ in range(MESSAGES):
        assert faults.arriving(1, object(), handle)
    await asyncio.wait_for(done, 5)
    return handled[-1] - t0, len(handled)


@pytest.mark.parametrize("make_loop", [asyncio.new_event_loop, uvloop.new_event_loop])
def test_a_slow_rank_is_busy_for_its_modelled_time(make_loop: object) -> None:
    faults = FaultFilter(Overlay.kary(3, 2))
    faults.update([{"name": "slow", "ranks": [1], "factor": FACTOR}])
    loop = make_loop()  # type: ignore[operator]
    try:
        took, n = loop.run_until_complete(_drain(faults))
    finally:
        loop.close()
    assert n == MESSAGES
    # 24 rests of 0.4 ms between the 25 messages, at least
    assert took >= (MESSAGES - 1) * (FACTOR - 1.0) * SERVICE
