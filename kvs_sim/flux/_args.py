"""Argument checks of ``flux.kvs``: a wrong type is a ``TypeError`` naming it.

Flux's binding hands its arguments to C, which refuses a ``str`` where an ``int``
goes (or a number where a key goes) with a ``TypeError`` before anything is sent.
These checks do the same here, with a message that names the function and the
argument (``wait_version() argument 'version' must be int, not str``), instead
of letting a wrong type surface later as an unrelated comparison error deep in
the simulator.  ``bool`` is refused where an integer count or flag word is
meant: ``True`` is not a version.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_int", "check_key", "check_number", "check_str"]


def _fail(func: str, name: str, wanted: str, value: Any) -> TypeError:
    return TypeError(f"{func}() argument {name!r} must be {wanted}, not {type(value).__name__}")


def check_int(func: str, name: str, value: Any) -> int:
    """``value`` if it is an ``int`` (not a bool), else a TypeError naming it."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(func, name, "int", value)
    return value


def check_number(func: str, name: str, value: Any) -> float:
    """``value`` if it is an int or float (not a bool), else a TypeError."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _fail(func, name, "a number", value)
    return float(value)


def check_str(func: str, name: str, value: Any) -> str:
    """``value`` if it is a ``str``, else a TypeError naming it."""
    if not isinstance(value, str):
        raise _fail(func, name, "str", value)
    return value


def check_key(func: str, value: Any) -> str:
    """A key argument: a ``str`` (an empty one is the KVS's ``EINVAL``, later)."""
    return check_str(func, "key", value)
