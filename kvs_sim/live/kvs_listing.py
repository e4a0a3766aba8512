"""``kvs-sim kvs dir`` and ``ls``: directory listings as ``flux kvs`` prints them.

Theory of operation
-------------------
``dir [-R] [-d] [-w N] [-a TREEOBJ] [KEY]`` prints one line per entry, sorted:
``KEY = VALUE`` for a value (cut to the width with ``...``; a value's first line
only), ``KEY -> TARGET`` for a symlink, ``KEY.`` for a directory.  With ``-R``
it descends into subdirectories instead of naming them (an empty one still
prints ``KEY.``); ``-d`` prints value keys without their values.  Keys are full
paths (``test.a.b.c``), however the directory was spelled (``test.a.b.``).

``ls [-R] [-d] [-w N] [-1] [-F] [KEY...]`` imitates ls(1): the keys that are not
directories first, in columns, then each directory's entries (labelled
``KEY:`` when more than one is listed or with ``-R``); ``-F`` marks directories
``.`` and symlinks ``@``; ``-d`` lists a directory key itself.  A key ending in
``.`` must be a directory.  A bad key prints ``KEY: STRERROR`` on stderr, the
rest are listed, and the exit status is 1.

The width: ``-w`` (0 is unlimited), else the terminal's, else ``$COLUMNS``, else 80.
"""

from __future__ import annotations

import argparse
import base64
import errno
import os
import shutil
import sys
from typing import TYPE_CHECKING, Any

from kvs_sim.live.kvs_tool import KvsError, rootref_of

if TYPE_CHECKING:
    from kvs_sim.live.kvs_tool import Tool

_DIRS = ("dir", "dirref")


def width(a: argparse.Namespace) -> int:
    """The output width in columns (0: unlimited)."""
    if a.width is not None:
        return int(a.width)
    if sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    try:
        return max(0, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 80


def key_at(directory: str, name: str) -> str:
    base = ".".join(part for part in directory.split(".") if part)
    return f"{base}.{name}" if base else name


def kv_line(key: str, value: str, maxcol: int) -> str:
    """``KEY = VALUE`` cut to ``maxcol`` columns (``...`` marks a cut)."""
    if 0 < maxcol <= 3:
        maxcol = 0
    text = f"{key} = {value}"
    cut = False
    if maxcol:
        if len(text) > maxcol - 3:
            text, cut = text[: maxcol - 3], True
        head, newline, rest = text.partition("\n")
        if newline:
            text, cut = head, cut or bool(rest)
    return text + ("..." if cut else "")


def _kind(entry: Any) -> str:
    return str(entry.get("type")) if isinstance(entry, dict) else str(entry)


async def dir(tool: Tool, a: argparse.Namespace) -> None:
    if len(a.keys) > 1:
        raise KvsError("dir", 0, "specify zero or one directory")
    key = a.keys[0] if a.keys else "."
    rootref = rootref_of(a.at) if a.at else None
    listing = await tool.lookup(key, "dir", rootref=rootref)
    await _dump(tool, key, listing, width(a), a, rootref=rootref)


async def _dump(
    tool: Tool, key: str, listing: Any, maxcol: int, a: argparse.Namespace, *, rootref: str | None
) -> None:
    for name in sorted(listing):
        entry = listing[name]
        path = key_at(key, name)
        kind = _kind(entry)
        if kind == "symlink":
            data = entry.get("data", {})
            ns = data.get("namespace")
            tool.line(f"{path} -> {ns + '::' if ns else ''}{data.get('target', '')}")
        elif kind in _DIRS:
            if not a.recursive:
                tool.line(f"{path}.")
                continue
            sub = await tool.lookup(path, "dir", rootref=rootref)
            if sub:
                await _dump(tool, path, sub, maxcol, a, rootref=rootref)
            else:
                tool.line(f"{path}.")
        elif a.directory:
            tool.line(path)
        else:
            if kind == "val":
                raw = base64.b64decode(entry.get("data", ""))
            else:
                raw = await tool.lookup(path, "value", rootref=rootref)
            tool.line(kv_line(path, bytes(raw).decode("utf-8", "replace"), maxcol))


def columns(names: list[str], win: int, col_width: int | None = None) -> list[str]:
    """``names`` laid out in columns of the widest name + 4, within ``win``."""
    step = col_width if col_width is not None else max((len(n) for n in names), default=0) + 4
    lines: list[str] = []
    row = ""
    col = last = 0
    for name in names:
        if win != 0 and col + step > win and col > 0:
            lines.append(row)
            row, col = "", 0
        elif last > 0:
            row += " " * (step - last)
        row += name
        last = len(name)
        col += step
    if col > 0:
        lines.append(row)
    return lines


async def ls(tool: Tool, a: argparse.Namespace) -> None:
    win = 1 if getattr(a, "1") else width(a)
    singles: list[str] = []
    dirs: list[str] = []
    for key in a.keys or ["."]:
        await _categorize(tool, a, key, dirs, singles)
    singles.sort()
    dirs.sort()
    label = vspace = False
    if singles:
        for row in columns(singles, win):
            tool.line(row)
        label = vspace = True
    if a.recursive or len(dirs) > 1:
        label = True
    for key in dirs:
        await _list_dir(tool, a, key, win, label=label, vspace=vspace)
        vspace = True


async def _categorize(
    tool: Tool, a: argparse.Namespace, key: str, dirs: list[str], singles: list[str]
) -> None:
    name = key
    must_be_dir = False
    while len(name) > 1 and name.endswith("."):
        name, must_be_dir = name[:-1], True
    try:
        obj = await tool.lookup(name, "treeobj")
    except KvsError as exc:
        tool.warn(f"{name}: {os.strerror(exc.errnum)}")
        return
    kind = _kind(obj)
    if kind in _DIRS:
        if a.directory:
            singles.append(name + ("." if a.classify else ""))
        else:
            dirs.append(name)
        return
    if must_be_dir:
        tool.warn(f"{name}: {os.strerror(errno.ENOTDIR)}")
        return
    if kind != "symlink":
        singles.append(name)
    elif a.classify or a.directory:
        singles.append(name + ("@" if a.classify else ""))
    else:  # a link to a directory lists the directory; anything else, the link
        try:
            await tool.lookup(name, "value")
        except KvsError as exc:
            if exc.errnum == errno.EISDIR:
                dirs.append(name)
                return
            if exc.errnum != errno.ENOENT:
                raise
        singles.append(name)


async def _list_dir(
    tool: Tool, a: argparse.Namespace, key: str, win: int, *, label: bool, vspace: bool
) -> None:
    listing = await tool.lookup(key, "dir")
    if label:
        tool.line(f"{chr(10) if vspace else ''}{key}:")
    names = sorted(listing)
    shown = []
    for name in names:
        kind = _kind(listing[name])
        mark = ("." if kind in _DIRS else "@" if kind == "symlink" else "") if a.classify else ""
        shown.append(name + mark)
    step = max((len(n) for n in names), default=0) + 4
    for row in columns(shown, win, step):
        tool.line(row)
    if a.recursive:
        for name in names:
            if _kind(listing[name]) in _DIRS:
                await _list_dir(tool, a, key_at(key, name), win, label=label, vspace=True)
