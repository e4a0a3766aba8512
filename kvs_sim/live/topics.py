"""MQTT topic layout of a live kvs-sim cluster, and the broker URL form.

Theory of operation
-------------------
Every topic of a cluster lives under ``kvs-sim/<cluster>/`` so that several
clusters share one broker without seeing each other's traffic:

``kvs-sim/<cluster>/rank/<r>``
    Rank-to-rank messages *to* rank ``r`` on their next hop (rank accounts only).
    Each payload is an envelope (:func:`kvs_sim.live.codec.encode_envelope`)
    naming the final destination, so the process hosting ``r`` forwards what is
    not for ``r``.
``kvs-sim/<cluster>/req/<account>/<r>``
    Client requests to rank ``r`` from the client logged in as ``<account>``: the
    broker's ACL lets only that account publish there, so the rank takes the
    caller's identity from this level (:func:`kvs_sim.live.credentials.uid_of`).
``kvs-sim/<cluster>/down/<r>``
    Tree-mode events rank ``r`` forwards to its children.
``kvs-sim/<cluster>/event/<ns>/setroot`` and ``.../event/<ns>/removed``
    Every event the leader publishes, always (``mosquitto_sub -t
    'kvs-sim/+/event/#' -v`` shows them live).  In ``broker`` event mode the
    ranks subscribe here instead of receiving events from their parent.
``kvs-sim/<cluster>/client/<account>/<uuid>``
    Replies to one external client; requests name it as their MQTT v5 response
    topic and carry correlation data.  Only ``<account>`` may read it.
``kvs-sim/<cluster>/status/<client-id>``
    Retained liveness of one rank process: ``{"ranks": [...], "state": "up"}``,
    replaced by ``"down"`` on a clean exit or by the broker (the will) on a crash.
    A process starts its ranks only once every ancestor rank has a status here.

A namespace name can hold characters MQTT reserves; ``/``, ``+``, ``#``, ``%``
and NUL are percent-encoded in topic levels (:func:`quote_level`).

URLs have the form ``mqtt://[user[:pass]@]HOST[:PORT][/CLUSTER]`` (``mqtts://``
for TLS, port 8883 by default); :func:`parse_url` explains what is wrong with a
bad one.  Filters are matched with the project's :func:`kvs_sim.topics.topic_matches`
(aiomqtt's ``Topic.matches`` gets the ``$`` rule wrong).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from kvs_sim.topics import ROOT, event_topic, quote_level, topic_matches

__all__ = [
    "BrokerURL",
    "URLError",
    "client_topic",
    "event_topic",
    "parse_url",
    "rank_topic",
    "topic_matches",
]

DEFAULT_CLUSTER = "default"
_CLUSTER_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class URLError(ValueError):
    """A broker URL or cluster name is malformed; the message names the problem."""


@dataclass(frozen=True, slots=True)
class BrokerURL:
    """Where the broker is and how to log in to it."""

    host: str
    port: int
    cluster: str | None = None
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def __str__(self) -> str:
        """The URL without the password (safe to print in errors)."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        path = f"/{self.cluster}" if self.cluster else ""
        return f"{scheme}://{user}{host}:{self.port}{path}"


def check_cluster(name: str) -> str:
    """Return ``name`` if it is a valid cluster name (letters, digits, ``_.-``)."""
    if not _CLUSTER_RE.match(name):
        raise URLError(f"invalid cluster name {name!r}: use letters, digits, '_', '.' or '-'")
    return name


def parse_url(url: str) -> BrokerURL:
    """Parse ``mqtt://[user[:pass]@]HOST[:PORT][/CLUSTER]``."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise URLError(
            f"invalid broker URL {url!r}: expected mqtt://[user:pass@]HOST:PORT[/CLUSTER]"
        )
    try:
        port = parts.port
    except ValueError:
        raise URLError(f"invalid broker URL {url!r}: bad port") from None
    if port == 0:
        raise URLError(f"invalid broker URL {url!r}: port must be 1-65535, got 0")
    if not parts.hostname:
        raise URLError(f"invalid broker URL {url!r}: no host")
    if parts.query or parts.fragment:
        raise URLError(f"invalid broker URL {url!r}: unexpected query or fragment")
    path = parts.path.strip("/")
    cluster = check_cluster(path) if path else None
    tls = parts.scheme == "mqtts"
    return BrokerURL(
        host=parts.hostname,
        port=port if port is not None else (8883 if tls else 1883),
        cluster=cluster,
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        tls=tls,
    )


# ---------------------------------------------------------------------------
# Topic names


def unquote_level(level: str) -> str:
    return urllib.parse.unquote(level)


def rank_topic(cluster: str, rank: int) -> str:
    return f"{ROOT}/{cluster}/rank/{rank}"


def down_topic(cluster: str, rank: int) -> str:
    """Tree-mode events forwarded by ``rank`` to its children (one publish, the
    broker copies it to each child's process).  Rank 0's children take the event
    topics themselves (:func:`event_filter`)."""
    return f"{ROOT}/{cluster}/down/{rank}"


def applied_topic(cluster: str) -> str:
    """Where ranks started with ``--report-roots`` say which root they applied when:
    ``{"rank": r, "ns": ns, "seq": v, "t": monotonic seconds}``."""
    return f"{ROOT}/{cluster}/applied"


def event_filter(cluster: str) -> str:
    return f"{ROOT}/{cluster}/event/#"


ANONYMOUS = "anonymous"
"""The account level of requests made without credentials (brokers not ours)."""


def req_topic(cluster: str, account: str | None, rank: int) -> str:
    """Where the client logged in as ``account`` sends requests to ``rank``."""
    return f"{ROOT}/{cluster}/req/{account or ANONYMOUS}/{rank}"


def req_filter(cluster: str, rank: int) -> str:
    return f"{ROOT}/{cluster}/req/+/{rank}"


def client_prefix(cluster: str, account: str | None) -> str:
    """What every reply topic of ``account`` starts with."""
    return f"{ROOT}/{cluster}/client/{account or ANONYMOUS}/"


def client_topic(cluster: str, account: str | None, client: str) -> str:
    """The reply topic of one client of ``account``."""
    return client_prefix(cluster, account) + client


def status_topic(cluster: str, client_id: str) -> str:
    return f"{ROOT}/{cluster}/status/{quote_level(client_id)}"


def status_filter(cluster: str) -> str:
    return f"{ROOT}/{cluster}/status/+"


def rank_of_topic(cluster: str, topic: str) -> int | None:
    """The rank ``r`` of ``kvs-sim/<cluster>/rank/<r>``, else None."""
    head = f"{ROOT}/{cluster}/rank/"
    if not topic.startswith(head):
        return None
    tail = topic[len(head) :]
    return int(tail) if tail.isdigit() else None
