"""``kvs-sim exec``: an unmodified Flux script against a fresh simulated instance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kvs_sim.cli import main

SCRIPT = Path(__file__).parent / "scripts" / "flux_hello.py"


def run_exec(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(["exec", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_exec_runs_a_flux_script_in_process(capsys: Any) -> None:
    before = (sys.argv[:], sys.path[:], os.environ.get("KVS_SIM_URI"))
    code, out, err = run_exec(capsys, "--rank", "3", "--seed", "1", str(SCRIPT), "a", "-b")
    assert code == 0, err
    assert out.splitlines() == [
        "rank 3 of 8",
        "who: world",
        "args: ['a', '-b']",
        "entries: ['args', 'who']",
        "count: 2",
        "watched: [2, 3]",
    ]
    assert (sys.argv, sys.path, os.environ.get("KVS_SIM_URI")) == before
    assert "flux" not in sys.modules
    code, out, _ = run_exec(capsys, "--size", "2", "--rank", "1", str(SCRIPT))
    assert code == 0 and out.startswith("rank 1 of 2\n")
    assert "entries: ['args', 'who']" in out  # a fresh instance: no "count" from run 1


def test_exec_options_may_follow_the_script(capsys: Any) -> None:
    code, out, _ = run_exec(capsys, str(SCRIPT), "--size", "4", "x", "--rank=3", "--", "--seed")
    assert code == 0
    assert out.splitlines()[:3] == ["rank 3 of 4", "who: world", "args: ['x', '--seed']"]
    with pytest.raises(SystemExit) as info:
        main(["exec", str(SCRIPT), "--rank", "nine"])
    assert info.value.code == 2 and "--rank" in capsys.readouterr().err


def test_exec_exit_codes(capsys: Any, tmp_path: Path) -> None:
    code, _, err = run_exec(capsys, str(SCRIPT), "--exit", "3")
    assert code == 3 and err == ""
    code, _, err = run_exec(capsys, str(SCRIPT), "--fail")
    assert code == 1
    assert 'flux_hello.py", line' in err and "runpy" not in err
    assert err.splitlines()[-1].endswith("failed: RuntimeError: asked to fail")
    code, _, err = run_exec(capsys, str(tmp_path / "missing.py"))
    assert code == 1 and err.count("\n") == 1 and "missing.py: no such file" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--size", "0", "x.py"],
        ["--size", "10000000", "x.py"],
        ["--rank", "8", str(SCRIPT)],
        ["--seed", "minus", "x.py"],
        ["--commit-response", "sometimes", "x.py"],
        [],
    ],
)
def test_exec_bad_flags_exit_2(capsys: Any, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["exec", *argv])
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_exec_commit_response_reaches_the_instance(capsys: Any, tmp_path: Path) -> None:
    script = tmp_path / "report.py"
    script.write_text(
        "import flux, flux.kvs\n"
        "h = flux.Flux()\n"
        "flux.kvs.put(h, 'x', 1)\n"
        "f = flux.kvs.commit_async(h)\n"
        "f.get()\n"
        "print(flux.kvs.get_version(h) - f.get_sequence())\n"
    )
    assert run_exec(capsys, "--rank", "5", str(script))[:2] == (0, "1\n")
    argv = ["--rank", "5", "--commit-response", "documented", str(script)]
    assert run_exec(capsys, *argv)[:2] == (0, "0\n")


def test_python_m_kvs_sim_exec_in_a_subprocess() -> None:
    env = {k: v for k, v in os.environ.items() if k != "KVS_SIM_URI"}
    out = subprocess.run(
        [sys.executable, "-m", "kvs_sim", "exec", "--rank", "2", str(SCRIPT), "x"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:3] == ["rank 2 of 8", "who: world", "args: ['x']"]
    failed = subprocess.run(
        [sys.executable, "-m", "kvs_sim", "exec", str(SCRIPT), "--fail"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert failed.returncode == 1 and "asked to fail" in failed.stderr


def test_exec_refuses_a_size_beyond_runs_limit(capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        main(["exec", "--size", "10000000", str(SCRIPT)])
    assert info.value.code == 2
    assert "must be at most 1,000,000, got 10,000,000" in capsys.readouterr().err


def test_an_api_error_shows_the_scripts_frames_not_kvs_sims(capsys: Any, tmp_path: Path) -> None:
    script = tmp_path / "reads.py"
    script.write_text(
        "import flux, flux.kvs\n"
        "h = flux.Flux()\n"
        "def read(key):\n"
        "    return flux.kvs.get(h, key)\n"
        "read('no.such.key')\n"
    )
    code, _, err = run_exec(capsys, "--rank", "3", str(script))
    assert code == 1
    assert "kvs_sim" not in err.replace(f"{tmp_path}", "")
    lines = err.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert [line.strip() for line in lines if line.strip().startswith('File "')] == [
        f'File "{script}", line 5, in <module>',
        f'File "{script}", line 4, in read',
    ]
    message = "FileNotFoundError: [Errno 2] No such file or directory: 'no.such.key'"
    assert lines[-2] == message
    assert lines[-1] == f"kvs-sim exec: {script} failed: {message}"
    code, _, err = run_exec(capsys, "--traceback", str(script))
    assert code == 1 and "kvs_sim" in err and "flux/_dir.py" in err


SHELL_OUT = """
import os, subprocess, sys
import flux, flux.kvs

def sh(*argv):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return out.returncode, out.stdout, out.stderr

h = flux.Flux()
flux.kvs.put(h, "a", 1)
flux.kvs.commit(h)
assert os.system("flux kvs unlink a") == 0  # a child changes the script's instance
flux.kvs.put(h, "b", 2)
flux.kvs.commit(h)
try:
    flux.kvs.get(h, "a")
    sys.exit("a is still there")
except FileNotFoundError:
    pass
print(sh("flux", "kvs", "get", "b"))
print(sh("flux", "kvs", "put", "c=3"), flux.kvs.get(h, "c"), flux.kvs.get_version(h))
print(sh("flux", "kvs", "eventlog", "append", "-t", "1", "log", "start"))
waiter = subprocess.Popen(["flux", "kvs", "eventlog", "wait-event", "log", "done"],
                          stdout=subprocess.PIPE, text=True)
print(sh("flux", "kvs", "eventlog", "append", "-t", "2", "log", "done"))
print(waiter.communicate(timeout=60)[0].strip())
print(sh("flux", "kvs", "get", "nokey"))
print(sh("flux", "jobs"))
"""


def test_exec_serves_its_instance_to_the_scripts_children(capsys: Any, tmp_path: Path) -> None:
    """A script's ``flux kvs`` shell-outs reach the simulated instance (flux-core's
    t/issues/t5368 does this), on the script's rank, deterministically."""
    script = tmp_path / "shell_out.py"
    script.write_text(SHELL_OUT)
    before = {name: os.environ.get(name) for name in ("PATH", "KVS_SIM_BROKER")}
    code, out, err = run_exec(capsys, "--rank", "5", str(script))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "(0, '2\\n', '')"
    assert lines[1].startswith("(0, '', '') 3 ")
    assert lines[2:5] == ["(0, '', '')", "(0, '', '')", "2.000000 done"]
    assert lines[5] == "(1, '', 'kvs-sim kvs: nokey: No such file or directory\\n')"
    assert "flux jobs: not available under kvs-sim exec (only flux kvs)" in lines[6]
    assert {name: os.environ.get(name) for name in before} == before
    again = run_exec(capsys, "--rank", "5", str(script))
    assert again == (code, out, err)  # the same children, the same run
