"""Plots of a run: propagation down the tree, staleness by depth, a space-time diagram.

Theory of operation
-------------------
Each ``plot_*`` function takes plain data (lists, dicts: no cluster, no history)
and writes one PNG, returning its path, so the plots can be tested on tiny
synthetic inputs and drawn from a saved history in a notebook.  The
``*_data`` helpers turn a :class:`~kvs_sim.history.History` into those inputs.

matplotlib is imported inside the plotting functions only, with the
non-interactive Agg backend selected first: importing this module costs
nothing, and plots work on a machine without a display.  The tree layout is our
own (leaves in depth-first order, a parent centred over its children, one row
per depth), computed from the parent list, so no graphviz is needed; networkx
only draws it.

The space-time diagram is built from a tracer log of deliveries
``(time, src, dst, msg)``: one lane per rank, an arrow per message from the time
it was sent to the time it arrived.  The tracer sees arrivals only, so the
caller passes ``transit(src, dst, name)`` (how long that message travelled) to
place the arrow's tail; without it arrows are drawn with no slope.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kvs_sim.history import History
from kvs_sim.metrics import rank_depths

CLIENT = -1
"""Lane of client processes in delivery logs (the engine's ``CLIENT``)."""
BROKER = -2
"""Lane of the central event broker (the engine's ``BROKER``)."""

Delivery = tuple[float, int, int, Any]
DepthSamples = Sequence[tuple[int | None, float]]

_COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    _pyplot().close(fig)
    return out


# ---------------------------------------------------------------------------
# Data from a history


def applied_times(history: History, version: int, ns: str = "primary") -> dict[int, float]:
    """When each rank first served ``version`` (or a later one) of ``ns``."""
    out: dict[int, float] = {}
    for r in sorted(history.roots, key=lambda r: r.time):
        if r.ns == ns and r.version >= version and r.rank not in out:
            out[r.rank] = r.time
    return out


def read_ages(history: History) -> list[tuple[int | None, float]]:
    """``(depth, age)`` of every read: how long before the read was invoked the
    version it was served from had been superseded at rank 0 (0.0: it was the
    newest).  This is read staleness in seconds."""
    depths = rank_depths(history)
    created: dict[str, tuple[list[int], list[float]]] = {}
    for ns in history.namespaces():
        born = sorted(history.created(ns).items())
        created[ns] = ([v for v, _ in born], [t for _, t in born])
    out: list[tuple[int | None, float]] = []
    for o in history.ops:
        if o.op not in ("get", "watch") or o.version is None or o.complete is None:
            continue
        if not (o.ok or o.error == "ENOENT"):
            continue
        versions, times = created.get(o.ns, ([], []))
        i = bisect_right(versions, o.version)  # the first newer version, if any
        age = o.invoke - times[i] if i < len(versions) and times[i] <= o.invoke else 0.0
        out.append((depths.get(o.rank), max(0.0, age)))
    return out


def staleness_data(history: History, propagation: Mapping[str, Any]) -> dict[str, DepthSamples]:
    """Input of :func:`plot_staleness` for one run: ``propagation`` is the metric of
    :func:`kvs_sim.metrics.propagation_latency` (its ``samples`` are used)."""
    return {
        "propagation": [
            (s["depth"], s["latency"])
            for s in propagation.get("samples", ())
            if s["created"] > 0.0 or s["applied"] > 0.0  # not the boot root every rank has
        ],
        "read_age": read_ages(history),
    }


def focus_version(history: History) -> int:
    """The version to draw by default: the last one a commit produced."""
    versions = [o.version for o in history.commits("primary") if o.ok and o.version is not None]
    if versions:
        return max(versions)
    return history.final_versions().get("primary", 0)


def focus_window(history: History, version: int) -> tuple[float, float]:
    """From the first commit of ``version`` being invoked to the last rank applying
    it, and a little longer: until the client operations invoked meanwhile have
    completed (the reads that fault the new root in, a reader after a hand-off),
    but never more than twice as long again."""
    commits = [o for o in history.commits("primary") if o.version == version]
    applied = applied_times(history, version)
    born = history.created("primary").get(version, 0.0)
    start = min((o.invoke for o in commits), default=born)
    ends = [o.complete for o in commits if o.complete is not None]
    end = max([*applied.values(), *ends, born])
    span = end - start if end > start else 1e-3
    stop = end + 0.4 * span
    after = [
        o.complete for o in history.ops if o.complete is not None and start <= o.invoke <= stop
    ]
    stop = min(max([stop, *after]), end + 2 * span)
    return (max(0.0, start - 0.05 * span), stop + 0.05 * span)


def focus_lanes(parent: Sequence[int], committers: Iterable[int] = ()) -> list[int]:
    """Lanes for a space-time diagram: the path from a committing rank (else the
    deepest rank) up to rank 0, then down to the deepest rank of another subtree."""
    n = len(parent)
    depth = [_depth(parent, r) for r in range(n)]

    def up(r: int) -> list[int]:
        path = [r]
        while path[-1] != 0:
            path.append(parent[path[-1]])
        return path

    start = min(committers, default=max(range(n), key=lambda r: (depth[r], r)))
    mine = up(start)
    top = mine[-2] if len(mine) > 1 else 0
    others = [r for r in range(1, n) if up(r)[-2] != top] or [r for r in range(n) if r != start]
    if not others:
        return mine
    far = max(others, key=lambda r: (depth[r], r))
    return mine + list(reversed(up(far)))[1:]


def _depth(parent: Sequence[int], r: int) -> int:
    d = 0
    while r != 0:
        r, d = parent[r], d + 1
    return d


def client_marks(
    history: History, window: tuple[float, float], max_labels: int = 16
) -> tuple[list[tuple[float, int, float, int]], list[tuple[float, int, str]]]:
    """Hand-offs (matched send/recv) and labels of client operations completed in
    ``window``, for :func:`plot_spacetime`; no labels if there are more than
    ``max_labels`` (a busy window would be unreadable)."""
    t0, t1 = window
    sends = {o.token: o for o in history.ops if o.op == "send" and o.token is not None}
    handoffs = [
        (sends[o.token].invoke, sends[o.token].rank, o.complete, o.rank)
        for o in history.ops
        if o.op == "recv" and o.token in sends and o.complete is not None and t0 <= o.complete <= t1
    ]
    labels: list[tuple[float, int, str]] = []
    for o in history.ops:
        if o.complete is None or not t0 <= o.complete <= t1:
            continue
        if o.op == "get":
            text = f"{o.key}={o.value!r} (v{o.version})" if o.ok else f"{o.key}: {o.error}"
        elif o.op == "commit" and o.ok:
            shown = (
                ""
                if o.reported_version in (None, o.version)
                else f", reported v{o.reported_version}"
            )
            text = f"committed v{o.version}{shown}"
        elif o.op == "wait_version":
            text = f"waited for v{o.version}"
        elif o.op == "get_version":
            text = f"get_version: v{o.version}"
        else:
            continue
        labels.append((o.complete, o.rank, text))
    return handoffs, labels if len(labels) <= max_labels else []


# ---------------------------------------------------------------------------
# (a) propagation of one version down the tree


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

    plt = _pyplot()
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
        ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.9)
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
    return _save(fig, path)


# ---------------------------------------------------------------------------
# (b) staleness by depth


def _cdf(ax: Any, values: Sequence[float], **kw: Any) -> None:
    xs = sorted(values)
    n = len(xs)
    ys = [(i + 1) / n for i in range(n)]
    ax.step([0.0, *xs], [0.0, *ys], where="post", **kw)


def plot_staleness(
    series: Mapping[str, Mapping[str, DepthSamples]],
    path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """CDFs by tree depth of setroot propagation latency and of read staleness.

    ``series`` maps a run's label (a variant; ``""`` for a single run) to
    ``{"propagation": [(depth, seconds)], "read_age": [(depth, seconds)]}``; each
    run is one row of two panels, depths are colours."""
    plt = _pyplot()
    rows = list(series.items()) or [("", {})]
    depths = sorted({d for _, data in rows for key in data for d, _ in data[key] if d is not None})
    cmap = plt.get_cmap("viridis")
    top = max(depths, default=0) or 1
    fig, axes = plt.subplots(
        len(rows), 2, figsize=(11, 1.2 + 3.1 * len(rows)), squeeze=False, sharex="col"
    )
    panels = (
        ("propagation", "setroot propagation latency (ms after creation at rank 0)"),
        ("read_age", "read staleness (ms the value read had been superseded)"),
    )
    for i, (label, data) in enumerate(rows):
        for j, (key, xlabel) in enumerate(panels):
            ax = axes[i][j]
            by_depth: dict[int, list[float]] = defaultdict(list)
            for d, v in data.get(key, ()):
                if d is not None:
                    by_depth[d].append(1e3 * v)
            for d in sorted(by_depth):
                vals = by_depth[d]
                extra = ""
                if key == "read_age":
                    extra = f", {100 * sum(1 for v in vals if v > 0) / len(vals):.0f}% stale"
                _cdf(
                    ax,
                    vals,
                    color=cmap(0.9 * d / top),
                    lw=1.6,
                    label=f"depth {d} (n={len(vals)}{extra})",
                )
            if not by_depth:
                ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.legend(fontsize=7, loc="lower right")
                if key == "read_age" and not any(v > 0 for vs in by_depth.values() for v in vs):
                    ax.text(
                        0.5,
                        0.6,
                        "every read was served from the newest version",
                        ha="center",
                        va="center",
                        transform=ax.transAxes,
                    )
            starts = [sum(1 for v in vals if v <= 0) / len(vals) for vals in by_depth.values()]
            low = min(starts, default=0.0)  # zoom in when most samples are 0
            ax.set_ylim(max(0.0, 0.1 * int(10 * low) - 0.1) if low > 0.3 else 0.0, 1.02)
            ax.grid(alpha=0.3)
            ax.set_ylabel("fraction of samples <= x")
            if i == len(rows) - 1:
                ax.set_xlabel(xlabel)
            head = (
                "Setroot propagation by depth"
                if key == "propagation"
                else "Read staleness by depth (0 = the newest version)"
            )
            ax.set_title(f"{label}: {head}" if label else head, fontsize=10)
    for j, (key, _) in enumerate(panels):  # one x range per column, fitting every row
        most = max((v for _, data in rows for _, v in data.get(key, ())), default=0.0)
        axes[0][j].set_xlim(0.0, 1.04e3 * most if most > 0 else 1.0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------------
# (c) space-time diagram


MESSAGE_LABELS = {
    "RelayCommit": "RelayCommit: a commit on its way to rank 0",
    "RelayCommitResp": "RelayCommitResp: rank 0 answers the relay",
    "SetRoot": "SetRoot event: a new root version",
    "LoadReq": "LoadReq: cache miss, ask the parent",
    "LoadResp": "LoadResp: the missing object",
    "RootReq": "RootReq: ask for a namespace root",
    "RootResp": "RootResp: the namespace root",
    "RelayReq": "RelayReq: a request relayed upwards",
    "RelayResp": "RelayResp: its answer",
    "Timer": "timer fires (leader: apply the commit queue)",
}
"""Legend text of the message types the ranks exchange (others show their name)."""


def _end(a: int, other: int) -> int:
    """A client end of a delivery is drawn on the rank at the other end."""
    return other if a == CLIENT else a


def plot_spacetime(
    deliveries: Sequence[Delivery],
    path: str | Path,
    *,
    lanes: Sequence[int] | None = None,
    window: tuple[float, float] | None = None,
    transit: Callable[[int, int, str], float] | None = None,
    max_arrows: int = 250,
    lane_labels: Mapping[int, str] | None = None,
    title: str | None = None,
    note: str = "",
    handoffs: Sequence[tuple[float, int, float, int]] = (),
    labels: Sequence[tuple[float, int, str]] = (),
) -> Path:
    """A Lamport diagram: ranks as lanes (time to the right), messages as arrows.

    ``deliveries`` are ``(arrival time, src, dst, msg)`` (``msg`` a message or its
    type name; ``src``/``dst`` may be :data:`CLIENT` or :data:`BROKER`).  Only
    messages arriving in ``window`` between two shown lanes are drawn, the first
    ``max_arrows`` of them.  ``lanes`` defaults to the busiest ranks (up to 12)."""
    plt = _pyplot()

    def name(msg: Any) -> str:
        return msg if isinstance(msg, str) else type(msg).__name__

    t0, t1 = window if window is not None else (-float("inf"), float("inf"))
    inside = [d for d in deliveries if t0 <= d[0] <= t1]
    if lanes is None:
        busy = Counter(r for d in inside for r in d[1:3] if r >= 0)
        lanes = sorted(r for r, _ in busy.most_common(12))
    shown = {*lanes, BROKER}
    drawable = sorted(
        (d for d in inside if _end(d[1], d[2]) in shown and _end(d[2], d[1]) in shown),
        key=lambda d: d[0],
    )
    drawn = drawable[:max_arrows]
    order = [*([BROKER] if any(BROKER in d[1:3] for d in drawn) else []), *lanes]
    y = {r: -i for i, r in enumerate(order)}
    fig, ax = plt.subplots(figsize=(12, 1.8 + 0.45 * len(order)))
    for r in order:
        ax.axhline(y[r], color="#cccccc", lw=0.8, zorder=0)
    kinds = sorted({name(d[3]) for d in drawn if CLIENT not in d[1:3]})
    color = {k: _COLORS[i % len(_COLORS)] for i, k in enumerate(kinds)}
    seen: Counter[tuple[int, int, int, int]] = Counter()
    for t, src, dst, msg in drawn:
        k = name(msg)
        if src == CLIENT:  # a client's request reaches its rank
            ax.plot(1e3 * t, y[dst], marker="v", color="#555555", ms=3.5, ls="")
        elif dst == CLIENT:  # the rank's reply reaches the client
            ax.plot(1e3 * t, y[src], marker="^", color="#aaaaaa", ms=3.5, ls="")
        elif src == dst:
            ax.plot(1e3 * t, y[dst], marker="x", color=color[k], ms=5, ls="")
        else:
            start = t - (transit(src, dst, k) if transit is not None else 0.0)
            # Messages with the same ends and times (a reply and an event, say)
            # would hide each other: bend the later ones.
            key = (src, dst, round(start * 1e7), round(t * 1e7))
            bend = 0.12 * seen[key]
            seen[key] += 1
            ax.annotate(
                "",
                xy=(1e3 * t, y[dst]),
                xytext=(1e3 * start, y[src]),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": color[k],
                    "lw": 1.1,
                    "shrinkA": 0,
                    "shrinkB": 0,
                    "mutation_scale": 8,
                    "connectionstyle": f"arc3,rad={bend}",
                },
            )
    for sent, src, got, dst in handoffs:
        if src in y and dst in y and t0 <= got <= t1:
            ax.annotate(
                "",
                xy=(1e3 * got, y[dst]),
                xytext=(1e3 * sent, y[src]),
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": "black",
                    "lw": 1.2,
                    "ls": "--",
                    "shrinkA": 0,
                    "shrinkB": 0,
                    "mutation_scale": 9,
                },
            )
    placed: dict[int, int] = {}
    for t, r, text in sorted(labels):
        if r in y and t0 <= t <= t1:
            nth = placed[r] = placed.get(r, -1) + 1  # alternate above and below the lane
            ax.annotate(
                text,
                (1e3 * t, y[r]),
                xytext=(2, 4 if nth % 2 == 0 else -11),
                textcoords="offset points",
                fontsize=7,
                color="#222222",
                clip_on=True,
            )
    for k in kinds:
        ax.plot([], [], color=color[k], lw=2, label=MESSAGE_LABELS.get(k, k))
    if any(d[1] == CLIENT for d in drawn):
        ax.plot([], [], marker="v", color="#555555", ls="", label="client request arrives")
    if any(d[2] == CLIENT for d in drawn):
        ax.plot([], [], marker="^", color="#aaaaaa", ls="", label="reply reaches the client")
    if handoffs:
        ax.plot([], [], color="black", ls="--", lw=1.2, label="hand-off between clients")
    if drawn:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="message")
    names = dict(lane_labels or {})
    names.setdefault(BROKER, "event broker")
    ax.set_yticks([y[r] for r in order])
    ax.set_yticklabels([names.get(r, f"rank {r}") for r in order], fontsize=8)
    ax.set_ylim(-max(len(order), 1) + 0.5, 0.5)
    times = [d[0] - (transit(d[1], d[2], name(d[3])) if transit else 0.0) for d in drawn]
    times += [d[0] for d in drawn]
    times += [t for t, r, _ in labels if r in y and t0 <= t <= t1]
    times += [t for h in handoffs for t in (h[0], h[2]) if t0 <= h[2] <= t1]
    if times:
        lo, hi = min(times), max(times)
        pad = 0.02 * (hi - lo) if hi > lo else 1e-5
        right = 6 * pad if labels else pad  # room for the text of the last labels
        ax.set_xlim(1e3 * (lo - pad), 1e3 * (hi + right))
    else:
        ax.text(0.5, 0.5, "no messages in this window", ha="center", transform=ax.transAxes)
    ax.set_xlabel("virtual time (ms)")
    ax.grid(axis="x", alpha=0.3)
    shown_note = (
        f"first {len(drawn)} of {len(drawable)} messages"
        if len(drawable) > len(drawn)
        else f"{len(drawn)} messages"
    )
    shown_note = f"{shown_note}; {note}" if note else shown_note
    ax.set_title(f"{title or 'Space-time diagram'}\n{shown_note}", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
