"""Run reports without a browser: the trace file, what a page is drawn from, the page's text."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from kvs_sim.cli import main
from kvs_sim.history import Recorder, save
from kvs_sim.report import (
    Messages,
    ReportError,
    TraceError,
    load_messages,
    load_runs,
    messages_from_deliveries,
    save_messages,
    write_reports,
)

pytest.importorskip("plotly")


def test_trace_file_round_trip_to_the_nanosecond(tmp_path: Path) -> None:
    deliveries = [(0.0001, 0, 1, "SetRoot"), (0.00025, 1, 0, "LoadReq"), (0.0003, -1, 2, "Get")]
    m = messages_from_deliveries(deliveries, lambda s, d, n: 1e-4, dropped=3, estimated=True)
    assert m.kinds == ("SetRoot", "LoadReq", "Get") and m.kind == [0, 1, 2]
    back = load_messages(save_messages(m, tmp_path / "t.json.gz"))
    assert back.kinds == m.kinds and back.src == [0, 1, -1] and back.dst == [1, 0, 2]
    assert back.arrived == pytest.approx(m.arrived, abs=1e-9)
    assert back.sent == pytest.approx([0.0, 0.00015, 0.0002], abs=1e-9)
    assert (back.dropped, back.estimated, len(back)) == (3, True, 3)


def test_a_large_trace_is_small_on_disk(tmp_path: Path) -> None:
    n = 100_000
    deliveries = [(1e-5 * i, i % 1000, (i * 7) % 1000, "SetRoot") for i in range(n)]
    path = save_messages(messages_from_deliveries(deliveries, lambda s, d, k: 1e-4), tmp_path / "t")
    assert path.stat().st_size < 1_000_000
    assert len(load_messages(path)) == n


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not gzip", "not a kvs-sim trace file"),
        (gzip.compress(b'{"format": "other"}'), "not a kvs-sim trace file"),
        (gzip.compress(b'{"format": "kvs-sim-trace", "version": 9}'), "version 9"),
        (
            gzip.compress(
                json.dumps(
                    {
                        "format": "kvs-sim-trace",
                        "version": 1,
                        "kinds": [],
                        "arrived": [1],
                        "transit": [],
                        "src": [],
                        "dst": [],
                        "kind": [],
                    }
                ).encode()
            ),
            "different lengths",
        ),
    ],
)
def test_bad_trace_files_are_refused_in_one_line(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    p = tmp_path / "trace.json.gz"
    p.write_bytes(content)
    with pytest.raises(TraceError, match=reason):
        load_messages(p)


def _history(tmp_path: Path) -> Path:
    rec = Recorder(seed=3, config={"size": 3, "fanout": 2}, claims=["read-your-writes"])
    c = rec.invoke(process="w", rank=2, op="commit", writes={"x": 1}, time=0.001)
    rec.complete(c, time=0.002, version=1, reported_version=1)
    rec.op(
        process="w", rank=2, op="get", key="x", value=None, version=0, invoke=0.003, complete=0.004
    )  # read-your-writes broken: it read version 0
    for r, t in ((0, 0.0015), (1, 0.0017), (2, 0.0019)):
        rec.root(rank=r, ns="primary", version=1, time=t)
    out = tmp_path / "h" / "history.jsonl"
    out.parent.mkdir()
    save(rec.history(), out)
    return out


def test_a_bare_history_is_checked_and_reported(tmp_path: Path) -> None:
    path = _history(tmp_path)
    (run,) = load_runs(path)
    ryw = next(g for g in run.guarantees if g["name"] == "read-your-writes")
    assert ryw["claimed"] and ryw["verdict"] == "violated" and ryw["violations"][0]["ops"]
    assert run.parent == [-1, 0, 0] and run.messages is None and not run.ok
    (w,) = write_reports(path.parent)
    text = w.path.read_text()
    assert w.path == path.parent / "report.html" and w.size == len(text.encode())
    assert 'class="violation"' in text and "read-your-writes" in text


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    (w,) = write_reports(_history(tmp_path))
    text = w.path.read_text()
    # No script, style or image comes from anywhere but the page itself.
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=", text)
    assert "Plotly" in text and 'id="kvs-data"' in text
    for section in (
        "story",
        "guarantees",
        "spacetime-section",
        "propagation",
        "staleness",
        "caches",
        "commits",
        "findings",
    ):
        assert f'id="{section}"' in text


def test_user_text_cannot_break_out_of_the_page(tmp_path: Path) -> None:
    rec = Recorder(seed=1, config={"size": 1, "fanout": 2}, claims=[])
    rec.op(
        process="</script><b>x",
        rank=0,
        op="get",
        key="<i>k",
        value="</script>",
        version=0,
        invoke=0.0,
        complete=0.001,
    )
    rec.root(rank=0, ns="primary", version=0, time=0.0)
    save(rec.history(), tmp_path / "history.jsonl")
    (w,) = write_reports(tmp_path)
    text = w.path.read_text()
    assert "</script><b>" not in text and "<i>k" not in text


def test_lanes_follow_the_tree_depth_first() -> None:
    from kvs_sim.report._spacetime import Lanes

    lanes = Lanes([-1, 0, 0, 1, 1, 2, 2], range(8))  # rank 7 is not in the tree
    assert lanes.rank_at == [0, 1, 3, 4, 2, 5, 6, 7]
    assert [lanes.of(r) for r in (0, 2, 7, -2)] == [0, 4, 7, -1]  # -2: the broker


def test_nemeses_shade_their_ranks_in_contiguous_boxes() -> None:
    from kvs_sim.report._spacetime import Lanes, _nemeses

    crash = SimpleNamespace(name="crash", start=0.001, end=None, ranks=(0,), detail={})
    part = SimpleNamespace(name="partition", start=0.002, end=0.003, ranks=(1, 2, 5), detail={})
    everyone = SimpleNamespace(name="slow", start=0.0, end=0.001, ranks=(), detail={})
    lanes = Lanes(list(range(-1, 7)), range(8))  # a chain: lane = rank
    shapes = _nemeses([crash, part, everyone], lanes=lanes, end=0.01)
    boxes = [(s["name"], s["x0"], s["x1"], s["y0"], s["y1"]) for s in shapes]
    assert boxes == [
        ("crash", 1.0, 10.0, -0.5, 0.5),  # never healed: to the end of the run
        ("partition", 2.0, 3.0, 0.5, 2.5),
        ("partition", 2.0, 3.0, 4.5, 5.5),
        ("slow", 0.0, 1.0, -0.5, 7.5),  # no ranks named: the whole cluster
    ]
    assert [s["showlegend"] for s in shapes] == [True, True, False, True]


def test_report_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    (tmp_path / "summary.json").write_text("{")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a kvs-sim run summary" in err and "Traceback" not in err
    with pytest.raises(ReportError):
        load_runs(tmp_path)


def test_report_command_writes_and_prints_the_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _history(tmp_path)
    assert main(["report", str(path), "--out", str(tmp_path / "r.html")]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'r.html'} (" in out and " MB)" in out
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["report", str(path), "--out", str(blocked / "r.html")]) == 4


def test_messages_dataclass_is_columns() -> None:
    m = Messages(("SetRoot",), [0.0], [0.1], [0], [1], [0])
    assert len(m) == 1 and not m.estimated


def test_sweep_report_draws_metric_against_parameter_with_intervals(tmp_path: Path) -> None:
    from kvs_sim.report.sweep import mean_ci, write_sweep_report

    results = [
        {
            "run_id": f"r{f}-{s}",
            "variant": None,
            "fanout": f,
            "seed": s,
            "metric": "lag",
            "depth": d,
            "x": None,
            "value": 0.1 * d * f + 0.01 * s,
        }
        for f in (2, 4)
        for s in range(3)
        for d in (1, 2)
    ]
    results.append(
        {
            "run_id": "r2-0",
            "variant": None,
            "fanout": 2,
            "seed": 0,
            "metric": "curve",
            "depth": 1,
            "x": 0.5,
            "value": 0.3,
        }
    )
    runs = [
        {
            "run_id": f"r{f}-{s}",
            "fanout": f,
            "seed": s,
            "status": "ok",
            "violated": "",
            "command": f"kvs-sim run s.py --fanout {f} --seed {s}",
        }
        for f in (2, 4)
        for s in range(3)
    ]
    (tmp_path / "runs" / "r2-0").mkdir(parents=True)
    (tmp_path / "runs" / "r2-0" / "report.html").write_text("")
    page = write_sweep_report(results, runs, "fanout", tmp_path / "report.html", title="lag")
    text = page.read_text()
    assert 'href="runs/r2-0/report.html"' in text  # a run with a report is linked
    assert "kvs-sim run s.py --fanout 4 --seed 2 --html" in text  # the others: how to write one
    assert '"error_y"' in text and "depth 2" in text
    assert '"text":"lag"' in text and '"text":"curve"' not in text  # scalar metrics only
    mean, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and 1.0 <= lo < mean < hi <= 3.0
    assert mean_ci([5.0]) == (5.0, 5.0, 5.0)
    with pytest.raises(ValueError, match="no column 'size'"):
        write_sweep_report(results, runs, "size", tmp_path / "x.html")
