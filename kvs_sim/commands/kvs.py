"""``kvs-sim kvs``: the ``flux kvs`` command line, against a rank of a live cluster.

``kvs-sim kvs --broker mqtt://127.0.0.1:1883 --rank 3 put a.b=1`` commits on rank
3.  Every subcommand and option of ``flux kvs`` (flux-kvs(1)) is accepted, prints
what Flux prints and exits as Flux exits (0, or 1 with one line on stderr when
the operation fails); ``-N/--namespace`` may be given before or after the
subcommand and defaults to ``$FLUX_KVS_NAMESPACE``, else ``primary``.
kvs-sim's extras: ``--broker``/``--cluster``/``--ca-file`` (where the cluster
is), ``--rank`` (which rank answers; Flux uses the local broker), ``--userid``
(who asks), ``--timeout`` (how long to wait for an answer), and the
``dropcache`` and ``watch`` subcommands (``dropcache`` is gone from current
Flux; ``watch`` is ``get --watch``).  Bad usage exits 2 before anything is sent.
The work is done in :mod:`kvs_sim.live.kvs_tool`.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from kvs_sim.commands._argtypes import int_at_least, positive_seconds

_nonneg_int = int_at_least(0)


def _duration(text: str) -> float:
    """Flux's duration syntax: a number with an optional unit s, m, h or d."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    scale = units.get(text[-1:])
    number = text[:-1] if scale is not None else text
    try:
        value = float(number) * (scale or 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return value


BARE_COLOR = "--color-alone"
"""What a bare ``-L``/``--color`` becomes before parsing (hidden: color=None)."""
_FLAGS_BEFORE_L = re.compile(r"-[HuWwSqv]+L")


class _AttachedColorParser(argparse.ArgumentParser):
    """``-L/--color`` takes an optional argument only when attached (``-Lalways``,
    ``--color=never``), as Flux's optparse gives it: a bare ``-L`` or ``--color``
    means ``always`` and never swallows the next word (``-L KEY`` is KEY)."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if args is not None:
            args = _attach_color(list(args))
        return super().parse_known_args(args, namespace)


def _attach_color(args: list[str]) -> list[str]:
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        if arg in ("-L", "--color"):
            out.append(BARE_COLOR)
        elif _FLAGS_BEFORE_L.fullmatch(arg):  # -HL: flags, then a bare -L
            out += [arg[:-1], BARE_COLOR]
        else:
            out.append(arg)
    return out


def register(subparsers: Any) -> None:
    from kvs_sim.live.cmdline import add_broker_args

    p: argparse.ArgumentParser = subparsers.add_parser(
        "kvs",
        help="the flux kvs command line against a live rank",
        description="Read and write the KVS of a live cluster through one of its ranks, "
        "with flux kvs's subcommands and options.",
    )
    add_broker_args(p)
    p.add_argument("--rank", type=_nonneg_int, default=0, help="rank to talk to (default 0)")
    p.add_argument(
        "--userid", type=_nonneg_int, default=0,
        help="act as this uid, logging in with its account from the credentials file "
        "(default 0, the instance owner); the ranks take the uid from the account",
    )  # fmt: skip
    p.add_argument(
        "--timeout",
        type=positive_seconds,
        default=10.0,
        help="seconds to wait for each reply (default 10)",
    )
    p.add_argument("-N", "--namespace", default=None, help="namespace (default primary)")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-N", "--namespace", default=argparse.SUPPRESS, help="namespace")
    sub = p.add_subparsers(dest="subcmd", metavar="SUBCOMMAND", required=True)

    def cmd(name: str, help_: str, parent: Any = sub) -> argparse.ArgumentParser:
        return parent.add_parser(name, help=help_, description=help_, parents=[common])

    def flag(q: argparse.ArgumentParser, short: str, long: str, help_: str) -> None:
        q.add_argument(short, long, action="store_true", help=help_)

    def root_output(q: argparse.ArgumentParser) -> None:
        flag(q, "-O", "--treeobj-root", "print the new root as an RFC 11 tree object")
        flag(q, "-b", "--blobref", "print the new root's blobref")
        flag(q, "-s", "--sequence", "print the new root's sequence (version)")

    g = cmd("get", "print the values of keys")
    g.add_argument("keys", nargs="+", metavar="KEY")
    flag(g, "-r", "--raw", "print the value as it is, without a newline")
    flag(g, "-t", "--treeobj", "print the RFC 11 tree object")
    g.add_argument("-a", "--at", metavar="TREEOBJ", help="look up relative to this dirref")
    flag(g, "-l", "--label", "print KEY= before each value")
    flag(g, "-W", "--waitcreate", "wait for a missing key to appear")
    flag(g, "-w", "--watch", "print the value now and each time it changes")
    g.add_argument("-c", "--count", type=_nonneg_int, default=0, help="with -w: stop after N")
    flag(g, "-u", "--uniq", "with -w: only when the value changed")
    flag(g, "-A", "--append", "with -w: only the data appended")
    flag(g, "-f", "--full", "with -w: also changes made through a parent directory")
    flag(g, "-S", "--stream", "accepted: values arrive in one answer here")

    put = cmd("put", "store KEY=VALUE pairs in one commit")
    put.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    root_output(put)
    flag(put, "-r", "--raw", "store VALUE as it is (VALUE '-': standard input)")
    flag(put, "-t", "--treeobj", "VALUE is an RFC 11 tree object (VALUE '-': standard input)")
    flag(put, "-n", "--no-merge", "commit with NO_MERGE")
    flag(put, "-A", "--append", "append VALUE to the key's value")
    flag(put, "-S", "--sync", "commit with SYNC (flush and checkpoint)")

    for name, help_ in (("dir", "list a directory with values"), ("ls", "list directories")):
        d = cmd(name, help_)
        d.add_argument("keys", nargs="*", metavar="KEY")
        flag(d, "-R", "--recursive", "list subdirectories too")
        flag(d, "-d", "--directory", "list directory entries, not values (ls: the key itself)")
        d.add_argument("-w", "--width", type=_nonneg_int, help="columns (0: no limit)")
        if name == "dir":
            d.add_argument("-a", "--at", metavar="TREEOBJ", help="list relative to this dirref")
        else:
            flag(d, "-1", "--1", "one entry per line")
            flag(d, "-F", "--classify", "mark directories '.' and symlinks '@'")

    u = cmd("unlink", "remove keys in one commit")
    u.add_argument("keys", nargs="+", metavar="KEY")
    root_output(u)
    flag(u, "-R", "--recursive", "remove non-empty directories too")
    flag(u, "-f", "--force", "ignore missing keys")

    link = cmd("link", "make LINKNAME a symlink to TARGET")
    link.add_argument("target", metavar="TARGET")
    link.add_argument("linkname", metavar="LINKNAME")
    link.add_argument("-T", "--target-namespace", metavar="NS", help="TARGET's namespace")
    root_output(link)

    rl = cmd("readlink", "print symlink targets")
    rl.add_argument("keys", nargs="+", metavar="KEY")
    rl.add_argument("-a", "--at", metavar="TREEOBJ", help="look up relative to this dirref")
    flag(rl, "-o", "--namespace-only", "print only the target's namespace (if it has one)")
    flag(rl, "-k", "--key-only", "print only the target's key")

    mk = cmd("mkdir", "create empty directories in one commit")
    mk.add_argument("keys", nargs="+", metavar="KEY")
    root_output(mk)

    for name, help_ in (("copy", "copy SOURCE to DESTINATION"), ("move", "copy, then unlink")):
        cp = cmd(name, help_)
        cp.add_argument("source", metavar="SOURCE")
        cp.add_argument("destination", metavar="DESTINATION")
        cp.add_argument("-S", "--src-namespace", metavar="NS", help="SOURCE's namespace")
        cp.add_argument("-D", "--dst-namespace", metavar="NS", help="DESTINATION's namespace")

    cmd("version", "print the rank's root version of the namespace")
    cmd("wait", "wait until the rank reaches VERSION").add_argument("version", type=_nonneg_int)
    gr = cmd("getroot", "print the rank's root of the namespace (an RFC 11 dirref)")
    flag(gr, "-o", "--owner", "print the namespace's owner")
    flag(gr, "-b", "--blobref", "print the root's blobref")
    flag(gr, "-s", "--sequence", "print the root's sequence (version)")
    cmd("sync", "flush content and checkpoint (a SYNC commit of nothing)")
    cmd("dropcache", "drop the rank's unused cache entries (kvs-sim; gone from Flux)")

    ns = cmd("namespace", "create, remove or list namespaces")
    ns_sub = ns.add_subparsers(dest="ns_cmd", metavar="ACTION", required=True)
    create = cmd("create", "create namespaces", ns_sub)
    create.add_argument("names", nargs="+", metavar="NAME")
    create.add_argument("-o", "--owner", type=_nonneg_int, help="owner uid (default: --userid)")
    create.add_argument("-r", "--rootref", metavar="BLOBREF",
                        help="start from this root (a blobref, or an RFC 11 dirref)")  # fmt: skip
    cmd("remove", "remove namespaces", ns_sub).add_argument("names", nargs="+", metavar="NAME")
    cmd("list", "list namespaces", ns_sub)

    ev = cmd("eventlog", "RFC 18 eventlogs: append, get, wait-event")
    ev_sub = ev.add_subparsers(
        dest="ev_cmd", metavar="ACTION", required=True, parser_class=_AttachedColorParser
    )
    app = cmd("append", "append an event NAME [CONTEXT] to the eventlog KEY", ev_sub)
    app.add_argument("key", metavar="KEY")
    app.add_argument("name", metavar="NAME")
    app.add_argument("context", nargs="*", metavar="CONTEXT", help="a JSON object")
    app.add_argument("-t", "--timestamp", type=float, default=0.0, help="seconds since epoch")
    eg = cmd("get", "print the events of the eventlog KEY", ev_sub)
    eg.add_argument("key", metavar="KEY")
    flag(eg, "-W", "--waitcreate", "wait for a missing eventlog to appear")
    flag(eg, "-w", "--watch", "print new events as they are appended")
    eg.add_argument("-c", "--count", type=_nonneg_int, default=0, help="with -w: stop after N")
    flag(eg, "-S", "--stream", "accepted: the eventlog arrives in one answer here")
    ew = cmd("wait-event", "wait for the event NAME in the eventlog KEY", ev_sub)
    ew.add_argument("key", metavar="KEY")
    ew.add_argument("event", metavar="NAME")
    flag(ew, "-W", "--waitcreate", "wait for a missing eventlog to appear")
    ew.add_argument("-t", "--timeout", dest="wait_timeout", type=_duration, default=None)
    flag(ew, "-q", "--quiet", "do not print the matched event")
    flag(ew, "-v", "--verbose", "also print the events before it")
    for q in (eg, ew):
        flag(q, "-u", "--unformatted", "print events in RFC 18 form")
        flag(q, "-H", "--human", "print times human-readably")
        q.add_argument("-L", "--color", metavar="WHEN", default="",
                       choices=("always", "never", "auto"),
                       help="colour: -L/--color alone: always; -LWHEN or --color=WHEN "
                       "(attached, as in Flux); default auto, never if $NO_COLOR")  # fmt: skip
        q.add_argument(BARE_COLOR, dest="color", action="store_const", const=None,
                       help=argparse.SUPPRESS)  # fmt: skip

    w = cmd("watch", "print the value of KEY now and each time it changes (get -w)")
    w.add_argument("key", metavar="KEY")
    w.add_argument("--count", type=_nonneg_int, default=0, help="stop after N values")
    w.add_argument("--waitcreate", action="store_true", help="wait for KEY to exist")
    w.add_argument("--uniq", action="store_true", help="only when the value changed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import errno
    import os

    from kvs_sim.commands._exec_link import SCHEME as LINK_SCHEME
    from kvs_sim.commands._exec_link import LinkClient
    from kvs_sim.live.client import LiveClient, RequestTimeout
    from kvs_sim.live.cmdline import CommandError, fail, resolve, run_until_signalled, setup_logging
    from kvs_sim.live.credentials import CredentialsError
    from kvs_sim.live.kvs_tool import KvsError, Tool, namespace_of
    from kvs_sim.live.transport import BrokerUnreachable

    setup_logging(args.verbose)
    linked = args.broker.startswith(LINK_SCHEME)  # a child of kvs-sim exec
    try:
        url, cluster = (args.broker, "") if linked else resolve(args)
    except CommandError as exc:
        return fail("kvs", str(exc))
    ns = namespace_of(args)

    async def main(stop: asyncio.Event) -> int:
        client: Any
        if linked:
            client = LinkClient(args.broker, rank=args.rank, timeout=args.timeout)
        else:
            client = LiveClient(url, cluster=cluster, rank=args.rank, timeout=args.timeout,
                                connect_timeout=1.0, ca_file=args.ca_file, userid=args.userid,
                                credentials=args.credentials)  # fmt: skip
        async with client:
            tool = Tool(client, ns, args.userid)
            work = asyncio.ensure_future(tool.run(args))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not work.done():
                work.cancel()
                return 130
            return int(work.result())

    try:
        return int(run_until_signalled(main))
    except (BrokerUnreachable, KvsError, CredentialsError, ConnectionError) as exc:
        return fail("kvs", str(exc))
    except RequestTimeout as exc:
        return fail("kvs", f"{_subject(args)}: {os.strerror(errno.ETIMEDOUT)} ({exc})")


def _subject(args: argparse.Namespace) -> str:
    """What the request that timed out was about, as the error line names it."""
    if args.subcmd == "wait":
        from kvs_sim.live.kvs_tool import WAIT_SUBJECT

        return WAIT_SUBJECT
    for name in ("keys", "assignments", "names"):
        if getattr(args, name, None):
            return str(getattr(args, name)[0]).partition("=")[0]
    return str(getattr(args, "key", None) or args.subcmd)
