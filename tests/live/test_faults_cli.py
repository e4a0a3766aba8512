"""``kvs-sim nemesis`` by hand: crash and restart a rank's process; bad input."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kvs_sim.handle import Handle
from kvs_sim.live.broker import Broker
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.launch import UpCluster
from kvs_sim.live.nemesis import Control, NemesisError, kill

pytestmark = pytest.mark.live

SIZE = 4


def _nemesis(url: str, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvs_sim", "nemesis", "--broker", url, "--cluster", name, *args],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_crash_by_hand_kills_and_restarts_the_process_of_a_rank(
    broker: Broker, tmp_path: Path
) -> None:
    with UpCluster(broker.url, SIZE, {"top": "0-1", "rest": "2-3"}, cwd=str(tmp_path)) as up:
        async with LiveClient(up.url, cluster=up.name, timeout=10) as c:
            await Handle(LiveBackend(c), 3).put("c.a", 1)
            r = await asyncio.to_thread(
                _nemesis, up.url, up.name, "crash", "3", "--restart-after", "0.2"
            )
            assert r.returncode == 0, r.stderr
            assert "killed ranks 2-3" in r.stdout and "restarted 2-3" in r.stdout
            assert up.procs["rest"].wait(5) == -signal.SIGKILL
            async with Control(up.url, up.name) as ctl:
                try:
                    # A request sent before the restarted process is subscribed is
                    # lost with the dead one (as in Flux): wait for its status.
                    for _ in range(400):
                        with contextlib.suppress(NemesisError):
                            if ctl.process_of(3)[0] != up.procs["rest"].pid:
                                break
                        await asyncio.sleep(0.05)
                    # the restarted process rejoins: rank 3 reads the current root
                    got = Handle(LiveBackend(c), 3).get("c.a")
                    assert await asyncio.wait_for(got, 15) == 1
                finally:
                    pid, _ = ctl.process_of(3)
                    kill(pid, signal.SIGTERM)
        assert (tmp_path / "up-2-3.log").exists()
        missing = await asyncio.to_thread(_nemesis, up.url, up.name, "crash", "3")
        assert missing.returncode == 1
        assert "no running rank process hosts rank 3" in missing.stderr


def test_bad_nemesis_input_is_one_line_and_exit_2(broker: Broker) -> None:
    r = _nemesis(broker.url, "x", "partition", "1-2")
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        == "kvs-sim nemesis: partition needs --size (and --fanout) to know the tree"
    )
    r = _nemesis(broker.url, "x", "slow", "1", "--factor", "0.5")
    assert r.returncode == 2 and "slow factor must be" in r.stderr
