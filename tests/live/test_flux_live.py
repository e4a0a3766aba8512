"""The Flux-compatible API on a live cluster: ``KVS_SIM_URI=mqtt://...``."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvs_sim.flux import Flux, constants, kvs
from kvs_sim.live.broker import Broker
from kvs_sim.live.instance import LiveInstance, connect
from kvs_sim.live.launch import UpCluster

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def cluster(broker: Broker) -> Iterator[UpCluster]:
    with UpCluster(broker.url, 4, {"top": "0-1", "bottom": "2-3"}) as c:
        yield c


@pytest.fixture
def instance(cluster: UpCluster) -> Iterator[LiveInstance]:
    inst = connect(f"{cluster.url}/{cluster.name}?rank=3&size=4&timeout=10")
    yield inst
    inst.close()


def test_flux_kvs_calls_block_until_the_live_answer(instance: LiveInstance) -> None:
    h = Flux(cluster=instance, rank=3)
    kvs.put(h, "flux.live.a", {"x": 1})
    kvs.commit(h)
    assert kvs.get(h, "flux.live.a") == {"x": 1}  # read-your-writes on rank 3
    version = kvs.get_version(h)
    other = Flux(cluster=instance, rank=1)
    kvs.wait_version(other, version)
    assert kvs.get(other, "flux.live.a") == {"x": 1}
    assert h.attr_get("size") == "4"
    with pytest.raises(FileNotFoundError):
        kvs.get(h, "flux.live.missing")
    with pytest.raises(OSError) as info:
        kvs.wait_version(h, version + 1000, timeout=0.2)
    assert info.value.errno == errno.ETIMEDOUT
    kvs.put(h, "flux.live.after", 2)  # the handle still works after a timeout
    kvs.commit(h)
    assert kvs.get(h, "flux.live.after") == 2


def test_an_unmodified_script_runs_live_through_the_environment(
    cluster: UpCluster, tmp_path: Path
) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            from kvs_sim.flux import Flux, kvs
            h = Flux()
            kvs.put(h, "flux.live.script", [h.get_rank(), "done"])
            kvs.commit(h)
            print(kvs.get(h, "flux.live.script"))
            """
        )
    )
    env = dict(os.environ, KVS_SIM_URI=f"{cluster.url}/{cluster.name}?rank=2&size=4")
    out = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[2, 'done']"


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("mqtt://127.0.0.1:1/x?bogus=1", "unknown parameter"),
        ("mqtt://127.0.0.1:1/x?rank=a", "rank must be a number"),
        ("mqtt://127.0.0.1:1/x?timeout=0", "timeout must be positive"),
    ],
)
def test_bad_live_uris_are_explained(uri: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        connect(uri)


def test_reactor_run_returns_once_the_last_watch_is_cancelled(instance: LiveInstance) -> None:
    h = Flux(cluster=instance, rank=3)
    assert h.reactor_run() == 0  # nothing to wait for: at once
    kvs.put(h, "flux.live.w", 1)
    kvs.commit(h)
    seen: list[object] = []

    def cb(fut: kvs.KVSWatchFuture, arg: object) -> None:
        seen.append(fut.get())
        if seen[-1] == 1:
            txn = kvs.KVSTxn(h)
            txn.put("flux.live.w", 2)
            txn.commit_async()
        elif seen[-1] == 2:
            fut.cancel()

    kvs.kvs_watch_async(h, "flux.live.w").then(cb)
    assert h.reactor_run() == 0  # returns on its own, as Flux's reactor does
    assert seen == [1, 2, None]


def test_live_errors_read_as_flux_binding_errors(instance: LiveInstance) -> None:
    h = Flux(cluster=instance, rank=2)
    with pytest.raises(FileNotFoundError) as info:
        kvs.get(h, "flux.live.nothing")
    assert str(info.value) == "[Errno 2] No such file or directory: 'flux.live.nothing'"
    with pytest.raises(OSError, match="No such file"):
        kvs.KVSDir(h, "flux.live.nodir")
    with pytest.raises(OSError) as info:
        kvs.get(h, "k", namespace="flux-live-nosuchns")
    assert "namespace 'flux-live-nosuchns' does not exist" in str(info.value)


@pytest.mark.parametrize("extra", [[], ["--checkpoint-period", "0"]])
def test_no_checkpoint_at_start(broker: Broker, extra: list[str]) -> None:
    """Flux writes no checkpoint when the KVS starts (flux-core's t0035 asks for
    ENOENT on a fresh instance): ``up`` on a fresh statedir, with or without a
    checkpoint period, writes a start mark (its epoch), which a lookup does not
    see; a SYNC commit writes a checkpoint."""
    with UpCluster(broker.url, 2, extra=extra) as fresh:
        inst = connect(f"{fresh.url}/{fresh.name}?rank=1&size=2&timeout=10")
        try:
            for rank in (0, 1):
                with pytest.raises(FileNotFoundError):
                    kvs.kvs_checkpoint_lookup(Flux(cluster=inst, rank=rank))
            h = Flux(cluster=inst, rank=1)
            kvs.put(h, "flux.live.synced", 1)
            kvs.commit(h, flags=constants.FLUX_KVS_SYNC)
            (checkpoint,) = kvs.kvs_checkpoint_lookup(h)
            assert checkpoint["sequence"] == kvs.get_version(h)
        finally:
            inst.close()


def test_a_handle_outliving_its_broker_exits_quietly(tmp_path: Path) -> None:
    """A script whose broker went away before it exited: the handle is closed at
    exit without asyncio's "Future exception was never retrieved" noise."""
    script = tmp_path / "outlive.py"
    script.write_text(
        textwrap.dedent(
            """
            from kvs_sim.flux import Flux, kvs
            from kvs_sim.live.broker import Broker
            from kvs_sim.live.launch import UpCluster

            with Broker() as b, UpCluster(b.url, 2, {"all": "0-1"}, extra=["--no-statedir"]) as up:
                h = Flux(f"{b.url}/{up.name}?rank=1")
                kvs.put(h, "outlive.k", 1)
                kvs.commit(h)
                print("committed", kvs.get(h, "outlive.k"))
            """
        )
    )
    run = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "committed 1"
    assert "never retrieved" not in run.stderr
    assert "Traceback" not in run.stderr
