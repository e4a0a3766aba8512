"""The teaching demos tell their story: each one's findings, the pauses, the command."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from kvs_sim.cli import main
from kvs_sim.demo import DEMOS, Narrator


def quiet() -> Narrator:
    return Narrator(Console(file=io.StringIO(), width=100), auto=True)


def test_ryw_demo_shows_the_writer_fresh_and_the_far_reader_stale() -> None:
    found = DEMOS["ryw"][1](quiet(), 1)
    assert found["writer read"] == "new"
    assert found["far read"] == "old"
    assert found["far read after wait_version"] == "new"
    assert found["stale ranks when the commit returned"] > 0


def test_handoff_demo_shows_the_off_by_one() -> None:
    found = DEMOS["handoff"][1](quiet(), 1)
    assert found["reported"] == found["produced"] - 1
    assert found["read after reported"] == "old"
    assert found["read after get_version"] == "new"


def test_merging_demo_shows_what_a_watcher_misses_and_the_cure() -> None:
    found = DEMOS["merging"][1](quiet(), 1)
    merged, separate = found["merged (default)"], found["NO_MERGE"]
    assert merged["versions"] < 8 and merged["watcher saw"] == merged["versions"]
    assert separate == {"versions": 8, "watcher saw": 8}


def test_dropcache_demo_shows_faults_up_the_tree() -> None:
    found = DEMOS["dropcache"][1](quiet(), 1)
    cold, warm, dropped = found["faults"]
    assert cold > 0 and warm == 0 and dropped > 0
    assert found["after dropcache ms"] > found["warm read ms"]


def test_a_demo_pauses_between_steps_unless_auto() -> None:
    asked: list[str] = []
    out = io.StringIO()
    n = Narrator(Console(file=out, width=100), ask=lambda prompt: asked.append(prompt) or "")
    DEMOS["handoff"][1](n, 1)
    assert len(asked) == 2 and "Enter" in asked[0]
    text = out.getvalue()
    assert "step 1" in text and "rank 14" in text and "why:" in text


def test_a_closed_stdin_runs_straight_through() -> None:
    def eof(prompt: str) -> str:
        raise EOFError

    n = Narrator(Console(file=io.StringIO()), ask=eof)
    n.pause()
    assert n.auto


@pytest.mark.parametrize("name", list(DEMOS))
def test_every_demo_runs_from_the_command_line_and_replays(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", name, "--auto"]) == 0
    first = capsys.readouterr().out
    assert main(["demo", name, "--auto"]) == 0
    assert capsys.readouterr().out == first  # virtual time: the same story every time
    assert f"demo: {name}" in first


def test_demo_lists_and_refuses_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in DEMOS)
    assert main(["demo", "nope"]) == 2
    assert "no demo named 'nope'" in capsys.readouterr().err
