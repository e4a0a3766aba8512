"""``kvs-sim kvs``: ``flux kvs``-style access to a rank of a live cluster.

``kvs-sim kvs --broker mqtt://127.0.0.1:1883 --rank 3 put a.b=1`` commits on rank
3; ``get``, ``dir``, ``ls``, ``unlink``, ``link``, ``readlink``, ``mkdir``,
``version``, ``wait``, ``getroot``, ``namespace create|remove|list``,
``dropcache`` and ``watch`` follow.  The work is done in
:mod:`kvs_sim.live.kvs_tool`.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from kvs_sim.live.cmdline import add_broker_args

    p: argparse.ArgumentParser = subparsers.add_parser(
        "kvs",
        help="flux kvs-style commands against a live rank",
        description="Read and write the KVS of a live cluster through one of its ranks.",
    )
    add_broker_args(p)
    p.add_argument("--rank", type=int, default=0, help="rank to talk to (default 0)")
    p.add_argument("-N", "--namespace", default="primary", help="namespace (default primary)")
    p.add_argument(
        "--userid", type=int, default=0,
        help="act as this uid, logging in with its account from the credentials file "
        "(default 0, the instance owner); the ranks take the uid from the account",
    )  # fmt: skip
    p.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for a reply (default 10)"
    )
    sub = p.add_subparsers(dest="subcmd", metavar="SUBCOMMAND", required=True)

    def cmd(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_)

    cmd("get", "print the values of keys").add_argument("keys", nargs="+", metavar="KEY")
    put = cmd("put", "store KEY=VALUE pairs (JSON if it parses, else a string) and commit")
    put.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    put.add_argument("--sync", action="store_true", help="commit with SYNC (writes a checkpoint)")
    d = cmd("dir", "list a directory with values")
    d.add_argument("key", nargs="?", default=".", metavar="KEY")
    d.add_argument("-R", "--recursive", action="store_true", help="list subdirectories too")
    cmd("ls", "list the names in a directory (directories end in '.')").add_argument(
        "key", nargs="?", default=".", metavar="KEY"
    )
    cmd("unlink", "remove keys and commit").add_argument("keys", nargs="+", metavar="KEY")
    link = cmd("link", "make LINKNAME a symlink to TARGET ([NS::]KEY) and commit")
    link.add_argument("target", metavar="TARGET")
    link.add_argument("linkname", metavar="LINKNAME")
    cmd("readlink", "print symlink targets").add_argument("keys", nargs="+", metavar="KEY")
    cmd("mkdir", "create empty directories and commit").add_argument(
        "keys", nargs="+", metavar="KEY"
    )
    cmd("version", "print the rank's root version of the namespace")
    cmd("wait", "wait until the rank reaches VERSION").add_argument("version", type=int)
    cmd("getroot", "print the rank's root of the namespace (JSON)")
    cmd("dropcache", "drop the rank's unused cache entries")
    ns = cmd("namespace", "create, remove or list namespaces")
    ns_sub = ns.add_subparsers(dest="ns_cmd", metavar="ACTION", required=True)
    create = ns_sub.add_parser("create", help="create namespaces")
    create.add_argument("names", nargs="+", metavar="NAME")
    create.add_argument("--owner", type=int, help="owner uid (default: --userid)")
    ns_sub.add_parser("remove", help="remove namespaces").add_argument(
        "names", nargs="+", metavar="NAME"
    )
    ns_sub.add_parser("list", help="list namespaces")
    w = cmd("watch", "print the value of KEY now and each time it changes")
    w.add_argument("key", metavar="KEY")
    w.add_argument("--count", type=int, default=0, help="stop after N values (default: never)")
    w.add_argument("--waitcreate", action="store_true", help="wait for KEY to exist")
    w.add_argument("--uniq", action="store_true", help="only when the value changed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import errno
    import os

    from kvs_sim.live.client import LiveClient, RequestTimeout
    from kvs_sim.live.cmdline import CommandError, fail, resolve, run_until_signalled, setup_logging
    from kvs_sim.live.credentials import CredentialsError
    from kvs_sim.live.kvs_tool import KvsError, Tool
    from kvs_sim.live.transport import BrokerUnreachable

    setup_logging(args.verbose)
    try:
        url, cluster = resolve(args)
    except CommandError as exc:
        return fail("kvs", str(exc))

    async def main(stop: asyncio.Event) -> int:
        client = LiveClient(url, cluster=cluster, rank=args.rank, timeout=args.timeout,
                            connect_timeout=1.0, ca_file=args.ca_file, userid=args.userid,
                            credentials=args.credentials)  # fmt: skip
        async with client:
            tool = Tool(client, args.namespace, args.userid, lambda s: print(s, flush=True))
            work = asyncio.ensure_future(getattr(tool, args.subcmd)(args))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not work.done():
                work.cancel()
                return 130
            work.result()
        return 0

    try:
        return int(run_until_signalled(main))
    except (BrokerUnreachable, KvsError, CredentialsError) as exc:
        return fail("kvs", str(exc))
    except RequestTimeout as exc:
        return fail("kvs", f"{_subject(args)}: {os.strerror(errno.ETIMEDOUT)} ({exc})")


def _subject(args: argparse.Namespace) -> str:
    """What the request that timed out was about, as the error line names it."""
    if args.subcmd == "wait":
        return f"wait {args.version}"
    for name in ("keys", "assignments", "names"):
        if getattr(args, name, None):
            return str(getattr(args, name)[0]).partition("=")[0]
    return str(getattr(args, "key", None) or args.subcmd)
