import subprocess
import sys

import kvs_sim


def test_version_is_a_string() -> None:
    assert isinstance(kvs_sim.__version__, str)
    assert kvs_sim.__version__.count(".") == 2


def test_public_names_are_pinned_and_resolve() -> None:
    assert kvs_sim.__all__ == [
        "Channel",
        "Cluster",
        "Handle",
        "KVSError",
        "RankConfig",
        "ServiceTimes",
        "Txn",
        "__version__",
    ]
    for name in kvs_sim.__all__:
        assert getattr(kvs_sim, name) is not None
    from kvs_sim.sim.cluster import Cluster

    assert kvs_sim.Cluster is Cluster


def test_importing_the_package_loads_no_heavy_dependency() -> None:
    heavy = ("networkx", "matplotlib", "aiomqtt", "rich")
    code = f"import sys, kvs_sim; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
