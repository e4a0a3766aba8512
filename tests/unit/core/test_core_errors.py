"""Errors carry Flux errnos and match the builtin OSError subclasses."""

import errno
import os
import pickle

import pytest

from kvs_sim.core import errors as E
from kvs_sim.core.errors import KVSError, error_for

CASES = [
    (E.NoSuchKey, errno.ENOENT, FileNotFoundError),
    (E.IsDirectory, errno.EISDIR, IsADirectoryError),
    (E.NotDirectory, errno.ENOTDIR, NotADirectoryError),
    (E.InvalidArgument, errno.EINVAL, OSError),
    (E.SymlinkLoop, errno.ELOOP, OSError),
    (E.NotSupported, errno.EOPNOTSUPP, OSError),
    (E.PermissionDenied, errno.EPERM, PermissionError),
    (E.AlreadyExists, errno.EEXIST, FileExistsError),
    (E.TimedOut, errno.ETIMEDOUT, TimeoutError),
    (E.NoData, errno.ENODATA, OSError),
    (E.ProtocolError, errno.EPROTO, OSError),
]


@pytest.mark.parametrize(("cls", "num", "builtin"), CASES)
def test_subclass_errno_and_builtin(cls: type[KVSError], num: int, builtin: type) -> None:
    err = cls(num, "key 'a.b' went wrong")
    assert isinstance(err, KVSError)
    assert isinstance(err, OSError)
    assert isinstance(err, builtin)
    assert err.errno == num
    assert err.strerror == os.strerror(num)  # Flux's binding: the C library's text
    assert err.detail == "key 'a.b' went wrong"
    assert str(err) == f"[Errno {num}] {os.strerror(num)}: key 'a.b' went wrong"
    # message-only form uses the class errno
    assert cls("m").errno == num
    with pytest.raises(builtin):
        raise cls("m")


@pytest.mark.parametrize(("cls", "num", "builtin"), CASES)
def test_error_for_maps_errno(cls: type[KVSError], num: int, builtin: type) -> None:
    err = error_for(num, "msg")
    assert type(err) is cls
    assert err.errno == num
    assert err.detail == "msg"
    keyed = error_for(num, "msg", filename="a.b")
    if num in E.KEY_ERRNOS:  # about the key: the key is the filename, as for files
        assert str(keyed) == f"[Errno {num}] {os.strerror(num)}: 'a.b'"
    else:  # about a namespace, a permission, a wait: the detail says more
        assert keyed.filename is None
        assert str(keyed) == f"[Errno {num}] {os.strerror(num)}: msg"


def test_error_for_enotsup_and_unknown() -> None:
    assert type(error_for(errno.ENOTSUP, "x")) is E.NotSupported
    err = error_for(errno.EBUSY, "busy")
    assert type(err) is KVSError
    assert err.errno == errno.EBUSY


def test_kvserror_plain_construction() -> None:
    err = KVSError(errno.EIO, "disk on fire")
    assert err.errno == errno.EIO
    assert str(err) == "[Errno 5] Input/output error: disk on fire"
    assert str(KVSError(errno.EIO)) == "[Errno 5] Input/output error"
    assert err.txn_index is None


def test_errors_pickle() -> None:
    err = E.NoSuchKey(errno.ENOENT, "no such key 'a'", "a")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is E.NoSuchKey
    assert back.errno == errno.ENOENT
    assert (back.detail, back.filename) == ("no such key 'a'", "a")
    assert str(back) == "[Errno 2] No such file or directory: 'a'"


def test_message_of_is_what_a_reply_carries() -> None:
    assert E.message_of(E.NotSupported("namespace 'x' does not exist")) == (
        "namespace 'x' does not exist"
    )
    assert E.message_of(OSError(errno.EIO, "plain")) == "plain"
    assert E.message_of(ValueError("v")) == "v"


def test_stalls_are_not_kvs_errors() -> None:
    miss = E.MissingObject("sha1-" + "0" * 40)
    assert isinstance(miss, E.Stall)
    assert not isinstance(miss, OSError)
    assert miss.ref == "sha1-" + "0" * 40
    assert miss.refs == (miss.ref,)
    assert miss.ref in str(miss)
    root = E.MissingRoot("ns1")
    assert isinstance(root, E.Stall)
    assert root.namespace == "ns1"
    assert "ns1" in str(root)
