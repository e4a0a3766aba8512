"""The ``kvs-sim kvs`` tool: ``flux kvs`` subcommands against a live rank.

Theory of operation
-------------------
Each subcommand builds client requests of :mod:`kvs_sim.rank.messages` (commit
ops come from :class:`kvs_sim.core.txn.Txn`), sends them with a
:class:`~kvs_sim.live.client.LiveClient` to the rank given by ``--rank``, and
writes what ``flux kvs`` writes (flux-kvs(1)):

* ``put KEY=VALUE`` stores the text as it is, as Flux's ``flux kvs put`` does, and
  ``get`` prints the stored bytes up to the first NUL and a newline (nothing for
  an empty value), ``get -r`` every byte as it is; so a value put from Python as
  JSON prints as JSON (a string with its quotes);
* a write subcommand commits one transaction holding all of its arguments and,
  with ``-O``/``-b``/``-s``, prints the new root as a dirref, a blobref or a
  sequence;
* listings (``dir``, ``ls``) live in :mod:`kvs_sim.live.kvs_listing`, eventlogs
  in :mod:`kvs_sim.live.kvs_eventlog`.

A reply carrying an errno ends the command with one line ``kvs-sim kvs:
SUBJECT: STRERROR`` (plus the rank's words when they say more than the errno,
e.g. which namespace is missing) and exit status 1 (:class:`KvsError`).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from kvs_sim.core import flags as kf
from kvs_sim.core.content import is_blobref
from kvs_sim.core.errors import KEY_ERRNOS, KVSError
from kvs_sim.core.txn import Txn
from kvs_sim.live.client import LiveClient
from kvs_sim.rank import messages as m
from kvs_sim.rank.messages import Reply

NAMESPACE_ENV = "FLUX_KVS_NAMESPACE"
WAIT_SUBJECT = "flux_kvs_wait_version"
"""What ``kvs wait``'s error line names, as Flux's does."""


class KvsError(Exception):
    """The command failed: ``subject`` (what the user named), an errno, the words."""

    def __init__(self, subject: str, errnum: int = 0, detail: str = "") -> None:
        super().__init__(subject, errnum, detail)
        self.subject = subject
        self.errnum = errnum
        self.detail = detail

    def __str__(self) -> str:
        if not self.errnum:
            return f"{self.subject}: {self.detail}" if self.detail else self.subject
        text = f"{self.subject}: {os.strerror(self.errnum)}"
        if (
            self.errnum not in KEY_ERRNOS
            and self.detail
            and self.detail != os.strerror(self.errnum)
        ):
            text += f" ({self.detail})"
        return text


def namespace_of(args: argparse.Namespace) -> str:
    """``-N`` (before or after the subcommand), else ``$FLUX_KVS_NAMESPACE``, else primary."""
    return args.namespace or os.environ.get(NAMESPACE_ENV) or "primary"


def dirref(rootref: str) -> str:
    """A root blobref as Flux prints an RFC 11 dirref (compact, sorted keys)."""
    return json.dumps({"data": [rootref], "type": "dirref", "ver": 1}, separators=(",", ":"))


def treeobj_text(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def rootref_of(text: str, *, blobref: bool = False) -> str:
    """The blobref of a dirref given as ``--at`` (``EINVAL`` if not one); with
    ``blobref`` (``namespace create --rootref``, which takes a blobref in Flux) a
    bare blobref is accepted too."""
    if blobref and is_blobref(text):
        return text
    try:
        obj = json.loads(text)
        if obj.get("type") == "dirref" and len(obj["data"]) == 1:
            return str(obj["data"][0])
    except (ValueError, AttributeError, KeyError, TypeError):
        pass
    raise KvsError(text, errno.EINVAL)


class Tool:
    """One invocation: a connected client, a namespace, a user id, an output."""

    def __init__(self, client: LiveClient, ns: str, userid: int, out: Any = None) -> None:
        self.client = client
        self.ns = ns
        self.userid = userid
        self.stdout = out if out is not None else sys.stdout.buffer
        self.status = 0

    async def run(self, a: argparse.Namespace) -> int:
        """Run the subcommand ``a`` names; its exit status."""
        name = a.subcmd.replace("-", "_")
        if name in {"dir", "ls"}:
            from kvs_sim.live import kvs_listing

            await getattr(kvs_listing, name)(self, a)
        elif name == "eventlog":
            from kvs_sim.live import kvs_eventlog

            await kvs_eventlog.run(self, a)
        else:
            await getattr(self, "cmd_" + name)(a)
        self.flush()
        return self.status

    # -- plumbing --------------------------------------------------------------

    def write(self, data: str | bytes) -> None:
        self.stdout.write(data.encode() if isinstance(data, str) else data)

    def line(self, text: str) -> None:
        self.write(text + "\n")

    def flush(self) -> None:
        self.stdout.flush()

    def warn(self, text: str) -> None:
        """A line on stderr for a failure that does not end the command."""
        self.flush()
        print(text, file=sys.stderr, flush=True)
        self.status = 1

    async def ask(self, subject: str, build: Callable[[int], Any]) -> Reply:
        reply = await self.client.request(build)
        if reply.errnum:
            raise KvsError(subject, reply.errnum, reply.errmsg)
        return reply

    async def lookup(
        self, key: str, want: str = "value", *, ns: str | None = None, rootref: str | None = None
    ) -> Any:
        space, uid = ns or self.ns, self.userid
        reply = await self.ask(
            key,
            lambda c: m.LookupReq(
                client=c, ns=space, key=key, want=want, rootref=rootref, userid=uid
            ),
        )
        return reply.value

    async def commit(self, subject: str, txn: Txn, flags: int = 0, ns: str | None = None) -> Any:
        """Commit ``txn``; the reply's ``{"seq", "rootref"}``."""
        ops, space, uid = txn.ops, ns or self.ns, self.userid
        reply = await self.ask(
            subject, lambda c: m.CommitReq(client=c, ns=space, ops=ops, flags=flags, userid=uid)
        )
        return reply.value

    def commit_output(self, a: argparse.Namespace, value: Any) -> None:
        """``-O``, ``-b`` or ``-s`` after a commit."""
        value = value or {}
        if getattr(a, "treeobj_root", False):
            self.line(dirref(value.get("rootref", "")))
        elif getattr(a, "blobref", False):
            self.line(str(value.get("rootref", "")))
        elif getattr(a, "sequence", False):
            self.line(str(value.get("seq", "")))

    async def watch(self, key: str, flags: int, on_value: Callable[[Any], bool]) -> None:
        """Watch ``key``; ``on_value(value)`` for each answer until it returns
        True (then cancel) or the stream ends."""
        space, uid = self.ns, self.userid
        w = await self.client.watch(
            lambda c: m.WatchReq(client=c, ns=space, key=key, flags=flags, userid=uid)
        )
        cancelled = False
        async for reply in w:
            if reply.errnum:
                if cancelled and reply.errnum == errno.ENODATA:
                    return
                raise KvsError(key, reply.errnum, reply.errmsg)
            if not cancelled and on_value(reply.value):
                cancelled = True
                await w.cancel()

    # -- values ----------------------------------------------------------------

    def print_value(self, a: argparse.Namespace, key: str, data: Any) -> None:
        label = f"{key}=" if a.label else ""
        if a.treeobj:
            self.line(label + treeobj_text(data))
            return
        raw = data if isinstance(data, bytes) else str(data).encode()
        if a.raw:
            self.write(label.encode() + raw)
            return
        # Flux prints the value as a C string: up to its first NUL byte, then a
        # newline; an empty value prints nothing (not even the newline)
        self.write(label.encode())
        if raw:
            self.write(raw.partition(b"\0")[0] + b"\n")

    async def cmd_get(self, a: argparse.Namespace) -> None:
        if a.watch and a.stream:  # Flux refuses the combination (EINVAL)
            raise KvsError(a.keys[0], errno.EINVAL)
        rootref = rootref_of(a.at) if a.at else None
        if not (a.watch or a.waitcreate):
            for key in a.keys:
                want = "treeobj" if a.treeobj else "value"
                self.print_value(a, key, await self.lookup(key, want, rootref=rootref))
            return
        bits = kf.WATCH | (kf.WAITCREATE if a.waitcreate else 0)
        if a.watch:
            bits |= kf.WATCH_UNIQ if a.uniq else 0
            bits |= kf.WATCH_APPEND if a.append else 0
            bits |= kf.WATCH_FULL if a.full else 0
        for key in a.keys:
            seen = [0]

            def show(value: Any, key: str = key, seen: list[int] = seen) -> bool:
                self.print_value(a, key, value)
                self.flush()
                seen[0] += 1
                return not a.watch or (a.count > 0 and seen[0] >= a.count)

            await self.watch(key, bits, show)

    async def cmd_watch(self, a: argparse.Namespace) -> None:
        args = argparse.Namespace(**vars(a), keys=[a.key], watch=True, label=False, raw=False,
                                  treeobj=False, at=None, append=False, full=False)  # fmt: skip
        await self.cmd_get(args)

    async def cmd_put(self, a: argparse.Namespace) -> None:
        txn = Txn()
        first = ""
        for arg in a.assignments:
            key, sep, text = arg.partition("=")
            if not sep:
                raise KvsError("put", 0, "you must specify a value as key=value")
            first = first or key
            try:
                if a.treeobj:
                    data = _stdin() if text == "-" else text.encode()
                    txn.put_treeobj(key, json.loads(data))
                    continue
                data = _stdin() if a.raw and text == "-" else text.encode()
                if a.append:
                    txn.append(key, data)
                else:
                    txn.put_raw(key, data)
            except ValueError:
                raise KvsError(key, errno.EINVAL, "not an RFC 11 tree object") from None
            except KVSError as exc:
                raise KvsError(key, exc.errno or errno.EINVAL, exc.detail) from None
        flags = (kf.NO_MERGE if a.no_merge else 0) | (kf.SYNC if a.sync else 0)
        self.commit_output(a, await self.commit(first, txn, flags))

    async def cmd_unlink(self, a: argparse.Namespace) -> None:
        txn = Txn()
        for key in a.keys:
            if await self._unlinkable(key, a.recursive, a.force):
                txn.unlink(key)
        self.commit_output(a, await self.commit(a.keys[0], txn))

    async def _unlinkable(self, key: str, recursive: bool, force: bool) -> bool:
        """Flux's checks before an unlink: a missing key fails unless ``-f``, a
        non-empty directory unless ``-R``."""
        subject = f"cannot unlink '{key}'"
        try:
            obj = await self.lookup(key, "treeobj")
        except KvsError as exc:
            if exc.errnum == errno.ENOENT and force:
                return False
            raise KvsError(subject, exc.errnum, exc.detail) from None
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "dir" and not recursive and obj.get("data"):
            raise KvsError(subject, errno.ENOTEMPTY)
        if kind == "dirref" and not recursive:
            try:
                listing = await self.lookup(key, "dir")
            except KvsError as exc:
                raise KvsError(subject, exc.errnum, exc.detail) from None
            if listing:
                raise KvsError(subject, errno.ENOTEMPTY)
        return True

    async def cmd_link(self, a: argparse.Namespace) -> None:
        txn = Txn()
        try:
            txn.symlink(a.linkname, a.target, a.target_namespace)
        except KVSError as exc:
            raise KvsError(a.linkname, exc.errno or errno.EINVAL, exc.detail) from None
        self.commit_output(a, await self.commit(a.linkname, txn))

    async def cmd_readlink(self, a: argparse.Namespace) -> None:
        rootref = rootref_of(a.at) if a.at else None
        for key in a.keys:
            ns, target = await self.lookup(key, "readlink", rootref=rootref)
            if a.namespace_only and ns:
                self.line(ns)
            elif a.key_only:
                self.line(target)
            else:
                self.line(f"{ns}::{target}" if ns else target)

    async def cmd_mkdir(self, a: argparse.Namespace) -> None:
        txn = Txn()
        for key in a.keys:
            try:
                txn.mkdir(key)
            except KVSError as exc:
                raise KvsError(key, exc.errno or errno.EINVAL, exc.detail) from None
        self.commit_output(a, await self.commit(a.keys[0], txn))

    async def cmd_copy(self, a: argparse.Namespace, *, move: bool = False) -> None:
        src_ns, dst_ns = a.src_namespace or self.ns, a.dst_namespace or self.ns
        obj = await self.lookup(a.source, "treeobj", ns=src_ns)
        txn = Txn()
        txn.put_treeobj(a.destination, obj)
        await self.commit(a.destination, txn, ns=dst_ns)
        if move:
            gone = Txn()
            gone.unlink(a.source)
            await self.commit(a.source, gone, ns=src_ns)

    async def cmd_move(self, a: argparse.Namespace) -> None:
        await self.cmd_copy(a, move=True)

    # -- roots and versions ------------------------------------------------------

    async def _root(self) -> Any:
        ns, uid = self.ns, self.userid
        return (await self.ask(ns, lambda c: m.GetRootReq(client=c, ns=ns, userid=uid))).value

    async def cmd_version(self, a: argparse.Namespace) -> None:
        self.line(str((await self._root())["seq"]))

    async def cmd_getroot(self, a: argparse.Namespace) -> None:
        root = await self._root()
        if a.owner:
            self.line(str(root["owner"]))
        elif a.sequence:
            self.line(str(root["seq"]))
        elif a.blobref:
            self.line(root["rootref"])
        else:
            self.line(dirref(root["rootref"]))

    async def cmd_wait(self, a: argparse.Namespace) -> None:
        ns, uid, v = self.ns, self.userid, a.version
        await self.ask(  # the subject Flux's error line names
            WAIT_SUBJECT, lambda c: m.WaitVersionReq(client=c, ns=ns, version=v, userid=uid)
        )

    async def cmd_sync(self, a: argparse.Namespace) -> None:
        await self.commit("sync", Txn(), kf.SYNC)

    async def cmd_dropcache(self, a: argparse.Namespace) -> None:
        await self.ask("dropcache", lambda c: m.DropCacheReq(client=c))

    # -- namespaces ----------------------------------------------------------------

    async def cmd_namespace(self, a: argparse.Namespace) -> None:
        uid = self.userid
        if a.ns_cmd == "create":
            owner = uid if a.owner is None else a.owner
            rootref = rootref_of(a.rootref, blobref=True) if a.rootref else ""
            for name in a.names:
                await self.ask(name, _ns_create(name, owner, uid, rootref))
        elif a.ns_cmd == "remove":
            for name in a.names:
                await self.ask(name, _ns_remove(name, uid))
        else:
            reply = await self.ask("namespace", lambda c: m.NamespaceListReq(client=c, userid=uid))
            self.line(f"{'NAMESPACE':<36}{'OWNER':>11}{'FLAGS':>11}")
            for e in reply.value:
                self.line(f"{e['namespace']:<36} {e['owner']:>10} 0x{e['flags']:08X}")


def _stdin() -> bytes:
    return sys.stdin.buffer.read()


def _ns_create(name: str, owner: int, uid: int, rootref: str) -> Callable[[int], Any]:
    return lambda c: m.NamespaceCreateReq(
        client=c, ns=name, owner=owner, userid=uid, rootref=rootref
    )


def _ns_remove(name: str, uid: int) -> Callable[[int], Any]:
    return lambda c: m.NamespaceRemoveReq(client=c, ns=name, userid=uid)
