"""Random transactions against a plain dict model (Hypothesis stateful test).

The model maps path tuples to a value's list of written segments (the first
put, then each append) and keeps a set of directory paths.  Segments are kept
because a value's *representation* depends on its history (an appended value is
a ``valref`` of one blob per append), and the equal-trees-equal-refs check
rebuilds the tree from the model.
"""

from __future__ import annotations

import json
import random
from itertools import product
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from kvs_sim.core.apply import apply_transactions, empty_root
from kvs_sim.core.content import MemoryStore
from kvs_sim.core.errors import InvalidArgument, IsDirectory, NoSuchKey, NotDirectory
from kvs_sim.core.lookup import lookup, lookup_kind
from kvs_sim.core.txn import Txn

Path = tuple[str, ...]
ALPHABET = "ab"
ALL_PATHS: list[Path] = [p for n in (1, 2, 3) for p in product(ALPHABET, repeat=n)]

paths = st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=3).map(tuple)
spellings = st.sampled_from(["plain", "plain", "plain", "lead", "trail", "double"])
data = st.one_of(st.binary(max_size=6), st.binary(min_size=50, max_size=64))
json_values = st.one_of(st.integers(-5, 5), st.text("xy", max_size=3), st.none())


def spell(path: Path, how: str) -> str:
    key = ".".join(path)
    if how == "lead":
        return "." + key
    if how == "trail":
        return key + "."
    if how == "double":
        return key.replace(".", "..") if len(path) > 1 else ".." + key
    return key


ops = st.one_of(
    st.tuples(st.just("put_raw"), paths, spellings, data),
    st.tuples(st.just("put"), paths, spellings, json_values),
    st.tuples(st.just("mkdir"), paths, spellings, st.none()),
    st.tuples(st.just("unlink"), paths, spellings, st.none()),
    st.tuples(st.just("append"), paths, spellings, data),
)
txns = st.lists(ops, min_size=1, max_size=4)


class Model:
    """Values (path -> segments) and directories (a set of paths)."""

    def __init__(self) -> None:
        self.vals: dict[Path, list[bytes]] = {}
        self.dirs: set[Path] = set()

    def copy(self) -> Model:
        m = Model()
        m.vals = {p: list(s) for p, s in self.vals.items()}
        m.dirs = set(self.dirs)
        return m

    def _make_parents(self, path: Path) -> None:
        for i in range(1, len(path)):
            parent = path[:i]
            self.vals.pop(parent, None)
            self.dirs.add(parent)

    def _remove(self, path: Path) -> None:
        self.vals.pop(path, None)
        if path in self.dirs:
            n = len(path)
            self.dirs = {d for d in self.dirs if d[:n] != path}
            self.vals = {p: s for p, s in self.vals.items() if p[:n] != path}

    def apply(self, kind: str, path: Path, arg: Any) -> None:
        """Apply one op; raises the exception class the KVS should raise."""
        if kind == "unlink":
            if all(path[:i] in self.dirs for i in range(1, len(path))):
                self._remove(path)
            return
        if kind == "append":
            if path in self.dirs:
                raise IsDirectory("append to a directory")
            self._make_parents(path)
            self.vals.setdefault(path, []).append(arg)
            return
        self._make_parents(path)
        self._remove(path)
        if kind == "mkdir":
            self.dirs.add(path)
        else:
            self.vals[path] = [arg]

    def kind(self, path: Path) -> str | None:
        if not path or path in self.dirs:
            return "dir"
        return "val" if path in self.vals else None

    def children(self, path: Path) -> set[str]:
        n = len(path)
        return {p[n] for p in (*self.dirs, *self.vals) if len(p) == n + 1 and p[:n] == path}


def encode_op(txn: Txn, kind: str, key: str, arg: Any) -> bytes | None:
    """Add the op to ``txn``; return the bytes a put or append writes."""
    if kind == "put":
        txn.put(key, arg)
        return json.dumps(arg).encode()
    getattr(txn, kind)(key, *(() if arg is None else (arg,)))
    return arg if kind in ("put_raw", "append") else None


class KVSMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.root = empty_root(self.store)
        self.model = Model()

    def load(self, ref: str) -> bytes | None:
        return self.store.load(ref) if ref in self.store else None

    def _build(self, batch: list[list[tuple[str, Path, str, Any]]]) -> tuple[list[Any], Model, Any]:
        model = self.model.copy()
        expected: Any = None
        ops_batch = []
        for ops_list in batch:
            txn = Txn()
            for kind, path, how, arg in ops_list:
                written = encode_op(txn, kind, spell(path, how), arg)
                if expected is None:
                    try:
                        model.apply(kind, path, written)
                    except IsDirectory:
                        expected = IsDirectory
            ops_batch.append(txn.ops)
        return ops_batch, model, expected

    @rule(batch=st.lists(txns, min_size=1, max_size=3))
    def commit(self, batch: list[list[tuple[str, Path, str, Any]]]) -> None:
        ops_batch, model, expected = self._build(batch)
        if expected is None:
            self.root = apply_transactions(self.store, self.root, ops_batch).rootref
            self.model = model
        else:
            self._expect_failure(ops_batch, expected)

    @rule(ops_list=txns, where=st.integers(0, 4), root_key=st.sampled_from([".", "..", "..."]))
    def failing_commit(self, ops_list: list[Any], where: int, root_key: str) -> None:
        ops_batch, _, expected = self._build([ops_list])
        ops = list(ops_batch[0])
        bad = Txn()
        bad.put(root_key, 1)
        ops.insert(min(where, len(ops)), bad.ops[0])
        # an append to a directory earlier in the txn may fail first
        self._expect_failure([ops], (InvalidArgument, IsDirectory) if expected else InvalidArgument)

    @precondition(lambda self: bool(self.model.dirs))
    @rule(pick=st.randoms(use_true_random=False))
    def append_to_directory_fails(self, pick: random.Random) -> None:
        path = pick.choice(sorted(self.model.dirs))
        txn = Txn()
        txn.put("ok", 1)
        txn.append(".".join(path), b"x")
        self._expect_failure([txn.ops], IsDirectory)

    def _expect_failure(
        self, ops_batch: list[Any], exc: type[Exception] | tuple[type[Exception], ...]
    ) -> None:
        before = self.root
        try:
            apply_transactions(self.store, self.root, ops_batch)
        except exc:
            pass
        else:  # pragma: no cover - a failure of the system under test
            raise AssertionError(f"expected {exc}")
        assert self.root == before

    @rule(pick=st.randoms(use_true_random=False), split=st.booleans())
    def equal_trees_have_equal_refs(self, pick: random.Random, split: bool) -> None:
        groups: list[list[tuple[str, str, bytes | None]]] = []
        for path, segments in self.model.vals.items():
            key = ".".join(path)
            groups.append(
                [("put_raw", key, segments[0])] + [("append", key, s) for s in segments[1:]]
            )
        for path in self.model.dirs:
            if not self.model.children(path):
                groups.append([("mkdir", ".".join(path), None)])
        pick.shuffle(groups)
        store = MemoryStore()
        root = empty_root(store)
        txn_ops: list[Any] = [Txn()]
        for group in groups:
            if split and pick.random() < 0.5:
                txn_ops.append(Txn())
            for kind, key, arg in group:
                getattr(txn_ops[-1], kind)(key, *(() if arg is None else (arg,)))
        root = apply_transactions(store, root, [t.ops for t in txn_ops]).rootref
        assert root == self.root

    @invariant()
    def lookups_agree_with_model(self) -> None:
        model = self.model
        load = self.load
        root_listing = lookup(load, self.root, ".", want="dir")
        assert set(root_listing) == model.children(())
        for path in ALL_PATHS:
            key = ".".join(path)
            kind = model.kind(path)
            assert lookup_kind(load, self.root, key) == kind, key
            if kind == "val":
                assert lookup(load, self.root, key) == b"".join(model.vals[path]), key
                try:
                    lookup(load, self.root, key, want="dir")
                    raise AssertionError(f"{key} listed as a directory")
                except NotDirectory:
                    pass
            elif kind == "dir":
                assert set(lookup(load, self.root, key, want="dir")) == model.children(path)
                try:
                    lookup(load, self.root, key)
                    raise AssertionError(f"{key} read as a value")
                except IsDirectory:
                    pass
            else:
                for want in ("value", "dir"):
                    try:
                        lookup(load, self.root, key, want=want)
                        raise AssertionError(f"{key} found")
                    except NoSuchKey:
                        pass


KVSMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestKVSStateful = KVSMachine.TestCase
