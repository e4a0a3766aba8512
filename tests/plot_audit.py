"""Look at a figure the way a reader does, and list what would puzzle them.

:func:`audit` checks, for every axes that shows data: a title (its own or the
figure's), axis labels (or tick labels standing in for them), and, for every
legend entry, an artist the reader can see that is drawn the way the entry shows
it — a line entry needs a line or an arrow of its colour, a marker entry a mark of
its colour and shape — lying inside the axes, not only on their edge (a curve at
exactly x = 0 with the axis starting at 0 hides under the spine).  A legend inside
the axes must not cover a data point.

:func:`capture` collects the figures the plot functions draw: they close each
figure once saved, and the capture keeps them open instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch
from matplotlib.text import Annotation


@contextmanager
def capture() -> Iterator[list[Any]]:
    """Figures saved inside the block, kept open (the list fills as they are saved)."""
    figures: list[Any] = []
    real = plt.close

    def keep(fig: Any = None) -> None:
        if fig is not None and hasattr(fig, "savefig"):
            figures.append(fig)
        else:
            real(fig)

    plt.close = keep  # type: ignore[assignment]
    try:
        yield figures
    finally:
        plt.close = real  # type: ignore[assignment]
        for fig in figures:
            real(fig)


def _same_colour(a: Any, b: Any) -> bool:
    try:
        ra, rb = to_rgba(a), to_rgba(b)
    except (TypeError, ValueError):
        return False
    return all(abs(x - y) < 0.02 for x, y in zip(ra[:3], rb[:3], strict=True))


def _has_line(handle: Line2D) -> bool:
    return handle.get_linestyle() not in ("None", "", " ", "none") and handle.get_linewidth() > 0


def _marker(artist: Line2D) -> str | None:
    m = artist.get_marker()
    return None if m in (None, "None", "", " ", "none") else str(m)


def _inside(ax: Any, xs: Any, ys: Any) -> bool:
    """Some point strictly inside the view limits (not on an edge)."""
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    for x, y in zip(xs, ys, strict=False):
        try:
            xf, yf = float(x), float(y)
        except (TypeError, ValueError):
            continue
        if x0 < xf < x1 and y0 < yf < y1:
            return True
    return False


def _line_inside(ax: Any, line: Line2D) -> bool:
    """A drawn line shows inside the axes: a vertex strictly inside, or a segment
    crossing the inside (a vertical line away from the edges counts)."""
    xs, ys = line.get_xdata(), line.get_ydata()
    if _inside(ax, xs, ys):
        return True
    pts = [(float(x), float(y)) for x, y in zip(xs, ys, strict=False)]
    mids = [((a[0] + b[0]) / 2, (a[1] + b[1]) / 2) for a, b in itertools.pairwise(pts)]
    return _inside(ax, [m[0] for m in mids], [m[1] for m in mids])


def _line_entry_drawn(ax: Any, handle: Line2D) -> bool:
    """A line entry: a line of its colour inside the axes, or an arrow of its colour."""
    colour = handle.get_color()
    lines = (
        ln for ln in ax.lines if ln.get_visible() and _has_line(ln) and len(ln.get_xdata()) > 1
    )
    if any(_same_colour(ln.get_color(), colour) and _line_inside(ax, ln) for ln in lines):
        return True
    arrows = [*ax.patches, *(t.arrow_patch for t in ax.texts if isinstance(t, Annotation))]
    return any(
        isinstance(a, FancyArrowPatch)
        and a.get_visible()
        and _same_colour(a.get_edgecolor(), colour)
        for a in arrows
    )


def _mark_entry_drawn(ax: Any, handle: Line2D) -> bool:
    """A marker entry: marks of its shape and colour inside the axes, or a scatter
    (e.g. a tree's nodes) with its edge or face colour."""
    wanted = (handle.get_markeredgecolor(), handle.get_markerfacecolor())
    marker = _marker(handle)
    for ln in ax.lines:
        if not (ln.get_visible() and _marker(ln) == marker and len(ln.get_xdata())):
            continue
        coloured = any(
            _same_colour(c, w)
            for c in (ln.get_markeredgecolor(), ln.get_markerfacecolor())
            for w in wanted
        )
        if coloured and _inside(ax, ln.get_xdata(), ln.get_ydata()):
            return True
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible() and len(coll.get_offsets()):
            colours = [*coll.get_edgecolors(), *coll.get_facecolors()]
            if any(_same_colour(c, w) for c in colours for w in wanted):
                return True
    return False


def _matches(ax: Any, handle: Any) -> bool:
    """Is something in ``ax`` drawn, visibly, the way legend ``handle`` shows it?"""
    if not isinstance(handle, Line2D):
        return True  # patches and other handles: not judged here
    return _line_entry_drawn(ax, handle) if _has_line(handle) else _mark_entry_drawn(ax, handle)


def _covered_points(fig: Any, ax: Any, legend: Any) -> int:
    """How many data points (marks, curve vertices) the legend box covers."""
    fig.canvas.draw()
    box = legend.get_window_extent()
    points = []
    for coll in ax.collections:
        if isinstance(coll, PathCollection) and coll.get_visible():
            points.extend(coll.get_offset_transform().transform(coll.get_offsets()))
    for line in ax.lines:
        if line.get_visible() and len(line.get_xdata()):
            points.extend(line.get_transform().transform(line.get_xydata()))
    return sum(1 for x, y in points if box.contains(x, y))


def audit(fig: Any) -> list[str]:
    """What a reader of ``fig`` would find wrong, in words (empty: nothing)."""
    problems: list[str] = []
    has_suptitle = fig._suptitle is not None and fig._suptitle.get_text()
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        shows = bool(ax.lines or ax.collections or ax.patches or ax.texts)
        if not shows:
            continue
        where = f"axes {i} ({ax.get_title()!r})"
        if not (ax.get_title() or has_suptitle):
            problems.append(f"{where}: no title")
        if ax.axison:
            shared = ax.get_shared_x_axes().get_siblings(ax)  # a column's label is at its foot
            xlab = any(a.get_xlabel() for a in shared) or any(
                t.get_text() for t in ax.get_xticklabels()
            )
            ylab = ax.get_ylabel() or any(t.get_text() for t in ax.get_yticklabels())
            # An axis drawn with neither spine nor tick labels is hidden by design
            # (a tree's x position means nothing): it needs no label.
            x_drawn = ax.spines["bottom"].get_visible() or ax.spines["top"].get_visible()
            y_drawn = ax.spines["left"].get_visible() or ax.spines["right"].get_visible()
            if not xlab and x_drawn:
                problems.append(f"{where}: no x-axis label")
            if not ylab and y_drawn:
                problems.append(f"{where}: no y-axis label")
        legend = ax.get_legend()
        if legend is None:
            continue
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            if not _matches(ax, handle):
                problems.append(
                    f"{where}: legend entry {text.get_text()!r} has no visible artist drawn like it"
                )
        fig.canvas.draw()
        inside = ax.get_window_extent().contains(*legend.get_window_extent().get_points()[0])
        if inside and legend.get_frame_on():
            covered = _covered_points(fig, ax, legend)
            if covered and any(isinstance(c, PathCollection) for c in ax.collections):
                problems.append(f"{where}: the legend covers {covered} data marks")
    return problems
