"""Plots over a sweep: a metric against a parameter, and PBS curves, with bands.

Theory of operation
-------------------
Both plots take the summaries of :mod:`kvs_sim.sweep._stats` (plain DataFrames:
``mean``, ``lo``, ``hi`` per group), never raw runs, and draw the mean as a line
and the bootstrap confidence interval as a band around it, one colour per tree
depth.  :func:`plot_metric_vs_param` draws one panel per metric (columns) and
per variant (rows); a second grid parameter, if any, is told apart by line
style and marker.  :func:`plot_visibility` draws, per group (a grid point, say
``fanout=8``), the t-visibility curve (probability that a read t after a commit
returned sees it) and the k-staleness curve (probability that a read is at most
k versions behind) by depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kvs_sim.plots._common import pyplot, save

STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")


def _depth(d: Any) -> int | None:
    """A depth from a table cell (None for the all-ranks rows)."""
    import pandas as pd

    return None if d is None or pd.isna(d) else int(d)


def _depth_colours(depths: Sequence[Any]) -> dict[Any, Any]:
    plt = pyplot()
    cmap = plt.get_cmap("viridis")
    known = sorted({d for d in map(_depth, depths) if d is not None})
    top = max(known, default=0) or 1
    out: dict[Any, Any] = {d: cmap(0.9 * d / top) for d in known}
    out[None] = "black"
    return out


def _depth_label(d: Any) -> str:
    return "all ranks" if _depth(d) is None else f"depth {int(d)}"


def plot_metric_vs_param(
    summaries: dict[str, Any],
    path: str | Path,
    *,
    param: str,
    second: str | None = None,
    title: str | None = None,
    scale: dict[str, float] | None = None,
    labels: dict[str, str] | None = None,
) -> Path:
    """``summaries``: metric name -> the DataFrame of
    :func:`~kvs_sim.sweep.summarize_metric` (by ``param``; with a column
    ``second`` when a second parameter varies, and ``variant``)."""
    import pandas as pd

    plt = pyplot()
    names = list(summaries)
    found = {None if pd.isna(v) else v for df in summaries.values() for v in df.get("variant", ())}
    variants = sorted(found, key=lambda v: (v is not None, str(v))) or [None]
    fig, axes = plt.subplots(
        len(variants),
        len(names),
        figsize=(4.6 * len(names), 0.8 + 3.4 * len(variants)),
        squeeze=False,
    )
    scale = scale or {}
    labels = labels or {}
    for j, metric in enumerate(names):
        df = summaries[metric]
        colours = _depth_colours(df["depth"].tolist())
        numeric = pd.api.types.is_numeric_dtype(df[param])
        order = sorted(df[param].unique(), key=lambda v: v if numeric else str(v))
        xpos = {v: (v if numeric else i) for i, v in enumerate(order)}
        k = scale.get(metric, 1.0)
        for i, variant in enumerate(variants):
            ax = axes[i][j]
            part = df if "variant" not in df or variant is None else df[df["variant"] == variant]
            if "variant" in df and variant is None:
                part = df[df["variant"].isna()]
            seconds = sorted(part[second].unique(), key=str) if second in part else [None]
            for s_i, sv in enumerate(seconds):
                sub = part if sv is None else part[part[second] == sv]
                for depth, rows in sub.groupby("depth", dropna=False, sort=True):
                    d = _depth(depth)
                    line = rows.sort_values(param, key=lambda c: c if numeric else c.astype(str))
                    xs = [xpos[v] for v in line[param]]
                    label = _depth_label(d) + (f", {second}={sv}" if sv is not None else "")
                    ax.plot(xs, k * line["mean"], STYLES[s_i % 4], marker=MARKERS[s_i % 6],
                            ms=4, color=colours.get(d, "black"), lw=1.5, label=label)  # fmt: skip
                    ax.fill_between(xs, k * line["lo"], k * line["hi"], alpha=0.18,
                                    color=colours.get(d, "black"), lw=0)  # fmt: skip
            if numeric and len(order) > 2 and min(order) > 0 and max(order) / min(order) >= 16:
                ax.set_xscale("log", base=2)
                ax.set_xticks(order, [str(v) for v in order])
            elif not numeric:
                ax.set_xticks(range(len(order)), [str(v) for v in order])
            ax.set_xlabel(param)
            ax.set_ylabel(labels.get(metric, metric))
            head = labels.get(metric, metric)
            ax.set_title(f"{variant}: {head}" if variant is not None else head, fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(title or f"metrics vs {param} (mean over seeds, 95% bootstrap CI)")
    fig.tight_layout(rect=(0, 0, 1, 0.97))  # room for the title
    return save(fig, path)


def plot_visibility(
    t_curves: Any,
    k_curves: Any,
    path: str | Path,
    *,
    group: Sequence[str] = (),
    title: str | None = None,
    t_max: float | None = None,
) -> Path:
    """One row per group (values of the ``group`` columns): t-visibility (left)
    and k-staleness (right) by depth, mean over seeds with a 95% band."""
    plt = pyplot()
    keys = [c for c in group if c in t_curves.columns]
    groups = (
        [(g if isinstance(g, tuple) else (g,)) for g, _ in t_curves.groupby(keys, sort=True)]
        if keys
        else [()]
    )
    fig, axes = plt.subplots(
        len(groups), 2, figsize=(11, 0.8 + 3.0 * len(groups)), squeeze=False, sharex="col"
    )
    colours = _depth_colours(t_curves["depth"].tolist() + k_curves["depth"].tolist())

    def pick(df: Any, g: tuple[Any, ...]) -> Any:
        for col, val in zip(keys, g, strict=True):
            df = df[df[col] == val]
        return df

    if t_max is None and len(t_curves):
        full = t_curves[t_curves["mean"] >= 0.999]
        t_max = 1.2 * float(full.groupby("depth")["x"].min().max()) if len(full) else None
    for i, g in enumerate(groups):
        name = ", ".join(f"{k}={v}" for k, v in zip(keys, g, strict=True))
        for j, (df, xlabel, scale) in enumerate(
            ((pick(t_curves, g), "t after the commit returned (ms)", 1e3),
             (pick(k_curves, g), "k (versions behind rank 0)", 1.0))
        ):  # fmt: skip
            ax = axes[i][j]
            for depth, rows in df.groupby("depth", sort=True):
                d = int(depth)
                line = rows.sort_values("x")
                xs = scale * line["x"]
                style = {"where": "post"} if j == 1 else {}
                draw = ax.step if j == 1 else ax.plot
                draw(xs, line["mean"], color=colours[d], lw=1.6, label=_depth_label(d), **style)
                ax.fill_between(xs, line["lo"], line["hi"], color=colours[d], alpha=0.18, lw=0,
                                step="post" if j == 1 else None)  # fmt: skip
            if j == 0 and t_max:
                ax.set_xlim(0, 1e3 * t_max)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            ax.set_ylabel("P(read sees the write)" if j == 0 else "P(at most k behind)")
            what = "t-visibility" if j == 0 else "k-staleness"
            ax.set_title(f"{name}: {what}" if name else what, fontsize=10)
            if i == len(groups) - 1:
                ax.set_xlabel(xlabel)
            if len(df):
                ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title or "Probabilistically bounded staleness (mean over seeds, 95% CI)")
    fig.tight_layout(rect=(0, 0, 1, 0.97))  # room for the title
    return save(fig, path)
