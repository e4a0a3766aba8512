"""``kvs-sim nemesis``: inflict a fault on a live cluster by hand.

``crash`` and ``stop`` signal the ``kvs-sim up`` process hosting a rank (this
host only); ``partition``, ``pause``, ``slow``, ``spike`` and ``loss`` are
applied by every rank process from the cluster's retained nemesis topic until
``heal``, or for ``--for`` seconds (the command waits, then heals).  See
``docs/faults-live.md``.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    from kvs_sim.live.cmdline import add_broker_args

    p: argparse.ArgumentParser = subparsers.add_parser(
        "nemesis",
        help="inflict a fault on a live cluster (crash, stop, partition, pause, ...)",
        description="Inflict a fault on live ranks: crash or stop a rank's process, "
        "partition links, pause setroot delivery, slow a rank, add latency or loss.",
    )
    add_broker_args(p)
    p.add_argument("--size", type=int, help="cluster size (needed for partitions of ranks)")
    p.add_argument("--fanout", type=int, default=2, help="k of the k-ary tree (default 2)")
    sub = p.add_subparsers(dest="fault", required=True, metavar="FAULT")

    def timed(q: argparse.ArgumentParser) -> None:
        q.add_argument("--for", dest="duration", type=float, metavar="S",
                       help="heal after S seconds (default: until 'heal')")  # fmt: skip

    q = sub.add_parser("crash", help="SIGKILL the process hosting RANK (and restart it)")
    q.add_argument("rank", type=int)
    q.add_argument("--restart-after", type=float, metavar="S",
                   help="start the same command again after S seconds, detached")  # fmt: skip
    q = sub.add_parser("stop", help="SIGSTOP the process hosting RANK, SIGCONT after --for")
    q.add_argument("rank", type=int)
    q.add_argument("--for", dest="duration", type=float, required=True, metavar="S")
    q = sub.add_parser("partition", help="cut RANKS (e.g. 3-4,7) off from the rest of the tree")
    q.add_argument("ranks", metavar="RANKS")
    q.add_argument("--mode", choices=("hold", "drop"), default="hold",
                   help="messages across the cut wait for the heal (default) or are lost",
                   )  # fmt: skip
    timed(q)
    q = sub.add_parser("pause", help="hold setroot delivery to RANK")
    q.add_argument("rank", type=int)
    timed(q)
    q = sub.add_parser("slow", help="multiply RANK's service time by --factor")
    q.add_argument("rank", type=int)
    q.add_argument("--factor", type=float, default=10.0)
    timed(q)
    q = sub.add_parser("spike", help="add --extra seconds to every message on link PARENT-CHILD")
    q.add_argument("link", metavar="PARENT-CHILD")
    q.add_argument("--extra", type=float, default=0.05)
    timed(q)
    q = sub.add_parser("loss", help="lose setroot events with probability --rate")
    q.add_argument("--rate", type=float, required=True)
    timed(q)
    q = sub.add_parser("heal", help="heal fault ID (default: every active one)")
    q.add_argument("id", nargs="?")
    sub.add_parser("list", help="print the active faults")
    p.set_defaults(func=run)


def _fault(args: argparse.Namespace) -> dict[str, Any]:
    """The fault dict rank processes apply (``kvs_sim.live.faults``) for a
    ``partition``/``pause``/``slow``/``spike``/``loss``; CommandError if bad."""
    from kvs_sim.live.cmdline import CommandError
    from kvs_sim.live.ranks import parse_ranks
    from kvs_sim.overlay import Overlay

    if args.duration is not None and not args.duration > 0:
        raise CommandError("--for must be > 0 seconds")
    tree = Overlay.kary(args.size, args.fanout) if args.size else None
    name = args.fault
    if name == "partition":
        if tree is None:
            raise CommandError("partition needs --size (and --fanout) to know the tree")
        try:
            inside = set(parse_ranks(args.ranks, tree.size))
        except ValueError as exc:
            raise CommandError(f"partition: {exc}") from None
        links = [
            [p, c] for c, p in enumerate(tree.parent) if p >= 0 and (c in inside) != (p in inside)
        ]
        if not links:
            raise CommandError(f"partition {args.ranks} cuts no link (it is the whole tree)")
        return {"name": name, "links": links, "mode": args.mode}
    if name in ("pause", "slow"):
        if args.rank < 0 or (tree is not None and args.rank >= tree.size):
            raise CommandError(f"no rank {args.rank}")
        if name == "pause":
            return {"name": name, "ranks": [args.rank]}
        if not 1 <= args.factor < float("inf"):
            raise CommandError(f"slow factor must be a finite number >= 1, not {args.factor:g}")
        return {"name": name, "ranks": [args.rank], "factor": args.factor}
    if name == "spike":
        a, sep, b = args.link.partition("-")
        if not (sep and a.isdigit() and b.isdigit()) or a == b:
            raise CommandError(f"a link is PARENT-CHILD, e.g. 1-3, not {args.link!r}")
        link = [int(a), int(b)]
        if tree is not None and not (
            tree.parent[link[1]] == link[0] if link[1] < tree.size else False
        ):
            raise CommandError(f"{args.link} is not a link of the tree (rank {b}'s parent)")
        if not args.extra > 0:
            raise CommandError("--extra must be > 0 seconds")
        return {"name": name, "links": [link], "extra": args.extra}
    if not 0 < args.rate < 1:
        raise CommandError(f"loss rate must be a probability in (0, 1), not {args.rate:g}")
    return {"name": name, "links": None, "rate": args.rate}


def run(args: argparse.Namespace) -> int:
    import sys

    from kvs_sim.live import eventloop
    from kvs_sim.live.cmdline import CommandError, fail, resolve, setup_logging
    from kvs_sim.live.nemesis import NemesisError
    from kvs_sim.live.transport import BrokerUnreachable

    setup_logging(args.verbose)
    try:
        url, cluster = resolve(args)
        fault = (
            _fault(args) if args.fault in ("partition", "pause", "slow", "spike", "loss") else {}
        )
        return int(eventloop.run(_main(args, url, cluster, fault)))
    except CommandError as exc:
        print(f"kvs-sim nemesis: {exc}", file=sys.stderr)
        return 2
    except (NemesisError, BrokerUnreachable) as exc:
        return fail("nemesis", str(exc))
    except KeyboardInterrupt:
        return 130


async def _main(args: argparse.Namespace, url: Any, cluster: str, fault: dict[str, Any]) -> int:
    import asyncio
    import json
    import signal

    from kvs_sim.live import nemesis as nm
    from kvs_sim.live.ranks import format_ranks

    async with nm.Control(url, cluster, ca_file=args.ca_file) as ctl:
        if args.fault == "list":
            for f in ctl.active.values():
                print(json.dumps(f, sort_keys=True))
            return 0
        if args.fault == "heal":
            healed = ctl.heal(args.id)
            print(f"kvs-sim nemesis: healed {', '.join(healed) or 'nothing'}")
            return 0
        if args.fault in ("crash", "stop"):
            pid, ranks = ctl.process_of(args.rank)
            what = f"ranks {format_ranks(ranks)} (pid {pid})"
            if args.fault == "stop":
                nm.kill(pid, signal.SIGSTOP)
                print(f"kvs-sim nemesis: stopped {what} for {args.duration:g} s", flush=True)
                try:
                    await asyncio.sleep(args.duration)
                finally:
                    nm.kill(pid, signal.SIGCONT)
                print(f"kvs-sim nemesis: continued {what}")
                return 0
            cmd, cwd = nm.command_of(pid)
            nm.kill(pid, signal.SIGKILL)
            print(f"kvs-sim nemesis: killed {what}", flush=True)
            if args.restart_after is None:
                print(f"kvs-sim nemesis: restart with (in {cwd}): {' '.join(cmd)}")
                return 0
            await asyncio.sleep(args.restart_after)
            proc = nm.respawn(cmd, cwd, ranks)
            print(f"kvs-sim nemesis: restarted {format_ranks(ranks)} as pid {proc.pid}")
            return 0
        ident = ctl.add(fault)
        await ctl.applied()  # in effect in every rank process (a warning after 3 s if not)
        print(f"kvs-sim nemesis: {ident} {json.dumps(fault, sort_keys=True)}", flush=True)
        if args.duration is None:
            return 0
        try:
            await asyncio.sleep(args.duration)
        finally:
            ctl.heal(ident)
        print(f"kvs-sim nemesis: healed {ident}")
        return 0
