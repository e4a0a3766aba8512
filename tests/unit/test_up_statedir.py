"""Where ``kvs-sim up`` keeps rank 0's content."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kvs_sim.commands.up import STORE_FILE, store_path


def _args(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {"store": None, "statedir": None, "no_statedir": False}
    return argparse.Namespace(**{**base, **kw})


def test_the_default_is_a_statedir_per_cluster_in_the_working_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KVS_SIM_STATEDIR", raising=False)
    assert store_path(_args(), "c1") == Path(".kvs-sim") / "c1" / STORE_FILE
    monkeypatch.setenv("KVS_SIM_STATEDIR", "/var/tmp/k")
    assert store_path(_args(), "c1") == Path("/var/tmp/k") / STORE_FILE
    assert store_path(_args(statedir="/s"), "c1") == Path("/s") / STORE_FILE  # flag wins


def test_an_explicit_file_or_no_store() -> None:
    assert store_path(_args(store="x.sqlite"), "c") == Path("x.sqlite")
    assert store_path(_args(no_statedir=True), "c") is None
