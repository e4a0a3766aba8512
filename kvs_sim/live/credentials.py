"""Accounts of a secured broker: generation, the credentials file, the ACL, login.

Theory of operation
-------------------
A private broker (``kvs-sim broker``, :class:`kvs_sim.live.broker.Broker`) refuses
anonymous clients.  For each cluster it serves it creates accounts with random
passwords:

* ``<cluster>.ranks`` -- every rank process of the cluster.  It alone may publish
  on the rank-to-rank, event, ``down``, ``status`` and ``applied`` topics.
* ``<cluster>.uid<N>`` -- a client acting as user ``N`` (the instance owner, uid
  0 by default, and the guest uids asked for).  It may publish only on its own
  request topics ``kvs-sim/<cluster>/req/<username>/<rank>`` and read only its own
  reply topics ``kvs-sim/<cluster>/client/<username>/...``; the owner account may
  also read everything of the cluster (to watch events go by).

The broker enforces this with an ACL (:func:`acl_text`) and a password file in
mosquitto's hashed format (:func:`passwd_text`, PBKDF2-SHA512 as
``mosquitto_passwd`` writes it).  A rank learns who sent a request from the topic
it arrived on, which only that account can publish to, and takes the uid from
the account's name (:func:`uid_of`): never from the payload.

Accounts of the cluster name ``*`` are valid for every cluster of the broker (the
ACL uses ``+`` for the cluster level); test brokers use them, since tests pick
cluster names as they go.

The broker writes every account into a JSON credentials file (mode 0600),
``~/.config/kvs-sim/brokers/HOST-PORT.json`` (:func:`default_path`; ``kvs-sim
broker --credentials FILE`` puts it elsewhere).  ``kvs-sim up``, ``kvs-sim kvs``
and ``Flux()`` find it there by the broker's host and port (:func:`login`),
unless the URL carries a user and password, or ``--credentials FILE`` or
``$KVS_SIM_CREDENTIALS`` names another file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kvs_sim.live import topics as tp

ENV_FILE = "KVS_SIM_CREDENTIALS"
ANY_CLUSTER = "*"
RANKS = "ranks"
"""The role of rank processes in :func:`login` (a client's role is its uid)."""
OWNER_UID = 0
"""The instance owner's uid (``RankConfig.instance_owner``)."""
_ITERATIONS = 101


class CredentialsError(ValueError):
    """No usable account for a cluster or uid; the message names the file."""


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    password: str


@dataclass(slots=True)
class Credentials:
    """Every account of one broker, by cluster (``*``: any cluster)."""

    url: str
    ca_file: str | None = None
    clusters: dict[str, dict[str, Account]] = field(default_factory=dict)
    """``{cluster: {"ranks": Account, "uid0": Account, "uid1000": ...}}``."""

    def add_cluster(self, cluster: str, uids: Iterable[int] = ()) -> dict[str, Account]:
        """Create (or keep) the accounts of ``cluster``: ranks, the owner, ``uids``."""
        if cluster != ANY_CLUSTER:
            tp.check_cluster(cluster)
        accounts = self.clusters.setdefault(cluster, {})
        for role in (RANKS, *(f"uid{u}" for u in (OWNER_UID, *uids))):
            if role not in accounts:
                accounts[role] = Account(f"{cluster}.{role}", secrets.token_urlsafe(18))
        return accounts

    def accounts(self, cluster: str) -> dict[str, Account] | None:
        return self.clusters.get(cluster) or self.clusters.get(ANY_CLUSTER)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ca_file": self.ca_file,
            "clusters": {
                c: {
                    role: {"username": a.username, "password": a.password}
                    for role, a in acc.items()
                }
                for c, acc in self.clusters.items()
            },
        }

    def save(self, path: Path) -> None:
        """Write atomically, readable by the owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.to_json(), f, indent=1)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Credentials:
        try:
            data = json.loads(path.read_text())
            clusters = {
                c: {role: Account(a["username"], a["password"]) for role, a in acc.items()}
                for c, acc in data["clusters"].items()
            }
            return cls(str(data["url"]), data.get("ca_file"), clusters)
        except OSError as exc:
            raise CredentialsError(f"cannot read credentials file {path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CredentialsError(f"malformed credentials file {path}: {exc!r}") from None


def default_path(host: str, port: int) -> Path:
    """Where the broker at ``host:port`` keeps its credentials for this user."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "kvs-sim" / "brokers" / f"{host}-{port}.json"


# ---------------------------------------------------------------------------
# What mosquitto reads


def hash_password(password: str, salt: bytes | None = None) -> str:
    """mosquitto's ``$7$`` password hash (PBKDF2-SHA512, as mosquitto_passwd)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS)
    b64 = base64.b64encode
    return f"$7${_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def passwd_text(creds: Credentials) -> str:
    lines = [
        f"{a.username}:{hash_password(a.password)}"
        for acc in creds.clusters.values()
        for a in acc.values()
    ]
    return "\n".join(lines) + "\n"


def acl_text(creds: Credentials) -> str:
    """The ACL: ranks may do anything in their cluster, clients only their topics."""
    out = ["# generated by kvs-sim (kvs_sim/live/credentials.py)"]
    for cluster, acc in creds.clusters.items():
        c = "+" if cluster == ANY_CLUSTER else cluster
        for role, a in acc.items():
            out.append(f"\nuser {a.username}")
            if role == RANKS:
                out.append(f"topic readwrite {tp.ROOT}/{c}/#")
                continue
            out.append(f"topic write {tp.ROOT}/{c}/req/{a.username}/+")
            if role == f"uid{OWNER_UID}":
                out.append(f"topic read {tp.ROOT}/{c}/#")
            else:
                out.append(f"topic read {tp.ROOT}/{c}/client/{a.username}/#")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------
# Who is who


def uid_of(username: str, cluster: str) -> int | None:
    """The uid of client account ``username`` of ``cluster`` (None: not a client
    account of that cluster)."""
    head, sep, role = username.rpartition(".uid")
    if not sep or head not in (cluster, ANY_CLUSTER) or not role.isdigit():
        return None
    return int(role)


def login(
    url: tp.BrokerURL,
    cluster: str,
    role: str | int,
    path: str | Path | None = None,
) -> tuple[tp.BrokerURL, str | None]:
    """The URL to connect with (user and password filled in) and the CA file.

    ``role`` is :data:`RANKS` or a client's uid.  A URL that names a user is used
    as it is.  Otherwise the credentials file (``path``, else :func:`default_path`)
    is read (``$KVS_SIM_CREDENTIALS`` before the default); if there is none the
    connection is anonymous (a broker that is not
    ours).  :class:`CredentialsError` if the file has no account for the role."""
    if url.username:
        return url, None
    path = path or os.environ.get(ENV_FILE) or None
    file = Path(path) if path is not None else default_path(url.host, url.port)
    if path is None and not file.exists():
        return url, None
    creds = Credentials.load(file)
    accounts = creds.accounts(cluster)
    if accounts is None:
        known = ", ".join(sorted(creds.clusters)) or "none"
        raise CredentialsError(
            f"no accounts for cluster {cluster!r} in {file} (it has: {known}); "
            f"start the broker with --cluster {cluster}"
        )
    key = RANKS if role == RANKS else f"uid{role}"
    account = accounts.get(key)
    if account is None:
        uids = sorted(int(k[3:]) for k in accounts if k.startswith("uid"))
        raise CredentialsError(
            f"no account for uid {role} of cluster {cluster!r} in {file} "
            f"(accounts for uids {', '.join(map(str, uids))}; the broker's --guest adds more)"
        )
    ca_file = creds.ca_file if url.tls else None  # mqtt:// stays plain, as asked
    return replace(url, username=account.username, password=account.password), ca_file
