"""``kvs-sim kvs`` argument handling and output helpers, without a cluster.

Bad usage exits 2 at once with one line (nothing is sent, nothing waits);
``-N`` works before and after the subcommand and ``FLUX_KVS_NAMESPACE`` is
the default; listings are laid out and cut as ``flux kvs`` does.
"""

from __future__ import annotations

import argparse
import errno
import time
from typing import Any

import pytest

from kvs_sim.cli import build_parser
from kvs_sim.live.kvs_listing import columns, key_at, kv_line
from kvs_sim.live.kvs_tool import KvsError, dirref, namespace_of, rootref_of


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["kvs", *argv])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rank", "-1", "get", "a"], "argument --rank: must be >= 0, got -1"),
        (["--timeout", "0", "get", "a"], "argument --timeout: must be a positive number"),
        (["--timeout", "-3", "get", "a"], "argument --timeout: must be a positive number"),
        (["--timeout", "soon", "get", "a"], "expected a number of seconds, got 'soon'"),
        (["get"], "the following arguments are required: KEY"),
        (["get", "-c", "-2", "-w", "a"], "argument -c/--count: must be >= 0"),
        (["eventlog", "wait-event", "-t", "x", "k", "e"], "invalid duration 'x'"),
        (["namespace", "create", "-o", "root", "ns"], "argument -o/--owner"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_bad_usage_exits_2_at_once(capsys: Any, argv: list[str], message: str) -> None:
    start = time.monotonic()
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert time.monotonic() - start < 2  # refused, not waited for


def test_namespace_before_or_after_the_subcommand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLUX_KVS_NAMESPACE", raising=False)
    assert namespace_of(parse("get", "k")) == "primary"
    assert namespace_of(parse("-N", "a", "get", "k")) == "a"
    assert namespace_of(parse("get", "-N", "b", "k")) == "b"
    assert namespace_of(parse("get", "--namespace=c", "k")) == "c"
    assert namespace_of(parse("eventlog", "get", "-N", "d", "k")) == "d"
    assert namespace_of(parse("namespace", "list", "-N", "e")) == "e"
    monkeypatch.setenv("FLUX_KVS_NAMESPACE", "env")
    assert namespace_of(parse("get", "k")) == "env"
    assert namespace_of(parse("get", "-N", "b", "k")) == "b"


def test_every_flux_kvs_option_is_accepted() -> None:
    a = parse(
        "get", "-r", "-t", "-a", "{}", "-l", "-W", "-w", "-c", "3", "-u", "-A", "-f", "-S", "k"
    )
    assert (a.raw, a.treeobj, a.label, a.waitcreate, a.watch, a.count) == (True,) * 2 + (
        True,
        True,
        True,
        3,
    )
    a = parse("put", "-O", "-b", "-s", "-r", "-t", "-n", "-A", "-S", "k=v")
    assert a.no_merge and a.append and a.sync and a.treeobj_root
    assert parse("dir", "-R", "-d", "-w", "0", "-a", "{}", "x").width == 0
    assert getattr(parse("ls", "-R", "-d", "-w", "9", "-1", "-F", "x", "y"), "1")
    assert parse("unlink", "-O", "-b", "-s", "-R", "-f", "k").force
    assert parse("link", "-T", "ns", "-O", "t", "l").target_namespace == "ns"
    assert parse("readlink", "-a", "{}", "-o", "-k", "l").key_only
    assert parse("mkdir", "-O", "-b", "-s", "d").blobref
    assert parse("copy", "-S", "a", "-D", "b", "s", "d").dst_namespace == "b"
    assert parse("move", "s", "d").subcmd == "move"
    assert parse("getroot", "-o", "-b", "-s").owner
    assert parse("namespace", "create", "-o", "5", "-r", "{}", "n").owner == 5
    a = parse("eventlog", "append", "-t", "2.5", "k", "name", '{"a":', "1}")
    assert (a.timestamp, a.context) == (2.5, ['{"a":', "1}"])
    a = parse("eventlog", "get", "-W", "-w", "-c", "1", "-u", "-H", "-L", "-S", "k")
    assert (a.color, a.key) == (None, "k")  # -L alone: always
    a = parse("eventlog", "wait-event", "-W", "-t", "1.5m", "-u", "-q", "-v", "-H", "k", "e")
    assert a.wait_timeout == 90.0
    for sub in ("version", "sync", "dropcache", "namespace list"):
        assert parse(*sub.split()).subcmd == sub.split()[0]


def test_error_lines() -> None:
    assert str(KvsError("k", errno.ENOENT, "no such key 'k'")) == "k: No such file or directory"
    assert str(KvsError("k", errno.EOPNOTSUPP, "namespace 'x' does not exist")) == (
        "k: Operation not supported (namespace 'x' does not exist)"
    )
    assert str(KvsError("put", 0, "you must specify a value as key=value")) == (
        "put: you must specify a value as key=value"
    )


def test_dirrefs_and_at() -> None:
    ref = "sha1-" + "a" * 40
    assert dirref(ref) == '{"data":["' + ref + '"],"type":"dirref","ver":1}'
    assert rootref_of(dirref(ref)) == ref
    assert rootref_of(ref, blobref=True) == ref  # namespace create --rootref BLOBREF
    assert rootref_of(dirref(ref), blobref=True) == ref
    for bad in ("", "{}", "[1]", '{"type":"val","data":"x"}', ref):
        with pytest.raises(KvsError) as info:
            rootref_of(bad)
        assert info.value.errnum == errno.EINVAL


def test_listing_layout() -> None:
    assert key_at(".", "a") == "a"
    assert key_at("t.a.b.", "c") == "t.a.b.c"
    assert kv_line("k", "v", 80) == "k = v"
    assert kv_line("k", "x" * 100, 20) == "k = " + "x" * 13 + "..."
    assert kv_line("k", "one\ntwo", 80) == "k = one..."
    assert kv_line("k", "one\n", 80) == "k = one"
    assert kv_line("k", "x" * 100, 0) == "k = " + "x" * 100  # 0: no limit
    assert kv_line("k", "x" * 100, 3) == "k = " + "x" * 100  # too narrow: no limit
    assert columns(["a", "bb", "ccc"], 80) == ["a      bb     ccc"]
    assert columns(["a", "bb", "ccc"], 15) == ["a      bb", "ccc"]
    assert columns(["a", "bb"], 1) == ["a", "bb"]
    assert columns([], 80) == []


@pytest.mark.parametrize(
    ("argv", "color", "rest"),
    [
        (["-L", "k"], None, ["k"]),  # a bare -L never takes the next word
        (["--color", "k"], None, ["k"]),
        (["-Lalways", "k"], "always", ["k"]),
        (["--color=never", "k"], "never", ["k"]),
        (["-HL", "k"], None, ["k"]),
        (["-HLauto", "k"], "auto", ["k"]),
        (["k"], "", ["k"]),  # not given: auto, or never under $NO_COLOR
        (["-L", "always", "k"], None, ["always", "k"]),  # "always" is the KEY here
    ],
)
def test_color_takes_only_an_attached_value(
    argv: list[str], color: str | None, rest: list[str]
) -> None:
    a = parse("eventlog", "wait-event", *argv, "ev") if len(rest) == 1 else None
    if a is not None:
        assert (a.color, a.key, a.event) == (color, rest[0], "ev")
    a = parse("eventlog", "get", *argv) if len(rest) == 1 else None
    if a is not None:
        assert (a.color, a.key) == (color, rest[0])
    if len(rest) == 2:  # wait-event KEY NAME: the word after -L is the key
        a = parse("eventlog", "wait-event", *argv)
        assert (a.color, a.key, a.event) == (color, *rest)


@pytest.mark.parametrize("bad", ["--color=foo", "-Lfoo", "--color="])
def test_color_rejects_other_values(capsys: Any, bad: str) -> None:
    with pytest.raises(SystemExit) as info:
        parse("eventlog", "get", bad, "k")
    assert info.value.code == 2 and "argument -L/--color" in capsys.readouterr().err


def test_color_when(monkeypatch: pytest.MonkeyPatch) -> None:
    from kvs_sim.live.kvs_eventlog import _formatter

    event = {"timestamp": 1.0, "name": "x"}

    def shown(*argv: str) -> str:
        return _formatter(parse("eventlog", "get", *argv, "k")).format(event)

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[" in shown("-L") and "\x1b[" in shown("--color=always")
    assert "\x1b[" not in shown("--color=never") and "\x1b[" not in shown()  # not a tty
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert "\x1b[" in shown() and "\x1b[" in shown("--color=auto")  # a tty
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in shown() and "\x1b[" in shown("--color=auto")
    assert "\x1b[" in shown("-L")  # an explicit -L wins over $NO_COLOR
    assert shown("-u", "-L") == '{"timestamp":1.0,"name":"x"}'  # allowed, never coloured
    for bad in (("-u", "--color=always"), ("-u", "-H")):
        with pytest.raises(KvsError, match="--unformatted with --human or --color=always"):
            shown(*bad)
