"""``flux.eventlog`` on a simulated instance: append, read, watch, wait; virtual time."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from kvs_sim.flux import Flux, eventlog, kvs
from kvs_sim.sim.cluster import Cluster

RANKS = pytest.mark.parametrize("rank", [0, 6], ids=["leader", "follower"])


@pytest.fixture
def c() -> Cluster:
    return Cluster(size=8, fanout=2, seed=3)


@RANKS
def test_append_and_get_with_virtual_timestamps(c: Cluster, rank: int) -> None:
    h = Flux(cluster=c, rank=rank)
    eventlog.append(h, "job.log", "submit", {"user": 5})
    t0 = c.now
    eventlog.append(h, "job.log", "start", '{"ranks": [1, 2]}')
    eventlog.append(h, "job.log", "finish", timestamp=99.5)
    events = eventlog.get(h, "job.log")
    assert [e.name for e in events] == ["submit", "start", "finish"]
    assert events[0].timestamp == 0.0 and events[1].timestamp == pytest.approx(t0)
    assert events[2].timestamp == 99.5 and events[2].context == {}
    assert events[1].context_string == '{"ranks":[1,2]}'
    raw = kvs.get(h, "job.log")  # an ordinary value underneath: three JSON lines
    assert isinstance(raw, str) and raw.count("\n") == 3
    fmt = eventlog.EventLogFormatter(format="json")
    assert fmt.format(events[2]) == '{"timestamp":99.5,"name":"finish"}'


def test_same_seed_same_eventlog(c: Cluster) -> None:
    def run() -> str:
        other = Cluster(size=8, fanout=2, seed=3)
        h = Flux(cluster=other, rank=5)
        for name in ("a", "b", "c"):
            eventlog.append(h, "log", name)
        return str(kvs.get(h, "log"))

    assert run() == run()


@RANKS
def test_watch_sees_old_events_then_appended_ones(c: Cluster, rank: int) -> None:
    writer, reader = Flux(cluster=c, rank=3), Flux(cluster=c, rank=rank)
    eventlog.append(writer, "w.log", "one")
    eventlog.append(writer, "w.log", "two")
    c.run()
    fut = eventlog.event_watch_async(reader, "w.log")
    assert [fut.get_event().name, fut.get_event().name] == ["one", "two"]
    eventlog.append(writer, "w.log", "three", {"n": 3})
    event = fut.get_event()
    assert (event.name, event.context) == ("three", {"n": 3})
    fut.cancel()
    assert fut.get_event() is None


def test_watch_waits_for_creation_and_event_wait(c: Cluster) -> None:
    writer, reader = Flux(cluster=c, rank=2), Flux(cluster=c, rank=7)
    created = eventlog.event_watch_async(reader, "late.log", waitcreate=True)
    eventlog.append(writer, "late.log", "hello")
    assert created.get_event().name == "hello"
    created.cancel()
    eventlog.append(writer, "late.log", "done", {"status": 0})
    assert eventlog.event_wait(reader, "late.log", "done").context == {"status": 0}
    with pytest.raises(TimeoutError) as info:
        eventlog.event_wait(reader, "late.log", "never", timeout=0.25)
    assert info.value.errno == errno.ETIMEDOUT
    names = []
    for event in eventlog.event_watch(reader, "late.log"):
        names.append(event.name)
        if event.name == "done":
            break
    assert names == ["hello", "done"]


def test_malformed_events_and_logs_are_einval(c: Cluster) -> None:
    h = Flux(cluster=c, rank=1)
    with pytest.raises(OSError, match="'name' must be a non-empty string"):
        eventlog.append(h, "log", "")
    with pytest.raises(OSError, match="'context' must be a JSON object"):
        eventlog.append(h, "log", "x", "[1]")
    with pytest.raises(OSError, match="'timestamp' must be a finite number >= 0"):
        eventlog.append(h, "log", "x", timestamp=-1)
    with pytest.raises(TypeError, match="append\\(\\) argument 'name' must be str"):
        eventlog.append(h, "log", 7)  # type: ignore[arg-type]
    kvs.put(h, "notalog", {"a": 1})
    kvs.commit(h)
    with pytest.raises(OSError) as info:
        eventlog.get(h, "notalog")
    assert info.value.errno == errno.EINVAL and "newline" in str(info.value)
    with pytest.raises(FileNotFoundError):
        eventlog.get(h, "missing.log")
    assert not kvs.exists(h, "log")  # nothing half-written


def test_eventlog_is_importable_as_flux_eventlog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kvs_sim.cli import main

    script = tmp_path / "ev.py"
    script.write_text(
        "import flux, flux.eventlog\n"
        "h = flux.Flux()\n"
        "flux.eventlog.append(h, 'j.log', 'submit')\n"
        "print([str(e) for e in flux.eventlog.get(h, 'j.log')])\n"
    )
    assert main(["exec", "--rank", "4", str(script)]) == 0
    assert capsys.readouterr().out == "['0.00000: submit {}']\n"
