"""Run reports rendered in headless Chromium, as a reader sees them.

The page must load with no console error, draw every panel, link a violation to
its operations in the space-time diagram and recolour the tree from the slider.
Screenshots go to out/report-screenshots/ to be looked at.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

PANELS = ("spacetime", "tree", "staleness-plot", "cache-plot", "commit-plot")


@pytest.fixture(scope="module")
def page(browser: Any, causal_run: Path) -> Any:
    """The browser, showing the report of the no-wait variant (loaded once: the
    tests below look at different panels of it)."""
    browser.open(causal_run / "no-wait" / "report.html")
    assert browser.errors() == []
    return browser


def test_every_panel_draws(page: Any, shots: Path) -> None:
    browser = page
    for panel in PANELS:
        drawn = browser.js(
            "const gd = document.getElementById(arguments[0]);"
            "return [gd._fullData.length, gd.querySelectorAll('.main-svg').length,"
            " gd._fullData.filter(t => t.visible && ((t.x && t.x.length) || (t.y && t.y.length)"
            "  )).length]",
            panel,
        )
        traces, svgs, with_points = drawn
        assert traces > 0 and svgs > 0 and with_points > 0, (panel, drawn)
    kinds = browser.js("return document.getElementById('spacetime')._fullData.map(t => t.name)")
    assert any(k.startswith("SetRoot") for k in kinds)  # the messages are there
    assert any(k.startswith("commit") for k in kinds)  # and the operations
    # The tree shows the focus version on every one of the 7 ranks.
    assert browser.js("return document.getElementById('tree')._fullData[1].x.length") == 7
    assert "every rank had it" in browser.js(
        "return document.getElementById('version-label').textContent"
    )
    browser.screenshot(shots / "causal-no-wait.png")


def test_clicking_a_violation_zooms_and_highlights_its_operations(page: Any, shots: Path) -> None:
    browser = page
    browser.js("Plotly.relayout('spacetime', {'xaxis.autorange': true})")
    full = browser.js("return document.getElementById('spacetime').layout.xaxis.range.slice()")
    items = browser.driver.find_elements("css selector", ".violation")
    assert len(items) >= 2
    vid = items[1].get_attribute("data-vid")
    items[1].click()
    deadline = time.monotonic() + 30
    while browser.js("return document.body.dataset.highlighted || ''") != vid:
        assert time.monotonic() < deadline, "the click did nothing"
        time.sleep(0.1)
    vid_ops = browser.js(
        "return JSON.parse(document.getElementById('kvs-data').textContent)"
        ".violations[arguments[0]].ops",
        vid,
    )
    ev = browser.js(
        "const gd = document.getElementById('spacetime');"
        "const S = JSON.parse(document.getElementById('kvs-data').textContent).spacetime;"
        "const t = gd._fullData[S.evidence_trace];"
        "return [Array.from(t.x), gd.layout.xaxis.range, S.ops]"
    )
    xs, shown, ops = ev
    assert len(xs) == 3 * len(vid_ops)  # each operation a segment
    t0 = min(ops[str(i)][1] for i in vid_ops)
    t1 = max(ops[str(i)][2] for i in vid_ops)
    assert shown[0] <= t0 and t1 <= shown[1]  # the diagram shows all of them
    assert shown[1] - shown[0] < 0.5 * (full[1] - full[0])  # and is zoomed in on them
    assert "selected" in items[1].get_attribute("class")
    guarantee = vid.rsplit("-", 1)[0]
    assert guarantee in browser.js("return document.getElementById('evidence-note').textContent")
    assert browser.errors() == []
    browser.screenshot(shots / "causal-no-wait-violation.png")


def test_the_version_slider_recolours_the_tree(page: Any) -> None:
    browser = page
    before = browser.js("return document.getElementById('version-label').textContent")
    browser.js(
        "const s = document.getElementById('version-slider'); s.value = '0';"
        "s.dispatchEvent(new Event('input'));"
    )
    after = browser.js("return document.getElementById('version-label').textContent")
    assert before != after and after.startswith("version 1 ")
    colors = browser.js(
        "return Array.from(document.getElementById('tree')._fullData[1].marker.color)"
    )
    assert len(colors) == 7 and max(colors) > 0
    assert browser.errors() == []


def test_the_index_links_every_variant(browser: Any, causal_run: Path) -> None:
    browser.driver.get((causal_run / "report.html").resolve().as_uri())
    links = browser.js("return Array.from(document.querySelectorAll('a')).map(a => a.href)")
    for v in ("no-wait", "reported", "get-version", "documented"):
        assert any(link.endswith(f"/{v}/report.html") for link in links)
    assert browser.errors() == []


def _columns(lod: dict[str, Any], layer: str) -> dict[str, Any]:
    """A layer's columns as the page embeds them, decoded as the page's script does."""
    import base64

    import numpy as np

    types = {"f8": "<f8", "f4": "<f4", "i4": "<i4", "i2": "<i2", "u2": "<u2", "u1": "u1"}
    return {
        k: np.frombuffer(base64.b64decode(v["b"]), dtype=types[v["t"]])
        if isinstance(v, dict) and "b" in v
        else v
        for k, v in lod[layer].items()
    }


def _redrawn(browser: Any, action: str) -> dict[str, str]:
    """Run ``action`` in the page and wait for the diagram's next level-of-detail redraw."""
    seq = browser.js("return document.body.dataset.lodSeq")
    browser.js(action)
    deadline = time.monotonic() + 60
    while browser.js("return document.body.dataset.lodSeq") == seq:
        assert time.monotonic() < deadline, f"no redraw after {action}"
        time.sleep(0.05)
    state: dict[str, str] = browser.js("return Object.assign({}, document.body.dataset)")
    return state


DRAWN_SEGMENTS = (
    "const gd = document.getElementById('spacetime');"
    "return arguments[0].map(i => Array.from(gd._fullData[i].x).filter(Number.isFinite).length / 2)"
)


def test_every_message_is_in_the_page_and_drawn_when_few_are_in_view(
    browser: Any, causal_run: Path
) -> None:
    browser.open(causal_run / "no-wait" / "report.html")
    lod = browser.js(
        "return JSON.parse(document.getElementById('kvs-data').textContent).spacetime.lod"
    )
    m = _columns(lod, "messages")
    assert m["n"] < lod["detail"]  # a small run: everything drawn at once
    assert browser.js("return document.body.dataset.lodMessages") == "detail"
    assert sum(browser.js(DRAWN_SEGMENTS, m["traces"])) == m["n"]
    assert browser.errors() == []


def test_level_of_detail_heatmap_zoomed_out_each_message_zoomed_in(
    browser: Any, causal_run: Path, shots: Path
) -> None:
    # ?detail=40: more messages than that in view are aggregated (the default is 20,000,
    # which this small run never reaches).
    browser.open(causal_run / "no-wait" / "report.html", query="detail=40")
    assert browser.errors() == []
    state = browser.js("return Object.assign({}, document.body.dataset)")
    assert state["lodMessages"] == "overview"
    lod = browser.js(
        "return JSON.parse(document.getElementById('kvs-data').textContent).spacetime.lod"
    )
    m = _columns(lod, "messages")
    n = m["n"]
    assert n > 40
    visible, total = browser.js(
        "const t = document.getElementById('spacetime')._fullData[arguments[0]];"
        "return [t.visible, t.z.flat().reduce((a, c) => a + (c || 0), 0)]",
        lod["heatmap"],
    )
    assert visible is True and total == 2 * n  # each message counted where sent and received
    assert sum(browser.js(DRAWN_SEGMENTS, m["traces"])) == 0
    browser.driver.find_element("id", "spacetime").screenshot(str(shots / "lod-overview.png"))

    # Zoom to a window holding a few messages: each of them is drawn, and no others.
    sent = m["sent"].astype(float)
    arrived = sent + m["transit"]
    x0 = float(sent[n // 3])
    width = float(m["transit"].max())
    while True:
        x1 = x0 + width
        inside = int(((sent <= x1) & (arrived >= x0)).sum())
        if inside > 20 or width > sent[-1]:
            break
        width *= 1.5
    assert 0 < inside <= 40
    state = _redrawn(browser, f"Plotly.relayout('spacetime', {{'xaxis.range': [{x0}, {x1}]}})")
    assert state["lodMessages"] == "detail"
    assert sum(browser.js(DRAWN_SEGMENTS, m["traces"])) == inside
    assert (
        browser.js(
            "return document.getElementById('spacetime')._fullData[arguments[0]].visible",
            lod["heatmap"],
        )
        is False
    )
    browser.driver.find_element("id", "spacetime").screenshot(str(shots / "lod-zoomed.png"))

    # Zoomed out again: the heatmap is back; a violation's click still zooms to its operations.
    state = _redrawn(browser, "Plotly.relayout('spacetime', {'xaxis.autorange': true})")
    assert state["lodMessages"] == "overview"
    item = browser.driver.find_elements("css selector", ".violation")[0]
    item.click()
    deadline = time.monotonic() + 30
    while browser.js("return document.body.dataset.highlighted || ''") != item.get_attribute(
        "data-vid"
    ):
        assert time.monotonic() < deadline, "the click did nothing"
        time.sleep(0.1)
    ev = browser.js(
        "const S = JSON.parse(document.getElementById('kvs-data').textContent).spacetime;"
        "return Array.from(document.getElementById('spacetime')._fullData[S.evidence_trace].x)"
        ".filter(Number.isFinite).length"
    )
    assert ev > 0
    assert browser.errors() == []
