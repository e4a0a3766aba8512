"""External clients of a live rank process: their requests in, their replies out.

Theory of operation
-------------------
An external client (:class:`~kvs_sim.live.client.LiveClient`) publishes a
request to ``kvs-sim/<c>/req/<account>/<rank>`` with an MQTT v5 response topic
and correlation data.  :class:`ClientSessions` gives the request a fresh
integer client id, remembers ``(response topic, correlation, the client's own
id)`` and rewrites ``msg.client``; ``respond(reply)`` publishes the reply there,
with ``client`` set back to the client's id, and forgets it after the final
reply.  A ``WatchCancelReq`` names the watch by the client's own id and is
translated the same way.

Logged in (``secure``), the caller is the account in the topic (the broker's ACL
lets only it publish there): its uid replaces whatever the payload claims, and
its replies may only go to that account's reply topics.  Anything else on a
request topic (not a client request, not a hosted rank, a foreign response
topic) is logged and dropped.  Clients are never partitioned from their rank;
a rank crashed in its process answers them ``ECONNRESET``
(:mod:`kvs_sim.live.incarnation`, which asks :meth:`ClientSessions.clients_of`).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import fields, replace
from typing import Any

from kvs_sim.live import codec
from kvs_sim.live import credentials as cr
from kvs_sim.live import topics as tp
from kvs_sim.live.pump import Pump
from kvs_sim.live.transport import Incoming
from kvs_sim.rank.messages import MESSAGE_TYPES, Reply, WatchCancelReq

log = logging.getLogger("kvs_sim.live")

CLIENT_REQUESTS = tuple(
    cls
    for cls in MESSAGE_TYPES.values()
    if "client" in {f.name for f in fields(cls)} and cls is not Reply
)
"""What a client may send: requests carrying an engine-assigned ``client`` id."""


class ClientSessions(Pump):
    """Client requests and replies of the ranks one process hosts (a base of
    :class:`~kvs_sim.live.engine.LiveEngine`)."""

    secure: bool

    def _init_sessions(self) -> None:
        self._req_head = tp.req_filter(self.cluster, 0)[: -len("+/0")]
        self._client_ids = itertools.count(1)
        self._clients: dict[int, tuple[str, bytes | None, int]] = {}
        self._client_rank: dict[int, int] = {}
        self._client_index: dict[tuple[str, int], int] = {}

    def _client_request(self, inc: Incoming) -> None:
        """A request on ``req/<account>/<rank>``.  Logged in, the caller is the
        account (only it may publish there) and its uid replaces whatever the
        payload claims; its replies may only go to that account's reply topics."""
        account, _, tail = inc.topic[len(self._req_head) :].partition("/")
        uid = cr.uid_of(account, self.cluster) if self.secure else None
        if not tail.isdigit() or int(tail) not in self.ranks:
            return self._drop(inc.topic, "not a request topic of a hosted rank")
        if self.secure and uid is None:
            return self._drop(inc.topic, f"{account!r} is not a client account of this cluster")
        reply_to = inc.response_topic
        if reply_to is None or not reply_to.startswith(tp.client_prefix(self.cluster, account)):
            return self._drop(inc.topic, f"response topic {reply_to!r} is not {account!r}'s")
        env = self._decode(inc, account)
        if env is None:
            return None
        msg: Any = env.msg
        rank = int(tail)
        own = getattr(msg, "client", None)
        if not isinstance(msg, CLIENT_REQUESTS) or type(own) is not int:
            return self._drop(inc.topic, f"{type(msg).__name__} is not a client request")
        cid = next(self._client_ids)
        self._clients[cid] = (reply_to, inc.correlation, own)
        self._client_rank[cid] = rank
        changes: dict[str, Any] = {"client": cid}
        if uid is not None and hasattr(msg, "userid"):
            changes["userid"] = uid
        if isinstance(msg, WatchCancelReq):
            # The watch is named by the client's own id for it: translate it.
            changes["watch"] = self._client_index.get((reply_to, msg.watch), -1)
        else:
            self._client_index[(reply_to, own)] = cid
        return self.deliver(rank, replace(msg, **changes))  # type: ignore[type-var]

    def respond(self, reply: Any) -> None:
        entry = self._clients.get(reply.client)
        if entry is None:
            log.debug("reply for unknown client %r dropped", reply.client)
            return
        response_topic, correlation, own = entry
        if getattr(reply, "final", True):
            del self._clients[reply.client]
            self._client_rank.pop(reply.client, None)
            self._client_index.pop((response_topic, own), None)
        try:
            payload = codec.encode(reply, client=own)  # no copy of the reply
        except codec.CodecError as exc:
            return self._unencodable(reply, exc)
        self.transport.publish(response_topic, payload, correlation=correlation)
        return None

    def clients_of(self, rank: int) -> list[int]:
        """Engine client ids with a request in flight on hosted ``rank``."""
        return [c for c, r in self._client_rank.items() if r == rank]

    def client_rank(self, cid: int) -> int | None:
        return self._client_rank.get(cid)
