"""t-visibility and k-staleness (PBS) from a history's root and op records."""

from __future__ import annotations

import math

from kvs_sim.history import Recorder
from kvs_sim.metrics import k_staleness, t_visibility, visibility_delays


def history() -> object:
    # rank 0 -> 1 -> 2 -> 3 (a chain: depths 0..3); the writer is on rank 1.
    rec = Recorder(seed=0, config={"size": 4, "fanout": 1, "depth": [0, 1, 2, 3]})
    for r in range(4):
        rec.root(rank=r, version=0, time=0.0)
    c = rec.invoke(process="w", rank=1, op="commit", writes={"x": 1}, time=1.0)
    rec.root(rank=0, version=1, time=1.0001)
    rec.root(rank=1, version=1, time=1.0002)
    rec.complete(c, time=1.0003, version=1, reported_version=0)
    rec.root(rank=2, version=1, time=1.0004)  # 0.1 ms after the commit returned
    # rank 3 never gets version 1 but jumps to 2 later (a newer version counts)
    c2 = rec.invoke(process="w", rank=1, op="commit", writes={"x": 2}, time=1.001)
    rec.root(rank=0, version=2, time=1.0011)
    rec.root(rank=1, version=2, time=1.0012)
    rec.complete(c2, time=1.0013, version=2, reported_version=1)
    rec.root(rank=3, version=2, time=1.0030)
    rec.root(rank=2, version=2, time=1.0014)
    rec.op(process="r", rank=3, op="get", key="x", value=None, version=0, invoke=1.0015,
           complete=1.0016, ok=False, error="ENOENT")  # fmt: skip
    rec.op(process="r", rank=3, op="get", key="x", value=2, version=2, invoke=1.0031,
           complete=1.0032)  # fmt: skip
    return rec.history()


def test_delays_by_depth_leave_out_the_committing_rank() -> None:
    d = visibility_delays(history())  # type: ignore[arg-type]
    assert sorted(d) == [0, 2, 3]  # depth 1 is the writer's own rank
    assert d[0] == [0.0, 0.0]  # rank 0 had both versions before the commits returned
    assert [round(x, 6) for x in d[2]] == [0.0001, 0.0001]
    # version 1 reached rank 3 only as version 2, at 1.0030: 2.7 ms after commit 1
    assert [round(x, 6) for x in d[3]] == [0.0027, 0.0017]


def test_t_visibility_rows() -> None:
    rows = {(r["depth"], r["t"]): r for r in t_visibility(history(), (0.0, 1e-4, 2e-3, 3e-3))}  # type: ignore[arg-type]
    assert rows[(2, 0.0)]["p"] == 0.0
    assert math.isclose(rows[(2, 1e-4)]["p"], 1.0)
    assert rows[(3, 2e-3)]["p"] == 0.5 and rows[(3, 2e-3)]["n"] == 2
    assert rows[(3, 3e-3)]["p"] == 1.0


def test_k_staleness_rows() -> None:
    rows = {(r["depth"], r["k"]): r["p"] for r in k_staleness(history(), (0, 1, 2))}  # type: ignore[arg-type]
    # the first read was 2 versions behind, the second was current
    assert rows == {(3, 0): 0.5, (3, 1): 0.5, (3, 2): 1.0}
