"""A large directory in a cluster: versions kept as changes at the leader, yet every
root (old ones too) served to followers and lookups, after dropcache as well."""

from __future__ import annotations

from kvs_sim.core import dirs
from kvs_sim.core.txn import Txn
from kvs_sim.sim.cluster import Cluster


def test_large_directory_versions_and_snapshots() -> None:
    c = Cluster(size=7, fanout=2, seed=3)
    h, far = c.handle(0), c.handle(6)
    t = Txn()
    for i in range(dirs.FRAGMENT_MIN + 10):
        t.put(f"big.k{i}", i)
    c.wait(h.commit(t))
    snapshots = []
    for i in range(30):
        snapshots.append(c.wait(h.getroot())["rootref"])
        c.wait(far.put(f"big.n{i}", i) if i % 2 else h.put(f"big.k{i}", -i))
        if i == 15:
            c.wait(h.dropcache())
    leader = c.ranks[0]
    held = [obj for obj in leader.content.backing._blobs.values()]  # type: ignore[attr-defined]
    versions = [obj for obj in held if isinstance(obj, dirs.DirBlob)]
    assert len(versions) >= 30  # one per commit, none of them a full copy
    assert sum(v.is_head for v in versions) <= 2
    for n, ref in enumerate(snapshots):
        for handle in (h, far):
            listing = c.wait(handle.lookup("big", want="dir", rootref=ref))
            assert len(listing) == dirs.FRAGMENT_MIN + 10 + n // 2
    assert c.wait(far.get("big.n29")) == 29
    assert c.wait(far.get("big.k28")) == -28
