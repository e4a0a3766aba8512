"""Plot (c): a space-time (Lamport) diagram of the messages around one version.

Theory of operation
-------------------
The diagram is built from a tracer log of deliveries ``(time, src, dst, msg)``:
one lane per rank, an arrow per message from the time it was sent to the time it
arrived.  The tracer sees arrivals only, so the caller passes ``transit(src, dst,
name)`` (how long that message travelled) to place the arrow's tail; without it
arrows are drawn with no slope.  Client ends (:data:`CLIENT`) are drawn as marks
on their rank's lane; the event broker (:data:`BROKER`) gets a lane of its own
when a drawn message touches it.

A whole run is far too busy to draw, so the helpers choose what to show from a
history: :func:`focus_window` (from the commit of a version to the last rank
applying it, plus the client operations it set off), :func:`focus_lanes` (the
path from a committer up to rank 0 and down another subtree) and
:func:`client_marks` (hand-offs between clients, and short labels of the
operations that completed in the window).

Nemeses (the history's fault intervals) are drawn behind the arrows when given:
a partition shades the lanes it cut off, a crash is a red band on its lane from
the crash (``X``) to the restart (``o``), a pause a hatched band, a slow rank a
grey band, a latency spike or lossy period a band on its ranks' lanes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kvs_sim.history import History, NemesisInterval
from kvs_sim.plots._common import pyplot, save
from kvs_sim.plots.propagation import applied_times

CLIENT = -1
"""Lane of client processes in delivery logs (the engine's ``CLIENT``)."""
BROKER = -2
"""Lane of the central event broker (the engine's ``BROKER``)."""

Delivery = tuple[float, int, int, Any]

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
    ax: Any = None,
    nemeses: Sequence[NemesisInterval] = (),
) -> Path:
    """A Lamport diagram: ranks as lanes (time to the right), messages as arrows.

    ``deliveries`` are ``(arrival time, src, dst, msg)`` (``msg`` a message or its
    type name; ``src``/``dst`` may be :data:`CLIENT` or :data:`BROKER`).  Only
    messages arriving in ``window`` between two shown lanes are drawn, the first
    ``max_arrows`` of them.  ``lanes`` defaults to the busiest ranks (up to 12).
    With ``ax`` the diagram is drawn into that axes (a panel of a bigger figure,
    see :func:`plot_spacetime_panels`) and nothing is saved.  ``nemeses``
    overlapping the window are drawn behind (see the module docstring)."""
    plt = pyplot()

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
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(12, 1.8 + 0.45 * len(order)))
    for r in order:
        ax.axhline(y[r], color="#cccccc", lw=0.8, zorder=0)
    faults = [n for n in nemeses if n.overlaps(t0, t1) and any(r in y for r in n.ranks)]
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
    # A kind only ever sent by a rank to itself (a timer) is drawn as a mark, others
    # as arrows: the legend shows each the way the plot draws it.
    arrows = {name(d[3]) for d in drawn if CLIENT not in d[1:3] and d[1] != d[2]}
    for k in kinds:
        if k in arrows:
            ax.plot([], [], color=color[k], lw=2, label=MESSAGE_LABELS.get(k, k))
        else:
            ax.plot([], [], marker="x", color=color[k], ms=5, ls="", label=MESSAGE_LABELS.get(k, k))
    if any(d[1] == CLIENT for d in drawn):
        ax.plot([], [], marker="v", color="#555555", ls="", label="client request arrives")
    if any(d[2] == CLIENT for d in drawn):
        ax.plot([], [], marker="^", color="#aaaaaa", ls="", label="reply reaches the client")
    if handoffs:
        ax.plot([], [], color="black", ls="--", lw=1.2, label="hand-off between clients")
    _draw_nemeses(ax, faults, y, (t0, t1), drawn)
    if drawn or faults:
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
    times += [t for n in faults for t in (n.start, n.end) if t is not None and t0 <= t <= t1]
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
    if not own:
        return Path(path)
    fig.tight_layout()
    return save(fig, path)


def panel_height(deliveries: Sequence[Delivery], lanes: Sequence[int] | None) -> float:
    """Inches a panel needs: as :func:`plot_spacetime` sizes its own figure."""
    n = len(lanes) if lanes is not None else 12
    return 1.8 + 0.45 * (n + (1 if any(BROKER in d[1:3] for d in deliveries) else 0))


def plot_spacetime_panels(
    panels: Sequence[Mapping[str, Any]], path: str | Path, *, title: str | None = None
) -> Path:
    """Several space-time diagrams one above the other (a scenario's variants, so a
    violation and its fix can be read side by side).  Each panel is the keyword
    arguments of :func:`plot_spacetime` (``deliveries`` included, ``path`` not)."""
    plt = pyplot()
    heights = [panel_height(p["deliveries"], p.get("lanes")) for p in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(12, sum(heights)),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        plot_spacetime(path=path, ax=ax, **panel)
    if title:
        fig.suptitle(title)
    top = 1 - 0.3 / sum(heights) if title else 1  # room for the suptitle
    fig.tight_layout(rect=(0, 0, 1, top))
    return save(fig, path)


_NEMESIS_STYLE = {
    "partition": {"color": "#ff7f0e", "alpha": 0.18, "label": "partitioned (cut off)"},
    "crash": {"color": "#d62728", "alpha": 0.22, "label": "crashed (until restart)"},
    "pause": {"color": "#9467bd", "alpha": 0.15, "label": "setroot paused", "hatch": "///"},
    "slow": {"color": "#7f7f7f", "alpha": 0.15, "label": "slow rank"},
    "spike": {"color": "#8c564b", "alpha": 0.15, "label": "latency spike"},
    "loss": {"color": "#17becf", "alpha": 0.15, "label": "lossy links"},
}


def _draw_nemeses(
    ax: Any,
    faults: Sequence[NemesisInterval],
    y: Mapping[int, int],
    window: tuple[float, float],
    drawn: Sequence[Delivery],
) -> None:
    """Bands on the lanes each fault acted on, from its start to its heal."""
    t0, t1 = window
    if not faults:
        return
    known = [d[0] for d in drawn]
    hi = max([*known, *(n.start for n in faults)]) if t1 == float("inf") else t1
    labelled: set[str] = set()
    for n in faults:
        style = _NEMESIS_STYLE.get(n.name, {"color": "#bcbd22", "alpha": 0.15, "label": n.name})
        start = max(n.start, t0)
        end = hi if n.end is None else min(n.end, hi)
        label = None if n.name in labelled else str(style["label"])
        labelled.add(n.name)
        for r in n.ranks:
            if r not in y:
                continue
            ax.fill_between(
                [1e3 * start, 1e3 * end],
                y[r] - 0.35,
                y[r] + 0.35,
                color=style["color"],
                alpha=style["alpha"],
                hatch=style.get("hatch"),
                lw=0,
                zorder=0,
                label=label,
            )
            label = None
            if n.name == "crash":
                ax.plot(1e3 * n.start, y[r], marker="X", color="#d62728", ms=8, ls="", zorder=3)
                if n.end is not None and n.end <= hi:
                    ax.plot(1e3 * n.end, y[r], marker="o", mfc="none", mec="#2ca02c", ms=8,
                            ls="", zorder=3)  # fmt: skip
