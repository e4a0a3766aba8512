"""kvs-sim: a simulator of the Flux key-value store.

A leader rank applies commits to a content-addressed hash tree and publishes a
setroot event per new root; follower ranks on a tree overlay cache tree objects,
fault missing ones in from their parent and serve clients with the Flux
``flux.kvs`` API.  See README.md for the map of the packages.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
