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

_LATENCY_TABLES = (
    ("propagation", "Setroot propagation (s after creation at rank 0)"),
    ("staleness_versions", "Read staleness (versions behind rank 0)"),
    ("staleness_time", "First read of a version (s after creation)"),
    ("commit_latency", "Commit latency (s)"),
)


def _num(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, int):
        return str(x)
    return f"{x:.4g}"


def render_tables(metrics: dict[str, Any]) -> list[RenderableType]:
    """Rich tables for the metrics computed by ``compute_metrics``."""
    from rich.table import Table

    out: list[RenderableType] = []
    for name, title in _LATENCY_TABLES:
        m = metrics.get(name)
        if not m or not m["all"]["count"]:
            continue
        table = Table(title=title, title_justify="left")
        for col in ("group", "count", "mean", "median", "p99", "max"):
            table.add_column(col, justify="left" if col == "group" else "right")

        def row(label: str, s: dict[str, Any], table: Table = table) -> None:
            stats = (s["count"], s["mean"], s["median"], s["p99"], s["max"])
            table.add_row(label, *(_num(x) for x in stats))

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
        for col in ("namespace", "final version", "ranks", "converged at", "after creation"):
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
                _num(r["convergence_time"]),
            )
        out.append(table)
    return out
