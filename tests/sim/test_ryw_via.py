"""RankConfig.ryw_via: read-your-writes by the setroot (Flux today) or by the root
carried on the commit response (the older design)."""

from __future__ import annotations

import pytest

from kvs_sim.rank import RankConfig
from kvs_sim.sim.cluster import Cluster


def commit_from_the_deepest(ryw_via: str, forward_cost: float) -> tuple[float, int, int, object]:
    c = Cluster(
        15, 2, seed=3, forward_cost=forward_cost, config=RankConfig(ryw_via=ryw_via), record=True
    )
    writer = c.handle(14)
    t0 = c.now
    resp = c.wait(writer.put("x", "new"))
    latency = c.now - t0
    value = c.wait(writer.get("x"))
    return latency, resp["seq"], c.version(14), value


@pytest.mark.parametrize("ryw_via", ["setroot", "response"])
def test_the_committer_reads_its_write_either_way(ryw_via: str) -> None:
    _, _, version, value = commit_from_the_deepest(ryw_via, 0.0)
    assert value == "new"
    assert version == 1


def test_the_response_path_skips_the_wait_for_the_event() -> None:
    # Forwarding the event costs 50 us per copy at each of the 3 inner ranks on the
    # way down: the setroot reaches rank 14 well after the commit response does.
    slow, *_ = commit_from_the_deepest("setroot", 50e-6)
    fast, *_ = commit_from_the_deepest("response", 50e-6)
    assert fast < slow - 100e-6


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="ryw_via must be one of setroot, response"):
        RankConfig(ryw_via="later")


def test_a_merged_batch_and_watches_still_see_every_version() -> None:
    c = Cluster(7, 2, seed=1, config=RankConfig(ryw_via="response"), record=True)
    watcher = c.handle(6).watch("k")
    writers = [c.handle(r) for r in (3, 4, 5, 6)]
    futures = [w.put("k", i) for i, w in enumerate(writers)]
    for f in futures:
        c.wait(f)
    for w in writers:
        assert c.wait(w.get("k")) in range(4)
        assert c.version(w.rank) >= 1
    c.run(until=c.now + 0.01)
    assert all(c.version(r) == c.version(0) for r in range(7))
    c.wait(watcher.cancel())
