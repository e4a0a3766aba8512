"""The run report as one self-contained HTML page.

Theory of operation
-------------------
:func:`render_run` lays out the sections (story and parameters, guarantees,
space-time diagram, propagation tree, staleness and lag by depth, caches,
commits, findings) as plain HTML tables and text, and embeds:

* plotly.js itself (the copy shipped with the ``plotly`` package), so the page
  opens offline with no network at all;
* each figure as JSON in a ``<script type="application/json">`` (numpy arrays
  become base64 typed arrays: each point once, compactly);
* one JSON object of what the page's script links (the evidence index of the
  space-time diagram, the propagation tree's root records, every listed
  violation), and that script, ``report.js``, with the style, ``report.css``.

Everything a user wrote (scenario text, values, process names) is HTML-escaped,
and JSON is embedded with ``<`` escaped, so no content can end a script early.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from typing import Any

import plotly
import plotly.io as pio
from plotly.offline import get_plotlyjs

from kvs_sim.metrics import compute_metrics
from kvs_sim.report import _panels
from kvs_sim.report._data import RunData
from kvs_sim.report._spacetime import spacetime


def asset(name: str) -> str:
    """A file shipped next to this module (``report.js``, ``report.css``)."""
    return resources.files("kvs_sim.report").joinpath(name).read_text(encoding="utf-8")


def script_json(obj: Any) -> str:
    """JSON safe inside a ``<script>`` element."""
    return json.dumps(obj, separators=(",", ":")).replace("<", "\\u003c")


def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def num(x: Any, scale: float = 1.0) -> str:
    if x is None:
        return "-"
    if isinstance(x, bool) or not isinstance(x, int | float):
        return esc(x)
    if isinstance(x, int) and scale == 1.0:
        return f"{x:,}"
    return f"{x * scale:.4g}"


def table(headers: list[str], rows: list[list[Any]], *, cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(c if isinstance(c, Raw) else f"<td>{num(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class Raw(str):
    """A table cell already rendered as HTML (``<td>...</td>``)."""


def text_cell(x: Any) -> Raw:
    return Raw(f'<td class="text">{esc(x)}</td>')


def figure(target: str, fig: Any) -> str:
    """A figure's div and its JSON (drawn by ``report.js``)."""
    spec = pio.to_json(fig, validate=False).replace("<", "\\u003c")
    return (
        f'<div id="{target}" class="plot"></div>'
        f'<script type="application/json" class="kvs-figure" data-target="{target}">'
        f"{spec}</script>"
    )


def page(title: str, body: str, data: dict[str, Any], *, plotly_js: bool = True) -> str:
    """A whole page: style, plotly.js (when a figure needs it), data, glue, body."""
    lib = f"<script>{get_plotlyjs()}</script>" if plotly_js else ""
    glue = f"<script>{asset('spacetime.js')}{asset('report.js')}</script>" if plotly_js else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{asset('report.css')}</style>{lib}</head>"
        f"<body>{body}"
        f'<script type="application/json" id="kvs-data">{script_json(data)}</script>'
        f"{glue}</body></html>\n"
    )


# ---------------------------------------------------------------------------
# Sections


def _header(d: RunData) -> str:
    o = d.options
    bits = [f"scenario <b>{esc(d.scenario)}</b>"]
    if d.variant:
        bits.append(f"variant <b>{esc(d.variant)}</b>")
    for k in ("size", "fanout", "seed", "latency", "events"):
        if k in o:
            bits.append(f"{k} {esc(o[k])}")
    broken = [g["name"] for g in d.guarantees if g["claimed"] and g["verdict"] == "violated"]
    verdict = (
        f'<span class="verdict-bad">claimed guarantees violated: {esc(", ".join(broken))}</span>'
        if broken
        else '<span class="verdict-ok">every claimed guarantee held</span>'
    )
    nav = "".join(
        f'<a href="#{a}">{t}</a>'
        for a, t in (
            ("story", "story"),
            ("guarantees", "guarantees"),
            ("spacetime-section", "space-time"),
            ("propagation", "propagation"),
            ("staleness", "staleness"),
            ("caches", "caches"),
            ("commits", "commits"),
            ("findings", "findings"),
        )
    )
    return (
        f"<header><h1>{esc(d.title or d.label)}</h1>"
        f'<div class="sub">{" · ".join(bits)} — {verdict}</div><nav>{nav}</nav></header>'
    )


def _story(d: RunData) -> str:
    params = [[text_cell(k), text_cell(v)] for k, v in d.options.items()]
    story = f'<p class="story">{esc(d.story)}</p>' if d.story else ""
    h = d.history
    facts = (
        f"{len(h.ops):,} client operations, {len(h.roots):,} root records, "
        + (f"{len(d.messages):,} messages" if d.messages is not None else "no message trace")
        + (f" ({d.messages.dropped:,} more not kept)" if d.messages and d.messages.dropped else "")
    )
    replay = ""
    if "seed" in d.options:
        replay = f'<p class="hint">Same seed, same run: seed {esc(d.options["seed"])}.</p>'
    return (
        '<section id="story"><h2>The scenario</h2>'
        f"{story}<p>{esc(facts)}; claims: {esc(', '.join(d.claims) or 'none')}.</p>"
        f"<h3>Parameters</h3>{table(['parameter', 'value'], params)}{replay}</section>"
    )


def _guarantees(d: RunData, violations: dict[str, Any]) -> str:
    rows = []
    lists = []
    for g in d.guarantees:
        cls = {"held": "held", "violated": "violated"}.get(g["verdict"], "nothing")
        n = len(g["violations"]) + g["more_violations"]
        rows.append(
            [
                text_cell(g["name"]),
                text_cell("yes" if g["claimed"] else "no"),
                Raw(f'<td class="text"><span class="badge {cls}">{esc(g["verdict"])}</span></td>'),
                g["checked"],
                n,
                text_cell("; ".join(g["notes"])),
            ]
        )
        if not g["violations"]:
            continue
        items = []
        for i, v in enumerate(g["violations"]):
            vid = f"{g['name']}-{i}"
            violations[vid] = {
                "guarantee": g["name"],
                "summary": v["summary"],
                "ops": v["ops"],
                "roots": v["roots"],
            }
            ev = "<br>".join(esc(e) for e in v["evidence"])
            items.append(
                f'<li class="violation" data-vid="{esc(vid)}">{esc(v["summary"])}'
                f'<div class="evidence">{ev}</div></li>'
            )
        more = (
            f'<p class="hint">{g["more_violations"]:,} more not listed.</p>'
            if g["more_violations"]
            else ""
        )
        claimed = "claimed" if g["claimed"] else "not claimed"
        lists.append(
            f"<h3>{esc(g['name'])} ({claimed}): {n:,} violation{'s' if n != 1 else ''}</h3>"
            f'<ol class="violations">{"".join(items)}</ol>{more}'
        )
    hint = (
        '<p class="hint">Click a violation: the space-time diagram zooms to it and draws '
        "its operations in red.</p>"
        if lists
        else ""
    )
    headers = ["guarantee", "claimed", "verdict", "cases checked", "violations", "notes"]
    return (
        '<section id="guarantees"><h2>Guarantees</h2>'
        f"{table(headers, rows)}{hint}{''.join(lists)}</section>"
    )


def _spacetime(d: RunData, fig: Any, index: dict[str, Any]) -> str:
    nemeses = list(getattr(d.history, "nemeses", ()) or ())
    lane = index["lane"]
    rows = []
    end_ms = 1e3 * max([o.complete or o.invoke for o in d.history.ops] + [0.0])
    for n in nemeses:
        held = [lane[r] for r in n.ranks if 0 <= r < len(lane) and lane[r] is not None]
        lanes = held or [0, len(index["rank_at"]) - 1]
        stop = 1e3 * n.end if n.end is not None else end_ms
        detail = ", ".join(f"{k}={v}" for k, v in dict(n.detail or {}).items())
        rows.append(
            Raw(
                f'<tr class="nemesis" data-start="{1e3 * n.start}" data-end="{stop}" '
                f'data-lanes="{esc(json.dumps(lanes))}">'
                f'<td class="text">{esc(n.name)}</td><td>{num(1e3 * n.start)}</td>'
                f"<td>{'never healed' if n.end is None else num(1e3 * n.end)}</td>"
                f'<td class="text">{esc(", ".join(map(str, n.ranks)) or "all")}</td>'
                f'<td class="text">{esc(detail)}</td></tr>'
            )
        )
    nem = (
        "<h3>Nemeses (click one to zoom to it)</h3><table><thead><tr><th>nemesis</th>"
        "<th>start (ms)</th><th>end (ms)</th><th>ranks</th><th>detail</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else '<p class="hint">No nemesis acted on this run.</p>'
    )
    if d.messages is None:
        what = (
            "No message trace was saved for this run (a live run, or one run with "
            "--no-plots): lanes show operations and roots only."
        )
    else:
        est = (
            " Send times are estimated from the mean link latency." if d.messages.estimated else ""
        )
        what = (
            f"All {len(d.messages):,} deliveries are in the page (messages to and from clients "
            "are shown as the operations). When more than "
            f"{index['lod']['detail']:,} messages are in view they are drawn as a heatmap of "
            "how many each lane sent or received; zoom in and each message is drawn "
            f"(operations and roots likewise).{est}"
        )
    return (
        '<section id="spacetime-section"><h2>Space-time diagram</h2>'
        '<p class="hint">Ranks are lanes, in tree order (rank 0 on top, each subtree together), '
        "time runs to the right. Lines between "
        "lanes are messages (a dot where each arrived); bars just below a lane are client "
        "operations (hover the tick at completion for details); diamonds above it are roots "
        "applied, coloured by version; shaded boxes are nemeses. Drag to zoom, double-click to "
        f"reset, click legend entries to hide a kind. {esc(what)}</p>"
        f'<div id="evidence-note"></div>{figure("spacetime", fig)}{nem}</section>'
    )


def _latency_tables(metrics: dict[str, Any]) -> str:
    out = []
    for name, title, scale in (
        ("propagation", "setroot propagation (ms after creation)", 1e3),
        ("staleness_versions", "read staleness (versions behind rank 0)", 1.0),
        ("staleness_time", "first read of a version (ms after creation)", 1e3),
    ):
        m = metrics.get(name) or {}
        if not m.get("all", {}).get("count"):
            continue
        rows = [
            [
                text_cell(f"depth {s['depth']}"),
                s["count"],
                *(Raw(f"<td>{num(s[k], scale)}</td>") for k in ("median", "p99", "max")),
            ]
            for s in m["by_depth"]
        ]
        a = m["all"]
        rows.append(
            [
                text_cell("all"),
                a["count"],
                *(Raw(f"<td>{num(a[k], scale)}</td>") for k in ("median", "p99", "max")),
            ]
        )
        out.append(
            f"<div><h3>{esc(title)}</h3>{table(['', 'n', 'median', 'p99', 'max'], rows)}</div>"
        )
    return f'<div class="tables">{"".join(out)}</div>'


def _findings(d: RunData, metrics: dict[str, Any]) -> str:
    simple: list[list[Any]] = []
    tables = []
    for name, value in d.findings.items():
        if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            cols = list(dict.fromkeys(k for row in value for k in row))
            tables.append(
                f"<div><h3>{esc(name)}</h3>"
                + table(cols, [[row.get(c, "") for c in cols] for row in value])
                + "</div>"
            )
        else:
            simple.append([text_cell(name), text_cell(value)])
    tr = d.traffic
    if tr.get("links"):
        simple += [
            [text_cell("deliveries"), tr.get("deliveries")],
            [text_cell("messages on overlay links"), tr.get("messages")],
            [text_cell("messages per link: mean"), tr.get("mean_per_link")],
            [
                text_cell(f"busiest link {tr['busiest_link'][0]} -> {tr['busiest_link'][1]}"),
                tr.get("busiest_link_messages"),
            ],
            [text_cell("sent by rank 0"), tr.get("sent_by_rank0")],
        ]
    merge = metrics.get("merge") or {}
    if merge.get("versions"):
        simple.append([text_cell("commits per version (merging)"), merge["ratio"]])
    for c in metrics.get("convergence") or []:
        when = (
            f"{num(c['convergence_time'], 1e3)} ms after its creation"
            if c["convergence_time"] is not None
            else f"{c['ranks_reached']}/{c['ranks_total']} ranks reached it"
        )
        simple.append([text_cell(f"{c['ns']}: final version {c['final']}"), text_cell(when)])
    body = table(["finding", "value"], simple) if simple else ""
    return (
        '<section id="findings"><h2>Findings and traffic</h2>'
        f'<div class="tables"><div>{body}</div>{"".join(tables)}</div></section>'
    )


def render_run(d: RunData) -> str:
    """The report page of one run."""
    metrics = compute_metrics(d.history)
    st_fig, st_index = spacetime(d)
    tree_fig, tree = _panels.propagation(d)
    violations: dict[str, Any] = {}
    guarantees = _guarantees(d, violations)
    cache_rows = [
        [
            text_cell(f"depth {r['depth']}"),
            r["ranks"],
            r["hits"],
            r["faults"],
            r["loads_served"],
            r["objects"],
        ]
        for r in d.cache.get("by_depth") or []
    ]
    cache_table = (
        table(["", "ranks", "hits", "faults", "loads served", "objects held"], cache_rows)
        if cache_rows
        else ""
    )
    commit = metrics["commit_latency"]
    commit_rows = [
        [
            text_cell(f"depth {s['depth']}"),
            s["count"],
            *(Raw(f"<td>{num(s[k], 1e3)}</td>") for k in ("median", "p99", "max")),
        ]
        for s in commit["by_depth"]
    ]
    body = (
        _header(d)
        + "<main>"
        + _story(d)
        + guarantees
        + _spacetime(d, st_fig, st_index)
        + '<section id="propagation"><h2>Propagation down the tree</h2>'
        '<p class="hint">Each rank coloured by when it applied the selected version (ms after '
        "rank 0 created it); grey: never; ringed in red: a commit in the version came from "
        "there. Move the slider to pick a version.</p>"
        '<div class="slider"><label for="version-slider">version</label>'
        '<input type="range" id="version-slider" min="0" max="0" step="1" value="0">'
        '<span id="version-label"></span></div>'
        + figure("tree", tree_fig)
        + "</section>"
        + '<section id="staleness"><h2>Staleness and lag by depth</h2>'
        + figure("staleness-plot", _panels.staleness(d, metrics))
        + _latency_tables(metrics)
        + "</section>"
        + '<section id="caches"><h2>Cache faults</h2>'
        + figure("cache-plot", _panels.caches(d))
        + cache_table
        + "</section>"
        + '<section id="commits"><h2>Commit latency</h2>'
        + figure("commit-plot", _panels.commits(d))
        + (
            table(["", "commits", "median (ms)", "p99 (ms)", "max (ms)"], commit_rows)
            if commit_rows
            else ""
        )
        + "</section>"
        + _findings(d, metrics)
        + f"</main><footer>kvs-sim report · plotly {esc(plotly.__version__)} · "
        f"{esc(d.directory)}</footer>"
    )
    data = {"spacetime": st_index, "tree": tree, "violations": violations}
    return page(d.title or d.label, body, data)


def render_index(runs: list[RunData], links: list[str]) -> str:
    """A page linking the reports of a scenario's variants, with their verdicts."""
    names = list(dict.fromkeys(g["name"] for d in runs for g in d.guarantees))
    rows = []
    for d, link in zip(runs, links, strict=True):
        verdicts = {g["name"]: g for g in d.guarantees}
        cells: list[Any] = [
            Raw(f'<td class="text"><a href="{esc(link)}">{esc(d.variant or d.label)}</a></td>')
        ]
        for n in names:
            g = verdicts.get(n)
            v = g["verdict"] if g else "-"
            cls = {"held": "held", "violated": "violated"}.get(v, "nothing")
            star = "*" if g and g["claimed"] else ""
            cells.append(Raw(f'<td><span class="badge {cls}">{esc(v)}{star}</span></td>'))
        rows.append(cells)
    d0 = runs[0]
    body = (
        f"<header><h1>{esc(d0.title or d0.scenario)}</h1>"
        f'<div class="sub">scenario <b>{esc(d0.scenario)}</b>: {len(runs)} variants</div></header>'
        "<main>"
        + (
            f'<section><h2>The scenario</h2><p class="story">{esc(d0.story)}</p></section>'
            if d0.story
            else ""
        )
        + '<section id="variants"><h2>Variants</h2><p class="hint">Each variant has its own '
        "report (click its name); * marks a claimed guarantee.</p>"
        + table(["variant", *names], rows)
        + "</section></main>"
    )
    return page(d0.title or d0.scenario, body, {}, plotly_js=False)
