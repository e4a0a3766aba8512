"""kvs-sim: a simulator of the Flux key-value store.

A leader rank applies commits to a content-addressed hash tree and publishes a
setroot event per new root; follower ranks on a tree overlay cache tree objects,
fault missing ones in from their parent and serve clients with the Flux
``flux.kvs`` API.  See README.md for the map of the packages.

The names below are imported on first use, so ``import kvs_sim`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Cluster": "kvs_sim.sim.cluster",
    "Channel": "kvs_sim.channel",
    "Handle": "kvs_sim.handle",
    "RankConfig": "kvs_sim.rank.config",
    "ServiceTimes": "kvs_sim.rank.config",
    "KVSError": "kvs_sim.core.errors",
    "Txn": "kvs_sim.core.txn",
}

__all__ = [
    "Channel",
    "Cluster",
    "Handle",
    "KVSError",
    "RankConfig",
    "ServiceTimes",
    "Txn",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kvs_sim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
