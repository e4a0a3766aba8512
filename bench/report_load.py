"""How big HTML run reports are and how long headless Chromium takes to draw them.

Writes two runs with ``kvs-sim run --html`` (or reuses them with ``--keep``): the
demo (ryw_vs_stale, 63 ranks) and a large one (ryw_vs_stale on 1,023 ranks with
100 commits: about 190,000 deliveries, 107,000 of them between ranks, 42,000
operations and 103,000 root records), then opens each report in a fresh
headless Chromium (a new profile, so nothing is cached, as for a reader opening
the file), interleaved A, B, A, B, and times navigation to the page's "drawn"
flag.  Prints one JSON line: sizes in bytes, messages, and the median and every
load time in seconds, with the time each figure took to draw in the last load.

``--compare DIR`` also loads the reports of the same runs in DIR (written by
another branch with ``--out DIR``), interleaved with these (this, other, this,
other...), and adds their sizes, medians and the ratio of the medians.

    python bench/report_load.py [--repeat 3] [--out out/bench-report] [--keep]
                                [--compare DIR]

Needs Debian's chromium and chromium-driver.  The machine's load matters a lot
here (WebGL runs in software, on SwiftShader): compare figures taken together.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from kvs_sim.cli import main as kvs_sim
from kvs_sim.report.browser import Browser, chromium_missing
from kvs_sim.report.tracefile import TRACE_FILE, load_messages

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "demo": ["scenarios/ryw_vs_stale.py"],
    "large": ["scenarios/ryw_vs_stale.py", "--size", "1023", "--set", "commits=100"],
}


def make(name: str, out: Path, keep: bool) -> Path:
    page = out / name / "report.html"
    if keep and page.exists():
        return page
    args = ["run", *RUNS[name], "--out", str(out / name), "--html", "--no-plots"]
    args[1] = str(ROOT / args[1])
    started = time.perf_counter()
    code = kvs_sim(args)
    print(f"{name}: run and report in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if code not in (0, 1):
        raise SystemExit(f"kvs-sim run failed for {name} (exit {code})")
    return page


def load_once(page: Path) -> tuple[float, dict[str, float]]:
    with Browser() as b:
        seconds = b.open(page, timeout=600)
        errors = b.errors()
        if errors:
            raise SystemExit(f"{page}: console errors: {errors}")
        timings = b.js("return window.kvsTimings || {}")
    return seconds, {k: round(v / 1e3, 3) for k, v in timings.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "out" / "bench-report"))
    p.add_argument("--keep", action="store_true", help="reuse reports already written")
    p.add_argument("--compare", help="reports of the same runs from another branch")
    args = p.parse_args()
    missing = chromium_missing()
    if missing:
        raise SystemExit(f"no headless browser: {missing}")
    out = Path(args.out)
    pages = {name: make(name, out, args.keep) for name in RUNS}
    if args.compare:
        for name in RUNS:
            pages[f"{name}/other"] = Path(args.compare) / name / "report.html"
            if not pages[f"{name}/other"].exists():
                raise SystemExit(f"--compare: no {pages[f'{name}/other']}")
    loads: dict[str, list[float]] = {name: [] for name in pages}
    figures: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for name, page in pages.items():  # interleaved: demo, large, (others), demo...
            seconds, figures[name] = load_once(page)
            loads[name].append(round(seconds, 2))
            print(f"{name}: drawn in {seconds:.1f} s", file=sys.stderr)
    result = {
        "bench": "report_load",
        "repeat": args.repeat,
        "reports": {
            name: {
                "bytes": page.stat().st_size,
                "messages": len(load_messages(page.parent / TRACE_FILE)),
                "load_s_median": statistics.median(loads[name]),
                "load_s": loads[name],
                "figure_draw_s": figures[name],
            }
            for name, page in pages.items()
        },
    }
    if args.compare:
        result["ratio_this_over_other"] = {
            name: round(
                statistics.median(loads[name]) / statistics.median(loads[f"{name}/other"]), 3
            )
            for name in RUNS
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
