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
