"""Metric tables for the terminal (rich).

Theory of operation
-------------------
:func:`render_tables` turns the dict of :func:`~kvs_sim.metrics.compute_metrics`
into rich tables: one per latency-like metric (a row for all samples, one per
depth, one per rank), one for commit merging and one for convergence.  Metrics with
no samples are left out rather than shown empty.  rich is imported here only, so
computing metrics in a notebook never imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import RenderableType

# (metric, title, scale): times are computed in seconds and shown in milliseconds.
_LATENCY_TABLES = (
    ("propagation", "Setroot propagation (ms after creation at rank 0)", 1e3),
    ("staleness_versions", "Read staleness (versions behind rank 0)", 1),
    ("staleness_time", "First read of a version (ms after creation)", 1e3),
    ("commit_latency", "Commit latency (ms)", 1e3),
)


def _num(x: Any, scale: float = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, int) and scale == 1:
        return str(x)
    return f"{x * scale:.4g}"


def render_tables(metrics: dict[str, Any]) -> list[RenderableType]:
    """Rich tables for the metrics computed by ``compute_metrics``."""
    from rich.table import Table

    out: list[RenderableType] = []
    for name, title, scale in _LATENCY_TABLES:
        m = metrics.get(name)
        if not m or not m["all"]["count"]:
            continue
        table = Table(title=title, title_justify="left")
        for col in ("group", "count", "mean", "median", "p99", "max"):
            table.add_column(col, justify="left" if col == "group" else "right")

        def row(label: str, s: dict[str, Any], table: Table = table, scale: float = scale) -> None:
            stats = (s["mean"], s["median"], s["p99"], s["max"])
            table.add_row(label, str(s["count"]), *(_num(x, scale) for x in stats))

        row("all", m["all"])
        for s in m["by_depth"]:
            row(f"depth {s['depth']}", s)
        for s in m["by_rank"]:
            row(f"rank {s['rank']}", s)
        out.append(table)

    merge = metrics.get("merge")
    if merge and merge["versions"]:
        table = Table(title="Commit merging", title_justify="left")
        for col in ("namespace", "commits", "versions", "commits/version"):
            table.add_column(col, justify="left" if col == "namespace" else "right")
        for r in merge["by_ns"]:
            table.add_row(r["ns"], str(r["commits"]), str(r["versions"]), _num(r["ratio"]))
        out.append(table)

    conv = metrics.get("convergence")
    if conv:
        table = Table(title="Convergence", title_justify="left")
        columns = ("namespace", "final version", "ranks", "converged at (s)", "after creation (ms)")
        for col in columns:
            table.add_column(col, justify="left" if col == "namespace" else "right")
        for r in conv:
            ranks = f"{r['ranks_reached']}/{r['ranks_total']}"
            if r["missing"]:
                ranks += " (missing " + ", ".join(str(x) for x in r["missing"]) + ")"
            table.add_row(
                r["ns"],
                str(r["final"]),
                ranks,
                _num(r["converged_at"]),
                _num(r["convergence_time"], 1e3),
            )
        out.append(table)
    return out
