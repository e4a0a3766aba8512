"""A sweep's folder: one file per finished run, then the tables and plots.

Theory of operation
-------------------
Each finished run is saved at once as ``runs/<run_id>.json`` (written to a
temporary name and renamed, so a run is either saved whole or not at all):
that is what makes a sweep resumable, since a rerun skips every run whose file
is there.  At the end :func:`tables` joins the runs of this sweep into three
tidy pandas tables, and :func:`write_tables` saves them as Parquet (CSV when
pyarrow is missing), also atomically:

* ``results``: a row per run x variant x measurement: ``run_id``, ``scenario``,
  ``variant``, the grid's parameters (a column each), ``seed``, ``metric``,
  ``depth``, ``x``, ``value``;
* ``verdicts``: a row per run x variant x guarantee: ``claimed``, ``verdict``,
  ``violations``, ``checked``;
* ``runs``: a row per run: its parameters, ``seed``, ``status`` (``ok``,
  ``violated``: a claimed guarantee did not hold, ``failed``: the scenario
  failed, and ``error`` says why), ``violated`` and the ``command`` that
  reproduces it alone.

``sweep.json`` records the sweep itself (scenario, grid, seeds, counts).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kvs_sim.outputs import atomic_write, write_text

RUNS = "runs"


def save_run(out: Path, result: dict[str, Any]) -> None:
    """Save one finished run (see the module doc)."""
    folder = out / RUNS
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, separators=(",", ":")) + "\n"
    write_text(folder / f"{result['run_id']}.json", text)


def finished(out: Path, run_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The saved runs among ``run_ids`` (an unreadable file counts as not run)."""
    found: dict[str, dict[str, Any]] = {}
    folder = out / RUNS
    if not folder.is_dir():
        return found
    for run_id in run_ids:
        path = folder / f"{run_id}.json"
        try:
            found[run_id] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return found


def tables(results: list[dict[str, Any]], params: list[str]) -> dict[str, Any]:
    """The ``results``, ``verdicts`` and ``runs`` DataFrames of finished runs."""
    import pandas as pd

    metric_rows, verdict_rows, run_rows = [], [], []
    for r in results:
        head = {"run_id": r["run_id"], "scenario": r["scenario"]}
        point = {k: r["point"].get(k) for k in params}
        common = {**head, **point, "seed": r["seed"]}
        for row in r["metrics"]:
            measured = {k: row[k] for k in ("metric", "depth", "x", "value")}
            metric_rows.append({**common, "variant": row["variant"], **measured})
        for row in r["verdicts"]:
            verdict_rows.append({**common, **row})
        run_rows.append(
            {
                **head,
                **point,
                "seed": r["seed"],
                "status": r["status"],
                "error": r.get("error"),
                "violated": ", ".join(r.get("violated", [])),
                "command": r["command"],
            }
        )
    results_df = pd.DataFrame(
        metric_rows,
        columns=["run_id", "scenario", "variant", *params, "seed", "metric", "depth", "x", "value"],
    )
    results_df["depth"] = results_df["depth"].astype("Int64")
    results_df["x"] = results_df["x"].astype("float64")
    return {
        "results": results_df,
        "verdicts": pd.DataFrame(verdict_rows),
        "runs": pd.DataFrame(run_rows),
    }


def table_format() -> str:
    """``parquet`` when pyarrow is importable, else ``csv``."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "csv"
    return "parquet"


def write_tables(out: Path, frames: dict[str, Any], fmt: str | None = None) -> dict[str, Path]:
    """Save each table as ``<name>.parquet`` (or ``.csv``); returns the paths."""
    fmt = fmt or table_format()
    paths = {}
    for name, df in frames.items():
        path = out / f"{name}.{fmt}"

        def write(tmp: Path, df: Any = df) -> None:
            if fmt == "parquet":
                df.to_parquet(tmp, index=False)
            else:
                df.to_csv(tmp, index=False)

        atomic_write(path, write)
        paths[name] = path
    return paths


def read_table(path: str | Path) -> Any:
    """A table written by :func:`write_tables` (Parquet or CSV) as a DataFrame."""
    import pandas as pd

    p = Path(path)
    return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
