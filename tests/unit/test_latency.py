"""Latency models, spec parsing and per-link selection."""

from __future__ import annotations

import random
import statistics
from dataclasses import astuple

import pytest

from kvs_sim.sim.latency import (
    DEFAULT_LATENCY,
    Constant,
    Exponential,
    LinkModel,
    LogNormal,
    Uniform,
    parse_duration,
    parse_latency,
)


def test_constant_ignores_rng() -> None:
    assert Constant(1e-4).sample(None) == 1e-4  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "model"),
    [
        ("const:100us", Constant(100e-6)),
        ("100us", Constant(100e-6)),
        ("constant:1.5ms", Constant(1.5e-3)),
        ("const:0", Constant(0.0)),
        ("uniform:50us,150us", Uniform(50e-6, 150e-6)),
        ("exp:100us", Exponential(100e-6)),
        ("exp:100us, 20us", Exponential(100e-6, 20e-6)),
        ("lognormal:100us,0.5", LogNormal(100e-6, 0.5)),
        ("const:2s", Constant(2.0)),
        ("const:250ns", Constant(250e-9)),
        ("const:1e2us", Constant(1e-4)),
    ],
)
def test_parse(spec: str, model: object) -> None:
    got = parse_latency(spec)
    assert type(got) is type(model)
    assert astuple(got) == pytest.approx(astuple(model))  # type: ignore[call-overload]
    again = parse_latency(str(got))
    assert astuple(again) == pytest.approx(astuple(got))  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("const:100", "no unit"),
        ("const:100 lightyears", "unknown unit"),
        ("gauss:1ms", "unknown latency model"),
        ("uniform:1ms", "uniform:LO,HI"),
        ("uniform:2ms,1ms", "lo <= hi"),
        ("exp:0us", "mean must be > 0"),
        ("lognormal:1ms,x", "sigma"),
        ("lognormal:1ms,-1", "sigma"),
        ("const:-1ms", "invalid duration"),
        ("const:abc", "invalid duration"),
    ],
)
def test_parse_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_latency(spec)


def test_parse_duration() -> None:
    assert parse_duration("3ms") == pytest.approx(3e-3)
    assert parse_duration("7µs") == pytest.approx(7e-6)
    assert parse_duration(" 0 ") == 0.0


def test_samples_are_in_range_and_reproducible() -> None:
    models = [Uniform(1e-4, 2e-4), Exponential(1e-4, 5e-5), LogNormal(1e-4, 0.5)]
    for m in models:
        a = [m.sample(random.Random(7)) for _ in range(3)]
        rng = random.Random(7)
        b = [m.sample(rng) for _ in range(2000)]
        assert a[0] == b[0]
        assert min(b) >= 0
    rng = random.Random(1)
    u = [Uniform(1e-4, 2e-4).sample(rng) for _ in range(2000)]
    assert min(u) >= 1e-4 and max(u) <= 2e-4
    e = [Exponential(1e-4, 5e-5).sample(rng) for _ in range(5000)]
    assert min(e) >= 5e-5
    assert statistics.mean(e) == pytest.approx(1.5e-4, rel=0.1)
    ln = [LogNormal(1e-4, 0.5).sample(rng) for _ in range(5000)]
    assert statistics.median(ln) == pytest.approx(1e-4, rel=0.1)


def test_link_model_overrides_and_flags() -> None:
    links = LinkModel()
    assert links.default == DEFAULT_LATENCY and links.constant and links.loss == 0
    mixed = LinkModel("const:1ms", {(0, 1): "uniform:1us,2us", (1, 0): Constant(5e-3)}, loss=0.1)
    assert not mixed.constant
    assert mixed.model(1, 0) == Constant(5e-3)
    assert mixed.model(0, 2) == Constant(1e-3)
    assert 1e-6 <= mixed.sample(0, 1, random.Random(0)) <= 2e-6
    assert "loss=0.1" in repr(mixed)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loss": 1.0},
        {"loss": -0.1},
        {"overrides": {(0,): "1us"}},
        {"overrides": {("a", 1): "1us"}},
        {"default": object()},
    ],
)
def test_link_model_rejects(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        LinkModel(**kwargs)
