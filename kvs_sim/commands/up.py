"""``kvs-sim up``: run some (or all) ranks of a live cluster until stopped.

Several ``up`` processes with disjoint ``--ranks`` on the same broker and cluster
make one cluster; each starts its ranks once their ancestors are up.  The line
``kvs-sim up: ready ...`` on stdout says the ranks have started.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

DEFAULT_STATEDIR = ".kvs-sim"
"""Relative to the working directory; one subdirectory per cluster."""
ENV_STATEDIR = "KVS_SIM_STATEDIR"
DEFAULT_CHECKPOINT_PERIOD = 5.0
STORE_FILE = "content.sqlite"


def store_path(args: argparse.Namespace, cluster: str) -> Path | None:
    """Where rank 0 keeps its content (None: in memory)."""
    if args.store:
        return Path(args.store)
    if args.no_statedir:
        return None
    base = args.statedir or os.environ.get(ENV_STATEDIR)
    statedir = Path(base) if base else Path(DEFAULT_STATEDIR) / cluster
    return statedir / STORE_FILE


def register(subparsers: Any) -> None:
    from kvs_sim.live.cmdline import add_broker_args

    p: argparse.ArgumentParser = subparsers.add_parser(
        "up",
        help="run live ranks over an MQTT broker",
        description="Run ranks of a live kvs-sim cluster over MQTT until Ctrl-C or SIGTERM.",
    )
    p.add_argument("--size", type=int, required=True, help="number of ranks in the cluster")
    p.add_argument("--fanout", type=int, default=2, help="k of the k-ary tree (default 2)")
    p.add_argument("--ranks", metavar="SPEC", help="ranks hosted here, e.g. 0-3,5 (default all)")
    p.add_argument(
        "--events", choices=("tree", "broker"), default="tree",
        help="events travel the tree (default) or fan out from the broker",
    )  # fmt: skip
    p.add_argument(
        "--commit-response", choices=("observed", "documented"), default="observed",
        help="what a follower's commit reports (default: observed, as Flux 0.88)",
    )  # fmt: skip
    p.add_argument(
        "--local", action=argparse.BooleanOptionalAction, default=True,
        help="messages between ranks hosted by this process go directly, not through the "
        "broker (default; --no-local sends every hop through the broker, e.g. to watch it)",
    )  # fmt: skip
    p.add_argument(
        "--statedir", metavar="DIR",
        help="rank 0: keep the content store (content.sqlite) here, so a restarted leader "
        f"resumes from its last checkpoint (default ${ENV_STATEDIR}, "
        f"else {DEFAULT_STATEDIR}/<cluster>)",
    )  # fmt: skip
    p.add_argument(
        "--no-statedir", action="store_true",
        help="rank 0 keeps content in memory only: a restarted leader starts empty",
    )  # fmt: skip
    p.add_argument(
        "--store", metavar="PATH",
        help="rank 0: the SQLite content file itself (instead of DIR/content.sqlite)",
    )  # fmt: skip
    p.add_argument(
        "--checkpoint-period", metavar="SECONDS", type=float, default=DEFAULT_CHECKPOINT_PERIOD,
        help="rank 0 checkpoints its root this often, besides on every SYNC commit and at "
        f"a clean shutdown (default {DEFAULT_CHECKPOINT_PERIOD:g}; 0: only those)",
    )  # fmt: skip
    p.add_argument(
        "--qos", type=int, choices=(0, 1), default=1,
        help="MQTT QoS between ranks (default 1; 0 may lose messages, for benchmarks)",
    )  # fmt: skip
    p.add_argument(
        "--report-roots", action="store_true",
        help="publish each root a rank applies on kvs-sim/<cluster>/applied "
        "(what kvs-sim run --live measures propagation with)",
    )  # fmt: skip
    add_broker_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from kvs_sim.live.cmdline import CommandError, fail, resolve, run_until_signalled, setup_logging
    from kvs_sim.live.credentials import CredentialsError
    from kvs_sim.live.engine import LIVE_REQUEST_RETRY, LiveEngine
    from kvs_sim.live.ranks import format_ranks, parse_ranks
    from kvs_sim.live.transport import BrokerUnreachable
    from kvs_sim.rank.config import RankConfig

    setup_logging(args.verbose)
    try:
        url, cluster = resolve(args)
        if args.size < 1 or args.fanout < 1:
            raise CommandError("--size and --fanout must be >= 1")
        try:
            ranks = parse_ranks(args.ranks, args.size) if args.ranks else list(range(args.size))
        except ValueError as exc:
            raise CommandError(f"--ranks: {exc}") from None
        if args.checkpoint_period < 0:
            raise CommandError("--checkpoint-period must be >= 0 seconds")
        if args.no_statedir and (args.statedir or args.store):
            raise CommandError("--no-statedir goes with neither --statedir nor --store")
        path = store_path(args, cluster) if 0 in ranks else None
        store = _open_store(path) if path is not None else None
    except CommandError as exc:
        return fail("up", str(exc))

    async def main(stop: asyncio.Event) -> int:
        engine = LiveEngine(
            url,
            cluster=cluster,
            size=args.size,
            fanout=args.fanout,
            ranks=ranks,
            events=args.events,
            config=RankConfig(
                commit_response=args.commit_response,
                request_retry=LIVE_REQUEST_RETRY,
                checkpoint_period=args.checkpoint_period or None,
            ),
            ca_file=args.ca_file,
            credentials=args.credentials,
            local=args.local,
            qos=args.qos,
            store=store,
            report_roots=args.report_roots,
        )
        starting = asyncio.ensure_future(engine.start())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # stopped while waiting for ancestors
            starting.cancel()
            await engine.transport.close()
            return 0
        stopping.cancel()
        starting.result()
        leader = engine.ranks.get(0)
        if store is not None and leader is not None and store.get_checkpoint() is None:
            # A statedir's first start is epoch 0 on disk, so that a restart after a
            # crash is a new epoch even with no checkpoint since (followers adopt it):
            # a start mark, not a checkpoint (Flux writes none at start).
            leader.checkpoint(start=True)
        print(
            f"kvs-sim up: ready: ranks {format_ranks(ranks)} of {args.size} "
            f"(fanout {args.fanout}, events {args.events}) on {url} cluster {cluster!r}"
            f"{_content_note(engine, path)}",
            flush=True,
        )
        await stop.wait()
        leader = engine.ranks.get(0)
        if leader is not None and 0 not in engine.crashed:
            leader.checkpoint()  # a clean shutdown loses nothing
        await engine.stop()
        print(f"kvs-sim up: stopped ranks {format_ranks(ranks)}", flush=True)
        return 0

    try:
        return int(run_until_signalled(main))
    except (BrokerUnreachable, CredentialsError) as exc:
        return fail("up", str(exc))


def _open_store(path: Path) -> Any:
    import sqlite3

    from kvs_sim.core.content import SQLiteStore
    from kvs_sim.core.errors import KVSError
    from kvs_sim.live.cmdline import CommandError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLiteStore(path)
    except (OSError, KVSError, sqlite3.Error) as exc:
        raise CommandError(f"cannot open the content store {path}: {exc}") from None


def _content_note(engine: Any, path: Path | None) -> str:
    """``; content in PATH (resumed at version V, epoch E)`` for the ready line."""
    leader = engine.ranks.get(0)
    if leader is None:
        return ""
    if path is None:
        return "; content in memory (a restarted leader starts empty)"
    root = leader.roots["primary"]
    if leader.epoch == 0:
        return f"; content in {path}"
    return f"; content in {path} (resumed at version {root.seq}, epoch {leader.epoch})"
