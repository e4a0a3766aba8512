"""The terminal report of ``kvs-sim run``: per run, then compared, then the files.

Theory of operation
-------------------
Pure presentation with rich: each run's guarantees (with evidence), metric tables
and the scenario's findings; for scenarios with variants, one comparison table;
last, where every file went.  Nothing here computes a result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def num(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def print_run(console: Any, run: Any, scenario: Any) -> None:
    from rich.rule import Rule

    from kvs_sim.checks import render_verdicts
    from kvs_sim.metrics import render_tables

    if run.name is not None:
        over = {k: v for k, v in scenario.variants[run.name].items() if k != "claims"}
        described = ", ".join(f"{k}={v}" for k, v in over.items()) or "the defaults"
        console.print(Rule(f"variant {run.name}: {described}"))
        if run.overridden:
            console.print(f"(the variant sets {', '.join(run.overridden)}, over the command line)")
    for item in render_verdicts(run.verdicts, run.claims, run.history):
        console.print(item)
    for table in _findings_tables(run):  # the scenario's own story first
        console.print(table)
    if run.history.nemeses:
        console.print(_nemesis_table(run.history.nemeses))
    # Per-depth rows only: per-rank rows of a large cluster would fill the screen.
    trimmed = {
        k: {**m, "by_rank": []} if isinstance(m, dict) else m for k, m in run.metrics.items()
    }
    for table in render_tables(trimmed):
        console.print(table)


def _nemesis_table(nemeses: Any) -> Any:
    """The faults of a run: what, on which ranks, from when to when, and what a
    leader crash lost."""
    from rich.table import Table

    t = Table(title="Nemeses (faults)", title_justify="left")
    for c in ("nemesis", "ranks", "from (ms)", "to (ms)", "detail"):
        t.add_column(c, justify="left" if c in ("nemesis", "detail") else "right")
    for n in nemeses:
        d = dict(n.detail)
        bits = [f"{k}={d[k]}" for k in ("mode", "factor", "extra", "rate") if k in d]
        if "lost_versions" in d:
            bits.append(
                f"resumed at version {d.get('checkpoint')} in epoch {d.get('epoch', '?')}; "
                f"lost {len(d['lost_versions'])} versions, "
                f"{len(d.get('lost_ops', []))} acknowledged commits"
            )
        end = "never healed" if n.end is None else num(1e3 * n.end)
        ranks = ", ".join(map(str, n.ranks[:8])) + (" ..." if len(n.ranks) > 8 else "")
        t.add_row(n.name, ranks, num(1e3 * n.start), end, "; ".join(bits))
    return t


def _findings_tables(run: Any) -> list[Any]:
    from rich.table import Table

    tables = []
    simple = Table(title="Findings", title_justify="left", show_header=False)
    simple.add_column("finding")
    simple.add_column("value", justify="right")
    for name, value in run.findings.items():
        if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            t = Table(title=name[:1].upper() + name[1:], title_justify="left")
            cols = list(dict.fromkeys(k for row in value for k in row))
            for c in cols:
                t.add_column(str(c), justify="right")
            for row in value:
                t.add_row(*(num(row.get(c, "")) for c in cols))
            tables.append(t)
        else:
            simple.add_row(name, num(value))
    tr = run.traffic
    if tr.get("links"):
        a, b = tr["busiest_link"]
        simple.add_row("messages per link: mean", num(tr["mean_per_link"]))
        simple.add_row(f"busiest link {a} -> {b}", num(tr["busiest_link_messages"]))
        simple.add_row("messages sent by rank 0", num(tr["sent_by_rank0"]))
    cache = run.cache
    if cache.get("by_depth"):
        simple.add_row("follower cache hits / faults", f"{cache['hits']} / {cache['faults']}")
        t = Table(title="Follower caches by depth", title_justify="left")
        fields = ("depth", "ranks", "hits", "faults", "loads_served", "objects")
        for c in fields:
            t.add_column(c.replace("_", " "), justify="right")
        for row in cache["by_depth"]:
            t.add_row(*(str(row[c]) for c in fields))
        tables.append(t)
    return [simple, *tables]


def print_comparison(console: Any, runs: list[tuple[Any, dict[str, str]]]) -> None:
    from rich.table import Table
    from rich.text import Text

    names = [r.name for r, _ in runs]
    t = Table(title="Variants compared", title_justify="left")
    t.add_column("")
    for n in names:
        t.add_column(str(n), justify="right")
    t.add_row(
        "claimed guarantees",
        *(
            Text("violated: " + ", ".join(r.violated), style="red")
            if r.violated
            else Text(f"{len(r.claims)} held", style="green")
            for r, _ in runs
        ),
    )
    for g in [v.guarantee for v in runs[0][0].verdicts]:
        cells = []
        for r, _ in runs:
            v = next(x for x in r.verdicts if x.guarantee == g)
            word = {True: "held", False: f"{len(v.violations)} violations", None: "n/a"}[v.held]
            if v.held is None and v.unknown:
                word = "unknown"
            cells.append(word + (" (claimed)" if g in r.claims else ""))
        t.add_row(g, *cells)
    keys = list(
        dict.fromkeys(k for r, _ in runs for k, v in r.findings.items() if not isinstance(v, list))
    )
    for k in keys:
        t.add_row(k, *(num(r.findings.get(k, "-")) for r, _ in runs))
    for k, title in (
        ("mean_per_link", "messages per link: mean"),
        ("busiest_link_messages", "messages on the busiest link"),
        ("sent_by_rank0", "messages sent by rank 0"),
    ):
        t.add_row(title, *(num(r.traffic.get(k, "-")) for r, _ in runs))
    console.print(t)


def print_files(console: Any, runs: list[tuple[Any, dict[str, str]]], top: dict[str, str]) -> None:
    files = [f for _, fs in runs for f in fs.values()] + list(top.values())
    out = Path(top["summary"]).parent

    def show(kind: str) -> str:
        return ", ".join(str(Path(f).relative_to(out)) for f in files if f.endswith(kind))

    console.print(f"[bold]Wrote into {out}/[/bold]", soft_wrap=True)
    console.print(f"  history  {show('.jsonl')}", soft_wrap=True)
    console.print(f"  summary  {show('.json')}", soft_wrap=True)
    if any(f.endswith(".png") for f in files):
        console.print(f"  plots    {show('.png')}", soft_wrap=True)
    if any(f.endswith(".gif") for f in files):
        console.print(f"  animated {show('.gif')}", soft_wrap=True)
    if any(f.endswith(".json.gz") for f in files):
        console.print(f"  messages {show('.json.gz')}", soft_wrap=True)
    first = next(f for f in files if f.endswith(".jsonl"))
    console.print(f"  (check a history again with: kvs-sim check {first})", soft_wrap=True)
