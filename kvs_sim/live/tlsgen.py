"""A private certificate authority for a TLS broker, made with the ``openssl`` CLI.

Theory of operation
-------------------
``kvs-sim broker --tls`` (``Broker(tls=True)``) needs a server certificate that
clients can verify without any public CA.  :func:`make_ca` writes, into one
directory:

* ``ca.pem`` / ``ca.key`` -- a self-signed CA (``basicConstraints CA:TRUE``);
* ``server.pem`` / ``server.key`` -- the broker's certificate, signed by that CA,
  valid for ``127.0.0.1``, ``::1`` and ``localhost`` (plus any ``hosts`` given).

Keys are ECDSA P-256 (fast to make and to handshake).  The openssl command line
is used rather than a Python package: it is on every machine that has
mosquitto's TLS, and the files are the ordinary PEM ones mosquitto reads.
Clients are given ``ca.pem`` (the credentials file names it), so they verify the
broker and its host name as with any CA.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path


class TLSError(RuntimeError):
    """The certificates could not be made; the message says why."""


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise TLSError(
            "--tls needs the openssl command (on Debian/Ubuntu: apt-get install openssl)"
        )
    try:
        subprocess.run(
            [exe, *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
        )
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or "").strip().splitlines()[-1:] or [f"status {exc.returncode}"]
        raise TLSError(f"openssl {args[0]} failed: {detail[0]}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TLSError(f"openssl {args[0]} failed: {exc}") from None


def make_ca(directory: Path, hosts: Iterable[str] = ()) -> tuple[Path, Path, Path]:
    """Create the CA and the server certificate; ``(ca.pem, server.pem, server.key)``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
        "-subj", "/CN=kvs-sim private CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kvs-sim broker",
        cwd=directory,
    )  # fmt: skip
    names = ["IP:127.0.0.1", "IP:::1", "DNS:localhost"]
    for h in hosts:
        name = f"IP:{h}" if h.replace(".", "").isdigit() or ":" in h else f"DNS:{h}"
        if name not in names:
            names.append(name)
    (directory / "server.ext").write_text(
        f"subjectAltName={','.join(names)}\nextendedKeyUsage=serverAuth\n"
        "basicConstraints=critical,CA:FALSE\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "825", "-extfile", "server.ext",
        cwd=directory,
    )  # fmt: skip
    (directory / "ca.key").chmod(0o600)
    (directory / "server.key").chmod(0o600)
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"
