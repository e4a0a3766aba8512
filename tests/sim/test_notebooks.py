"""Every notebook in notebooks/ runs top to bottom (its code cells, in order), as a
reader would run it, and every figure it draws passes the plot audit."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from plot_audit import audit

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")  # headless; Jupyter shows the figures inline
    monkeypatch.chdir(path.parent)  # as Jupyter does: the notebook's own folder
    import matplotlib.pyplot as plt

    plt.close("all")
    cells = json.loads(path.read_text())["cells"]
    namespace: dict[str, object] = {"__name__": "__notebook__"}
    problems: list[str] = []
    figures = 0
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            exec(compile(source, f"{path.name}[cell {i}]", "exec"), namespace)
            for num in plt.get_fignums():
                fig = plt.figure(num)
                problems += [f"cell {i}: {p}" for p in audit(fig)]
                figures += 1
                plt.close(fig)
    assert figures, f"{path.name} draws no figure"
    assert problems == []
    assert os.environ["MPLBACKEND"] == "Agg"


def test_there_are_notebooks_telling_each_story() -> None:
    assert len(NOTEBOOKS) >= 4
    for path in NOTEBOOKS:
        first = json.loads(path.read_text())["cells"][0]
        assert first["cell_type"] == "markdown" and "".join(first["source"]).startswith("# ")
