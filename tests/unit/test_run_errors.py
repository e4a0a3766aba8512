"""`kvs-sim run` refuses bad input with one clear line and a non-zero exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvs_sim.cli import main

GOOD = '''"""A tiny scenario."""
CLAIMS = ("read-your-writes",)
MIN_SIZE = 3
async def scenario(cluster, args):
    await cluster.handle(1).put("x", 1)
'''


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs without --out write to out/<name> in the current directory: make it tmp."""
    monkeypatch.chdir(tmp_path)


def run_err(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run `kvs-sim run ...`; return the exit code and stderr, checked to be one line."""
    code = main(["run", *argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert lines[0].startswith("kvs-sim run: ")
    return code, lines[0]


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, line = run_err(capsys, str(tmp_path / "nope.py"), "--out", str(tmp_path / "o"))
    assert code == 2
    assert "nope.py: no such file" in line
    assert not (tmp_path / "o").exists()


def test_directory_and_not_python(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, line = run_err(capsys, str(tmp_path))
    assert code == 2 and "is a directory" in line
    code, line = run_err(capsys, write(tmp_path, "history.jsonl", "{}\n"))
    assert code == 2 and "not a Python file" in line


def test_syntax_error_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, line = run_err(capsys, write(tmp_path, "bad.py", '"""x"""\nCLAIMS = (\n'))
    assert code == 2
    assert "bad.py: not valid Python" in line and "line" in line


def test_import_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "imp.py", "import no_such_module_here\n")
    code, line = run_err(capsys, path)
    assert code == 2
    assert "failed to import" in line and "no_such_module_here" in line and "line 1" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"""x"""\nCLAIMS = ()\n', "no scenario(cluster, args) function"),
        ('"""x"""\ndef scenario(c, a): pass\n', "defines no CLAIMS"),
        ('"""x"""\nCLAIMS = ("atomic",)\ndef scenario(c, a): pass\n', "unknown claim 'atomic'"),
        (
            '"""x"""\nCLAIMS = ("k-staleness<=x",)\ndef scenario(c, a): pass\n',
            "whole number of versions",
        ),
        ('"""x"""\nCLAIMS = "causal"\ndef scenario(c, a): pass\n', "list of guarantee names"),
        ('CLAIMS = ()\nDEFAULTS = {"size": 0}\ndef scenario(c, a): pass\n', "size must be"),
        ("CLAIMS = ()\nVARIANTS = {}\ndef scenario(c, a): pass\n", "VARIANTS must be"),
        ("CLAIMS = ()\nMIN_SIZE = 0\ndef scenario(c, a): pass\n", "MIN_SIZE must be"),
    ],
)
def test_unusable_scenario_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    code, line = run_err(capsys, write(tmp_path, "s.py", text), "--no-plots")
    assert code == 2
    assert expected in line


def test_a_raising_scenario_shows_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD + '    raise ValueError("boom")\n'
    code, line = run_err(capsys, write(tmp_path, "raises.py", text), "--out", str(tmp_path / "o"))
    assert code == 3
    assert "raises.py failed: ValueError: boom" in line
    assert 'line 6: raise ValueError("boom")' in line


def test_a_kvs_error_in_the_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD + '    await cluster.handle(2).get("missing")\n'
    code, line = run_err(capsys, write(tmp_path, "enoent.py", text), "--no-plots")
    assert code == 3
    assert "NoSuchKey" in line and "'missing'" in line and "line 6" in line


def test_a_sync_scenario_raising(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = '"""x"""\nCLAIMS = ()\ndef scenario(cluster, args):\n    return 1 / 0\n'
    code, line = run_err(capsys, write(tmp_path, "div.py", text), "--no-plots")
    assert code == 3 and "ZeroDivisionError" in line and "line 4: return 1 / 0" in line


def test_a_stalled_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD + "    await cluster.channel().recv(cluster.handle(0))\n"
    code, line = run_err(capsys, write(tmp_path, "stall.py", text), "--seed", "4", "--no-plots")
    assert code == 3 and "stalled" in line and "seed 4" in line


def test_a_scenario_past_its_max_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        '"""x"""\nCLAIMS = ()\nDEFAULTS = {"max_time": 0.01}\n'
        "async def scenario(cluster, args):\n    while True:\n        await cluster.sleep(1e-3)\n"
    )
    code, line = run_err(capsys, write(tmp_path, "forever.py", text), "--no-plots")
    assert code == 3 and "did not finish within 0.01 s of virtual time" in line


def test_a_bad_return_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD + "    return {'findings': {}, 'plots': 1}\n"
    code, line = run_err(capsys, write(tmp_path, "ret.py", text), "--no-plots")
    assert code == 3 and "'findings'" in line and "plots" in line


def test_traceback_on_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD + '    raise ValueError("boom")\n'
    code = main(["run", write(tmp_path, "raises.py", text), "--no-plots", "--traceback"])
    err = capsys.readouterr().err
    assert code == 3
    assert "Traceback" in err and "raises.py" in err
    assert err.strip().splitlines()[-1].startswith("kvs-sim run: ")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--size", "0"], "--size must be an integer from 1"),
        (["--size", "abc"], "--size must be an integer, got 'abc'"),
        (["--size", "2.5"], "--size must be an integer, got '2.5'"),
        (["--fanout", "0"], "--fanout must be an integer from 1"),
        (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
        (["--seed", "x"], "--seed must be an integer, got 'x'"),
        (["--latency", "fast"], "--latency"),
        (["--events", "bus"], "--events must be 'tree' or 'broker'"),
        (["--size", "2"], "needs --size >= 3, got 2"),
    ],
)
def test_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, line = run_err(capsys, write(tmp_path, "good.py", GOOD), *argv, "--no-plots")
    assert code == 2
    assert expected in line


def test_the_good_scenario_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "good.py", GOOD)
    assert main(["run", path, "--no-plots", "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "history.jsonl").exists()
    assert (tmp_path / "o" / "summary.json").exists()
    assert capsys.readouterr().err == ""


def test_set_overrides_a_scenario_parameter_and_rejects_unknown_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kvs_sim.history import load

    scenario = Path(__file__).parents[2] / "scenarios" / "commit_merging.py"
    out = tmp_path / "m"
    code = main(
        ["run", str(scenario), "--size", "7", "--set", "writers=2", "--set", "commits=3",
         "--no-plots", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    history = load(out / "merged" / "history.jsonl")
    assert history.header.config["params"]["writers"] == 2
    assert sum(1 for o in history.ops if o.op == "commit") == 6
    assert main(["run", str(scenario), "--set", "nope=1"]) == 2
    assert "has no such parameter (it has: commits, writers;" in capsys.readouterr().err
