"""``kvs-sim kvs`` against live ranks: what ``flux kvs`` prints and how it exits.

Expected outputs follow flux-kvs(1) and Flux's own CLI tests: values as stored,
``KEY = VALUE`` listings with full keys, ``ls -F`` marks, roots as RFC 11
dirrefs, ``unlink`` refusing missing keys and non-empty directories, eventlogs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from kvs_sim.cli import main
from kvs_sim.live.broker import Broker
from kvs_sim.live.launch import UpCluster

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def cluster(broker: Broker) -> Iterator[UpCluster]:
    with UpCluster(broker.url, 4, cluster="kvscli", extra=["--no-statedir"]) as c:
        yield c


class Kvs:
    """Runs ``kvs-sim kvs`` in-process on a rank; ``(status, stdout, stderr)``."""

    def __init__(self, cluster: UpCluster, capsys: Any) -> None:
        self.base = ["kvs", "--broker", f"{cluster.url}/{cluster.name}", "--timeout", "10"]
        self.capsys = capsys

    def __call__(self, *args: str, rank: int = 0) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            code = main([*self.base, "--rank", str(rank), *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *args: str, rank: int = 0) -> str:
        code, out, err = self(*args, rank=rank)
        assert code == 0, err
        return out


@pytest.fixture
def kvs(cluster: UpCluster, capsys: Any) -> Kvs:
    return Kvs(cluster, capsys)


def test_put_get_as_flux_prints_them(kvs: Kvs) -> None:
    kvs.ok("put", "v.int=42", "v.str=foo", 'v.obj={"a": 42}', "v.empty=", rank=3)
    assert kvs.ok("get", "v.int", "v.str", "v.obj", rank=3) == '42\nfoo\n{"a": 42}\n'
    assert kvs.ok("get", "v.empty", rank=3) == ""  # an empty value prints nothing
    assert kvs.ok("get", "-l", "v.int", rank=3) == "v.int=42\n"
    assert kvs.ok("get", "-r", "v.str", rank=3) == "foo"
    assert json.loads(kvs.ok("get", "-t", "v.int", rank=3)) == {
        "data": "NDI=",
        "type": "val",
        "ver": 1,
    }
    kvs.ok("put", "-t", 'v.nul={"data":"YgBj","type":"val","ver":1}', rank=3)  # b'b\0c'
    assert kvs.ok("get", "v.nul", rank=3) == "b\n"  # a C string: up to the NUL
    assert kvs.ok("get", "-r", "v.nul", rank=3) == "b\0c"  # every byte
    kvs.ok("put", "-A", "v.str=bar", rank=3)
    assert kvs.ok("get", "v.str", rank=3) == "foobar\n"
    code, _, err = kvs("get", "--watch", "--stream", "v.int")
    assert (code, err) == (1, "kvs-sim kvs: v.int: Invalid argument\n")  # as Flux: refused
    code, _, err = kvs("eventlog", "get", "-w", "-S", "v.int")
    assert (code, err) == (1, "kvs-sim kvs: v.int: Invalid argument\n")
    code, _, err = kvs("put", "novalue")
    assert code == 1 and err == "kvs-sim kvs: put: you must specify a value as key=value\n"


def test_commit_outputs_and_getroot(kvs: Kvs) -> None:
    seq = int(kvs.ok("put", "-s", "r.a=1"))
    blobref = kvs.ok("put", "-b", "r.a=2").strip()
    assert blobref.startswith("sha1-") and int(kvs.ok("version")) >= seq + 1
    root = json.loads(kvs.ok("put", "-O", "r.a=3"))
    assert root["type"] == "dirref" and root["ver"] == 1
    assert json.loads(kvs.ok("getroot")) == root
    assert kvs.ok("getroot", "-b").strip() == root["data"][0]
    assert int(kvs.ok("getroot", "-s")) == int(kvs.ok("version"))
    assert kvs.ok("getroot", "-o") == "0\n"
    assert kvs.ok("get", "--at", json.dumps(root), "r.a") == "3\n"
    kvs.ok("put", "r.a=4")
    assert kvs.ok("get", "-a", json.dumps(root), "r.a") == "3\n"  # the old snapshot
    assert kvs.ok("sync") == ""


def test_dir_and_ls(kvs: Kvs) -> None:
    kvs.ok("put", "t.a.b.c=1", "t.a.b.d=two", "t.a.x=3", rank=2)
    kvs.ok("mkdir", "t.a.empty", rank=2)
    kvs.ok("link", "t.a.b.c", "t.a.lnk", rank=2)
    assert kvs.ok("dir", "-R", "t.a.", rank=2).splitlines() == [
        "t.a.b.c = 1",
        "t.a.b.d = two",
        "t.a.empty.",
        "t.a.lnk -> t.a.b.c",
        "t.a.x = 3",
    ]
    assert kvs.ok("dir", "t.a", rank=2).splitlines() == [
        "t.a.b.",
        "t.a.empty.",
        "t.a.lnk -> t.a.b.c",
        "t.a.x = 3",
    ]
    assert kvs.ok("dir", "-d", "t.a.b", rank=2).splitlines() == ["t.a.b.c", "t.a.b.d"]
    assert kvs.ok("ls", "-1", "-F", "t.a", rank=2).splitlines() == ["b.", "empty.", "lnk@", "x"]
    assert kvs.ok("ls", "-w", "80", "t.a.b", rank=2) == "c    d\n"
    assert kvs.ok("ls", "-R", "-1", "t.a.b", rank=2) == "t.a.b:\nc\nd\n"
    assert (
        kvs.ok("ls", "-d", "-F", "t.a", "t.a.x", rank=2) == "t.a." + " " * 5 + "t.a.x\n"
    )  # columns of the widest + 4
    code, _, err = kvs("ls", "t.a.x.", rank=2)  # a trailing dot: must be a directory
    assert code == 1 and err == "t.a.x: Not a directory\n"
    assert kvs.ok("readlink", "t.a.lnk", rank=2) == "t.a.b.c\n"
    code, _, err = kvs("dir", "a", "b")
    assert code == 1 and "specify zero or one directory" in err


def test_unlink_fails_as_flux_does(kvs: Kvs) -> None:
    kvs.ok("put", "u.d.k=1", "u.v=2")
    code, _, err = kvs("unlink", "u.nosuch")
    assert (code, err) == (1, "kvs-sim kvs: cannot unlink 'u.nosuch': No such file or directory\n")
    assert kvs.ok("unlink", "-f", "u.nosuch") == ""
    code, _, err = kvs("unlink", "u.d")
    assert (code, err) == (1, "kvs-sim kvs: cannot unlink 'u.d': Directory not empty\n")
    kvs.ok("unlink", "-R", "u.d")
    assert kvs("get", "u.d.k")[0] == 1
    assert int(kvs.ok("unlink", "-s", "u.v")) > 0


def test_namespaces_links_copy_move(kvs: Kvs) -> None:
    kvs.ok("namespace", "create", "-o", "1000", "cli-ns")
    listing = kvs.ok("namespace", "list").splitlines()
    assert listing[0] == "NAMESPACE" + " " * 33 + "OWNER      FLAGS"
    assert "cli-ns                                     1000 0x00000000" in listing
    kvs.ok("put", "-N", "cli-ns", "k=in-ns", rank=1)
    kvs.ok("--namespace", "cli-ns", "put", "k2=also", rank=1)  # -N before the subcommand
    assert kvs.ok("get", "--namespace=cli-ns", "k", "k2", rank=1) == "in-ns\nalso\n"
    kvs.ok("link", "-T", "cli-ns", "k", "nslink")
    assert kvs.ok("readlink", "nslink") == "cli-ns::k\n"
    assert kvs.ok("readlink", "-o", "nslink") == "cli-ns\n"
    assert kvs.ok("readlink", "-k", "nslink") == "k\n"
    kvs.ok("copy", "-S", "cli-ns", "k", "copied")
    assert kvs.ok("get", "copied") == "in-ns\n"
    kvs.ok("move", "copied", "moved")
    assert kvs.ok("get", "moved") == "in-ns\n" and kvs("get", "copied")[0] == 1
    code, _, err = kvs("-N", "nosuchns", "get", "k")
    assert code == 1
    assert err == (
        "kvs-sim kvs: k: Operation not supported (namespace 'nosuchns' does not exist)\n"
    )
    assert kvs("namespace", "remove", "nosuchns") == (0, "", "")  # as Flux: nothing to do
    root = kvs.ok("getroot", "-N", "cli-ns")
    kvs.ok("namespace", "create", "--rootref", root.strip(), "cli-ns2")
    assert kvs.ok("get", "-N", "cli-ns2", "k") == "in-ns\n"
    blobref = kvs.ok("getroot", "-b", "-N", "cli-ns").strip()  # what Flux's --rootref takes
    kvs.ok("namespace", "create", f"--rootref={blobref}", "cli-ns3")
    assert kvs.ok("get", "-N", "cli-ns3", "k2") == "also\n"
    unknown = "sha1-" + "0123456789abcdef" * 2 + "01234567"  # taken as it is, as by Flux
    kvs.ok("namespace", "create", "-r", unknown, "cli-ns4")
    assert json.loads(kvs.ok("get", "-N", "cli-ns4", "-t", "."))["data"] == [unknown]
    code, _, err = kvs("wait", "-N", "nosuchns", "1")
    assert code == 1 and err.startswith("kvs-sim kvs: flux_kvs_wait_version: Operation not")


def test_guests_and_errors(kvs: Kvs) -> None:
    kvs.ok("namespace", "create", "-o", "1000", "guest-ns")
    assert kvs.ok("--userid", "1000", "put", "-N", "guest-ns", "g=1") == ""
    code, _, err = kvs("--userid", "1000", "link", "-N", "guest-ns", "g", "glink")
    assert code == 1 and "Operation not permitted (guests may not commit symlink" in err
    code, _, err = kvs("--userid", "1000", "get", "g")  # primary is the owner's
    assert code == 1 and "Operation not permitted" in err


def test_watch_and_eventlogs(kvs: Kvs, cluster: UpCluster) -> None:
    base = [sys.executable, "-m", "kvs_sim", *kvs.base, "--rank", "3"]
    watcher = subprocess.Popen(
        [*base, "get", "--watch", "-W", "--count", "2", "w.k"], stdout=subprocess.PIPE, text=True
    )
    kvs.ok("put", "w.k=1")
    assert watcher.stdout is not None and watcher.stdout.readline() == "1\n"
    waiter = subprocess.Popen(
        [*base, "eventlog", "wait-event", "-W", "-t", "20", "-v", "w.log", "done"],
        stdout=subprocess.PIPE,
        text=True,
    )
    kvs.ok("eventlog", "append", "-t", "1.5", "w.log", "start", '{"n":', "1}")
    kvs.ok("eventlog", "append", "-t", "2", "w.log", "done")
    kvs.ok("put", "w.k=2")
    assert waiter.communicate(timeout=30)[0] == "1.500000 start n=1\n2.000000 done\n"
    assert waiter.returncode == 0
    assert watcher.communicate(timeout=30)[0] == "2\n"
    assert watcher.returncode == 0
    assert kvs.ok("eventlog", "get", "-u", "w.log").splitlines() == [
        '{"timestamp":1.5,"name":"start","context":{"n":1}}',
        '{"timestamp":2.0,"name":"done"}',  # a double, as Flux stores it
    ]
    colored = kvs.ok("eventlog", "get", "-L", "w.log")  # -L alone: colour, KEY kept
    assert "\x1b[" in colored and "start" in colored
    assert "\x1b[" not in kvs.ok("eventlog", "wait-event", "--color=never", "w.log", "done")
    code, _, err = kvs("eventlog", "wait-event", "-t", "0.5", "w.log", "never")
    assert (code, err) == (1, "kvs-sim kvs: wait-event timeout on event 'never'\n")
    code, _, err = kvs("eventlog", "wait-event", "w.nolog", "x")
    assert (code, err) == (1, "kvs-sim kvs: eventlog path w.nolog not found\n")
    code, _, err = kvs("eventlog", "append", "w.log", "bad", "[1]")
    assert code == 1 and "'context' must be a JSON object" in err
    kvs.ok("put", "w.notlog=x")
    code, _, err = kvs("eventlog", "get", "w.notlog")
    assert code == 1 and err.startswith("kvs-sim kvs: cannot decode improperly formatted")


def test_put_raw_reads_standard_input(cluster: UpCluster) -> None:
    big = "x" * 300_000  # too big for a command line on many systems
    base = [sys.executable, "-m", "kvs_sim", "kvs", "--broker", f"{cluster.url}/{cluster.name}"]
    put = subprocess.run(
        [*base, "put", "-r", "big=-"], input=big, text=True, timeout=60, check=False
    )
    assert put.returncode == 0
    got = subprocess.run(
        [*base, "get", "big"], capture_output=True, text=True, timeout=60, check=False
    )
    assert got.stdout == big + "\n"


def test_eventlog_watch_count_and_a_wait_for_an_absent_event(kvs: Kvs) -> None:
    """flux-kvs(1): ``eventlog get --watch --count=N`` stops after N events already
    there; ``wait-event`` for an event the eventlog lacks keeps waiting (Flux's
    test kills it), it does not fail at once."""
    kvs.ok("eventlog", "append", "--timestamp=42", "c.log", "foo")
    kvs.ok("eventlog", "append", "--timestamp=43", "c.log", "bar")
    base = [sys.executable, "-m", "kvs_sim", *kvs.base]
    got = subprocess.run(
        [*base, "eventlog", "get", "--watch", "--unformatted", "--count=2", "c.log"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert (got.returncode, got.stdout) == (
        0,
        '{"timestamp":42.0,"name":"foo"}\n{"timestamp":43.0,"name":"bar"}\n',
    )
    assert kvs.ok("eventlog", "get", "-W", "-u", "c.log").splitlines() == [  # every event
        '{"timestamp":42.0,"name":"foo"}',
        '{"timestamp":43.0,"name":"bar"}',
    ]
    kvs.ok("put", "-A", "c.text=ab", "c.text=cd")  # two appends: two answers to -w -A
    assert kvs.ok("get", "-w", "-A", "-c", "2", "c.text") == "ab\ncd\n"
    waiter = subprocess.Popen([*base, "eventlog", "wait-event", "c.log", "foobar"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiter.wait(3.0)  # still waiting
    finally:
        waiter.kill()
        waiter.wait(10)
