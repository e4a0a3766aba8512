"""The narrator of a teaching demo: says what happens and why, shows the tree, pauses.

Theory of operation
-------------------
A demo is a plain function that drives a :class:`~kvs_sim.sim.cluster.Cluster`
and talks through a :class:`Narrator`: :meth:`Narrator.step` opens a numbered step
with what is about to happen and why, :meth:`Narrator.say` adds a line,
:meth:`Narrator.tree` draws every rank's current root version on the overlay (a
``rich`` tree; ranks behind rank 0 stand out), and :meth:`Narrator.pause` waits
for Enter — or not at all with ``auto`` (the tests, ``--auto``), or when standard
input is closed or not a terminal, so a demo never hangs in a pipe.

The narrator only reads the cluster's public state (``cluster.version(rank)``,
the overlay); it changes nothing, and all output goes to one ``rich`` console, so
a test can record it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.tree import Tree

MAX_TREE = 63
"""Ranks drawn at most; a bigger cluster shows its first levels only."""


class Narrator:
    """Tells one demo in a terminal.  See the module docstring."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        auto: bool = False,
        ask: Callable[[str], str] | None = None,
    ) -> None:
        self.console = console or Console()
        self.auto = auto
        self._ask = ask
        self.steps = 0

    def title(self, name: str, story: str) -> None:
        """The demo's name and the question it answers."""
        self.console.print(Panel(story, title=f"[bold]demo: {name}[/bold]", expand=False))

    def step(self, what: str, why: str = "") -> None:
        """Open the next step: what happens now, and why it matters."""
        self.steps += 1
        self.console.rule(f"[bold cyan]step {self.steps}[/bold cyan]")
        self.console.print(f"[bold]{what}[/bold]")
        if why:
            self.console.print(f"[dim]why:[/dim] {why}")

    def say(self, text: str) -> None:
        self.console.print(text)

    def result(self, text: str, good: bool = True) -> None:
        """A finding, marked as expected (green) or as a surprise to notice (red)."""
        mark = "[green]✔[/green]" if good else "[red]✘[/red]"
        self.console.print(f"{mark} {text}")

    def tree(
        self, cluster: Any, *, marks: dict[int, str] | None = None, ns: str = "primary"
    ) -> None:
        """Every rank's root version on the overlay; ranks behind rank 0 in yellow."""
        overlay = cluster.overlay
        newest = cluster.version(0, ns)
        notes = marks or {}

        def label(r: int) -> str:
            v = cluster.version(r, ns)
            colour = "green" if v == newest else "yellow"
            extra = f"  [magenta]{notes[r]}[/magenta]" if r in notes else ""
            return f"rank {r} [{colour}]v{v}[/{colour}]{extra}"

        root = Tree(label(0), guide_style="dim")
        nodes = {0: root}
        shown = 1
        for r in range(1, overlay.size):
            parent = overlay.parent[r]
            if parent in nodes and shown < MAX_TREE:
                nodes[r] = nodes[parent].add(label(r))
                shown += 1
        self.console.print(root)
        if shown < overlay.size:
            self.console.print(f"[dim]({overlay.size - shown} more ranks not drawn)[/dim]")

    def pause(self) -> None:
        """Wait for Enter, unless running straight through."""
        if self.auto:
            return
        ask = self._ask
        if ask is None:
            if not (sys.stdin and sys.stdin.isatty()):
                return  # nobody to press Enter: run straight through
            ask = input
        try:
            ask("  press Enter to go on ")
        except EOFError:
            self.auto = True
