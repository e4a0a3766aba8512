"""Live tests: a private mosquitto per test module, skipped when it is absent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kvs_sim.live.broker import Broker, MosquittoNotFound


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    try:
        b = Broker()
    except MosquittoNotFound as exc:
        pytest.skip(f"live tests need mosquitto: {exc}")
    with b:
        yield b
