"""What the live subcommands (``broker``, ``up``, ``kvs``) share.

Theory of operation
-------------------
The command modules in :mod:`kvs_sim.commands` stay thin and import nothing
heavy at module level; each ``func`` imports this module (and aiomqtt with it)
when it runs.  Here: the broker options every live command accepts, the
resolution of URL + ``--cluster`` into a :class:`~kvs_sim.live.topics.BrokerURL`
and a cluster name, logging set-up, and running a coroutine with SIGINT/SIGTERM
turned into a clean stop.  Errors a user can fix are :class:`CommandError`:
the command prints ``kvs-sim <cmd>: <message>`` and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from kvs_sim.live import eventloop
from kvs_sim.live import topics as tp

DEFAULT_URL = "mqtt://127.0.0.1:1883"
ENV_URL = "KVS_SIM_BROKER"


class CommandError(Exception):
    """A one-line error for the user; the command exits 1."""


def add_broker_args(parser: argparse.ArgumentParser) -> None:
    """``--broker``, ``--cluster``, ``--ca-file`` and ``-v``."""
    parser.add_argument(
        "--broker",
        metavar="URL",
        default=os.environ.get(ENV_URL, DEFAULT_URL),
        help=f"mqtt://[user:pass@]HOST:PORT[/CLUSTER] (default ${ENV_URL} or {DEFAULT_URL})",
    )
    parser.add_argument(
        "--cluster", metavar="NAME", help="cluster name (default: from the URL, else 'default')"
    )
    parser.add_argument(
        "--ca-file", metavar="PEM", help="CA certificate for TLS (default: the credentials file's)"
    )
    parser.add_argument(
        "--credentials",
        metavar="FILE",
        default=os.environ.get("KVS_SIM_CREDENTIALS"),
        help="accounts written by 'kvs-sim broker' (default $KVS_SIM_CREDENTIALS, else "
        "~/.config/kvs-sim/brokers/HOST-PORT.json; user:pass@ in the URL overrides)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv: debug)")


def resolve(args: argparse.Namespace) -> tuple[tp.BrokerURL, str]:
    """The broker URL and cluster name from ``args`` (CommandError if bad: the URL,
    the cluster name, a missing CA or credentials file)."""
    from kvs_sim.live.transport import check_ca_file

    try:
        url = tp.parse_url(args.broker)
        cluster = tp.check_cluster(args.cluster or url.cluster or tp.DEFAULT_CLUSTER)
        check_ca_file(getattr(args, "ca_file", None))
    except (tp.URLError, OSError) as exc:
        raise CommandError(str(exc)) from None
    creds = getattr(args, "credentials", None)
    if creds and not os.path.isfile(creds):
        raise CommandError(f"credentials file {creds} does not exist")
    return url, cluster


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    if verbose < 2:  # paho/aiomqtt are chatty at INFO
        logging.getLogger("mqtt").setLevel(logging.WARNING)


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[Any]]) -> Any:
    """Run ``main(stop)`` in a fresh loop; SIGINT/SIGTERM set ``stop``.

    After a signal, once ``main`` has returned (its connections closed, its
    output flushed), the process exits at once with ``main``'s status: the
    interpreter's teardown of the modules a live command loads takes 0.1-0.4 s
    on a busy 2-core machine, and a signalled command must be gone within 0.5 s.
    """
    signalled: list[int] = []

    async def wrapper() -> Any:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(sig: int) -> None:
            signalled.append(sig)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return await main(stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    result = eventloop.run(wrapper())
    if signalled and isinstance(result, int):
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(result)
    return result


def fail(command: str, message: str, status: int = 1) -> int:
    print(f"kvs-sim {command}: {message}", file=sys.stderr)
    return status
