"""Operations: the broker wrapper and its mosquitto live and die together; signals
stop ``broker``, ``up`` and ``kvs watch`` promptly; TLS end to end; rank processes
announce themselves again after the broker lost its state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvs_sim.handle import Handle
from kvs_sim.live.broker import (
    Broker,
    MosquittoNotFound,
    find_mosquitto,
    free_port,
    wait_for_port,
)
from kvs_sim.live.client import LiveBackend, LiveClient
from kvs_sim.live.launch import UpCluster, spawn_up, wait_ready
from kvs_sim.live.transport import BrokerUnreachable

pytestmark = pytest.mark.live

STOP_WITHIN = 0.5
"""Seconds a signalled command may take to exit (issue 16); timed from the signal."""


@pytest.fixture(autouse=True)
def _mosquitto() -> None:
    try:
        find_mosquitto()
    except MosquittoNotFound as exc:
        pytest.skip(f"live tests need mosquitto: {exc}")


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _until(pred: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.01)


@pytest.fixture
def wrapper(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """``kvs-sim broker`` running in the foreground; yields (process, port, credentials)."""
    port, creds = free_port(), tmp_path / "creds.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvs_sim", "broker", "--port", str(port), "--credentials",
         str(creds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on" in line:
            break
    else:
        pytest.fail(f"kvs-sim broker did not start: {proc.stderr.read() if proc.stderr else ''}")
    yield proc, port, creds
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for f in (proc.stdout, proc.stderr):
        if f is not None:
            f.close()


def _mosquitto_of(proc: subprocess.Popen[str]) -> int:
    (child,) = _children(proc.pid)
    return child


def test_broker_runs_unprivileged_and_dies_with_its_wrapper(
    wrapper: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, port, creds = wrapper
    child = _mosquitto_of(proc)
    uid = int(Path(f"/proc/{child}/status").read_text().split("Uid:")[1].split()[1])
    if os.geteuid() == 0:
        assert uid != 0, "the private broker must not run as root"
    assert json.loads(creds.read_text())["clusters"]["default"]["ranks"]["username"]
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait()
    _until(lambda: not _alive(child), 3, "mosquitto stopping after its wrapper was killed")
    with pytest.raises(Exception, match="did not accept"):
        wait_for_port(port, 0.1)


def test_wrapper_says_when_mosquitto_dies(
    wrapper: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, _, _ = wrapper
    os.kill(_mosquitto_of(proc), signal.SIGKILL)
    assert proc.wait(5) == 1
    assert proc.stderr is not None
    assert "kvs-sim broker: mosquitto exited on its own with status -9" in proc.stderr.read()


def test_sigterm_stops_the_broker_promptly(
    wrapper: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, _, creds = wrapper
    child = _mosquitto_of(proc)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(5) == 0
    took = time.monotonic() - t0
    assert took < STOP_WITHIN, f"kvs-sim broker took {took:.2f} s to stop"
    assert not _alive(child)
    assert not creds.exists()  # the accounts die with the broker


def _timed_stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> float:
    t0 = time.monotonic()
    proc.send_signal(sig)
    proc.wait(5)
    return time.monotonic() - t0


def test_up_and_watch_stop_promptly_on_a_signal() -> None:
    with Broker() as b:
        up = spawn_up(b.url, "ops", 2, "0-1")
        try:
            wait_ready([up])
            watch = subprocess.Popen(
                [sys.executable, "-m", "kvs_sim", "kvs", "--broker", b.url, "--cluster", "ops",
                 "get", "--watch", "--waitcreate", "w"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(1.5)  # connected and parked
            assert watch.poll() is None
            took = _timed_stop(watch)
            for f in (watch.stdout, watch.stderr):
                if f is not None:
                    f.close()
            assert took < STOP_WITHIN, f"kvs watch took {took:.2f} s to stop"
            took = _timed_stop(up)
            assert took < STOP_WITHIN, f"kvs-sim up took {took:.2f} s to stop"
            assert up.returncode == 0
        finally:
            for p in (up,):
                if p.poll() is None:
                    p.kill()
                p.wait()
                for f in (p.stdout, p.stderr):
                    if f is not None:
                        f.close()


async def test_tls_end_to_end() -> None:
    with Broker(tls=True) as b, UpCluster(b.url, 4, {"top": "0-1", "bottom": "2-3"}) as up:
        assert b.url.startswith("mqtts://") and b.ca_file is not None
        async with LiveClient(b.url, cluster=up.name) as c:  # the CA from the credentials
            h = Handle(LiveBackend(c), 3)
            await h.put("tls", "ok")
            assert await h.get("tls") == "ok"
        plain = b.url.replace("mqtts://", "mqtt://")
        with pytest.raises(BrokerUnreachable):
            async with LiveClient(plain, cluster=up.name, connect_timeout=0.5):
                pass


def test_rank_processes_announce_themselves_after_the_broker_lost_its_state() -> None:
    with Broker() as b, UpCluster(b.url, 4, {"top": "0-1"}) as up:
        b.stop()
        (b.datadir / "mosquitto.db").unlink(missing_ok=True)  # a fresh broker: no retained status
        b.start()
        time.sleep(2.5)  # the running process reconnects (backoff up to 2 s)
        t0 = time.monotonic()
        late = spawn_up(b.url, up.name, 4, "2-3")
        try:
            wait_ready([late], timeout=20)
            assert time.monotonic() - t0 < 10, "the late process waited for its ancestors"
        finally:
            late.kill()
            late.wait()
            for f in (late.stdout, late.stderr):
                if f is not None:
                    f.close()
