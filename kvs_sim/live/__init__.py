"""Live mode: kvs-sim ranks over a real MQTT broker (mosquitto), in real time.

The map (each module starts with its theory of operation):

* :mod:`~kvs_sim.live.codec` -- versioned JSON payloads of every message;
* :mod:`~kvs_sim.live.topics` -- the topic layout and broker URLs;
* :mod:`~kvs_sim.live.ranks` -- rank sets on the command line (routing uses
  :class:`kvs_sim.overlay.Overlay`);
* :mod:`~kvs_sim.live.broker` -- a private, correctly configured mosquitto;
* :mod:`~kvs_sim.live.transport` -- one MQTT v5 connection: non-blocking QoS 1,
  persistent session, reconnection (its hot path: :mod:`~kvs_sim.live.wire`, the
  packets it builds: :mod:`~kvs_sim.live.mqtt_packets`);
* :mod:`~kvs_sim.live.eventloop` -- the loop live processes run on (uvloop where
  installed);
* :mod:`~kvs_sim.live.engine` -- :class:`LiveEngine`, the ``Port`` of hosted ranks
  (moving their messages: :mod:`~kvs_sim.live.pump`; their clients:
  :mod:`~kvs_sim.live.sessions`; nemeses, in-process crashes and overlay
  notices: :mod:`~kvs_sim.live.faults`, :mod:`~kvs_sim.live.incarnation`,
  :mod:`~kvs_sim.live.notices`);
* :mod:`~kvs_sim.live.client` -- :class:`LiveClient`, requests from outside;
* :mod:`~kvs_sim.live.instance` -- a live cluster for blocking ``flux.kvs`` calls
  (``flux_backend(uri)`` is what ``kvs_sim.flux.Flux()`` calls for ``mqtt://``);
* :mod:`~kvs_sim.live.cluster` -- :class:`LiveCluster`, what scenarios drive live;
* :mod:`~kvs_sim.live.scenario` -- ``kvs-sim run --live``;
* :mod:`~kvs_sim.live.launch` -- ``kvs-sim up`` processes for tests and runs.

Names are imported lazily so that ``import kvs_sim.live.codec`` does not load
aiomqtt.  See ``docs/live.md`` for the user's view.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Broker": "kvs_sim.live.broker",
    "BrokerError": "kvs_sim.live.broker",
    "MosquittoNotFound": "kvs_sim.live.broker",
    "BrokerUnreachable": "kvs_sim.live.transport",
    "LiveClient": "kvs_sim.live.client",
    "RequestTimeout": "kvs_sim.live.client",
    "LiveEngine": "kvs_sim.live.engine",
    "CodecError": "kvs_sim.live.codec",
    "URLError": "kvs_sim.live.topics",
    "LiveInstance": "kvs_sim.live.instance",
    "LiveCluster": "kvs_sim.live.cluster",
    "parse_url": "kvs_sim.live.topics",
}

__all__ = [
    "Broker",
    "BrokerError",
    "BrokerUnreachable",
    "CodecError",
    "LiveClient",
    "LiveCluster",
    "LiveEngine",
    "LiveInstance",
    "MosquittoNotFound",
    "RequestTimeout",
    "URLError",
    "flux_backend",
    "parse_url",
]


def flux_backend(uri: str) -> Any:
    """The instance ``kvs_sim.flux.Flux()`` attaches to for an ``mqtt://`` URI."""
    from kvs_sim.live.instance import connect

    return connect(uri)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kvs_sim.live' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
