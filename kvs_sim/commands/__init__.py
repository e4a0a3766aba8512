"""Subcommands of ``kvs-sim``: one module each, with ``register(subparsers)``.

Each module adds its parser and sets ``func`` (``args -> exit code``) on it.  Heavy
imports (matplotlib, aiomqtt) happen inside ``func``, so ``kvs-sim --help`` is fast.
"""

COMMAND_MODULES = (
    "run",
    "sweep",
    "check",
    "report",
    "exec",
    "broker",
    "up",
    "kvs",
    "demo",
    "nemesis",
)
