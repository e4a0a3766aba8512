"""Histories: recording, the JSON Lines format, round trips and load errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kvs_sim.history as h
from kvs_sim.history import (
    Header,
    History,
    HistoryError,
    NemesisInterval,
    Op,
    Recorder,
    RootEvent,
    load,
    save,
)


def sample() -> History:
    rec = Recorder(seed=7, config={"size": 4, "fanout": 2}, claims=["read-your-writes"])
    c = rec.invoke(process="p1", rank=3, op="commit", writes={"x": 1, "y": None}, time=0.0)
    rec.root(rank=0, version=1, time=0.25)
    rec.root(rank=1, version=1, time=0.5)
    rec.root(rank=3, version=1, time=0.75)
    rec.complete(c, time=1.0, version=1, reported_version=0)
    rec.op(
        process="p1",
        rank=3,
        op="get",
        key="x",
        value={"a": [1, 2.5, "é"]},
        version=1,
        invoke=1.5,
        complete=1.625,
    )
    rec.op(process="p2", rank=1, op="get", key="z", invoke=2, complete=2.5, error="ENOENT")
    rec.invoke(process="p2", rank=1, op="wait_version", version=9, time=3.0)
    rec.op(process="p3", rank=2, op="frobnicate", invoke=3.5, complete=4.0)
    return rec.history()


def test_public_surface_is_pinned() -> None:
    assert sorted(h.__all__) == [
        "FORMAT_NAME",
        "FORMAT_VERSION",
        "Header",
        "History",
        "HistoryError",
        "NEMESIS_NAMES",
        "NemesisInterval",
        "OP_NAMES",
        "Op",
        "READ_OPS",
        "Recorder",
        "RootEvent",
        "done_key",
        "from_edn_lines",
        "from_lines",
        "load",
        "load_edn",
        "looks_like_edn",
        "program_order_key",
        "record_from_dict",
        "record_to_dict",
        "save",
        "start_key",
        "to_lines",
    ]


def test_recorder_assigns_increasing_ids_and_completes_later() -> None:
    hist = sample()
    assert [o.id for o in hist.ops] == [0, 1, 2, 3, 4]
    commit = hist.op(0)
    assert commit.complete == 1.0 and commit.ok and commit.version == 1
    assert commit.reported_version == 0 and commit.writes == {"x": 1, "y": None}
    enoent = hist.op(2)
    assert not enoent.ok and enoent.error == "ENOENT"
    pending = hist.op(3)
    assert pending.complete is None and not pending.ok and pending.version == 9
    assert isinstance(hist.op(2).invoke, float)


def test_recorder_misuse_is_a_clear_error() -> None:
    rec = Recorder()
    i = rec.invoke(process="p", rank=0, op="get", key="x", time=1.0)
    assert rec.pending() == [i]
    with pytest.raises(HistoryError, match="before invocation"):
        rec.complete(i, time=0.5)
    rec.complete(i, time=2.0, value=3, version=1)
    assert rec.pending() == []
    with pytest.raises(HistoryError, match="already completed"):
        rec.complete(i, time=3.0)
    with pytest.raises(HistoryError, match="no such operation"):
        rec.complete(42, time=3.0)
    with pytest.raises(HistoryError, match="JSON"):
        rec.invoke(process="p", rank=0, op="commit", writes={"x": object()}, time=4.0)


def test_history_helpers() -> None:
    hist = sample()
    assert list(hist.processes()) == ["p1", "p2", "p3"]
    assert [o.id for o in hist.processes()["p1"]] == [0, 1]
    assert hist.commits_by_version("primary") == {1: [hist.op(0)]}
    assert hist.final_versions() == {"primary": 1}
    assert hist.created("primary") == {1: 0.25}
    assert hist.ranks() == [0, 1, 2, 3]
    assert hist.namespaces() == ["primary"]
    assert hist.op(0).precedes(hist.op(1))
    with pytest.raises(KeyError):
        hist.op(99)


def test_round_trip_is_exact(tmp_path: Path) -> None:
    hist = sample()
    path = tmp_path / "h.jsonl"
    save(hist, path)
    again = load(path)
    assert again == hist
    save(again, tmp_path / "h2.jsonl")
    assert (tmp_path / "h2.jsonl").read_bytes() == path.read_bytes()


def test_saved_lines_follow_the_documented_format(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    save(sample(), path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "kind": "header",
        "format": "kvs-sim-history",
        "version": 1,
        "seed": 7,
        "config": {"size": 4, "fanout": 2},
        "claims": ["read-your-writes"],
        "footer": True,
    }
    # ops and roots interleaved by time, each kind in its own order, then the footer
    kinds = ["op", "root", "root", "root", "op", "op", "op", "op", "footer"]
    assert [r["kind"] for r in lines[1:]] == kinds
    assert lines[-1] == {"kind": "footer", "ops": 5, "roots": 3, "nemeses": 0}
    assert list(lines[1]) == [
        "kind",
        "id",
        "process",
        "rank",
        "op",
        "ns",
        "key",
        "value",
        "invoke",
        "complete",
        "ok",
        "error",
        "version",
        "reported_version",
        "writes",
        "token",
    ]


def test_unknown_fields_and_ops_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(
        '{"kind": "header", "format": "kvs-sim-history", "version": 1, "future": true}\n'
        '{"kind": "op", "id": 3, "process": "p", "rank": 0, "op": "teleport", "invoke": 1,'
        ' "complete": 2, "color": "blue"}\n'
        "\n"
    )
    hist = load(path)
    assert hist.header.extra == {"future": True}
    assert hist.header.seed is None and hist.header.claims == ()
    (op,) = hist.ops
    assert op.op == "teleport" and op.extra == {"color": "blue"}
    assert op.ok and op.ns == "primary" and op.invoke == 1.0
    save(hist, tmp_path / "again.jsonl")
    assert load(tmp_path / "again.jsonl") == hist


HEADER = '{"kind": "header", "format": "kvs-sim-history", "version": 1}'


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ("", "", "empty history"),
        ("not json\n", ":1:", "not JSON"),
        ('{"kind": "op", "id": 1}\n', ":1:", "first record must be the header"),
        ('{"kind": "header", "format": "other", "version": 1}', ":1:", "format must be"),
        ('{"kind": "header", "format": "kvs-sim-history", "version": 2}', ":1:", "unsupported"),
        (HEADER + "\n[1, 2]\n", ":2:", "must be a JSON object"),
        (HEADER + '\n{"kind": "weird"}\n', ":2:", "unknown record kind 'weird'"),
        (HEADER + '\n\n{"kind": "op", "id": 1, "process": "p", "rank": 0}', ":3:", "'op'"),
        (
            HEADER + '\n{"kind": "op", "id": "1", "process": "p", "rank": 0, "op": "get",'
            ' "invoke": 0}',
            ":2:",
            "field 'id' must be an integer, not '1'",
        ),
        (
            HEADER + '\n{"kind": "op", "id": 1, "process": "p", "rank": 0, "op": "get",'
            ' "invoke": NaN}',
            ":2:",
            "NaN is not valid JSON",
        ),
        (
            HEADER + '\n{"kind": "op", "id": 1, "process": "p", "rank": 0, "op": "get",'
            ' "invoke": 0, "version": 1.5}',
            ":2:",
            "'version' must be an integer or null",
        ),
        (
            HEADER + '\n{"kind": "op", "id": 1, "process": "p", "rank": 0, "op": "get",'
            ' "invoke": 0}\n{"kind": "op", "id": 1, "process": "q", "rank": 0, "op": "get",'
            ' "invoke": 1}',
            ":3:",
            "duplicate op id 1 (first on line 2)",
        ),
        (HEADER + '\n{"kind": "root", "rank": 0, "version": 1}', ":2:", "missing field 'time'"),
        (
            HEADER + '\n{"kind": "op", "id": 1, "process": "p", "rank": 0, "op": "get",'
            ' "invoke": 2, "complete": 1}',
            ":2:",
            "'complete' (1.0) is before 'invoke' (2.0)",
        ),
        (HEADER + "\n" + HEADER, ":2:", "second header"),
    ],
)
def test_invalid_lines_name_the_line_and_the_reason(
    tmp_path: Path, text: str, where: str, reason: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(HistoryError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(str(path) + where)
    assert reason in message
    assert "\n" not in message


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match="no such file"):
        load(tmp_path / "nope.jsonl")
    with pytest.raises(HistoryError, match="is a directory"):
        load(tmp_path)
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(HistoryError, match="not UTF-8"):
        load(tmp_path / "bin.jsonl")


def test_records_are_frozen_and_validate_through_from_dict() -> None:
    root = RootEvent(rank=1, ns="primary", version=2, time=0.5)
    with pytest.raises(AttributeError):
        root.version = 3  # type: ignore[misc]
    assert h.record_from_dict(h.record_to_dict(root)) == root
    op = Op(id=1, process="p", rank=0, op="get", key="x", invoke=0.0, complete=1.0, ok=True)
    assert h.record_from_dict(h.record_to_dict(op)) == op
    header = Header(seed=1, config={"size": 2}, claims=("causal",))
    assert h.record_from_dict(h.record_to_dict(header)) == header


def faulty() -> History:
    rec = Recorder(seed=3, config={"size": 4, "fanout": 2})
    c = rec.invoke(process="p1", rank=3, op="commit", writes={"x": 1}, time=0.0)
    rec.complete(c, time=0.1, version=1, reported_version=0)
    crash = rec.nemesis(name="crash", start=0.2, ranks=[0], detail={"restart_after": 0.5})
    lost = rec.invoke(process="p2", rank=2, op="commit", writes={"y": 2}, time=0.3)
    rec.complete(lost, time=0.6, error="ETIMEDOUT", indeterminate=True)
    rec.heal(crash, time=0.7, detail={"epoch": 1})
    rec.amend(crash, {"lost_versions": [1], "lost_ops": [c]})
    rec.nemesis(name="partition", start=0.8, ranks=[1, 3], detail={"mode": "hold"})
    return rec.history()


def test_nemeses_and_indeterminate_ops_are_recorded() -> None:
    hist = faulty()
    crash, part = hist.nemeses
    assert crash == NemesisInterval(
        name="crash",
        start=0.2,
        end=0.7,
        ranks=(0,),
        detail={"restart_after": 0.5, "epoch": 1, "lost_versions": [1], "lost_ops": [0]},
    )
    assert part.end is None and part.active(100.0) and not part.active(0.5)
    assert crash.overlaps(0.0, 0.2) and not crash.overlaps(0.7, None)
    assert hist.crashes() == [crash] and hist.crashes(rank=1) == []
    timed_out = hist.op(1)
    assert timed_out.indeterminate and timed_out.outcome_unknown and not timed_out.ok
    assert not hist.op(0).outcome_unknown


def test_nemeses_round_trip_and_are_interleaved_by_start(tmp_path: Path) -> None:
    hist = faulty()
    path = tmp_path / "h.jsonl"
    save(hist, path)
    assert load(path) == hist
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["kind"] for r in lines[1:]] == ["op", "nemesis", "op", "nemesis", "footer"]
    assert lines[-1] == {"kind": "footer", "ops": 2, "roots": 0, "nemeses": 2}
    assert lines[2] == {
        "kind": "nemesis",
        "name": "crash",
        "start": 0.2,
        "end": 0.7,
        "ranks": [0],
        "detail": {"restart_after": 0.5, "epoch": 1, "lost_versions": [1], "lost_ops": [0]},
    }
    assert lines[3]["indeterminate"] is True
    assert "indeterminate" not in lines[1]


def test_nemesis_recorder_misuse_is_a_clear_error() -> None:
    rec = Recorder()
    i = rec.nemesis(name="pause", start=1.0, ranks=[2])
    with pytest.raises(HistoryError, match="before its start"):
        rec.heal(i, time=0.5)
    rec.heal(i, time=2.0)
    with pytest.raises(HistoryError, match="already ended"):
        rec.heal(i, time=3.0)
    with pytest.raises(HistoryError, match="no such nemesis"):
        rec.heal(5, time=3.0)
    with pytest.raises(HistoryError, match="before start"):
        rec.nemesis(name="slow", start=2.0, end=1.0)
    op = rec.invoke(process="p", rank=0, op="get", time=0.0)
    with pytest.raises(HistoryError, match="cannot be ok"):
        rec.complete(op, time=1.0, ok=True, indeterminate=True)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"kind": "nemesis", "start": 1}', "missing field 'name'"),
        ('{"kind": "nemesis", "name": "crash", "start": 2, "end": 1}', "before 'start'"),
        ('{"kind": "nemesis", "name": "crash", "start": 0, "ranks": [-1]}', "rank numbers"),
        ('{"kind": "nemesis", "name": "crash", "start": 0, "detail": 3}', "'detail'"),
        (
            '{"kind": "op", "id": 1, "process": "p", "rank": 0, "op": "get", "invoke": 0,'
            ' "complete": 1, "indeterminate": true}',
            "cannot be 'ok'",
        ),
    ],
)
def test_invalid_nemesis_and_indeterminate_records_name_the_line(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(HEADER + "\n" + line + "\n")
    with pytest.raises(HistoryError, match=message) as info:
        load(path)
    assert ":2:" in str(info.value)


def test_unknown_nemesis_names_and_fields_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(HEADER + '\n{"kind": "nemesis", "name": "clock-skew", "start": 1, "by": 0.5}\n')
    (n,) = load(path).nemeses
    assert n.name == "clock-skew" and n.end is None and n.ranks == () and n.extra == {"by": 0.5}
