"""A lookup stalled on a missing object resumes at the root it started from (as
Flux replays a stalled lookup with its handle), so a writer that keeps moving the
root cannot starve a reader on a rank whose cache is cold for every new root."""

from __future__ import annotations

from kvs_sim import Cluster


def test_a_busy_writer_does_not_starve_a_far_reader() -> None:
    c = Cluster(size=15, fanout=2, seed=1, latency="const:100us", record=True)
    writer, reader = c.handle(1, name="writer"), c.handle(14, name="reader")
    c.wait(writer.put("x", 0))
    c.run(duration=0.01)
    done = False

    async def write() -> None:
        nonlocal done
        for i in range(1, 101):
            await writer.put("x", i)
            await c.sleep(2e-4)
        done = True

    async def read() -> list[float]:
        took = []
        while not done:
            t = c.now
            await reader.get("x")
            took.append(c.now - t)
            await c.sleep(1e-4)
        return took

    c.spawn(write())
    reads = c.spawn(read())
    c.run()
    took = c.wait(reads)
    # Each read faults a few objects three hops up and back: about a millisecond.
    # Restarting at the newest root after every fault made reads wait until the
    # writer stopped (over 60 ms here).
    assert len(took) > 30
    assert max(took) < 2e-3
    assert c.recorder is not None
    gets = [o for o in c.recorder.history().ops if o.op == "get" and o.process == "reader"]
    assert all(o.ok and o.version is not None for o in gets)
