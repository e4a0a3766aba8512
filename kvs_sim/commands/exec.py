"""``kvs-sim exec SCRIPT.py [ARGS...]``: run an unmodified Flux script in a simulation.

Theory of operation
-------------------
``flux start script.py`` runs a script inside a fresh Flux instance; this does the
same with a fresh simulated one.  The script's ``import flux`` must find the
simulator's API, so the command puts the shim package directory
``kvs_sim/flux/shim`` (whose ``flux`` package re-exports :mod:`kvs_sim.flux`)
first on ``sys.path``, followed by the script's own directory as Python would.
``KVS_SIM_URI`` tells the script's ``flux.Flux()`` which instance to attach to
(``--size``, ``--fanout``, ``--seed``, ``--rank``, ``--commit-response``), and the
shared instances are forgotten first, so every run starts from an empty KVS.
If ``KVS_SIM_URI`` already names a live cluster (``mqtt://...``), the script runs
against it instead (``--rank`` then picks the rank; the simulation options do
not apply).  ``--size`` is refused above 1,000,000 ranks, as ``run`` refuses it.
The script then runs with :func:`runpy.run_path` as ``__main__`` with
``sys.argv = [SCRIPT, *ARGS]``.  In simulation its child processes reach the
same instance with ``flux kvs ...`` (a ``flux`` stand-in first on ``PATH``) or
``kvs-sim kvs``, served by :mod:`kvs_sim.commands._exec_link` on the script's
rank.

The five instance options may come before or after SCRIPT (``kvs-sim exec
script.py --size 8 --rank 3`` works); every other argument after SCRIPT is the
script's, and so is everything after a ``--``.

Everything the run changed in the process (``sys.argv``, ``sys.path``,
``KVS_SIM_URI``, ``KVS_SIM_BROKER``, ``PATH``, imported ``flux`` modules) is put
back afterwards, so the command can run in-process from ``kvs_sim.cli.main`` (the tests do).

Exit codes, as ``python SCRIPT.py`` would give them: the script's own
``sys.exit`` code; 1 with one clear line on stderr if the script is missing or
raises (after the script's traceback, without the frames of kvs-sim itself:
``--traceback`` shows them too); 2 for bad options (from argparse).
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

from kvs_sim.commands._argtypes import int_at_least

PROG = "kvs-sim exec"
MAX_SIZE = 1_000_000
"""The largest ``--size``, the same bound ``kvs-sim run`` puts on a scenario."""


def register(subparsers: Any) -> None:
    """Add the ``exec`` subcommand to the ``kvs-sim`` parser."""
    p = subparsers.add_parser(
        "exec",
        help="run an unmodified Flux Python script against a simulated instance",
        description="Run SCRIPT (which does `import flux, flux.kvs`) against a fresh "
        "simulated Flux instance, the way `flux start SCRIPT` would.  Options after "
        "SCRIPT are passed to the script.",
    )
    p.add_argument("--size", type=int_at_least(1, MAX_SIZE), default=8, help="number of ranks (8)")
    p.add_argument("--fanout", type=int_at_least(1), default=2, help="tree overlay fanout (2)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="simulation seed (0)")
    p.add_argument(
        "--rank", type=int_at_least(0), default=None, help="rank flux.Flux() attaches to (0)"
    )
    p.add_argument(
        "--commit-response",
        choices=("observed", "documented"),
        default="observed",
        help="what a commit on a follower reports: the previous version as observed on "
        "Flux 0.88 (default), or the version it produced as documented",
    )
    p.add_argument(
        "--traceback",
        action="store_true",
        help="on an error, show kvs-sim's own frames too (default: the script's only)",
    )
    p.add_argument("script", help="the Python script to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    p.set_defaults(func=run, exec_parser=p)


def run(args: argparse.Namespace) -> int:
    """Run the script; return its exit code (see the module docstring)."""
    from kvs_sim.flux.handle import URI_ENV, SimURI, forget_instances

    args.args = _take_own_options(args)
    live = os.environ.get(URI_ENV, "")
    if not live.startswith(("mqtt://", "mqtts://")):
        live = ""
    rank = 0 if args.rank is None else args.rank
    if not live and rank >= args.size:
        args.exec_parser.error(f"--rank must be in 0..{args.size - 1}, got {rank}")
    script = Path(args.script)
    if not script.is_file():
        what = "is a directory" if script.is_dir() else "no such file"
        print(f"{PROG}: cannot run {args.script}: {what}", file=sys.stderr)
        return 1
    uri: Any = live and _with_rank(live, args.rank)
    if not live:
        uri = SimURI(
            size=args.size,
            fanout=args.fanout,
            seed=args.seed,
            rank=rank,
            commit_response=args.commit_response,
        )
    shim = Path(__file__).resolve().parent.parent / "flux" / "shim"
    saved_argv, saved_path = sys.argv[:], sys.path[:]
    saved_env = {name: os.environ.get(name) for name in (URI_ENV, *_CHILD_ENV)}
    saved_modules = _pop_flux_modules()
    forget_instances()
    link = _serve_children(uri) if not live else None
    os.environ[URI_ENV] = str(uri)
    sys.argv = [str(script), *args.args]
    sys.path[0:0] = [str(shim), str(script.resolve().parent)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        return _exit_code(exc)
    except Exception as exc:
        _print_script_traceback(exc, script, full=args.traceback)
        print(f"{PROG}: {args.script} failed: {_shown_name(exc)}: {exc}", file=sys.stderr)
        return 1
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if link is not None:
            link.close()
        _pop_flux_modules()
        sys.modules.update(saved_modules)
        forget_instances()
    return 0


_CHILD_ENV = ("KVS_SIM_BROKER", "PATH")
"""What :class:`~kvs_sim.commands._exec_link.ExecLink` sets for the script's children."""


def _serve_children(uri: Any) -> Any:
    """Serve the simulated instance to the script's child processes (``flux kvs``
    in a shell-out reaches it, see :mod:`kvs_sim.commands._exec_link`)."""
    from kvs_sim.commands._exec_link import ExecLink
    from kvs_sim.flux.handle import share_instance

    links: list[Any] = []

    def wrap(instance: Any) -> Any:
        links.append(ExecLink(instance, uri.rank))
        return links[0].instance

    share_instance(uri, wrap)
    os.environ.update(links[0].environ(dict(os.environ)))
    return links[0]


_OWN = {"--size": "size", "--fanout": "fanout", "--seed": "seed", "--rank": "rank"}
_OWN["--commit-response"] = "commit_response"


def _take_own_options(args: argparse.Namespace) -> list[str]:
    """Apply exec's own options found after SCRIPT (up to ``--``); return the rest."""
    parser: argparse.ArgumentParser = args.exec_parser
    rest: list[str] = []
    tokens = list(args.args)
    while tokens:
        token = tokens.pop(0)
        if token == "--":
            rest.extend(tokens)
            break
        name, eq, value = token.partition("=")
        if name not in _OWN:
            rest.append(token)
            continue
        if not eq:
            if not tokens:
                parser.error(f"argument {name}: expected one argument")
            value = tokens.pop(0)
        ns = parser.parse_args([name, value, args.script])
        setattr(args, _OWN[name], getattr(ns, _OWN[name]))
    return rest


def _with_rank(uri: str, rank: int | None) -> str:
    """A live URI with its ``rank=`` query parameter set to ``rank`` (if given)."""
    if rank is None:
        return uri
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "rank"]
    query.append(("rank", str(rank)))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _pop_flux_modules() -> dict[str, Any]:
    """Remove ``flux`` and its submodules from ``sys.modules``; return them."""
    names = [n for n in sys.modules if n == "flux" or n.startswith("flux.")]
    return {name: sys.modules.pop(name) for name in names}


def _exit_code(exc: SystemExit) -> int:
    """What ``python SCRIPT`` exits with after ``sys.exit(code)``."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_script_traceback(exc: BaseException, script: Path, *, full: bool = False) -> None:
    """Print the traceback from the script's first frame on (no runpy frames),
    leaving out the frames of kvs-sim's own package unless ``full``."""
    target = script.resolve()
    tb = exc.__traceback__
    while tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve() != target:
        tb = tb.tb_next
    frames = traceback.extract_tb(tb or exc.__traceback__)
    if not full:
        package = Path(__file__).resolve().parent.parent
        frames = traceback.StackSummary.from_list(
            [f for f in frames if not Path(f.filename).resolve().is_relative_to(package)]
        )
    lines = ["Traceback (most recent call last):\n", *frames.format()]
    lines.append(f"{_shown_name(exc)}: {exc}\n")
    sys.stderr.write("".join(lines))


def _shown_name(exc: BaseException) -> str:
    """The exception's class as a script sees it: a KVS error is named by its
    builtin ``OSError`` class (``FileNotFoundError``), as under Flux's binding."""
    for cls in type(exc).__mro__:
        if cls.__module__ == "builtins":
            return cls.__name__
    return type(exc).__name__
