"""Histories of a run: what clients did, when each rank moved its root, and the
faults (nemeses) that acted on the cluster.

A history is the only input of the checkers (``kvs_sim.checks``) and metrics
(``kvs_sim.metrics``).  :class:`Recorder` builds one during a run, :func:`save`
and :func:`load` move it to and from JSON Lines; :func:`load_edn` reads Jepsen/Knossos
EDN histories.  The format is documented in
``docs/history-format.md`` and in :mod:`kvs_sim.history._records`.
"""

from kvs_sim.history._edn import from_edn_lines, load_edn, looks_like_edn
from kvs_sim.history._jsonl import (
    from_lines,
    load,
    record_from_dict,
    record_to_dict,
    save,
    to_lines,
)
from kvs_sim.history._recorder import Recorder
from kvs_sim.history._records import (
    FORMAT_NAME,
    FORMAT_VERSION,
    NEMESIS_NAMES,
    OP_NAMES,
    READ_OPS,
    Header,
    History,
    HistoryError,
    NemesisInterval,
    Op,
    RootEvent,
    done_key,
    program_order_key,
    start_key,
)

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "NEMESIS_NAMES",
    "OP_NAMES",
    "READ_OPS",
    "Header",
    "History",
    "HistoryError",
    "NemesisInterval",
    "Op",
    "Recorder",
    "RootEvent",
    "done_key",
    "from_edn_lines",
    "from_lines",
    "load",
    "load_edn",
    "looks_like_edn",
    "program_order_key",
    "record_from_dict",
    "record_to_dict",
    "save",
    "start_key",
    "to_lines",
]
