"""The ``kvs-sim kvs`` tool: ``flux kvs``-style commands against a live rank.

Theory of operation
-------------------
Each subcommand builds client requests of :mod:`kvs_sim.rank.messages` (commit
ops come from :class:`kvs_sim.core.txn.Txn`), sends them with a
:class:`~kvs_sim.live.client.LiveClient` to the rank given by ``--rank``, and
prints the answer the way ``flux kvs`` does:

* values are stored JSON-encoded when the command-line text parses as JSON,
  else as a JSON string (``put a=1`` stores ``1``, ``put a=x`` stores ``"x"``);
* values read back are decoded like Flux: JSON if they parse, else text; a
  string prints bare, anything else as compact JSON;
* every write subcommand (``put``, ``unlink``, ``link``, ``mkdir``) commits one
  transaction holding all of its arguments.

A reply carrying an errno ends the command with one line
``kvs-sim kvs: <key>: <strerror>`` and exit status 1 (:class:`KvsError`).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
from collections.abc import Callable
from typing import Any

from kvs_sim.handle import decode_value
from kvs_sim.live.client import LiveClient
from kvs_sim.rank import messages as m
from kvs_sim.rank.messages import Reply


class KvsError(Exception):
    """A request failed: ``key`` (what the user named) and an errno."""

    def __init__(self, key: str, errnum: int, detail: str = "") -> None:
        super().__init__(key, errnum, detail)
        self.key = key
        self.errnum = errnum
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.key}: {os.strerror(self.errnum) if self.errnum else self.detail}"


def format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return repr(value)
    return json.dumps(value, separators=(",", ":"))


def parse_assignment(arg: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (key, JSON value if VALUE parses, else the string)."""
    key, sep, text = arg.partition("=")
    if not sep:
        raise KvsError(arg, 0, "expected KEY=VALUE")
    try:
        return key, json.loads(text)
    except ValueError:
        return key, text


class Tool:
    """One invocation: a connected client, a namespace, a user id, an output."""

    def __init__(
        self, client: LiveClient, ns: str, userid: int, out: Callable[[str], None]
    ) -> None:
        self.client = client
        self.ns = ns
        self.userid = userid
        self.out = out

    async def ask(self, key: str, build: Callable[[int], Any]) -> Reply:
        reply = await self.client.request(build)
        if reply.errnum:
            raise KvsError(key, reply.errnum, reply.errmsg)
        return reply

    async def lookup(self, key: str, want: str = "value") -> Any:
        ns, uid = self.ns, self.userid
        reply = await self.ask(
            key, lambda c: m.LookupReq(client=c, ns=ns, key=key, want=want, userid=uid)
        )
        return reply.value

    async def commit(self, what: str, fill: Callable[[Any], object], flags: int = 0) -> None:
        from kvs_sim.core.errors import KVSError
        from kvs_sim.core.txn import Txn

        txn = Txn()
        try:
            fill(txn)
        except KVSError as exc:
            raise KvsError(what, exc.errno or 0, str(exc)) from None
        ops, ns, uid = txn.ops, self.ns, self.userid
        await self.ask(
            what, lambda c: m.CommitReq(client=c, ns=ns, ops=ops, flags=flags, userid=uid)
        )

    # -- subcommands ---------------------------------------------------------

    async def get(self, a: argparse.Namespace) -> None:
        for key in a.keys:
            self.out(format_value(decode_value(await self.lookup(key))))

    async def put(self, a: argparse.Namespace) -> None:
        pairs = [parse_assignment(arg) for arg in a.assignments]

        def fill(txn: Any) -> None:
            for key, value in pairs:
                txn.put(key, value)

        from kvs_sim.core import flags

        await self.commit(pairs[0][0], fill, flags.SYNC if a.sync else 0)

    async def unlink(self, a: argparse.Namespace) -> None:
        await self.commit(a.keys[0], lambda txn: [txn.unlink(k) for k in a.keys])

    async def mkdir(self, a: argparse.Namespace) -> None:
        await self.commit(a.keys[0], lambda txn: [txn.mkdir(k) for k in a.keys])

    async def link(self, a: argparse.Namespace) -> None:
        ns, sep, target = a.target.rpartition("::")
        namespace = ns if sep else None
        await self.commit(a.linkname, lambda txn: txn.symlink(a.linkname, target, namespace))

    async def readlink(self, a: argparse.Namespace) -> None:
        for key in a.keys:
            ns, target = await self.lookup(key, "readlink")
            self.out(f"{ns}::{target}" if ns else target)

    async def dir(self, a: argparse.Namespace) -> None:
        await self._walk(a.key, recursive=a.recursive, values=True)

    async def ls(self, a: argparse.Namespace) -> None:
        await self._walk(a.key, recursive=False, values=False)

    async def _walk(self, key: str, *, recursive: bool, values: bool) -> None:
        listing = await self.lookup(key, "dir")
        for name in sorted(listing):
            entry = listing[name]
            kind = entry.get("type") if isinstance(entry, dict) else entry
            path = name if key in (".", "") or not values else f"{key}.{name}"
            if kind in ("dir", "dirref"):
                self.out(f"{path}.")
                if recursive:
                    await self._walk(f"{key}.{name}" if key not in (".", "") else name,
                                     recursive=True, values=values)  # fmt: skip
            elif not values:
                self.out(path)
            elif kind == "symlink":
                data = entry.get("data", {})
                ns = data.get("namespace")
                target = data.get("target", "")
                self.out(f"{path} -> {ns + '::' if ns else ''}{target}")
            elif kind == "val":
                raw = base64.b64decode(entry.get("data", ""))
                self.out(f"{path} = {format_value(decode_value(raw))}")
            else:
                full = path if values else f"{key}.{name}"
                self.out(f"{path} = {format_value(decode_value(await self.lookup(full)))}")

    async def version(self, a: argparse.Namespace) -> None:
        self.out(str((await self._root()).value["seq"]))

    async def getroot(self, a: argparse.Namespace) -> None:
        self.out(json.dumps((await self._root()).value, sort_keys=True))

    async def _root(self) -> Reply:
        ns, uid = self.ns, self.userid
        return await self.ask(ns, lambda c: m.GetRootReq(client=c, ns=ns, userid=uid))

    async def wait(self, a: argparse.Namespace) -> None:
        ns, uid, v = self.ns, self.userid, a.version
        await self.ask(
            f"wait {v}", lambda c: m.WaitVersionReq(client=c, ns=ns, version=v, userid=uid)
        )

    async def dropcache(self, a: argparse.Namespace) -> None:
        await self.ask("dropcache", lambda c: m.DropCacheReq(client=c))

    async def namespace(self, a: argparse.Namespace) -> None:
        uid = self.userid
        if a.ns_cmd == "create":
            owner = uid if a.owner is None else a.owner
            for name in a.names:
                await self.ask(name, _ns_create(name, owner, uid))
        elif a.ns_cmd == "remove":
            for name in a.names:
                await self.ask(name, _ns_remove(name, uid))
        else:
            reply = await self.ask("namespace", lambda c: m.NamespaceListReq(client=c, userid=uid))
            self.out(f"{'NAMESPACE':<20} {'OWNER':>10} {'FLAGS':>6}")
            for entry in reply.value:
                self.out(f"{entry['namespace']:<20} {entry['owner']:>10} {entry['flags']:>#6x}")

    async def watch(self, a: argparse.Namespace) -> None:
        from kvs_sim.core import flags

        bits = (flags.WAITCREATE if a.waitcreate else 0) | (flags.WATCH_UNIQ if a.uniq else 0)
        ns, uid, key = self.ns, self.userid, a.key
        w = await self.client.watch(
            lambda c: m.WatchReq(client=c, ns=ns, key=key, flags=bits, userid=uid)
        )
        seen = 0
        cancelled = False
        async for reply in w:
            if reply.errnum:
                if cancelled and reply.errnum == 61:  # ENODATA: the end we asked for
                    return
                raise KvsError(key, reply.errnum, reply.errmsg)
            if seen < a.count or not a.count:
                self.out(format_value(decode_value(reply.value)))
                seen += 1
            if a.count and seen >= a.count and not cancelled:
                cancelled = True
                await w.cancel()


def _ns_create(name: str, owner: int, uid: int) -> Callable[[int], Any]:
    return lambda c: m.NamespaceCreateReq(client=c, ns=name, owner=owner, userid=uid)


def _ns_remove(name: str, uid: int) -> Callable[[int], Any]:
    return lambda c: m.NamespaceRemoveReq(client=c, ns=name, userid=uid)
