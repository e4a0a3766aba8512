"""Blobrefs and content stores (memory and SQLite)."""

import hashlib
from pathlib import Path

import pytest

from kvs_sim.core.content import (
    HASHES,
    ContentStore,
    MemoryStore,
    SQLiteStore,
    blobref,
    is_blobref,
)
from kvs_sim.core.errors import InvalidArgument, NoSuchKey

EMPTY_SHA1 = "sha1-da39a3ee5e6b4b0d3255bfef95601890afd80709"
ABC_SHA1 = "sha1-a9993e364706816aba3e25717850c26c9cd0d89d"
ABC_SHA256 = "sha256-ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_blobref_known_values() -> None:
    assert HASHES == ("sha1", "sha256")
    assert blobref(b"") == EMPTY_SHA1
    assert blobref(b"abc") == ABC_SHA1
    assert blobref(b"abc", "sha256") == ABC_SHA256
    assert blobref(b"xyz") == "sha1-" + hashlib.sha1(b"xyz").hexdigest()
    with pytest.raises(InvalidArgument, match="md5"):
        blobref(b"", "md5")


def test_is_blobref() -> None:
    assert is_blobref(ABC_SHA1)
    assert is_blobref(ABC_SHA256)
    assert not is_blobref("sha1-abc")
    assert not is_blobref(ABC_SHA1.upper())
    assert not is_blobref("md5-" + "0" * 32)
    assert not is_blobref(ABC_SHA1 + "0")
    assert not is_blobref(None)
    assert not is_blobref(ABC_SHA1 + "\n")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_store_load_stats(kind: str, tmp_path: Path) -> None:
    store: ContentStore = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "s.db")
    assert len(store) == 0
    ref = store.store(b"abc")
    assert ref == ABC_SHA1
    assert ref in store
    assert "sha1-" + "0" * 40 not in store
    assert store.store(b"abc") == ref  # idempotent
    assert len(store) == 1
    assert store.load(ref) == b"abc"
    st = store.stats
    assert (st.stores, st.noop_stores, st.objects) == (2, 1, 1)
    assert st.bytes_stored == 6
    assert (st.loads, st.bytes_loaded) == (1, 3)
    with pytest.raises(NoSuchKey) as info:
        store.load(EMPTY_SHA1)
    assert EMPTY_SHA1 in str(info.value)
    assert store.get_checkpoint() is None
    store.close()


def test_sha256_store() -> None:
    store = MemoryStore("sha256")
    assert store.store(b"abc") == ABC_SHA256
    with pytest.raises(InvalidArgument):
        MemoryStore("crc32")


def test_memory_checkpoint() -> None:
    store = MemoryStore()
    cp = {"version": 1, "sequence": 3, "timestamp": 1.5, "rootref": ABC_SHA1}
    store.put_checkpoint(cp)
    got = store.get_checkpoint()
    assert got == cp
    assert got is not cp
    with pytest.raises(InvalidArgument):
        store.put_checkpoint({"sequence": 1})


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "content.sqlite"
    store = SQLiteStore(path)
    refs = [store.store(bytes([i]) * i) for i in range(50)]
    cp = {"version": 1, "sequence": 7, "timestamp": 2.0, "rootref": refs[3]}
    store.put_checkpoint(cp)
    store.store(b"after checkpoint")
    store.close()
    assert "closed" in repr(store)
    with pytest.raises(InvalidArgument):
        store.load(refs[0])

    again = SQLiteStore(path)
    assert len(again) == 51
    assert again.stats.objects == 51
    for i, ref in enumerate(refs):
        assert again.load(ref) == bytes([i]) * i
    assert again.load(blobref(b"after checkpoint")) == b"after checkpoint"
    assert again.get_checkpoint() == cp
    cp2 = dict(cp, sequence=8)
    again.put_checkpoint(cp2)
    again.close()
    with SQLiteStore(path) as third:
        assert third.get_checkpoint() == cp2


def test_sqlite_flush_makes_data_visible_to_other_connections(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    writer = SQLiteStore(path)
    ref = writer.store(b"x")
    writer.flush()
    reader = SQLiteStore(path)
    assert reader.load(ref) == b"x"
    reader.close()
    writer.close()


def test_sqlite_rejects_other_hash(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    SQLiteStore(path).close()
    with pytest.raises(InvalidArgument, match="sha1"):
        SQLiteStore(path, "sha256")
