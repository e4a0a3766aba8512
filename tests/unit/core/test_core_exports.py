"""The public surface of kvs_sim.core is pinned: changing it is deliberate."""

from kvs_sim import core

EXPECTED = {
    "HASHES",
    "INLINE_MAX",
    "PRIMARY",
    "ROOT",
    "SYMLINK_MAX_DEPTH",
    "AlreadyExists",
    "ApplyResult",
    "ContentStore",
    "DecodeCache",
    "InvalidArgument",
    "IsDirectory",
    "KVSError",
    "MemoryStore",
    "MissingObject",
    "MissingRoot",
    "Namespace",
    "NamespaceRegistry",
    "NoData",
    "NoSuchKey",
    "NotDirectory",
    "NotSupported",
    "PermissionDenied",
    "ProtocolError",
    "SQLiteStore",
    "Stall",
    "StoreStats",
    "SymlinkLoop",
    "TimedOut",
    "Txn",
    "apply_transactions",
    "blobref",
    "compact_ops",
    "empty_root",
    "error_for",
    "flags",
    "is_blobref",
    "join_key",
    "key_components",
    "lookup",
    "lookup_kind",
    "normalize_key",
    "parent_and_name",
    "treeobj",
    "validate_ops",
}


def test_all_is_pinned() -> None:
    assert set(core.__all__) == EXPECTED
    assert len(core.__all__) == len(EXPECTED)
    for name in core.__all__:
        assert hasattr(core, name), name


def test_flag_values_match_flux() -> None:
    f = core.flags
    assert (f.NO_MERGE, f.TXN_COMPACT, f.SYNC) == (1, 2, 4)
    lookup_flags = (
        f.READDIR,
        f.READLINK,
        f.WATCH,
        f.WAITCREATE,
        f.TREEOBJ,
        f.APPEND,
        f.WATCH_FULL,
        f.WATCH_UNIQ,
        f.WATCH_APPEND,
        f.STREAM,
    )
    assert lookup_flags == (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    assert f.describe(f.READDIR | f.WATCH) == "READDIR|WATCH"
    assert f.describe(f.SYNC | f.NO_MERGE, commit=True) == "NO_MERGE|SYNC"
    assert f.describe(0) == "0"
    assert f.describe(1 << 12) == "0x1000"


def test_core_imports_no_io_or_clock_modules() -> None:
    import ast
    from pathlib import Path

    banned = {"random", "time", "socket", "asyncio", "datetime", "urllib", "http", "select"}
    for path in Path(core.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in banned, f"{path.name} imports {name}"
