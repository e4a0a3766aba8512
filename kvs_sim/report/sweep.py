"""The report of a parameter sweep: each metric against the swept parameter, with
confidence intervals over seeds, and every run with a link to its own report.

Theory of operation
-------------------
:func:`write_sweep_report` reads the sweep's tidy tables in the format
``kvs_sim.sweep`` writes (pandas DataFrames, or any sequence of row dicts):

* ``results``: a row per run x variant x measurement with the columns
  ``run_id``, ``variant``, one column per swept parameter, ``seed``, ``metric``,
  ``depth``, ``x`` and ``value``; rows whose ``x`` is empty (None or NaN) are
  scalar metrics, the ones drawn here;
* ``runs``: a row per run with its parameters, ``seed``, ``status``,
  ``violated`` and the ``command`` that reproduces it.

For every scalar metric, one panel: the mean over seeds at each value of the
parameter, one line per depth (and variant), with a percentile bootstrap
interval (seeded, so the page is reproducible).  The runs table links each run
to ``runs/<run_id>/report.html`` under the sweep's folder when that report
exists, and otherwise gives the command that writes it (``--html``).  The page
is self-contained like a run report (:mod:`kvs_sim.report._page`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

BOOT_SEED = 17
N_BOOT = 1000


def _rows(table: Any) -> list[dict[str, Any]]:
    if hasattr(table, "to_dict"):
        return list(table.to_dict("records"))
    return [dict(r) for r in table]


def _empty(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, lo, hi)`` with a percentile bootstrap interval of the mean."""
    import numpy as np

    xs = np.asarray([v for v in values if not _empty(v)], dtype=float)
    if xs.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(xs.mean())
    if xs.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(BOOT_SEED)
    means = rng.choice(xs, size=(N_BOOT, xs.size), replace=True).mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return mean, float(lo), float(hi)


def _figure(results: list[dict[str, Any]], param: str, metrics: list[str], level: float) -> Any:
    import plotly.graph_objects as go
    from plotly.colors import sample_colorscale
    from plotly.subplots import make_subplots

    cols = 2 if len(metrics) > 1 else 1
    rows = -(-len(metrics) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=metrics,
        vertical_spacing=min(0.12, 0.5 / max(rows - 1, 1)),
    )
    depths = sorted({r["depth"] for r in results if not _empty(r.get("depth"))})
    top = max(depths, default=1) or 1
    for i, metric in enumerate(metrics):
        groups: dict[tuple[Any, Any], dict[Any, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for r in results:
            if r["metric"] == metric and _empty(r.get("x")):
                depth = None if _empty(r.get("depth")) else r["depth"]
                groups[(r.get("variant"), depth)][r[param]].append(r["value"])
        for (variant, depth), by_value in sorted(groups.items(), key=lambda kv: str(kv[0])):
            xs = sorted(by_value, key=lambda v: (str(type(v)), v))
            stats = [mean_ci(by_value[x], level) for x in xs]
            label = ("all" if depth is None else f"depth {depth}") + (
                f" [{variant}]" if variant not in (None, "") else ""
            )
            color = (
                "#444444"
                if depth is None
                else str(sample_colorscale("Viridis", [0.9 * depth / top])[0])
            )
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[s[0] for s in stats],
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [s[2] - s[0] for s in stats],
                        "arrayminus": [s[0] - s[1] for s in stats],
                    },
                    mode="lines+markers",
                    name=label,
                    legendgroup=label,
                    showlegend=i == 0,
                    line={"color": color},
                    hovertemplate=f"{label}: " + "%{y:.4g} at " + f"{param}=" + "%{x}"
                    "<extra></extra>",
                ),
                row=i // cols + 1,
                col=i % cols + 1,
            )
    fig.update_xaxes(title_text=param)
    fig.update_layout(
        height=max(380, 320 * rows), template="plotly_white", margin={"l": 10, "r": 10, "t": 50}
    )
    return fig


def write_sweep_report(
    results: Any,
    runs: Any,
    param: str,
    out: str | Path,
    *,
    title: str = "Sweep",
    metrics: Iterable[str] | None = None,
    level: float = 0.95,
) -> Path:
    """Write the sweep report page to ``out`` (the sweep's folder's ``report.html``,
    typically); see the module docstring for the tables.  Returns the path."""
    from kvs_sim.report._page import Raw, esc, figure, page, table, text_cell

    res = _rows(results)
    run_rows = _rows(runs)
    if any(param not in r for r in res):
        raise ValueError(f"the results table has no column {param!r}")
    scalar = sorted({r["metric"] for r in res if _empty(r.get("x"))})
    shown = [m for m in (list(metrics) if metrics is not None else scalar) if m in scalar]
    target = Path(out)
    folder = target.parent
    listed = []
    for r in run_rows:
        report = folder / "runs" / str(r.get("run_id")) / "report.html"
        if report.exists():
            link: Any = Raw(
                f'<td class="text"><a href="{esc(report.relative_to(folder))}">report</a></td>'
            )
        else:
            link = Raw(f'<td class="text"><code>{esc(r.get("command", ""))} --html</code></td>')
        listed.append(
            [
                text_cell(r.get("run_id")),
                text_cell(r.get(param)),
                r.get("seed"),
                text_cell(r.get("status")),
                text_cell(r.get("violated") or ""),
                link,
            ]
        )
    plot = (
        figure("sweep-plot", _figure(res, param, shown, level))
        if shown
        else '<p class="hint">No scalar metric in the results.</p>'
    )
    body = (
        f"<header><h1>{esc(title)}</h1>"
        f'<div class="sub">{len(run_rows)} runs, {param} swept; means over seeds with '
        f"{round(100 * level)}% bootstrap intervals</div></header><main>"
        f'<section id="metrics"><h2>Metrics against {esc(param)}</h2>{plot}</section>'
        '<section id="runs"><h2>Runs</h2><p class="hint">Each run with its own report, or the '
        "command that writes it.</p>"
        + table(["run", param, "seed", "status", "violated", "report"], listed)
        + "</section></main>"
    )
    text = page(title, body, {"violations": {}}, plotly_js=bool(shown))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
