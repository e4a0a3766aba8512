"""The checkers under faults: epochs, crashed ranks, indeterminate commits."""

from __future__ import annotations

from kvs_sim.checks import (
    check_convergence,
    check_monotonic_reads,
    check_read_validity,
    check_read_your_writes,
)
from kvs_sim.history import History, Recorder


def leader_crash_history(*, lost_read_later: bool) -> History:
    """p1 commits x=1 (v1, checkpointed) and x=2 (v2, lost in the crash); after the
    restart (epoch 1, from v1) p1 reads x at version 1 of epoch 1."""
    rec = Recorder(config={"size": 2})
    for r in (0, 1):
        rec.root(rank=r, version=0, time=0.0)
    rec.op(process="p1", rank=1, op="commit", writes={"x": 1}, version=1, invoke=0, complete=1)
    rec.op(process="p1", rank=1, op="commit", writes={"x": 2}, version=2, invoke=2, complete=3)
    rec.root(rank=0, version=2, time=2.5)
    rec.root(rank=1, version=2, time=2.6)
    crash = rec.nemesis(name="crash", start=4, ranks=[0], detail={"checkpoint": 1})
    rec.op(process="p1", rank=1, op="commit", writes={"y": 1}, invoke=4.5, complete=5,
           error="EHOSTUNREACH", indeterminate=True)  # fmt: skip
    rec.heal(crash, time=6, detail={"epoch": 1, "lost_versions": [2], "lost_ops": [1]})
    rec.root(rank=0, version=1, time=6, epoch=1)
    rec.root(rank=1, version=1, time=6.1, epoch=1)
    value = 2 if lost_read_later else 1
    rec.op(process="p1", rank=1, op="get", key="x", value=value, version=1, epoch=1,
           invoke=7, complete=7.1)  # fmt: skip
    rec.op(process="p1", rank=1, op="get", key="y", value=1, version=1, epoch=1,
           invoke=8, complete=8.1)  # fmt: skip
    return rec.history()


def test_a_leader_crash_is_judged_per_epoch_and_its_loss_is_no_violation() -> None:
    hist = leader_crash_history(lost_read_later=False)
    ryw = check_read_your_writes(hist)
    assert ryw.held and any("leader epochs" in n for n in ryw.notes)
    assert check_monotonic_reads(hist).held  # version 2 then 1 is two epochs
    assert check_read_validity(hist).held  # y=1 may have happened (indeterminate)
    assert check_convergence(hist).held


def test_reading_a_lost_version_after_the_restart_is_caught() -> None:
    hist = leader_crash_history(lost_read_later=True)
    assert check_read_validity(hist).held is False


def test_a_process_is_not_judged_across_a_crash_of_its_rank() -> None:
    rec = Recorder(config={"size": 2})
    rec.op(process="p", rank=1, op="get", key="x", value=None, error="ENOENT", version=5,
           invoke=0, complete=1)  # fmt: skip
    rec.nemesis(name="crash", start=2, end=3, ranks=[1])
    rec.op(process="p", rank=1, op="get", key="x", value=None, error="ENOENT", version=3,
           invoke=4, complete=5)  # fmt: skip
    verdict = check_monotonic_reads(rec.history())
    assert verdict.held is None  # nothing compared across the crash
    assert any("not judged across a crash" in n and "p" in n for n in verdict.notes)
    rec2 = Recorder(config={"size": 2})
    rec2.op(process="p", rank=1, op="get", key="x", error="ENOENT", version=5, invoke=0,
            complete=1)  # fmt: skip
    rec2.op(process="p", rank=1, op="get", key="x", error="ENOENT", version=3, invoke=4,
            complete=5)  # fmt: skip
    assert check_monotonic_reads(rec2.history()).held is False  # without the crash: caught
