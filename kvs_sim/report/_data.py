"""What a run report shows, gathered from a run directory or from a run in memory.

Theory of operation
-------------------
A report is drawn from files a run leaves behind, so ``kvs-sim run --html`` and a
later ``kvs-sim report RUN_DIR`` give the same page: ``summary.json`` (the
scenario, its parameters, each run's verdicts with their evidence, findings,
traffic and cache counters), each run's ``history.jsonl`` and, when the run kept
one, its ``trace.json.gz`` (:mod:`kvs_sim.report.tracefile`).  A directory with
only a history (or a history file given alone) is reported too: the checkers run
on it and the summary-only panels say they have nothing to show.

:class:`RunData` is the plain result: no plotting here, so it is cheap to test.
Runs of a scenario with variants live in subdirectories named after them, as
``kvs-sim run`` writes them.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvs_sim.history import History, HistoryError, load
from kvs_sim.report.tracefile import TRACE_FILE, Messages, TraceError, load_messages

HISTORY_FILE = "history.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.html"

MAX_VIOLATIONS = 200
"""Violations per guarantee a page lists (and links to the diagram); the rest are counted."""


class ReportError(ValueError):
    """A run directory cannot be reported: no history, or a file that cannot be read."""


@dataclass
class RunData:
    """One run, as a report shows it."""

    directory: Path
    scenario: str
    title: str
    story: str
    variant: str | None
    options: dict[str, Any]
    claims: list[str]
    history: History
    guarantees: list[dict[str, Any]]
    """``{"name", "claimed", "verdict" ("held"|"violated"|"nothing to check"),
    "checked", "violations": [{"summary", "ops", "roots", "evidence"}],
    "more_violations", "notes"}`` per guarantee, in checker order."""
    findings: dict[str, Any] = field(default_factory=dict)
    traffic: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    messages: Messages | None = None
    parent: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No claimed guarantee was violated."""
        return not any(g["claimed"] and g["verdict"] == "violated" for g in self.guarantees)

    @property
    def label(self) -> str:
        return self.scenario + (f" [{self.variant}]" if self.variant else "")


def load_runs(path: str | Path, histories: list[History] | None = None) -> list[RunData]:
    """Every run saved under ``path`` (a run directory or a history file).

    ``histories`` (one per run, in summary order) saves reading them again when
    the caller has them in memory.  :class:`ReportError` with one line if ``path``
    holds no run."""
    p = Path(path)
    if not p.exists():
        raise ReportError(f"{path}: no such file or directory")
    if p.is_file():
        return [_bare(p.parent, _history(p))]
    summary_path = p / SUMMARY_FILE
    if not summary_path.exists():
        if not (p / HISTORY_FILE).exists():
            raise ReportError(
                f"{path}: no {SUMMARY_FILE} or {HISTORY_FILE} here (not a run directory)"
            )
        return [_bare(p, _history(p / HISTORY_FILE))]
    try:
        summary = json.loads(summary_path.read_text())
        runs = summary["runs"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReportError(f"{summary_path}: not a kvs-sim run summary ({e})") from None
    out = []
    for i, run in enumerate(runs):
        vdir = p if run.get("variant") is None else p / str(run["variant"])
        h = histories[i] if histories is not None else _history(vdir / HISTORY_FILE)
        out.append(from_summary(summary, run, h, vdir))
    return out


def from_summary(
    summary: dict[str, Any], run: dict[str, Any], history: History, directory: Path
) -> RunData:
    """A run from its entry in a ``summary.json`` and its history."""
    guarantees = [
        {
            "name": name,
            "claimed": bool(g.get("claimed")),
            "verdict": g.get("verdict", "nothing to check"),
            "checked": g.get("checked", 0),
            "violations": [
                {
                    "summary": bad.get("summary", ""),
                    "ops": list(bad.get("ops", [])),
                    "roots": list(bad.get("roots", [])),
                    "evidence": list(bad.get("evidence", [])),
                }
                for bad in g.get("violations", [])
            ],
            "more_violations": g.get("more_violations", 0),
            "notes": list(g.get("notes", [])),
        }
        for name, g in run.get("guarantees", {}).items()
    ]
    return RunData(
        directory=directory,
        scenario=str(summary.get("scenario", "run")),
        title=str(summary.get("title", "")),
        story=summary.get("story") or _story(summary.get("file")),
        variant=run.get("variant"),
        options=dict(run.get("config") or summary.get("config") or {}),
        claims=list(run.get("claims", summary.get("claims", []))),
        history=history,
        guarantees=guarantees,
        findings=dict(run.get("findings") or {}),
        traffic=dict(run.get("traffic") or {}),
        cache=dict(run.get("cache") or {}),
        messages=_messages(directory),
        parent=parents(history),
    )


def _bare(directory: Path, history: History) -> RunData:
    """A history with no summary: check it here."""
    from kvs_sim.checks import check_all, describe, verdict_word

    ops = history.ops_by_id()
    claims = list(history.header.claims)
    guarantees = []
    for v in check_all(history):
        shown = v.violations[:MAX_VIOLATIONS]
        guarantees.append(
            {
                "name": v.guarantee,
                "claimed": v.guarantee in claims,
                "verdict": verdict_word(v),
                "checked": v.checked,
                "violations": [
                    {
                        **bad.to_dict(),
                        "roots": bad.to_dict().get("roots", []),
                        "evidence": [describe(ops[i]) for i in bad.ops if i in ops],
                    }
                    for bad in shown
                ],
                "more_violations": len(v.violations) - len(shown),
                "notes": list(v.notes),
            }
        )
    config = dict(history.header.config)
    return RunData(
        directory=directory,
        scenario=str(config.get("scenario") or directory.name or "history"),
        title="",
        story="",
        variant=config.get("variant"),
        options={k: v for k, v in config.items() if k != "depth"},
        claims=claims,
        history=history,
        guarantees=guarantees,
        messages=_messages(directory),
        parent=parents(history),
    )


def _history(path: Path) -> History:
    try:
        return load(path)
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file") from None
    except HistoryError as e:
        raise ReportError(str(e)) from None
    except OSError as e:
        raise ReportError(f"{path}: {e.strerror}") from None


def _messages(directory: Path) -> Messages | None:
    path = directory / TRACE_FILE
    if not path.exists():
        return None
    try:
        return load_messages(path)
    except TraceError as e:
        raise ReportError(str(e)) from None


def _story(file: Any) -> str:
    """The story (docstring after its first line) of the scenario file, if it is
    still there; read with ``ast``, never executed."""
    if not isinstance(file, str) or not Path(file).is_file():
        return ""
    try:
        doc = ast.get_docstring(ast.parse(Path(file).read_text())) or ""
    except (OSError, SyntaxError, ValueError):
        return ""
    return doc.strip().partition("\n")[2].strip()


def parents(history: History) -> list[int]:
    """The overlay of a run (its k-ary tree, from the header's size and fanout);
    empty when the header does not say."""
    config = history.header.config
    size, fanout = config.get("size"), config.get("fanout")
    if not isinstance(size, int) or not isinstance(fanout, int) or size < 1 or fanout < 1:
        return []
    from kvs_sim.overlay import Overlay

    return list(Overlay.kary(size, fanout).parent)
