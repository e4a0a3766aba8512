"""Statistics over a sweep's seeds: means with bootstrap confidence intervals.

Theory of operation
-------------------
Each run (a seed) gives one value of a metric per depth; the distribution over
seeds is what a sweep estimates.  :func:`bootstrap_ci` resamples those per-seed
values with replacement (a percentile bootstrap, ``n_boot`` resamples, from a
seeded NumPy generator, so the interval is the same on every call) and returns
the mean and the ``level`` interval of the mean.  :func:`summarize_metric`
groups the tidy ``results`` table by a parameter (and by depth, and by any
other columns asked for) into one row per group: ``mean``, ``lo``, ``hi``,
``n`` (seeds).  :func:`curves` does the same for a curve-valued metric
(``t_visibility`` over ``t``, ``k_staleness`` over ``k``): one mean curve per
group, with its band.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

BOOT_SEED = 20240611
"""Seed of the bootstrap's generator: the intervals are reproducible."""


def bootstrap_ci(
    values: Sequence[float], *, level: float = 0.95, n_boot: int = 2000, seed: int = BOOT_SEED
) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the mean of ``values`` and a percentile bootstrap
    interval of it; a single value gives ``(v, v, v)``."""
    import numpy as np

    xs = np.asarray(values, dtype=float)
    xs = xs[~np.isnan(xs)]
    if xs.size == 0:
        nan = float("nan")
        return nan, nan, nan
    mean = float(xs.mean())
    if xs.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = rng.choice(xs, size=(n_boot, xs.size), replace=True).mean(axis=1)
    tail = (1.0 - level) / 2
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return mean, float(lo), float(hi)


def summarize_metric(
    results: Any, metric: str, by: str, *, extra: Sequence[str] = ("variant",), level: float = 0.95
) -> Any:
    """Rows ``{by, depth, *extra, mean, lo, hi, n}``: ``metric`` over seeds."""
    import pandas as pd

    df = results[(results["metric"] == metric) & results["x"].isna()]
    keys = [by, "depth", *[c for c in extra if c in df.columns and c != by]]
    rows = []
    for group, part in df.groupby(keys, dropna=False, sort=True):
        mean, lo, hi = bootstrap_ci(part["value"].tolist(), level=level)
        n = int(part["seed"].nunique())
        rows.append(
            {**dict(zip(keys, group, strict=True)), "mean": mean, "lo": lo, "hi": hi, "n": n}
        )
    return pd.DataFrame(rows, columns=[*keys, "mean", "lo", "hi", "n"])


def curves(results: Any, metric: str, by: Sequence[str] = (), *, level: float = 0.95) -> Any:
    """Rows ``{*by, depth, x, mean, lo, hi, n}``: a curve-valued metric over seeds."""
    import pandas as pd

    df = results[(results["metric"] == metric) & results["x"].notna()]
    keys = [*[c for c in by if c in df.columns], "depth", "x"]
    rows = []
    for group, part in df.groupby(keys, dropna=False, sort=True):
        mean, lo, hi = bootstrap_ci(part["value"].tolist(), level=level, n_boot=500)
        n = int(part["seed"].nunique())
        rows.append(
            {**dict(zip(keys, group, strict=True)), "mean": mean, "lo": lo, "hi": hi, "n": n}
        )
    return pd.DataFrame(rows, columns=[*keys, "mean", "lo", "hi", "n"])
