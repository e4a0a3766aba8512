"""Output files written whole, or not at all; folders checked before a run.

Theory of operation
-------------------
A run may take minutes; finding out at its end that ``--out`` is read-only,
or leaving a truncated ``history.jsonl`` when the disk fills, loses the run
and misleads whoever reads the file later.  So commands call
:func:`check_writable` on their output folder before they start (it creates
the folder and a probe file in it), and write every file through
:func:`atomic_write`: the content goes to a hidden temporary name in the same
folder, which is renamed over the target only once it is complete (a rename
within one file system is atomic), and removed on any failure.  A failure is
an :class:`OutputError` with one line naming the file and the reason, which
commands turn into exit code 4.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_OUTPUT = 4
"""The exit code of every kvs-sim command whose output could not be written."""


class OutputError(Exception):
    """An output folder or file could not be written (one line for the user)."""


def _reason(e: OSError) -> str:
    return e.strerror or str(e)


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check a file can be written in it."""
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create output directory {out}: {_reason(e)}") from None
    if not out.is_dir():
        raise OutputError(f"output directory {out} is not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=out, prefix=".kvs-sim-probe-") as f:
            f.write(b"probe")
            f.flush()
    except OSError as e:
        raise OutputError(f"cannot write into output directory {out}: {_reason(e)}") from None
    return out


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then rename it
    to ``path``.  On failure the temporary file is removed, ``path`` is left as it
    was, and an OSError becomes an :class:`OutputError`."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {_reason(e)}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` of a text file."""
    return atomic_write(path, lambda p: p.write_text(text))
