"""Scenario options and parameters: what a run may be given, and checking it.

Theory of operation
-------------------
Two kinds of settings reach a run.  **Cluster options** (:data:`CLUSTER_OPTIONS`:
size, fanout, seed, event routing, latency, ...) every run has; they are checked
by :func:`check_options`.  **Scenario parameters** are the other keys of a
scenario's ``DEFAULTS`` (and of its ``VARIANTS``), which the scenario reads from
``args.params``.  Each parameter has a :class:`ParamSpec`: its type is inferred
from its default (``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``; a
``float`` also takes an ``int``), and a scenario may add ranges, choices and a
help line in an optional ``PARAMS`` dict next to ``DEFAULTS``::

    DEFAULTS = {"writers": 16, "gap": 1e-3}
    PARAMS = {"writers": {"min": 1, "max": 4096, "help": "concurrent writers"},
              "gap": {"min": 0.0, "help": "seconds between two commits"}}

:func:`check_param` checks one value against its spec and raises ``ValueError``
with a one-line reason (``writers must be an integer >= 1, got -3``), so that
``run --set`` and ``sweep --grid`` refuse a bad value before anything starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLUSTER_OPTIONS: dict[str, Any] = {
    "size": 8,
    "fanout": 2,
    "seed": 0,
    "events": "tree",
    "latency": "const:40us",
    "forward_cost": "12us",
    "commit_response": "observed",
    "ryw_via": "setroot",
    "cache_expiry": 10.0,
    "max_time": 60.0,
    "checkpoint_period": 0.0,
    "nemesis": "",
    "nemesis_interval": 0.05,
}
"""Options every run has, with their built-in defaults."""

MAX_RANKS = 1_000_000

_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "list": (list, tuple),
    "dict": (dict,),
}
_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "list": "a list",
    "dict": "a dict",
}
_SPEC_KEYS = frozenset({"type", "min", "max", "choices", "help"})


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """What one scenario parameter accepts."""

    name: str
    type: str | None
    """One of ``int float str bool list dict``; None: any JSON value."""
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""

    def describe(self) -> str:
        """``writers: an integer from 1 to 4096 (default 16): concurrent writers``."""
        return f"{self.name}: {self._kind()} (default {self.default!r})" + (
            f": {self.help}" if self.help else ""
        )

    def _kind(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        word = _WORDS.get(self.type or "", "any value")
        if self.min is not None and self.max is not None:
            return f"{word} from {self.min:g} to {self.max:g}"
        if self.min is not None:
            return f"{word} >= {self.min:g}"
        if self.max is not None:
            return f"{word} <= {self.max:g}"
        return word


def type_of(value: Any) -> str | None:
    """The parameter type inferred from a default value (None for None)."""
    if isinstance(value, bool):
        return "bool"
    for name in ("int", "float", "str", "list", "dict"):
        if isinstance(value, _TYPES[name][-1]):
            return name
    return None


def param_specs(
    defaults: Mapping[str, Any], variants: Mapping[str, Mapping[str, Any]], declared: Any
) -> dict[str, ParamSpec]:
    """The specs of a scenario's parameters: every non-cluster key of ``DEFAULTS``
    and of the variants, typed from its first value, refined by ``PARAMS``
    (``declared``).  ValueError (one line) for a malformed ``PARAMS``."""
    values: dict[str, Any] = {}
    for over in (defaults, *variants.values()):
        for k, v in over.items():
            if k not in CLUSTER_OPTIONS and k != "claims":
                values.setdefault(k, v)
    if declared is None:
        declared = {}
    if not isinstance(declared, Mapping):
        raise ValueError("PARAMS must be a dict of parameter name -> {min, max, choices, help}")
    specs = {k: ParamSpec(k, type_of(v), defaults.get(k, v)) for k, v in values.items()}
    for name, raw in declared.items():
        if name not in values:
            raise ValueError(f"PARAMS names {name!r}, which is not a parameter in DEFAULTS")
        if not isinstance(raw, Mapping) or not set(raw) <= _SPEC_KEYS:
            raise ValueError(
                f"PARAMS[{name!r}] must be a dict with keys among {', '.join(sorted(_SPEC_KEYS))}"
            )
        kind = raw.get("type", specs[name].type)
        if kind is not None and kind not in _TYPES:
            raise ValueError(f"PARAMS[{name!r}]['type'] must be one of {', '.join(_TYPES)}")
        choices = raw.get("choices")
        if choices is not None and (isinstance(choices, str) or not list(choices)):
            raise ValueError(f"PARAMS[{name!r}]['choices'] must be a non-empty list")
        for bound in ("min", "max"):
            b = raw.get(bound)
            if b is not None and (isinstance(b, bool) or not isinstance(b, int | float)):
                raise ValueError(f"PARAMS[{name!r}][{bound!r}] must be a number")
        specs[name] = ParamSpec(
            name,
            kind,
            specs[name].default,
            raw.get("min"),
            raw.get("max"),
            tuple(choices) if choices is not None else None,
            str(raw.get("help", "")),
        )
    return specs


def check_param(spec: ParamSpec, value: Any) -> None:
    """ValueError (``NAME must be ..., got VALUE``) unless ``value`` fits ``spec``."""
    bad = ValueError(f"{spec.name} must be {spec._kind()}, got {value!r}")
    if spec.choices is not None:
        if value not in spec.choices or type_of(value) != type_of(spec.choices[0]):
            raise bad
        return
    if spec.type is not None:
        ok = isinstance(value, _TYPES[spec.type])
        if spec.type != "bool" and isinstance(value, bool):
            ok = False
        if not ok:
            raise bad
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isnan(value):
            raise bad
        if spec.min is not None and value < spec.min:
            raise bad
        if spec.max is not None and value > spec.max:
            raise bad


def check_params(specs: Mapping[str, ParamSpec], values: Mapping[str, Any]) -> None:
    """Check every parameter in ``values`` that has a spec (see :func:`check_param`)."""
    for name, value in values.items():
        if name in specs:
            check_param(specs[name], value)


def check_options(opts: Mapping[str, Any]) -> None:
    """Validate cluster options; ValueError with a one-line reason."""
    from kvs_sim.sim.latency import parse_latency

    for name in ("size", "fanout"):
        if name in opts:
            v = opts[name]
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_RANKS:
                raise ValueError(f"{name} must be an integer from 1 to {MAX_RANKS}, got {v!r}")
    if "seed" in opts:
        v = opts["seed"]
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ValueError(f"seed must be an integer >= 0, got {v!r}")
    if "events" in opts and opts["events"] not in ("tree", "broker"):
        raise ValueError(f"events must be 'tree' or 'broker', got {opts['events']!r}")
    if "latency" in opts:
        try:
            parse_latency(opts["latency"])
        except (ValueError, TypeError) as e:
            raise ValueError(f"latency: {e}") from None
    if "forward_cost" in opts:
        try:
            forward_seconds(opts["forward_cost"])
        except (ValueError, TypeError) as e:
            raise ValueError(f"forward_cost: {e}") from None
    if "commit_response" in opts and opts["commit_response"] not in ("observed", "documented"):
        raise ValueError(
            f"commit_response must be 'observed' or 'documented', got {opts['commit_response']!r}"
        )
    if "ryw_via" in opts and opts["ryw_via"] not in ("setroot", "response"):
        raise ValueError(f"ryw_via must be 'setroot' or 'response', got {opts['ryw_via']!r}")
    for name in ("max_time", "cache_expiry"):
        if name in opts:
            v = opts[name]
            if not isinstance(v, int | float) or isinstance(v, bool) or not v > 0:
                raise ValueError(f"{name} must be a number of seconds > 0, got {v!r}")
    _check_faults(opts)


def _check_faults(opts: Mapping[str, Any]) -> None:
    """The fault options: ``checkpoint_period`` (seconds, 0: none), ``nemesis``
    (comma-separated kinds, "": none) and ``nemesis_interval`` (seconds or a
    duration like ``20ms``)."""
    from kvs_sim.nemesis import parse_kinds

    if "checkpoint_period" in opts:
        v = opts["checkpoint_period"]
        if not isinstance(v, int | float) or isinstance(v, bool) or not v >= 0:
            raise ValueError(f"checkpoint_period must be a number of seconds >= 0, got {v!r}")
    if opts.get("nemesis"):
        if not isinstance(opts["nemesis"], str):
            raise ValueError(f"nemesis must be a list of kinds like 'partition,crash', got "
                             f"{opts['nemesis']!r}")  # fmt: skip
        parse_kinds(opts["nemesis"])
    if "nemesis_interval" in opts:
        try:
            if not forward_seconds(opts["nemesis_interval"]) > 0:
                raise ValueError("must be > 0")
        except (ValueError, TypeError):
            raise ValueError(
                f"nemesis_interval must be a duration > 0 (like 20ms), "
                f"got {opts['nemesis_interval']!r}"
            ) from None


def forward_seconds(value: Any) -> float:
    """A per-copy forwarding cost given as seconds or a duration like ``"5us"``."""
    from kvs_sim.sim.latency import parse_duration

    seconds = parse_duration(value) if isinstance(value, str) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        raise ValueError(f"must be a duration >= 0 (like 5us), got {value!r}")
    return float(seconds)
