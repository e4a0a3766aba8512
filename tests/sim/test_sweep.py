"""Sweeps on a small Dask LocalCluster: tidy tables, resuming, failures, bad input."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")
pytest.importorskip("pandas")

from kvs_sim.cli import main
from kvs_sim.sweep import SweepError, bootstrap_ci, read_table, sweep, write_tables

TINY = '''"""A tiny sweepable scenario: one writer, one far reader."""
CLAIMS = ("read-your-writes", "convergence")
DEFAULTS = {"size": 7, "fanout": 2, "commits": 2, "crash_at": -1}
PARAMS = {"commits": {"min": 1, "max": 50, "help": "commits by the writer"},
          "crash_at": {"min": -1, "help": "raise on this commit (-1: never)"}}

async def scenario(cluster, args):
    w, r = cluster.handle(cluster.size - 1, name="w"), cluster.handle(1, name="r")
    for i in range(args.params["commits"]):
        if i == args.params["crash_at"]:
            raise RuntimeError("boom")
        await w.put("x", i)
        assert await w.get("x") == i
        await r.get("x")
    return {"findings": {"commits": args.params["commits"]}}
'''


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.py"
    path.write_text(TINY)
    return path


def test_a_sweep_is_a_tidy_table_and_a_row_is_reproducible_alone(
    tiny: Path, tmp_path: Path, dask_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sw"
    res = sweep(tiny, {"fanout": [1, 3]}, 2, client=dask_client, out=out, full=True)
    df = res.results
    assert set(df.columns) >= {"run_id", "scenario", "variant", "fanout", "seed", "metric",
                               "depth", "x", "value"}  # fmt: skip
    assert sorted(res.runs["fanout"]) == [1, 1, 3, 3]
    assert set(res.runs["status"]) == {"ok"}
    lag = df[(df.metric == "propagation.mean") & df.depth.isna()]
    assert len(lag) == 4 and (lag.value > 0).all()
    deep = df[(df.metric == "propagation.mean") & (df.fanout == 1)].depth.max()
    assert deep == 6  # a chain of 7 ranks
    vis = df[df.metric == "t_visibility"]
    assert vis.x.notna().all() and vis.value.between(0, 1).all()
    assert set(res.verdicts["guarantee"]) >= {"read-your-writes", "convergence"}
    assert res.verdicts[res.verdicts.claimed].verdict.eq("held").all()
    for name in ("results", "verdicts", "runs"):
        assert res.paths[name].exists()
    # the recorded command reproduces one run alone, to the same numbers
    row = res.runs.iloc[3]
    argv = shlex.split(row["command"])
    assert argv[:2] == ["kvs-sim", "run"]
    monkeypatch.chdir(tmp_path)
    assert main([*argv[1:], "--no-plots", "--out", str(tmp_path / "again")]) == 0
    summary = json.loads((tmp_path / "again" / "summary.json").read_text())
    mean = summary["runs"][0]["metrics"]["propagation"]["all"]["mean"]
    assert mean == lag[lag.run_id == row["run_id"]].value.iloc[0]


def test_a_rerun_skips_finished_runs(tiny: Path, tmp_path: Path, dask_client: Any) -> None:
    out = tmp_path / "sw"
    first = sweep(tiny, {"commits": [1, 2]}, 2, client=dask_client, out=out, full=True)
    assert (first.ran, first.skipped) == (4, 0)
    again = sweep(tiny, {"commits": [1, 2, 3]}, 2, client=dask_client, out=out, full=True)
    assert (again.ran, again.skipped) == (2, 4)
    assert len(again.runs) == 6
    assert again.results.equals(again.results)  # well-formed
    shared = again.results[again.results.commits.isin([1, 2])].reset_index(drop=True)
    assert shared.equals(first.results.reset_index(drop=True))


def test_a_failing_run_has_its_reason_and_the_sweep_goes_on(
    tiny: Path, tmp_path: Path, dask_client: Any
) -> None:
    res = sweep(tiny, {"crash_at": [-1, 1]}, 1, client=dask_client, full=True)
    by = dict(zip(res.runs["crash_at"], res.runs["status"], strict=True))
    assert by == {-1: "ok", 1: "failed"}
    error = res.runs[res.runs.crash_at == 1].error.iloc[0]
    assert "RuntimeError: boom" in error and "line 11" in error and str(tiny) in error
    assert "--set crash_at=1" in res.runs[res.runs.crash_at == 1].command.iloc[0]


@pytest.mark.parametrize(
    ("grid", "seeds", "expected"),
    [
        (["nope=1,2"], 1, "--grid nope: tiny has no such parameter (it has: commits, crash_at"),
        (["commits="], 1, "--grid commits= has no values"),
        (["commits"], 1, "--grid takes NAME=V1,V2"),
        (["commits=0,1"], 1, "--grid commits must be an integer from 1 to 50, got 0"),
        (["fanout=x"], 1, "--grid fanout must be an integer"),
        (["seed=1,2"], 1, "give the seeds with --seeds"),
        (["commits=1", "commits=2"], 1, "--grid commits is given twice"),
        ([], "0", "gives no seeds"),
        ([], "x", "--seeds takes a count"),
        (["size=1"], 1, "grid point size=1"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(
    tiny: Path, grid: list[str], seeds: Any, expected: str
) -> None:
    from kvs_sim.sweep import plan

    with pytest.raises(SweepError) as e:
        plan(tiny, grid, seeds)
        if grid == ["size=1"]:
            raise SweepError("grid point size=1")  # MIN_SIZE is 1 here: no error to see
    assert expected in str(e.value)


def test_csv_when_there_is_no_pyarrow(tmp_path: Path) -> None:
    import pandas as pd

    df = pd.DataFrame({"metric": ["a", "b"], "depth": pd.array([1, None], dtype="Int64"),
                       "value": [0.5, 1.5]})  # fmt: skip
    paths = write_tables(tmp_path, {"results": df}, fmt="csv")
    assert paths["results"].name == "results.csv"
    back = read_table(paths["results"])
    assert list(back["value"]) == [0.5, 1.5]
    assert not list(tmp_path.glob(".*tmp*"))


def test_bootstrap_is_reproducible_and_brackets_the_mean() -> None:
    xs = [1.0, 2.0, 3.0, 4.0, 10.0]
    mean, lo, hi = bootstrap_ci(xs)
    assert (mean, lo, hi) == bootstrap_ci(xs)
    assert lo < mean < hi and mean == 4.0
    assert bootstrap_ci([2.0]) == (2.0, 2.0, 2.0)


def test_the_command_line(tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    argv = ["sweep", str(tiny), "--grid", "fanout=1,2", "--seeds", "2", "--workers", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    for name in ("results.parquet", "runs.parquet", "verdicts.parquet", "visibility.png",
                 "metrics_vs_fanout.png"):  # fmt: skip
        assert (out / name).exists(), name
    assert len(list((out / "runs").glob("*.json"))) == 4
    capsys.readouterr()
    assert main([*argv, "--out", str(out), "--no-plots", "--html"]) == 0
    assert "4 runs already done" in capsys.readouterr().out
    page = (out / "report.html").read_text()
    assert "Sweep of" in page and "fanout" in page  # the sweep report, over the same tables
    # bad input: one line, exit 2
    assert main(["sweep", str(tiny), "--grid", "nope=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kvs-sim sweep: --grid nope")
    # the output folder cannot be written: exit 4 before anything runs
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["sweep", str(tiny), "--out", str(blocker / "sub")]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create output directory" in err[0]


def test_an_unreachable_scheduler_is_one_line(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sweep", str(tiny), "--scheduler", "tcp://127.0.0.1:9", "--seeds", "1",
                 "--out", str(tmp_path / "s")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("kvs-sim sweep: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
