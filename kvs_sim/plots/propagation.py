"""Plot (a): how one version spread down the tree, and which version to draw.

Theory of operation
-------------------
:func:`applied_times` reads from a history when each rank first served a version;
:func:`plot_propagation` draws the overlay with each rank coloured by that time
(ms after rank 0 created the version), ranks that never applied it in grey and
the ranks whose commits went into it ringed in red.  :func:`focus_version` picks
the version a run's plots show by default (the space-time diagram draws the same
one).

The tree layout (:func:`tree_layout`) is our own: leaves in depth-first order, a
parent centred over its children, one row per depth, computed from the parent
list with an iterative walk (a chain of thousands of ranks is fine), so no
graphviz is needed; networkx only draws it.  networkx and matplotlib are imported
when drawing, not with this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from kvs_sim.history import History
from kvs_sim.plots._common import legend_below, pyplot, save


def applied_times(history: History, version: int, ns: str = "primary") -> dict[int, float]:
    """When each rank first served ``version`` (or a later one) of ``ns``."""
    out: dict[int, float] = {}
    for r in sorted(history.roots, key=lambda r: r.time):
        if r.ns == ns and r.version >= version and r.rank not in out:
            out[r.rank] = r.time
    return out


def focus_version(history: History) -> int:
    """The version to draw by default: the last one a commit produced."""
    versions = [o.version for o in history.commits("primary") if o.ok and o.version is not None]
    if versions:
        return max(versions)
    return history.final_versions().get("primary", 0)


def tree_layout(parent: Sequence[int]) -> dict[int, tuple[float, float]]:
    """Positions for a tree given by ``parent`` (``parent[0] == -1``): leaves at
    consecutive x in depth-first order, each parent centred over its children,
    y = -depth."""
    children: dict[int, list[int]] = defaultdict(list)
    for r in range(1, len(parent)):
        children[parent[r]].append(r)
    pos: dict[int, tuple[float, float]] = {}
    next_x = 0.0
    # Iterative post-order walk (trees may be deep).
    stack: list[tuple[int, int, bool]] = [(0, 0, False)]
    while stack:
        r, depth, expanded = stack.pop()
        kids = sorted(children.get(r, ()))
        if not kids:
            pos[r] = (next_x, -float(depth))
            next_x += 1.0
        elif expanded:
            xs = [pos[c][0] for c in kids]
            pos[r] = ((xs[0] + xs[-1]) / 2, -float(depth))
        else:
            stack.append((r, depth, True))
            stack.extend((c, depth + 1, False) for c in reversed(kids))
    return pos


def plot_propagation(
    parent: Sequence[int],
    applied: Mapping[int, float],
    path: str | Path,
    *,
    version: int,
    created: float,
    committers: Iterable[int] = (),
    title: str | None = None,
    note: str = "",
) -> Path:
    """The overlay, each rank coloured by when it applied ``version`` (ms after rank
    0 created it at ``created``); ranks that never did are grey, ranks whose
    commits went into it are ringed in red.  ``note`` is added under the title."""
    import networkx as nx

    plt = pyplot()
    from matplotlib.lines import Line2D

    n = len(parent)
    pos = tree_layout(parent)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from((parent[r], r) for r in range(1, n))
    height = -min(y for _, y in pos.values())
    width = max(x for x, _ in pos.values()) + 1
    fig, ax = plt.subplots(
        figsize=(min(16.0, max(7.0, 0.28 * width + 2.5)), max(4.5, 2.2 + 0.9 * height))
    )
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=False, edge_color="#bbbbbb", width=0.8)
    node_size = 260 if n <= 64 else max(20, int(9000 / n))
    reached = [r for r in range(n) if r in applied]
    missing = [r for r in range(n) if r not in applied]
    delays = [1e3 * (applied[r] - created) for r in reached]
    ring = set(committers)
    vmax = max(delays, default=0.0) or 1.0
    nodes = nx.draw_networkx_nodes(
        g,
        pos,
        nodelist=reached,
        node_color=delays,
        cmap="viridis",
        vmin=0.0,
        vmax=vmax,
        node_size=node_size,
        edgecolors=["#d62728" if r in ring else "#333333" for r in reached],
        linewidths=[2.5 if r in ring else 0.5 for r in reached],
        ax=ax,
    )
    if missing:
        nx.draw_networkx_nodes(
            g, pos, nodelist=missing, node_color="#dddddd", node_size=node_size, ax=ax
        )
    if n <= 64:
        dark = {r for r, d in zip(reached, delays, strict=True) if d < 0.45 * vmax}
        for r, (x, y) in pos.items():
            ax.text(
                x,
                y,
                str(r),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if r in dark else "black",
            )
    bar = fig.colorbar(nodes, ax=ax, fraction=0.035, pad=0.01)
    bar.set_label(f"applied v{version}, ms after rank 0 created it")
    handles = []
    if ring:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                mfc="white",
                mec="#d62728",
                mew=2.5,
                ms=9,
                label="a commit in this version came from here",
            )
        )
    if missing:
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                mfc="#dddddd",
                mec="#dddddd",
                ms=9,
                label="never applied it",
            )
        )
    if handles:
        legend_below(ax, handles)
    ax.set_yticks([-float(d) for d in range(int(height) + 1)])
    ax.set_yticklabels([f"depth {d}" for d in range(int(height) + 1)])
    ax.tick_params(axis="y", left=False, labelleft=True)
    ax.tick_params(axis="x", bottom=False, labelbottom=False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    last = max(delays, default=0.0)
    headline = title or f"Propagation of version {version} down the overlay ({n} ranks)"
    detail = (
        f"{len(missing)} of {n} ranks never applied it"
        if missing
        else f"every rank had it {last:.3g} ms after rank 0 created it"
    )
    ax.set_title(f"{headline}\n{detail}" + (f"; {note}" if note else ""), fontsize=11)
    fig.tight_layout()
    return save(fig, path)
