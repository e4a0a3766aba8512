"""The leader's administration: namespaces (create, remove, list), checkpoint lookups.

Theory of operation
-------------------
Only the instance owner may administer namespaces (``EPERM`` otherwise).  A new
namespace starts at version 0 with an empty root.  Removing one fails everything
waiting on it (``EOPNOTSUPP``), publishes :class:`NamespaceRemoved` so followers
drop it too, and keeps the name taken until the leader is next idle (the removal
finishes in the background in Flux).  These are :class:`~kvs_sim.rank.leader.Leader`
handlers written as functions of the leader, listed in its ``HANDLERS``.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from kvs_sim.core.apply import empty_root
from kvs_sim.core.errors import (
    AlreadyExists,
    InvalidArgument,
    KVSError,
    NoSuchKey,
    NotSupported,
    PermissionDenied,
)
from kvs_sim.rank.base import NsRoot
from kvs_sim.rank.durable import is_checkpoint
from kvs_sim.rank.messages import (
    CheckpointLookupReq,
    NamespaceCreateReq,
    NamespaceListReq,
    NamespaceRemoved,
    NamespaceRemoveReq,
    Timer,
)

if TYPE_CHECKING:
    from kvs_sim.rank.leader import Leader


def require_owner(self: Leader, userid: int, what: str) -> None:
    if userid != self.config.instance_owner:
        raise PermissionDenied(errno.EPERM, f"user {userid} may not {what}")


def on_ns_create(self: Leader, req: NamespaceCreateReq) -> None:
    self.port.work(self.config.service.commit_base)
    try:
        require_owner(self, req.userid, f"create namespace {req.ns!r}")
        if not req.ns or "::" in req.ns:
            raise InvalidArgument(errno.EINVAL, f"invalid namespace name {req.ns!r}")
        if req.ns in self._removing:
            raise AlreadyExists(errno.EEXIST, f"namespace {req.ns!r} is being removed")
        rootref = req.rootref or empty_root(self.content)
        self.registry.create(req.ns, req.owner, rootref)
    except KVSError as err:
        self.reply_error(req.client, err)
        return
    self.content.flush()
    self.roots[req.ns] = NsRoot(0, rootref, req.owner)
    hook = self.hooks.root_applied
    if hook is not None:
        hook(0, req.ns, 0, rootref, self.port.now())
    self.reply(req.client, None)


def on_ns_remove(self: Leader, req: NamespaceRemoveReq) -> None:
    self.port.work(self.config.service.message)
    try:
        require_owner(self, req.userid, f"remove namespace {req.ns!r}")
        existed = req.ns in self.registry
        self.registry.remove(req.ns)
    except KVSError as err:
        self.reply_error(req.client, err)
        return
    if existed:
        self.drop_namespace(req.ns)
        queue = self._queues.pop(req.ns, None)
        gone = NotSupported(errno.EOPNOTSUPP, f"namespace {req.ns!r} was removed")
        for txn in queue or ():
            self.answer(req.ns, txn, err=gone)
        # Removal finishes in the background: the name stays taken a little.
        self._removing.add(req.ns)
        self.port.timer(0.0, Timer(kind="ns-removed", data=req.ns))
        self.port.publish(NamespaceRemoved(ns=req.ns))
    self.reply(req.client, None)


def on_ns_list(self: Leader, req: NamespaceListReq) -> None:
    self.port.work(self.config.service.message)
    try:
        require_owner(self, req.userid, "list namespaces")
    except KVSError as err:
        self.reply_error(req.client, err)
        return
    listing = [{"namespace": ns.name, "owner": ns.owner, "flags": ns.flags} for ns in self.registry]
    self.reply(req.client, listing)


def on_checkpoint(self: Leader, req: CheckpointLookupReq) -> None:
    self.port.work(self.config.service.message)
    checkpoint = self.content.backing.get_checkpoint()
    if not is_checkpoint(checkpoint):
        self.reply_error(req.client, NoSuchKey(errno.ENOENT, "no checkpoint has been written"))
    else:
        self.reply(req.client, checkpoint)


def vars_of(obj: Any) -> dict[str, Any]:
    """A dataclass-or-object's fields as a plain dict (for stats replies)."""
    fields = getattr(obj, "__dataclass_fields__", None)
    if fields is not None:
        return {name: getattr(obj, name) for name in fields}
    return dict(vars(obj))
