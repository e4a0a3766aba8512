"""``kvs-sim broker``: run mosquitto in the foreground, configured for kvs-sim.

The configuration is :func:`kvs_sim.live.broker.config_text` (no Nagle, no
dropped QoS 1 messages, persistence in ``--datadir``); the command prints the URL
to pass to ``kvs-sim up --broker`` and ``kvs-sim kvs --broker``, then runs until
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "broker",
        help="run a private mosquitto configured for live mode",
        description="Run mosquitto on 127.0.0.1 in the foreground with kvs-sim's settings.",
    )
    p.add_argument("--port", type=_port, default=0, help="TCP port (default: a free one, printed)")
    p.add_argument(
        "--datadir", metavar="DIR", help="persistence directory (default: a temporary one)"
    )
    p.add_argument("--print-config", action="store_true", help="print the configuration and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from kvs_sim.live import broker as br
    from kvs_sim.live.cmdline import fail

    port = args.port or br.free_port()
    datadir = Path(args.datadir or tempfile.mkdtemp(prefix="kvs-sim-broker-"))
    config = br.config_text(port, datadir, foreground=True)
    if args.print_config:
        print(config, end="")
        return 0
    try:
        exe = br.find_mosquitto()
    except br.MosquittoNotFound as exc:
        return fail("broker", str(exc))
    try:
        br.wait_for_port(port, timeout=0)
    except br.BrokerError:
        pass  # nothing listens there: good
    else:
        return fail("broker", f"port {port} on {br.HOST} is already in use (pick --port)")
    datadir.mkdir(parents=True, exist_ok=True)
    conf = datadir / "mosquitto.conf"
    conf.write_text(config)
    proc = subprocess.Popen([exe, "-c", str(conf)], stdin=subprocess.DEVNULL)
    try:
        br.wait_for_port(port, 10.0, proc)
        print(f"kvs-sim broker: listening on mqtt://{br.HOST}:{port} (Ctrl-C to stop)", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        return proc.wait() and 1
    except br.BrokerError as exc:
        return fail("broker", str(exc))
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)
        return 0
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        if not args.datadir:
            shutil.rmtree(datadir, ignore_errors=True)
        sys.stdout.flush()


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {port}")
    return port
