"""Checkers on hand-made histories: each violation caught with its evidence, no false alarms."""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvs_sim import checks
from kvs_sim.checks import (
    check_all,
    check_causal,
    check_convergence,
    check_monotonic_reads,
    check_monotonic_writes,
    check_read_validity,
    check_read_your_writes,
    check_writes_follow_reads,
    report,
    violated_claims,
)
from kvs_sim.history import History, Op, Recorder, from_lines, to_lines

# ---------------------------------------------------------------------------
# A tiny vocabulary for writing histories by hand


class H:
    """Recorder shorthands: ``commit``, ``get``, ``send``... each returns the op id."""

    def __init__(self, size: int = 4, claims: tuple[str, ...] = ()) -> None:
        self.rec = Recorder(seed=1, config={"size": size, "fanout": 2}, claims=claims)

    def commit(self, p: str, rank: int, at: float, done: float, version: int, **writes: Any) -> int:
        reported = version if rank == 0 else version - 1
        return self.rec.op(
            process=p,
            rank=rank,
            op="commit",
            writes=writes,
            invoke=at,
            complete=done,
            version=version,
            reported_version=reported,
        )

    def get(  # noqa: PLR0917 (positional on purpose: histories read as tables)
        self, p: str, rank: int, at: float, done: float, key: str, value: Any, version: int
    ) -> int:
        return self.rec.op(
            process=p,
            rank=rank,
            op="get",
            key=key,
            value=value,
            version=version,
            invoke=at,
            complete=done,
        )

    def enoent(self, p: str, rank: int, at: float, key: str, version: int) -> int:
        return self.rec.op(
            process=p,
            rank=rank,
            op="get",
            key=key,
            version=version,
            invoke=at,
            complete=at + 0.01,
            error="ENOENT",
        )

    def simple(self, p: str, rank: int, op: str, at: float, done: float, **kw: Any) -> int:
        return self.rec.op(process=p, rank=rank, op=op, invoke=at, complete=done, **kw)

    def roots(self, version: int, created: float, *ranks_at: tuple[int, float]) -> None:
        self.rec.root(rank=0, version=version, time=created)
        for rank, t in ranks_at:
            self.rec.root(rank=rank, version=version, time=t)

    def history(self) -> History:
        return self.rec.history()


def off_by_one_handoff(pass_reported: bool) -> tuple[History, dict[str, int]]:
    """The reference's example: writer on rank 3, reader on rank 1 (Flux 0.88).

    x="old" is version 4.  p1 on rank 3 commits x="new": version 5, reported 4.  p1
    hands a version to p2 on rank 1, which waits for it and reads x.  Rank 1 applies
    version 5 late (t=3.0), so waiting for 4 returns at once and reads "old".
    """
    h = H(size=4, claims=("read-your-writes", "causal", "convergence"))
    ids: dict[str, int] = {}
    for v in (1, 2, 3):
        h.commit("p0", 0, v * 0.1, v * 0.1 + 0.01, v, **{f"k{v}": v})
        h.roots(v, v * 0.1 + 0.005, (1, v * 0.1 + 0.02), (2, v * 0.1 + 0.02), (3, v * 0.1 + 0.03))
    ids["old"] = h.commit("p0", 0, 0.5, 0.51, 4, x="old")
    h.roots(4, 0.505, (1, 0.52), (2, 0.52), (3, 0.53))
    ids["commit"] = h.commit("p1", 3, 1.0, 1.2, 5, x="new")
    h.roots(5, 1.1, (3, 1.15), (2, 1.5), (1, 3.0))
    if pass_reported:
        passed = 4
    else:
        passed = 5
        ids["get_version"] = h.simple("p1", 3, "get_version", 1.21, 1.22, version=5)
    ids["send"] = h.simple("p1", 3, "send", 1.3, 1.3, token="t1", value=passed)
    ids["recv"] = h.simple("p2", 1, "recv", 1.3, 1.4, token="t1", value=passed)
    wait_done = 1.5 if pass_reported else 3.0
    ids["wait"] = h.simple("p2", 1, "wait_version", 1.5, wait_done, version=passed)
    value, version = ("old", 4) if pass_reported else ("new", 5)
    ids["read"] = h.get("p2", 1, wait_done + 0.1, wait_done + 0.2, "x", value, version)
    return h.history(), ids


# ---------------------------------------------------------------------------


def test_public_surface_is_pinned() -> None:
    assert sorted(checks.__all__) == sorted(
        [
            "BOUNDED_CLAIMS",
            "CHECKERS",
            "ValueModel",
            "Verdict",
            "Violation",
            "check_all",
            "check_causal",
            "check_keys",
            "check_linearizable",
            "check_sequential",
            "check_staleness",
            "claim_checker",
            "claim_error",
            "key_staleness",
            "undecided_claims",
            "check_convergence",
            "check_monotonic_reads",
            "check_monotonic_writes",
            "check_read_validity",
            "check_read_your_writes",
            "check_writes_follow_reads",
            "describe",
            "render_verdicts",
            "report",
            "run_checker",
            "unknown_claims",
            "verdict_word",
            "violated_claims",
        ]
    )
    assert list(checks.CHECKERS) == [
        "read-your-writes",
        "monotonic-reads",
        "monotonic-writes",
        "writes-follow-reads",
        "causal",
        "read-validity",
        "convergence",
        "linearizable",
        "sequential",
    ]


def test_empty_history_has_nothing_to_check() -> None:
    for v in check_all(H().history()):
        assert v.held is None and v.checked == 0 and not v.violations


# -- the follower off-by-one hand-off ------------------------------------------


def test_off_by_one_handoff_breaks_causality_with_the_chain_as_evidence() -> None:
    hist, ids = off_by_one_handoff(pass_reported=True)
    v = check_causal(hist)
    assert v.held is False and v.checked == 1
    (bad,) = v.violations
    assert bad.ops == (ids["commit"], ids["send"], ids["recv"], ids["read"])
    assert bad.summary == (
        'p2 read x="old" at version 4 on rank 1 after a hand-off p1 -> p2 (token t1, passing '
        'version 4), but p1\'s commit of x="new" had produced version 5 on rank 3 before it '
        f"(the commit reported version 4); p2 had waited for version 4 (#{ids['wait']})"
    )
    # everything else about this history is fine
    others = {x.guarantee: x.held for x in check_all(hist) if x.guarantee != "causal"}
    # p2's stale read after p1's commit completed: sequential (the version order is
    # a witness) but not linearizable
    assert others.pop("linearizable") is False
    assert others.pop("sequential") is True
    assert others == {
        "read-your-writes": None,
        "monotonic-reads": True,
        "monotonic-writes": True,
        "writes-follow-reads": None,
        "read-validity": True,
        "convergence": True,
    }
    assert violated_claims(check_all(hist), hist.header.claims) == ["causal"]


def test_handing_off_get_version_after_the_commit_is_causal() -> None:
    hist, _ = off_by_one_handoff(pass_reported=False)
    verdicts = check_all(hist)
    assert all(v.held is not False for v in verdicts), report(verdicts, (), hist)
    assert check_causal(hist).held is True
    assert check_causal(hist).checked == 1


# -- read-your-writes -------------------------------------------------------------


def test_read_your_writes_violation_names_commit_and_read() -> None:
    h = H()
    c = h.commit("p1", 2, 0.0, 1.0, 4, x=2)
    r = h.get("p1", 2, 1.1, 1.2, "x", 1, 3)
    v = check_read_your_writes(h.history())
    assert v.held is False and v.checked == 1
    (bad,) = v.violations
    assert bad.ops == (c, r)
    assert bad.summary == (
        "p1 read x=1 at version 3 on rank 2 after its own commit of x=2 produced version 4 "
        "on rank 2"
    )


def test_read_your_writes_wrong_value_at_a_new_enough_version() -> None:
    h = H()
    c = h.commit("p1", 2, 0.0, 1.0, 4, x=2)
    r = h.get("p1", 2, 1.1, 1.2, "x", 7, 4)
    (bad,) = check_read_your_writes(h.history()).violations
    assert bad.ops == (c, r)
    assert "no commit between versions 4 and 4 wrote 7" in bad.summary


def test_read_your_writes_accepts_later_writes_and_ignores_what_it_does_not_cover() -> None:
    h = H()
    h.commit("p1", 2, 0.0, 1.0, 4, x=2)
    h.commit("p2", 1, 0.5, 1.5, 5, x=3)
    h.get("p1", 2, 1.6, 1.7, "x", 3, 5)  # a later write by someone else: fine
    h.get("p1", 2, 1.1, 1.2, "x", 2, 4)  # its own value: fine
    h.get("p1", 1, 1.1, 1.2, "x", 1, 3)  # another rank: not covered
    h.get("p1", 2, 0.5, 1.2, "x", 1, 3)  # overlaps the commit: not covered
    h.get("p1", 2, 1.1, 1.2, "y", 1, 3)  # another key: not covered
    v = check_read_your_writes(h.history())
    assert v.held is True and v.checked == 2


def test_read_your_writes_through_a_parent_directory() -> None:
    h = H()
    h.commit("p1", 1, 0.0, 1.0, 2, **{"a.b": 1})
    h.commit("p1", 1, 1.0, 2.0, 3, a=None)
    h.enoent("p1", 1, 2.5, "a.b", 3)
    h.get("p1", 1, 2.6, 2.7, "a.b", 1, 2)
    v = check_read_your_writes(h.history())
    assert v.checked == 2
    (bad,) = v.violations
    assert "a.b=1 at version 2" in bad.summary and "a unlinked" in bad.summary


# -- monotonic reads ----------------------------------------------------------------


def test_monotonic_reads_violation_and_non_cases() -> None:
    h = H()
    a = h.get("p1", 1, 1.0, 2.0, "x", 1, 5)
    b = h.get("p1", 1, 3.0, 4.0, "y", 1, 3)
    h.get("p1", 1, 1.5, 2.5, "y", 1, 2)  # overlaps a: unordered, fine
    h.get("p1", 2, 5.0, 6.0, "y", 1, 1)  # another rank: not covered
    h.simple("p1", 1, "get_version", 7.0, 7.1, version=6)
    v = check_monotonic_reads(h.history())
    assert v.held is False
    (bad,) = v.violations
    assert bad.ops == (a, b)
    assert (
        bad.summary == "p1 read y=1 at version 3 on rank 1 after it read x=1 at version 5 on rank 1"
    )
    assert v.checked == 2  # b and the get_version; a and the overlapping read follow nothing


def test_monotonic_reads_catches_a_rank_whose_root_goes_backwards() -> None:
    h = H()
    h.roots(4, 0.5, (2, 1.0))
    h.roots(5, 0.6, (2, 0.9))  # rank 2 applied 5 before 4
    v = check_monotonic_reads(h.history())
    (bad,) = v.violations
    assert [(r.rank, r.version) for r in bad.roots] == [(2, 5), (2, 4)]
    assert "rank 2 applied version 4 of primary at t=1 after it had applied version 5" in (
        bad.summary
    )


def test_zero_duration_ops_at_one_instant_are_ordered_by_id() -> None:
    h = H()
    h.get("p1", 1, 1.0, 1.0, "x", 1, 5)
    h.get("p1", 1, 1.0, 1.0, "x", 1, 6)
    assert check_monotonic_reads(h.history()).held is True
    h.get("p1", 1, 1.0, 1.0, "x", 1, 4)
    assert check_monotonic_reads(h.history()).held is False


# -- monotonic writes and writes-follow-reads ------------------------------------------


def test_monotonic_writes() -> None:
    h = H()
    a = h.commit("p1", 1, 0.0, 1.0, 5, x=1)
    b = h.commit("p1", 2, 1.5, 2.0, 3, y=1)
    h.commit("p1", 1, 0.5, 1.1, 2, z=1)  # overlaps a: unordered
    v = check_monotonic_writes(h.history())
    assert v.checked == 1
    (bad,) = v.violations
    assert bad.ops == (a, b)
    assert bad.summary == (
        "p1's commit of y=1 produced version 3, not above version 5 of its earlier commit of x=1"
    )
    good = H()
    good.commit("p1", 1, 0.0, 1.0, 5, x=1)
    good.commit("p1", 1, 1.5, 2.0, 6, x=2)
    assert check_monotonic_writes(good.history()).held is True


def test_writes_follow_reads() -> None:
    h = H()
    r = h.get("p1", 1, 0.0, 1.0, "x", 1, 5)
    c = h.commit("p1", 1, 1.5, 2.0, 5, y=1)
    h.commit("p2", 1, 1.5, 2.0, 5, z=1)  # another process read nothing
    v = check_writes_follow_reads(h.history())
    (bad,) = v.violations
    assert bad.ops == (r, c)
    assert bad.summary == (
        "p1 read x=1 at version 5 on rank 1, then its commit of y=1 produced version 5, not above 5"
    )
    good = H()
    good.simple("p1", 1, "wait_version", 0.0, 1.0, version=5)
    good.commit("p1", 1, 1.5, 2.0, 6, y=1)
    assert check_writes_follow_reads(good.history()).held is True


# -- causal ----------------------------------------------------------------------------


def test_causal_chain_through_a_middle_process() -> None:
    h = H()
    c = h.commit("a", 2, 0.0, 1.0, 7, x="new")
    s1 = h.simple("a", 2, "send", 1.0, 1.0, token="t1", value=7)
    r1 = h.simple("b", 1, "recv", 1.0, 1.0, token="t1", value=7)
    s2 = h.simple("b", 1, "send", 1.0, 1.0, token="t2")
    r2 = h.simple("c", 3, "recv", 1.0, 1.0, token="t2")
    g = h.get("c", 3, 1.0, 1.0, "x", "old", 6)
    h.get("c", 3, 0.5, 0.6, "x", "old", 6)  # before the hand-off: not covered
    v = check_causal(h.history())
    assert v.checked == 1
    (bad,) = v.violations
    assert bad.ops == (c, s1, r1, s2, r2, g)
    assert "after a hand-off a -> b -> c (token t1, t2, passing version 7)" in bad.summary


def test_causal_flags_a_read_below_a_completed_wait_version() -> None:
    h = H()
    w = h.simple("p", 1, "wait_version", 0.0, 1.0, version=5)
    g = h.get("p", 1, 1.5, 1.6, "x", 1, 4)
    h.get("p", 2, 1.5, 1.6, "x", 1, 3)  # another rank: its own root
    v = check_causal(h.history())
    assert v.checked == 1
    (bad,) = v.violations
    assert bad.ops == (w, g)
    assert bad.summary == (
        f"p read x=1 at version 4 on rank 1 after waiting for version 5 there "
        f"(wait_version #{w} completed)"
    )


def test_causal_is_quiet_when_bounds_hold_or_nothing_was_handed_off() -> None:
    h = H()
    h.commit("a", 2, 0.0, 1.0, 7, x="new")
    h.simple("a", 2, "send", 0.5, 0.5, token="early")  # sent before the commit completed
    h.simple("b", 1, "recv", 0.6, 0.7, token="early")
    h.get("b", 1, 0.8, 0.9, "x", "old", 6)
    h.simple("a", 2, "send", 1.1, 1.1, token="t")
    h.simple("b", 1, "recv", 1.2, 1.3, token="t")
    h.get("b", 1, 1.4, 1.5, "x", "new", 7)
    h.get("b", 1, 1.4, 1.5, "y", None, 2)
    v = check_causal(h.history())
    assert v.held is True and v.checked == 1


# -- read validity ------------------------------------------------------------------------


def test_read_validity_names_the_commits_behind_the_expected_value() -> None:
    h = H()
    one = h.commit("p1", 0, 0.0, 0.1, 3, x=1)
    two = h.commit("p1", 0, 0.2, 0.3, 4, x=2)
    r = h.get("p2", 1, 1.0, 1.1, "x", 2, 3)
    v = check_read_validity(h.history())
    (bad,) = v.violations
    assert bad.ops == (r, one, two)
    assert bad.summary == (
        f"p2 read x=2 at version 3 on rank 1, but x is 1 at version 3 (set by commit #{one}); "
        f"2 was written by commit #{two} at version 4"
    )


def test_read_validity_accepts_any_value_of_a_merged_version() -> None:
    h = H()
    h.commit("p1", 1, 0.0, 1.0, 3, x=1)
    h.commit("p2", 2, 0.0, 1.0, 3, x=2)
    h.get("p3", 1, 2.0, 2.1, "x", 1, 3)
    h.get("p4", 2, 2.0, 2.1, "x", 2, 3)
    h.enoent("p4", 2, 2.0, "x", 2)
    h.get("p4", 2, 2.0, 2.1, "never-written", 9, 3)
    v = check_read_validity(h.history())
    assert v.held is True and v.checked == 3


def test_read_validity_knows_unlinks_directories_and_absent_keys() -> None:
    h = H()
    h.commit("p1", 0, 0.0, 0.1, 1, **{"a.b": 1, "c": 1})
    h.commit("p1", 0, 0.2, 0.3, 2, a=5, c=None)
    h.enoent("p2", 1, 1.0, "a.b", 2)
    h.enoent("p2", 1, 1.0, "c", 2)
    h.get("p2", 1, 1.0, 1.1, "a", 5, 2)
    h.get("p2", 1, 1.0, 1.1, "a..b", 1, 1)
    h.get("p2", 1, 1.0, 1.1, "a", {"b": 1}, 1)  # a directory read as a listing
    assert check_read_validity(h.history()).held is True
    h.enoent("p2", 1, 1.0, "a.b", 1)
    h.get("p2", 1, 1.0, 1.1, "a", 5, 1)  # a is a directory at version 1
    h.get("p2", 1, 1.0, 1.1, "a", 5, 0)  # and absent before
    bad = check_read_validity(h.history()).violations
    assert [b.summary.split(", but ")[1] for b in bad] == [
        "a.b is 1 at version 1 (set by commit #0); it was removed by commit #1 at version 2",
        "a is a directory at version 1 (set by commit #0); 5 was written by commit #1 at version 2",
        "a is absent at version 0 (no commit had written it yet); 5 was written by commit #1 "
        "at version 2",
    ]


def test_commits_of_unknown_outcome_may_have_applied() -> None:
    h = H()
    h.rec.op(process="p1", rank=1, op="commit", writes={"x": 9}, invoke=0.0, complete=None)
    h.rec.op(
        process="p1", rank=1, op="commit", writes={"x": 8}, invoke=0.0, complete=1, error="EPERM"
    )
    h.get("p2", 1, 1.0, 1.1, "x", 9, 3)
    h.get("p2", 1, 1.0, 1.1, "x", 8, 3)
    v = check_read_validity(h.history())
    assert v.checked == 2
    (bad,) = v.violations
    assert "read x=8" in bad.summary


# -- convergence ------------------------------------------------------------------------


def test_convergence_reports_when_and_who_never_did() -> None:
    h = H(size=4)
    h.roots(1, 0.5, (1, 0.6), (2, 0.7), (3, 0.8))
    h.roots(2, 1.0, (1, 1.25), (2, 1.5))
    v = check_convergence(h.history())
    assert v.held is False and v.checked == 4
    (bad,) = v.violations
    assert (
        bad.summary == "rank 3 never reached version 2 of primary (last seen: rank 3 at version 1)"
    )
    assert [(r.rank, r.version) for r in bad.roots] == [(3, 1)]
    assert v.notes == [
        "primary: 3 of 4 ranks reached version 2; the last, rank 2, at t=1.5, 0.5 s after it "
        "was created"
    ]
    h.roots(2, 1.0, (3, 2.0))
    v = check_convergence(h.history())
    assert v.held is True
    assert v.notes[0].startswith("primary: 4 of 4 ranks reached version 2; the last, rank 3")


# -- report ------------------------------------------------------------------------------


def test_report_lists_evidence_and_the_claims_outcome() -> None:
    hist, ids = off_by_one_handoff(pass_reported=True)
    text = report(check_all(hist), ["causal", "read-your-writes", "atomic"], hist)
    lines = text.splitlines()
    assert lines[0].split() == ["read-your-writes", "n/a", "nothing", "to", "check", "(claimed)"]
    assert "causal               VIOLATED  1 case, 1 violation (claimed)" in text
    assert f'       #{ids["commit"]} p1@rank3 commit {{x="new"}} version 5 (reported 4)' in text
    assert lines[-1] == (
        "claim 'atomic' has no checker (not checked); 1 of 2 claimed guarantees violated: causal"
    )
    good, _ = off_by_one_handoff(pass_reported=False)
    assert report(check_all(good), good.header.claims).endswith("all 3 claimed guarantees held")
    assert report([], []).endswith("no guarantees claimed")


def test_render_verdicts_is_rich_renderable() -> None:
    from rich.console import Console

    hist, _ = off_by_one_handoff(pass_reported=True)
    console = Console(record=True, width=120)
    for item in checks.render_verdicts(check_all(hist), hist.header.claims, hist):
        console.print(item)
    out = console.export_text()
    assert "VIOLATED" in out and "causal" in out and "1 of 3 claimed" in out


@pytest.mark.parametrize("name", list(checks.CHECKERS))
def test_verdicts_serialise_to_json(name: str) -> None:
    import json

    hist, _ = off_by_one_handoff(pass_reported=True)
    d = checks.CHECKERS[name](hist).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["guarantee"] == name


# ---------------------------------------------------------------------------
# Property tests against a small reference model of the KVS
#
# The model is a correct KVS by construction: the leader numbers versions in
# order, every follower applies every version in order after a delay that grows
# with its depth, a commit on a follower completes when its rank has applied the
# version (read-your-writes), hand-offs pass get_version and the receiver waits
# for it.  Its histories must satisfy every checker; one injected fault must be
# caught by the checker for that guarantee, with the faulty record in evidence.

HOP = 0.01
KEYS = ("x", "y", "z")


@dataclass
class Model:
    rnd: random.Random
    size: int
    fanout: int
    rec: Recorder = field(init=False)
    depth: list[int] = field(init=False)
    stores: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    applied: list[list[float]] = field(init=False)  # applied[rank][version]
    clock: float = 0.0
    last_created: float = 0.0
    free_at: dict[str, float] = field(default_factory=dict)
    rank_of: dict[str, int] = field(default_factory=dict)
    # what the model knows makes an op a target for each fault
    seen: dict[str, int] = field(default_factory=dict)  # highest version read
    observed: dict[str, int] = field(default_factory=dict)  # read or waited for
    own: dict[str, dict[str, int]] = field(default_factory=dict)  # own commits per key
    known: dict[str, dict[str, int]] = field(default_factory=dict)  # own + handed off
    received: dict[str, dict[str, int]] = field(default_factory=dict)
    last_commit: dict[str, int] = field(default_factory=dict)
    targets: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    tokens: int = 0

    def __post_init__(self) -> None:
        self.depth = [0]
        for r in range(1, self.size):
            self.depth.append(self.depth[(r - 1) // self.fanout] + 1)
        self.rec = Recorder(
            seed=0,
            config={"size": self.size, "fanout": self.fanout, "depth": self.depth},
            claims=tuple(c for c in checks.CHECKERS if c != "linearizable"),
        )
        self.applied = [[0.0] for _ in range(self.size)]

    def target(self, fault: str, op_id: int, bound: int) -> None:
        self.targets.setdefault(fault, []).append((op_id, bound))

    @property
    def version(self) -> int:
        return len(self.stores) - 1

    def at(self, rank: int, t: float) -> int:
        times = self.applied[rank]
        return max(v for v in range(len(times)) if times[v] <= t)

    def start(self, *procs: str) -> float:
        self.clock += self.rnd.choice((0.0, self.rnd.uniform(0, 0.05)))
        t = max([self.clock, *(self.free_at.get(p, 0.0) for p in procs)])
        self.clock = t
        return t

    def create(self, arrival: float, writes: list[dict[str, Any]]) -> int:
        t = max(arrival, self.last_created) + 0.001
        self.last_created = t
        store = dict(self.stores[-1])
        for w in writes:
            for k, val in w.items():
                store[k] = val
        self.stores.append(store)
        v = self.version
        self.rec.root(rank=0, version=v, time=t)
        self.applied[0].append(t)
        for r in range(1, self.size):
            delay = self.depth[r] * HOP + self.rnd.uniform(0, 3 * HOP)
            at = max(self.applied[r][-1], t + delay)
            self.applied[r].append(at)
            self.rec.root(rank=r, version=v, time=at)
        return v

    def commit(self, procs: list[str], key: str | None = None) -> None:
        t = self.start(*procs)
        keys = [key or self.rnd.choice(KEYS) for _ in procs]
        writes = [{k: f"{p}@{t:.4f}#{i}"} for i, (p, k) in enumerate(zip(procs, keys, strict=True))]
        arrival = t + max(self.depth[self.rank_of[p]] for p in procs) * HOP
        v = self.create(arrival, writes)
        for p, w in zip(procs, writes, strict=True):
            rank = self.rank_of[p]
            done = self.applied[rank][v] + 0.0005
            op_id = self.rec.op(
                process=p,
                rank=rank,
                op="commit",
                writes=w,
                invoke=t,
                complete=done,
                version=v,
                reported_version=v if rank == 0 else v - 1,
            )
            self.free_at[p] = done
            if p in self.last_commit:
                self.target("monotonic-writes", op_id, self.last_commit[p])
            if self.observed.get(p, 0) >= 1:
                self.target("writes-follow-reads", op_id, self.observed[p])
            self.last_commit[p] = v
            for k in w:
                self.own.setdefault(p, {})[k] = v
                self.known.setdefault(p, {})[k] = v

    def observe(self, p: str, op_id: int, v: int, key: str | None) -> None:
        if self.seen.get(p, 0) >= 1:
            self.target("monotonic-reads", op_id, self.seen[p])
        self.seen[p] = max(self.seen.get(p, 0), v)
        self.observed[p] = max(self.observed.get(p, 0), v)
        if key is None:
            return
        if key in self.own.get(p, {}):
            self.target("read-your-writes", op_id, self.own[p][key])
        if key in self.received.get(p, {}):
            self.target("causal", op_id, self.received[p][key])
        if any(key in s for s in self.stores):
            self.target("read-validity", op_id, v)

    def read(self, p: str, key: str | None = None) -> None:
        t = self.start(p)
        rank = self.rank_of[p]
        v = self.at(rank, t)
        key = key or self.rnd.choice(KEYS)
        value = self.stores[v].get(key)
        op_id = self.rec.op(
            process=p,
            rank=rank,
            op="get",
            key=key,
            value=value,
            version=v,
            invoke=t,
            complete=t + 0.0002,
            error=None if key in self.stores[v] else "ENOENT",
        )
        self.free_at[p] = t + 0.0002
        self.observe(p, op_id, v, key)

    def handoff(self, a: str, b: str) -> None:
        t = self.start(a)
        ra, rb = self.rank_of[a], self.rank_of[b]
        v = self.at(ra, t)
        gv = self.rec.op(process=a, rank=ra, op="get_version", version=v, invoke=t, complete=t)
        self.observe(a, gv, v, None)
        self.tokens += 1
        token = f"t{self.tokens}"
        self.rec.op(process=a, rank=ra, op="send", token=token, value=v, invoke=t, complete=t)
        self.free_at[a] = t
        t2 = max(t, self.free_at.get(b, 0.0)) + 0.001
        self.rec.op(process=b, rank=rb, op="recv", token=token, value=v, invoke=t2, complete=t2)
        done = max(t2, self.applied[rb][v]) if v else t2
        self.rec.op(process=b, rank=rb, op="wait_version", version=v, invoke=t2, complete=done)
        self.free_at[b] = done
        self.clock = max(self.clock, t2)
        self.observed[b] = max(self.observed.get(b, 0), v)
        for k, kv in self.known.get(a, {}).items():
            for d in (self.received.setdefault(b, {}), self.known.setdefault(b, {})):
                d[k] = max(d.get(k, 0), kv)


def generate(rnd: random.Random) -> Model:
    m = Model(rnd, size=rnd.randint(2, 7), fanout=rnd.randint(1, 3))
    procs = [f"p{i}" for i in range(rnd.randint(2, 4))]
    for p in procs:
        m.rank_of[p] = rnd.randrange(m.size)
    for _ in range(rnd.randint(3, 25)):
        kind = rnd.choice(("commit", "commit", "merged", "read", "read", "read", "handoff"))
        if kind == "commit":
            m.commit([rnd.choice(procs)])
        elif kind == "merged":
            m.commit(rnd.sample(procs, 2))
        elif kind == "read":
            m.read(rnd.choice(procs))
        else:
            a, b = rnd.sample(procs, 2)
            m.handoff(a, b)
    # a tail that makes every fault possible: a writer on a follower and a reader
    m.rank_of["w"], m.rank_of["r"] = m.size - 1, rnd.randrange(m.size)
    m.commit(["w"], "x")
    m.read("w", "x")
    m.read("w", "x")
    m.commit(["w"], "y")
    m.commit(["w"], "x")
    m.handoff("w", "r")
    for key in KEYS:
        m.read("r", key)
    return m


FAULTS = (
    "read-your-writes",
    "monotonic-reads",
    "monotonic-writes",
    "writes-follow-reads",
    "causal",
    "read-validity",
    "root-order",
    "convergence",
)


def inject(fault: str, m: Model, rnd: random.Random) -> tuple[History, str, Op | Any]:
    """One fault; returns the history, the guarantee that must catch it, the culprit."""
    hist = m.rec.history()
    if fault == "convergence":
        final = hist.final_versions()["primary"]
        victim = rnd.choice([r for r in hist.roots if r.rank != 0 and r.version == final])
        kept = tuple(r for r in hist.roots if r != victim)
        last = max((r for r in kept if r.rank == victim.rank), key=lambda r: r.version)
        return replace(hist, roots=kept), fault, last
    if fault == "root-order":
        rank = rnd.randrange(1, m.size)
        mine = [i for i, r in enumerate(hist.roots) if r.rank == rank]
        i, j = sorted(rnd.sample(mine, 2))
        roots = list(hist.roots)
        a, b = roots[i], roots[j]
        roots[i], roots[j] = replace(a, time=b.time), replace(b, time=a.time)
        if a.time == b.time:  # same instant: make the later version clearly earlier
            roots[j] = replace(roots[j], time=a.time - 1.0)
        return replace(hist, roots=tuple(roots)), "monotonic-reads", roots[j]
    op_id, bound = rnd.choice(m.targets[fault])
    op = hist.op(op_id)
    if fault in ("monotonic-writes", "writes-follow-reads"):
        bad = replace(op, version=bound)
    elif fault == "read-validity":
        bad = replace(op, value="bogus", ok=True, error=None)
    else:  # a read (or get_version) served from just below its bound
        v = bound - 1
        bad = replace(op, version=v)
        if op.op == "get":
            assert op.key is not None
            present = op.key in m.stores[v]
            bad = replace(
                bad,
                value=m.stores[v].get(op.key),
                ok=present,
                error=None if present else "ENOENT",
            )
    ops = tuple(bad if o.id == op_id else o for o in hist.ops)
    return replace(hist, ops=ops), fault, bad


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False))
def test_reference_model_histories_satisfy_every_checker(rnd: random.Random) -> None:
    m = generate(rnd)
    hist = m.rec.history()
    verdicts = check_all(hist)
    assert violated_claims(verdicts, hist.header.claims) == [], report(verdicts, (), hist)
    for v in verdicts:
        if v.guarantee == "linearizable":  # followers serve stale roots: Flux is not
            continue
        assert v.held is True, (v.guarantee, report(verdicts, (), hist))
    assert from_lines(list(to_lines(hist))) == hist


@settings(max_examples=120, deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from(FAULTS))
def test_a_single_injected_fault_is_caught_with_the_culprit_in_evidence(
    rnd: random.Random, fault: str
) -> None:
    m = generate(rnd)
    hist, guarantee, culprit = inject(fault, m, rnd)
    verdict = checks.CHECKERS[guarantee](hist)
    assert verdict.held is False, (fault, report([verdict], (), hist))
    if isinstance(culprit, Op):
        assert any(culprit.id in v.ops for v in verdict.violations), report([verdict], (), hist)
    else:
        assert any(culprit in v.roots for v in verdict.violations), report([verdict], (), hist)
