"""``kvs-sim check``: exit codes 0/1/2, the printed report, --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvs_sim.cli import main
from kvs_sim.history import History, Recorder, save


def off_by_one_handoff(pass_reported: bool) -> tuple[History, None]:
    """Writer p1 on rank 3 commits x="new" (version 5, reported 4) and hands a version
    to reader p2 on rank 1, which rank 1 applies late.  Passing the reported number
    makes p2 read x="old" at version 4 (ops 4, 5, 6 and 8 prove it)."""
    rec = Recorder(seed=1, config={"size": 4, "fanout": 2}, claims=CLAIMS)
    for v in (1, 2, 3, 4):
        rec.op(
            process="p0",
            rank=0,
            op="commit",
            writes={"x": "old"} if v == 4 else {f"k{v}": v},
            invoke=v * 0.1,
            complete=v * 0.1 + 0.01,
            version=v,
            reported_version=v,
        )
        for rank in range(4):
            rec.root(rank=rank, version=v, time=v * 0.1 + 0.005 * (rank + 1))
    rec.op(
        process="p1",
        rank=3,
        op="commit",
        writes={"x": "new"},
        invoke=1.0,
        complete=1.2,
        version=5,
        reported_version=4,
    )
    for rank, t in ((0, 1.1), (3, 1.15), (2, 1.5), (1, 3.0)):
        rec.root(rank=rank, version=5, time=t)
    passed = 4 if pass_reported else 5
    rec.op(process="p1", rank=3, op="send", invoke=1.3, complete=1.3, token="t1", value=passed)
    rec.op(process="p2", rank=1, op="recv", invoke=1.3, complete=1.4, token="t1", value=passed)
    done = 1.5 if pass_reported else 3.0
    rec.op(process="p2", rank=1, op="wait_version", invoke=1.5, complete=done, version=passed)
    value = "old" if pass_reported else "new"
    rec.op(
        process="p2",
        rank=1,
        op="get",
        key="x",
        value=value,
        version=passed,
        invoke=done + 0.1,
        complete=done + 0.2,
    )
    return rec.history(), None


CLAIMS = ("read-your-writes", "causal", "convergence")


@pytest.fixture
def violated(tmp_path: Path) -> Path:
    path = tmp_path / "violated.jsonl"
    save(off_by_one_handoff(pass_reported=True)[0], path)
    return path


@pytest.fixture
def held(tmp_path: Path) -> Path:
    path = tmp_path / "held.jsonl"
    save(off_by_one_handoff(pass_reported=False)[0], path)
    return path


def test_exit_0_when_every_claim_held(held: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(held)]) == 0
    out = capsys.readouterr().out
    assert "all 3 claimed guarantees held" in out
    assert "Setroot propagation" in out and "Convergence" in out


def test_exit_1_with_evidence_when_a_claim_is_violated(
    violated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(violated)]) == 1
    out = capsys.readouterr().out
    assert "VIOLATED" in out
    assert "1 of 3 claimed guarantees violated: causal" in out
    assert "p1@rank3 commit" in out


def test_unclaimed_violations_do_not_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dataclasses import replace

    hist, _ = off_by_one_handoff(pass_reported=True)

    path = tmp_path / "h.jsonl"
    save(replace(hist, header=replace(hist.header, claims=("convergence",))), path)
    assert main(["check", str(path)]) == 0
    assert "VIOLATED" in capsys.readouterr().out


def test_json_output(violated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json", str(violated)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert doc["violated_claims"] == ["causal"]
    causal = next(v for v in doc["verdicts"] if v["guarantee"] == "causal")
    assert causal["held"] is False and causal["violations"][0]["ops"] == [4, 5, 6, 8]
    assert "samples" not in doc["metrics"]["propagation"]
    assert doc["metrics"]["merge"]["ratio"] == 1.0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        ("", "empty history"),
        ('{"kind": "header", "format": "kvs-sim-history", "version": 1}\n{oops\n', ":2: not JSON"),
    ],
)
def test_exit_2_with_one_line_for_a_bad_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, reason: str
) -> None:
    path = tmp_path / "h.jsonl"
    if content is not None:
        path.write_text(content)
    assert main(["check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"kvs-sim check: {path}") and reason in lines[0]
    assert "Traceback" not in captured.err


# -- bad input (issue 15): one line, exit 2 ------------------------------------------

OP = '{"kind": "op", "id": 0, "process": "p", "rank": 1, "op": "get", "invoke": 0, "complete": 1}'


def _header(config: str = '{"size": 2}', claims: str = '["convergence"]') -> str:
    return (
        '{"kind": "header", "format": "kvs-sim-history", "version": 1, '
        f'"config": {config}, "claims": {claims}}}'
    )


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([_header()], "has no operations: nothing to check"),
        ([_header(), OP.replace('"rank": 1', '"rank": 2')], ":2: rank 2 is beyond the cluster"),
        ([_header(), OP.replace('"get"', '"teleport"')], ":2: unknown operation 'teleport'"),
        (
            [_header('{"size": 2, "depth": [0, null]}'), OP],
            ":1: config 'depth' must list a non-negative integer per rank, not None for rank 1",
        ),
        ([_header(claims='["atomic"]'), OP], "unknown claim 'atomic' (known: read-your-writes"),
        ([_header(claims='["k-staleness<=two"]'), OP], "whole number of versions"),
        (
            [_header()[:-1] + ', "footer": true}', OP],
            "cut off after line 2: no footer record",
        ),
        (
            [_header(), OP, '{"kind": "footer", "ops": 2, "roots": 0, "nemeses": 0}'],
            ":3: the footer counts 2 ops records but the file has 1",
        ),
        (
            [_header(), '{"kind": "footer", "ops": 0, "roots": 0}', OP],
            ":3: a record after the footer",
        ),
    ],
)
def test_invalid_histories_are_refused_with_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lines: list[str], reason: str
) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main(["check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(f"kvs-sim check: {path}") and reason in line, line


def test_a_history_cut_at_a_line_boundary_is_detected(
    held: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = held.read_text().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(lines[: len(lines) // 2]))
    assert main(["check", str(cut)]) == 2
    assert "cut off after line" in capsys.readouterr().err
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(lines))
    assert main(["check", str(whole)]) == 0


def test_an_older_history_without_footer_is_checked_with_a_note(
    held: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = held.read_text().splitlines()
    old = tmp_path / "old.jsonl"
    old.write_text("\n".join([lines[0].replace(', "footer": true', ""), *lines[1:-1]]) + "\n")
    assert main(["check", str(old)]) == 0
    assert "no footer record (written before kvs-sim wrote footers)" in capsys.readouterr().out


def test_models_and_several_files(
    held: Path, violated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--model", "sequential", str(held), str(violated)]) == 0
    out = capsys.readouterr().out
    assert out.count("sequential  held") == 2
    assert main(["check", "--model", "linearizable", "--json", str(held), str(violated)]) == 1
    docs = json.loads(capsys.readouterr().out)
    assert [d["exit_code"] for d in docs] == [0, 1]
    bad = docs[1]["verdicts"][0]
    assert bad["guarantee"] == "linearizable" and bad["held"] is False
    assert 'read x="old"' in bad["violations"][0]["summary"]
    plots = violated.parent / "plots"
    assert main(["check", "--model", "linearizable", "--plot", str(plots), str(violated)]) == 1
    assert (plots / "violated-linearizable-1.png").stat().st_size > 5000
    capsys.readouterr()
    assert main(["check", "--model", "session", str(violated)]) == 1
    assert "violated: causal" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stop:
        main(["check", "--timeout", "0", str(held)])
    assert stop.value.code == 2
    assert "must be a positive number of seconds" in capsys.readouterr().err
