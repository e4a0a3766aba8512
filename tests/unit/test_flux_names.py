"""Pin the public names of the Flux-compatible API and the shim's re-exports."""

from __future__ import annotations

import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import kvs_sim.flux
from kvs_sim.core import flags
from kvs_sim.flux import constants, kvs

KVS_NAMES = [
    "Future",
    "KVSDir",
    "KVSTxn",
    "KVSWatchFuture",
    "commit",
    "commit_async",
    "dropcache",
    "exists",
    "get",
    "get_dir",
    "get_key_direct",
    "get_version",
    "getroot",
    "isdir",
    "join",
    "kvs_checkpoint_lookup",
    "kvs_watch_async",
    "namespace_create",
    "namespace_list",
    "namespace_remove",
    "put",
    "put_mkdir",
    "put_symlink",
    "put_unlink",
    "wait_version",
    "walk",
]

CONSTANTS = {
    "FLUX_KVS_NO_MERGE": 1,
    "FLUX_KVS_TXN_COMPACT": 2,
    "FLUX_KVS_SYNC": 4,
    "FLUX_KVS_READDIR": flags.READDIR,
    "FLUX_KVS_READLINK": flags.READLINK,
    "FLUX_KVS_WATCH": flags.WATCH,
    "FLUX_KVS_WAITCREATE": flags.WAITCREATE,
    "FLUX_KVS_TREEOBJ": flags.TREEOBJ,
    "FLUX_KVS_APPEND": flags.APPEND,
    "FLUX_KVS_WATCH_FULL": flags.WATCH_FULL,
    "FLUX_KVS_WATCH_UNIQ": flags.WATCH_UNIQ,
    "FLUX_KVS_WATCH_APPEND": flags.WATCH_APPEND,
    "FLUX_KVS_STREAM": flags.STREAM,
}

SIGNATURES = {
    "get": "(flux_handle, key, namespace=None, _kvstxn=None)",
    "get_dir": "(flux_handle, key='.', namespace=None, _kvstxn=None)",
    "get_key_direct": "(flux_handle, key, namespace=None)",
    "exists": "(flux_handle, key, namespace=None)",
    "isdir": "(flux_handle, key, namespace=None)",
    "put": "(flux_handle, key, value, raw=False, _kvstxn=None)",
    "put_mkdir": "(flux_handle, key, _kvstxn=None)",
    "put_unlink": "(flux_handle, key, _kvstxn=None)",
    "put_symlink": "(flux_handle, key, target, _kvstxn=None)",
    "commit": "(flux_handle, flags=0, namespace=None, _kvstxn=None)",
    "commit_async": "(flux_handle, flags=0, namespace=None, _kvstxn=None)",
    "namespace_create": "(flux_handle, namespace, owner=None, flags=0)",
    "namespace_remove": "(flux_handle, namespace)",
    "namespace_list": "(flux_handle)",
    "dropcache": "(flux_handle)",
    "walk": "(directory, topdown=False, flux_handle=None, namespace=None)",
    "kvs_watch_async": (
        "(flux_handle, key, namespace=None, waitcreate=False, uniq=False, append=False, full=False)"
    ),
    "kvs_checkpoint_lookup": "(flux_handle, cache_bypass=False)",
    "get_version": "(flux_handle, namespace=None)",
    "wait_version": "(flux_handle, version, namespace=None, timeout=None)",
    "getroot": "(flux_handle, namespace=None)",
}


def _plain(fn: object) -> str:
    """A signature without annotations, as Flux's untyped binding spells it."""
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


def test_kvs_public_names_are_pinned() -> None:
    assert sorted(kvs.__all__) == KVS_NAMES
    for name in KVS_NAMES:
        assert getattr(kvs, name) is not None


def test_kvs_signatures_match_flux() -> None:
    for name, expected in SIGNATURES.items():
        assert _plain(getattr(kvs, name)) == expected, name
    assert (
        _plain(kvs.KVSDir)
        == "(flux_handle=None, path='.', handle=None, namespace=None, _kvstxn=None)"
    )
    assert _plain(kvs.KVSTxn) == "(flux_handle=None, path='.', namespace=None)"


def test_constants_are_pinned_with_flux_values() -> None:
    assert sorted(constants.__all__) == sorted(CONSTANTS)
    for name, value in CONSTANTS.items():
        assert getattr(constants, name) == value, name


def test_package_exports() -> None:
    assert sorted(kvs_sim.flux.__all__) == ["Flux", "constants", "eventlog", "kvs"]


def test_the_shim_is_not_a_top_level_flux_package() -> None:
    spec = importlib.util.find_spec("flux")
    shim = Path(kvs_sim.flux.__file__).parent / "shim"
    assert spec is None or shim not in Path(spec.origin or "").parents


def test_the_shim_reexports_the_same_objects() -> None:
    shim = Path(kvs_sim.flux.__file__).parent / "shim"
    code = (
        "import flux, flux.kvs, flux.constants, kvs_sim.flux as k\n"
        "assert flux.Flux is k.Flux and flux.kvs.KVSDir is k.kvs.KVSDir\n"
        "assert flux.kvs.__all__ == k.kvs.__all__ and flux.constants.FLUX_KVS_SYNC == 4\n"
        "assert all(getattr(flux.kvs, n) is getattr(k.kvs, n) for n in k.kvs.__all__)\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(shim)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.stdout.strip() == "ok", out.stderr
