"""A scenario on live ranks with a nemesis schedule: every fault is inflicted on
the real processes, recorded in the history, and healed; a leader crash says
what it lost."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kvs_sim.live.broker import Broker
from kvs_sim.live.scenario import run_variant_live
from kvs_sim.scenario import load_scenario

pytestmark = pytest.mark.live

nemesis = pytest.importorskip("kvs_sim.nemesis", reason="needs the nemesis model (kvs_sim.nemesis)")

SCENARIO = """
import errno

from kvs_sim.core.flags import SYNC

CLAIMS = ("convergence",)
DEFAULTS = {"size": 4, "fanout": 2, "max_time": 30}

async def scenario(cluster, args):
    w = cluster.handle(2, name="writer")
    await w.put("k.synced", 1, flags=SYNC)
    for i in range(3):
        await w.put(f"k.v{i}", i)
    written = cluster.now
    await cluster.sleep(max(0.0, 2.5 - written))  # the leader crashes at 2 s, for 0.5 s
    unreachable = 0
    for _ in range(100):  # a put relayed to the dead leader fails: may or may not apply
        try:
            await w.put("k.after", "yes")
            break
        except OSError as e:
            # the leader's process is down: its will tells the followers at once
            # (EHOSTUNREACH, as in a simulation); ECONNRESET if it restarted meanwhile
            assert e.errno in (errno.EHOSTUNREACH, errno.ECONNRESET), e
            unreachable += e.errno == errno.EHOSTUNREACH
            await cluster.sleep(0.1)
    assert await w.get("k.after") == "yes"
    assert await w.get("k.synced") == 1
    await cluster.sleep(max(0.0, 4.5 - cluster.now))  # partition and pause come and go
    return {"findings": {"written": written, "unreachable": unreachable}}
"""


def test_a_schedule_is_inflicted_recorded_and_healed(broker: Broker, tmp_path: Path) -> None:
    path = tmp_path / "faulty.py"
    path.write_text(textwrap.dedent(SCENARIO))
    schedule = [
        nemesis.at(2.0, nemesis.Crash(rank=0), 0.5),
        nemesis.at(3.6, nemesis.Partition(ranks=(3,)), 0.3),
        nemesis.at(3.7, nemesis.Pause(rank=2), 0.3),
    ]
    run = run_variant_live(
        load_scenario(path), {}, broker_url=broker.url, nemeses=schedule, checkpoint_period=60
    )
    h = run.history
    names = [(n.name, n.ranks) for n in h.nemeses]
    assert names == [("crash", (0,)), ("partition", (3,)), ("pause", (2,))]
    assert all(n.end is not None and n.end > n.start for n in h.nemeses)
    crash = h.nemeses[0]
    assert crash.detail["checkpoint"] == 1 and crash.detail["epoch"] == 1
    assert crash.detail["lost_versions"] == [2, 3, 4]
    before = [o for o in h.ops if o.complete is not None and o.complete <= crash.start]
    lost = {o.id for o in before if o.op == "commit" and o.ok and o.version in (2, 3, 4)}
    assert set(crash.detail["lost_ops"]) == lost and len(lost) == 3
    # Every rank ends on the restarted leader's last root (epoch 1: version 2).
    last = {r.rank: r.version for r in sorted(h.roots, key=lambda e: e.time)}
    assert last == {r: 2 for r in range(4)}, last
    assert run.findings["written"] < 2.0  # the first writes were done before the crash
    assert run.findings["unreachable"] >= 1  # failed at once while the leader was down
