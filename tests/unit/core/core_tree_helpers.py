"""A store-plus-root helper for writing short core tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kvs_sim.core.apply import ApplyResult, apply_transactions, empty_root
from kvs_sim.core.content import MemoryStore
from kvs_sim.core.lookup import lookup
from kvs_sim.core.txn import Txn


class Tree:
    """A store plus a current root, for writing short tests."""

    def __init__(self) -> None:
        self.store = MemoryStore()
        self.root = empty_root(self.store)
        self.last: ApplyResult | None = None

    def commit(self, *txns: Txn | list[dict[str, Any]], **kwargs: Any) -> ApplyResult:
        ops = [t.ops if isinstance(t, Txn) else t for t in txns]
        self.last = apply_transactions(self.store, self.root, ops, **kwargs)
        self.root = self.last.rootref
        return self.last

    def txn(self, build: Callable[[Txn], None], **kwargs: Any) -> ApplyResult:
        t = Txn()
        build(t)
        return self.commit(t, **kwargs)

    def load(self, ref: str) -> bytes | None:
        return self.store.load(ref) if ref in self.store else None

    def get(self, key: str, want: str = "value", **kwargs: Any) -> Any:
        return lookup(self.load, self.root, key, want=want, **kwargs)
