"""What every plot shares: matplotlib with the Agg backend, and writing the PNG.

Theory of operation
-------------------
matplotlib is imported here only when a plot is drawn, inside :func:`pyplot`,
with the non-interactive Agg backend selected first: importing :mod:`kvs_sim.plots`
costs nothing, and plots work on a machine without a display.  :func:`save`
writes a figure (creating its folder) and closes it, so drawing many plots in a
loop does not keep figures alive; the PNG is written whole or not at all
(:func:`kvs_sim.outputs.atomic_write`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot``, with the Agg backend selected before its first import."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` and close it; returns the path."""
    from kvs_sim.outputs import atomic_write

    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        pyplot().close(fig)
    return out


def legend_below(ax: Any, handles: list[Any]) -> None:
    """A one-row legend under the axes: on a tree, a legend inside would cover ranks."""
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=len(handles),
        fontsize=8,
        frameon=False,
    )
