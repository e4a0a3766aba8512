"""`kvs-sim run` output: a folder that cannot be written is exit 4 before the run, a
failed write leaves no truncated file, and a folder holds one run's files."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from kvs_sim.cli import main

GOOD = '''"""A tiny scenario."""
CLAIMS = ("read-your-writes",)
async def scenario(cluster, args):
    h = cluster.handle(1)
    await h.put("x", 1)
    assert await h.get("x") == 1
'''

VARIANTS = GOOD + 'VARIANTS = {"a": {}, "b": {"fanout": 1}}\n'


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def scenario(tmp_path: Path, text: str = GOOD) -> str:
    path = tmp_path / "good.py"
    path.write_text(text)
    return str(path)


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_an_output_folder_that_cannot_be_created_is_exit_4_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plain-file").write_text("")
    code = main(["run", scenario(tmp_path), "--out", str(tmp_path / "plain-file" / "o")])
    assert code == 4
    line = one_line(capsys)
    assert line.startswith("kvs-sim run: cannot create output directory")


def test_a_read_only_folder_is_exit_4_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    def refuse(*args: object, **kw: object) -> object:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)  # root ignores chmod
    code = main(["run", scenario(tmp_path), "--out", str(tmp_path / "ro")])
    assert code == 4
    line = one_line(capsys)
    assert "cannot write into output directory" in line and "Read-only file system" in line


def test_a_full_disk_while_writing_leaves_no_truncated_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import kvs_sim.history as H

    out = tmp_path / "o"
    assert main(["run", scenario(tmp_path), "--no-plots", "--out", str(out)]) == 0
    before = (out / "history.jsonl").read_bytes()
    capsys.readouterr()
    real_save = H.save

    def half_then_full(history: object, path: Path) -> None:
        real_save(history, path)  # type: ignore[arg-type]
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(H, "save", half_then_full)
    code = main(["run", scenario(tmp_path), "--no-plots", "--out", str(out), "--seed", "4"])
    assert code == 4
    line = one_line(capsys)
    assert "history.jsonl: No space left on device" in line
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left
    assert (out / "history.jsonl").read_bytes() == before  # the earlier run's, whole


def test_a_run_replaces_the_previous_runs_files(tmp_path: Path) -> None:
    out = tmp_path / "o"
    path = scenario(tmp_path, VARIANTS)
    assert main(["run", path, "--out", str(out)]) == 0
    assert (out / "a" / "spacetime.png").exists() and (out / "b" / "history.jsonl").exists()
    (out / "notes.txt").write_text("mine")
    # the same folder, now a scenario without variants and no plots: nothing stale stays
    assert main(["run", scenario(tmp_path), "--out", str(out), "--no-plots"]) == 0
    left = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert left == ["history.jsonl", "notes.txt", "summary.json"]


def test_live_and_simulated_runs_have_their_own_default_folders() -> None:
    from kvs_sim.commands.run import default_out

    assert default_out("ryw", live=False) == Path("out/ryw")
    assert default_out("ryw", live=True) == Path("out/ryw-live")


def test_the_summary_says_which_mode_made_it(tmp_path: Path) -> None:
    assert main(["run", scenario(tmp_path), "--no-plots", "--out", "o"]) == 0
    assert json.loads(Path("o/summary.json").read_text())["mode"] == "simulation"


def test_a_failed_scenario_keeps_the_previous_files(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(["run", scenario(tmp_path), "--no-plots", "--out", str(out)]) == 0
    bad = tmp_path / "bad.py"
    bad.write_text(GOOD.replace("assert await h.get", "raise RuntimeError('x')  #"))
    assert main(["run", str(bad), "--no-plots", "--out", str(out)]) == 3
    assert (out / "history.jsonl").exists() and (out / "summary.json").exists()


def test_a_claim_not_decided_in_time_is_unknown_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import kvs_sim.scenario._run as run_module
    from kvs_sim.checks import Verdict, check_all

    def undecided(history: object, claims: object) -> list[Verdict]:
        out = [v for v in check_all(history, claims) if v.guarantee != "linearizable"]  # type: ignore[arg-type]
        open_ = Verdict(guarantee="linearizable", held=None, checked=0, unknown=["x: budget"])
        return [*out, open_]

    monkeypatch.setattr(run_module, "check_all", undecided)
    text = GOOD.replace('("read-your-writes",)', '("read-your-writes", "linearizable")')
    code = main(["run", scenario(tmp_path, text), "--out", "o", "--no-plots"])
    out = capsys.readouterr().out
    assert code == 3
    assert "not decided within the checkers' time budget: linearizable" in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["exit_code"] == 3
    assert summary["runs"][0]["guarantees"]["linearizable"]["verdict"] == "unknown"
