"""``kvs-sim broker``: run mosquitto in the foreground, configured and secured for kvs-sim.

The configuration is :func:`kvs_sim.live.broker.config_text` (no Nagle, no
dropped QoS 1 messages, persistence in ``--datadir``), with per-cluster accounts
and an ACL (:mod:`kvs_sim.live.credentials`) and, with ``--tls``, a TLS listener
with a private CA.  The command prints the URL and where the credentials file
is (``kvs-sim up``, ``kvs`` and ``Flux()`` read it from there), then runs until
Ctrl-C or SIGTERM.  If mosquitto exits on its own the command says so and exits
1; if the command is killed, mosquitto stops with it.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "broker",
        help="run a private, authenticated mosquitto configured for live mode",
        description="Run mosquitto on 127.0.0.1 in the foreground with kvs-sim's settings, "
        "accounts and ACL.",
    )
    p.add_argument("--port", type=_port, default=0, help="TCP port (default: a free one, printed)")
    p.add_argument(
        "--listen", metavar="ADDR", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; another host's ranks need a routable "
        "one, and --tls: see docs/scale-out.md)",
    )  # fmt: skip
    p.add_argument(
        "--datadir", metavar="DIR", help="persistence directory (default: a temporary one)"
    )
    p.add_argument(
        "--cluster", metavar="NAME", action="append",
        help="make accounts for this cluster (repeatable; default: 'default')",
    )  # fmt: skip
    p.add_argument(
        "--any-cluster", action="store_true",
        help="accounts valid for every cluster name (no isolation between clusters)",
    )  # fmt: skip
    p.add_argument(
        "--guest", metavar="UID", type=int, action="append",
        help="a client account for this uid besides the owner's (repeatable; default 1000)",
    )  # fmt: skip
    p.add_argument("--tls", action="store_true", help="TLS only (mqtts://), with a private CA")
    p.add_argument(
        "--credentials", metavar="FILE",
        help="write the accounts here (default ~/.config/kvs-sim/brokers/127.0.0.1-PORT.json)",
    )  # fmt: skip
    p.add_argument("--print-config", action="store_true", help="print the configuration and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import signal
    import tempfile
    from pathlib import Path

    from kvs_sim.live import broker as br
    from kvs_sim.live import credentials as cr
    from kvs_sim.live.cmdline import fail
    from kvs_sim.live.tlsgen import TLSError
    from kvs_sim.live.topics import URLError, check_cluster

    try:
        port = args.port or br.free_port(args.listen)
    except OSError as exc:
        return fail("broker", f"cannot listen on {args.listen}: {exc.strerror}", 2)
    try:
        clusters = [cr.ANY_CLUSTER] if args.any_cluster else [
            check_cluster(c) for c in (args.cluster or ["default"])
        ]  # fmt: skip
    except URLError as exc:
        return fail("broker", str(exc), 2)
    guests = args.guest if args.guest is not None else [1000]
    if args.print_config:
        d = Path(args.datadir or tempfile.gettempdir()) / "kvs-sim-broker"
        tls = br.TLSFiles(d / "tls/ca.pem", d / "tls/server.pem", d / "tls/server.key")
        text = br.config_text(
            port, d, foreground=True, password_file=d / "passwd", acl_file=d / "acl",
            tls=tls if args.tls else None, host=args.listen,
        )  # fmt: skip
        print(text, end="")
        return 0
    try:
        br.wait_for_port(port, timeout=0, host=args.listen)
    except br.BrokerError:
        pass  # nothing listens there: good
    else:
        return fail("broker", f"port {port} on {args.listen} is already in use (pick --port)")
    try:
        broker = br.Broker(
            port, datadir=args.datadir, clusters=clusters, guests=guests, tls=args.tls,
            credentials_path=args.credentials, foreground=True, host=args.listen,
        )  # fmt: skip
    except (br.BrokerError, TLSError, OSError) as exc:
        return fail("broker", str(exc))
    stopped: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        stopped.append(signum)
        proc = broker.process
        if proc is not None and proc.poll() is None:
            proc.terminate()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        broker.start()
        names = "any cluster" if args.any_cluster else ", ".join(clusters)
        print(
            f"kvs-sim broker: listening on {broker.url} (accounts for {names}; "
            f"credentials in {broker.credentials_path}; Ctrl-C to stop)",
            flush=True,
        )
        proc = broker.process
        assert proc is not None
        status = proc.wait()
    except br.BrokerError as exc:
        return fail("broker", str(exc))
    finally:
        broker.close()
    if stopped:
        return 130 if stopped[0] == signal.SIGINT else 0
    return fail("broker", f"mosquitto exited on its own with status {status}")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return port
