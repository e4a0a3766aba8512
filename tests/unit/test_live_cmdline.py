"""Bad broker options of the live commands: one clear line, no traceback (issue 15)."""

from __future__ import annotations

import pytest

from kvs_sim.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["kvs", "--broker", "mqtt://127.0.0.1:0", "get", "a"],
        ["up", "--size", "2", "--broker", "mqtt://127.0.0.1:0"],
    ],
)
def test_port_0_is_refused_in_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        f"kvs-sim {argv[0]}: invalid broker URL 'mqtt://127.0.0.1:0': port must be 1-65535, got 0"
    )


@pytest.mark.parametrize("command", [["kvs"], ["up", "--size", "2"]])
def test_a_missing_ca_file_is_named(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    argv = [command[0], "--ca-file", "/nonexistent.pem", *command[1:]]
    assert main([*argv, "get", "a"] if command == ["kvs"] else argv) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"kvs-sim {command[0]}: CA file /nonexistent.pem does not exist"
    assert "reach" not in err
