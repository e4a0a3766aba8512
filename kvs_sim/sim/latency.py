"""Per-hop latency models for the overlay's links.

Theory of operation
-------------------
A message crossing one overlay link (parent <-> child, or rank <-> event broker)
takes ``model.sample(rng)`` seconds.  Models are small frozen records; the only
randomness is the ``random.Random`` the engine passes in, so a seed fixes every
sample.  :class:`Constant` never touches the rng, and the engine recognises it
(``LinkModel.constant``) to skip sampling and per-pair ordering bookkeeping
entirely on its hot path.

:class:`LinkModel` picks the model for a directed link ``(a, b)``: an entry of
``overrides`` if there is one, else ``default``.  Its ``loss`` is the probability
that an *event* is dropped on a link; requests and responses are never lost,
because Flux's overlay is reliable (ZeroMQ over TCP) and a lost RPC would simply
hang the simulated client, whereas event loss is a failure mode Flux detects
(event sequence numbers) and users may want to study.

Calibration of :data:`DEFAULT_LATENCY`: on a real 2-core instance the setroot lag
to a follower is ~0.3 ms at depth 1 and ~0.4 ms at depth 3, i.e. roughly 50-100 µs
per extra hop and ~0.2 ms that does not depend on depth (the leader's commit and
publish, the follower's apply, the client's wait).  We take a constant 100 µs per
hop (MQTT on loopback measures 140 µs one way, ZeroMQ less) and leave the
depth-independent part to the ranks' declared service time (``Port.work``) plus the
engine's ``hop_cost`` (5 µs per forwarding broker) and ``client_latency``.

Specs (CLI and URIs) are parsed by :func:`parse_latency`: ``"const:100us"`` (or
just ``"100us"``), ``"uniform:50us,150us"``, ``"exp:100us"`` / ``"exp:100us,20us"``
(mean, floor), ``"lognormal:100us,0.5"`` (median, sigma).  ``str(model)`` gives
the spec back.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Union


def _check_time(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")


def format_seconds(value: float) -> str:
    """``1e-4 -> "100us"``: the shortest unit that keeps the number readable."""
    if value == 0:
        return "0s"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(value) >= scale:
            return f"{value / scale:.12g}{unit}"
    return f"{value / 1e-9:.12g}ns"


@dataclass(frozen=True, slots=True)
class Constant:
    """Always ``delay`` seconds."""

    delay: float

    def __post_init__(self) -> None:
        _check_time("Constant delay", self.delay)

    def sample(self, rng: random.Random) -> float:
        return self.delay

    @property
    def mean(self) -> float:
        return self.delay

    def __str__(self) -> str:
        return f"const:{format_seconds(self.delay)}"


@dataclass(frozen=True, slots=True)
class Uniform:
    """Uniform between ``lo`` and ``hi`` seconds."""

    lo: float
    hi: float

    def __post_init__(self) -> None:
        _check_time("Uniform lo", self.lo)
        _check_time("Uniform hi", self.hi)
        if self.lo > self.hi:
            raise ValueError(f"Uniform needs lo <= hi, got lo={self.lo!r} hi={self.hi!r}")

    def sample(self, rng: random.Random) -> float:
        return self.lo + (self.hi - self.lo) * rng.random()

    @property
    def mean(self) -> float:
        return (self.lo + self.hi) / 2

    def __str__(self) -> str:
        return f"uniform:{format_seconds(self.lo)},{format_seconds(self.hi)}"


@dataclass(frozen=True, slots=True)
class Exponential:
    """``floor`` plus an exponential variate of mean ``mean`` (a shifted exponential:
    a fixed propagation time plus memoryless queueing).  The overall mean is
    ``floor + mean``."""

    mean: float
    floor: float = 0.0

    def __post_init__(self) -> None:
        _check_time("Exponential mean", self.mean)
        _check_time("Exponential floor", self.floor)
        if self.mean == 0:
            raise ValueError("Exponential mean must be > 0 (use Constant for a fixed delay)")

    def sample(self, rng: random.Random) -> float:
        return self.floor + rng.expovariate(1.0 / self.mean)

    def __str__(self) -> str:
        if self.floor:
            return f"exp:{format_seconds(self.mean)},{format_seconds(self.floor)}"
        return f"exp:{format_seconds(self.mean)}"


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Log-normal with the given ``median`` (seconds) and shape ``sigma``: heavy-ish
    tails like measured network latency; ``sigma = 0`` is a constant."""

    median: float
    sigma: float

    def __post_init__(self) -> None:
        _check_time("LogNormal median", self.median)
        if self.median == 0:
            raise ValueError("LogNormal median must be > 0")
        if not isinstance(self.sigma, int | float) or not 0 <= self.sigma < math.inf:
            raise ValueError(f"LogNormal sigma must be a finite number >= 0, not {self.sigma!r}")

    def sample(self, rng: random.Random) -> float:
        return self.median * math.exp(self.sigma * rng.gauss(0.0, 1.0))

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma * self.sigma / 2)

    def __str__(self) -> str:
        return f"lognormal:{format_seconds(self.median)},{self.sigma:.12g}"


LatencyModel = Union[Constant, Uniform, Exponential, LogNormal]  # noqa: UP007 (runtime alias)
"""Anything with ``sample(rng) -> float``."""

DEFAULT_LATENCY = Constant(100e-6)
"""100 µs per overlay hop; see the module docstring for the calibration."""

# ---------------------------------------------------------------------------
# Parsing

_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµ]*)\s*$")


def parse_duration(text: str) -> float:
    """``"100us" -> 1e-4``.  Units: s, ms, us (or µs), ns; a unit is required
    except for a bare ``0``."""
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"invalid duration {text!r}: expected a number and a unit, like 100us")
    number, unit = m.groups()
    if not unit:
        if float(number) == 0:
            return 0.0
        raise ValueError(f"duration {text!r} has no unit: use s, ms, us or ns (e.g. {number}us)")
    if unit not in _UNITS:
        raise ValueError(f"unknown unit {unit!r} in {text!r}: use s, ms, us or ns")
    return float(number) * _UNITS[unit]


def parse_latency(spec: str) -> LatencyModel:
    """A latency model from its spec string; raises :class:`ValueError` naming the
    problem.  See the module docstring for the forms."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"empty latency spec {spec!r}")
    kind, sep, rest = spec.strip().partition(":")
    if not sep:
        return Constant(parse_duration(kind))
    kind = kind.strip().lower()
    args = [a.strip() for a in rest.split(",")] if rest.strip() else []

    def want(lo: int, hi: int, form: str) -> None:
        if not lo <= len(args) <= hi:
            raise ValueError(f"latency spec {spec!r}: expected {form}")

    if kind in ("const", "constant"):
        want(1, 1, "const:DURATION")
        return Constant(parse_duration(args[0]))
    if kind == "uniform":
        want(2, 2, "uniform:LO,HI")
        return Uniform(parse_duration(args[0]), parse_duration(args[1]))
    if kind in ("exp", "exponential"):
        want(1, 2, "exp:MEAN or exp:MEAN,FLOOR")
        floor = parse_duration(args[1]) if len(args) == 2 else 0.0
        return Exponential(parse_duration(args[0]), floor)
    if kind in ("lognormal", "lognorm"):
        want(2, 2, "lognormal:MEDIAN,SIGMA")
        try:
            sigma = float(args[1])
        except ValueError:
            raise ValueError(f"latency spec {spec!r}: sigma {args[1]!r} is not a number") from None
        return LogNormal(parse_duration(args[0]), sigma)
    raise ValueError(
        f"unknown latency model {kind!r} in {spec!r}: use const, uniform, exp or lognormal"
    )


# ---------------------------------------------------------------------------
# Links


class LinkModel:
    """Latency of every directed link: ``overrides[(a, b)]`` or ``default``.

    ``loss`` is the probability that an event is dropped on one link (in tree mode
    the whole subtree below that link then misses it).  Link ends are ranks, or
    ``-2`` for the central event broker in broker mode.
    """

    __slots__ = ("constant", "default", "loss", "overrides")

    def __init__(
        self,
        default: LatencyModel | str = DEFAULT_LATENCY,
        overrides: dict[tuple[int, int], LatencyModel | str] | None = None,
        loss: float = 0.0,
    ) -> None:
        self.default: LatencyModel = _model(default)
        self.overrides: dict[tuple[int, int], LatencyModel] = {}
        for key, model in (overrides or {}).items():
            if (
                not isinstance(key, tuple)
                or len(key) != 2
                or not all(isinstance(x, int) for x in key)
            ):
                raise ValueError(f"link override key must be a pair of ranks (a, b), not {key!r}")
            self.overrides[key] = _model(model)
        if not isinstance(loss, int | float) or not 0.0 <= loss < 1.0:
            raise ValueError(f"loss must be a probability in [0, 1), not {loss!r}")
        self.loss = float(loss)
        self.constant = all(
            isinstance(m, Constant) for m in (self.default, *self.overrides.values())
        )
        """True if no link ever samples the rng (delays are fixed per link)."""

    def model(self, a: int, b: int) -> LatencyModel:
        """The model for the directed link ``a -> b``."""
        return self.overrides.get((a, b), self.default)

    def sample(self, a: int, b: int, rng: random.Random) -> float:
        """One crossing of ``a -> b``, in seconds."""
        return self.overrides.get((a, b), self.default).sample(rng)

    def __repr__(self) -> str:
        extra = f", overrides={len(self.overrides)}" if self.overrides else ""
        loss = f", loss={self.loss}" if self.loss else ""
        return f"LinkModel({self.default}{extra}{loss})"


def _model(m: LatencyModel | str) -> LatencyModel:
    if isinstance(m, str):
        return parse_latency(m)
    if not callable(getattr(m, "sample", None)):
        raise ValueError(f"not a latency model: {m!r} (needs a sample(rng) method)")
    return m
