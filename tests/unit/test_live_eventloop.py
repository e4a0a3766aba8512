"""The event loop live processes run on (kvs_sim.live.eventloop)."""

from __future__ import annotations

import asyncio
import sys
import time
from types import SimpleNamespace

import pytest

from kvs_sim.cli import main as cli_main
from kvs_sim.live import eventloop
from kvs_sim.live.eventloop import ENV, EventLoopError

uvloop = pytest.importorskip("uvloop")


async def _loop_type() -> type:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


def test_default_is_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert eventloop.loop_name() == "uvloop"
    assert eventloop.run(_loop_type()) is uvloop.Loop


def test_asyncio_chosen_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "asyncio")
    assert eventloop.loop_name() == "asyncio"
    assert not issubclass(eventloop.run(_loop_type()), uvloop.Loop)
    loop = eventloop.new_event_loop()
    try:
        assert not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_auto_falls_back_to_asyncio_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now fails
    monkeypatch.setenv(ENV, "auto")
    assert eventloop.loop_name() == "asyncio"
    monkeypatch.setenv(ENV, "uvloop")
    with pytest.raises(EventLoopError, match="uvloop is not installed"):
        eventloop.loop_name()


def test_unknown_loop_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "trio")
    with pytest.raises(EventLoopError, match="expected one of auto, uvloop, asyncio"):
        eventloop.loop_name()


def test_cli_reports_a_bad_loop_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV, "trio")
    status = cli_main(["up", "--broker", "mqtt://127.0.0.1:1", "--size", "2", "--no-statedir"])
    err = capsys.readouterr().err
    assert status == 2
    assert f"kvs-sim: {ENV}='trio': expected one of" in err
    assert "Traceback" not in err


def test_blocking_loop_is_asyncio_under_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop started once per blocking call: uvloop's start costs more than it saves."""
    monkeypatch.setenv(ENV, "auto")
    loop = eventloop.new_event_loop(blocking=True)
    try:
        assert not isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
    monkeypatch.setenv(ENV, "uvloop")  # asked for by name: granted
    loop = eventloop.new_event_loop(blocking=True)
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_live_timestamps_are_not_uvloop_milliseconds() -> None:
    """uvloop's loop.time() counts whole milliseconds, cached for a loop
    iteration; ranks, handles and live runs stamp times with the monotonic
    clock every process shares instead (histories, root reports)."""
    from kvs_sim.live.client import LiveBackend
    from kvs_sim.live.incarnation import RankPort

    async def stamps() -> list[float]:
        loop = asyncio.get_running_loop()
        port = RankPort(SimpleNamespace(loop=loop), 3)  # type: ignore[arg-type]
        backend = LiveBackend(None, loop)  # type: ignore[arg-type]
        out = []
        for clock in (port.now, backend.now, loop.time):
            first = clock()
            end = time.perf_counter() + 0.0003  # 0.3 ms, in one loop iteration
            while time.perf_counter() < end:
                pass
            out.append(clock() - first)
        return out

    loop = uvloop.new_event_loop()
    try:
        rank, handle, uv = loop.run_until_complete(stamps())
    finally:
        loop.close()
    assert abs(uv * 1000 - round(uv * 1000)) < 1e-9  # whole milliseconds, if it moved at all
    assert rank >= 0.0003 and handle >= 0.0003
