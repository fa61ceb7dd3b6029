"""The tutorial notebooks (docs/tutorials/) run from top to bottom and show what their text says;
the committed notebooks carry no outputs."""

import os
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("*.ipynb"))
TIMEOUT = 300  # seconds per cell: generous on a busy machine (each notebook takes a few seconds)


def executed(path: Path, where: Path) -> nbformat.NotebookNode:
    """The notebook after running it in a fresh kernel in ``where`` (one intra-op thread: its
    tensors are tiny, and on a busy machine threads cost more than they give)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": where}}
    )
    client.execute(env={**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "agg"})
    return notebook


def printed(notebook: nbformat.NotebookNode) -> list[str]:
    """The stdout of each code cell."""
    return [
        "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]


def test_the_two_tutorials_are_there():
    assert [p.name for p in NOTEBOOKS] == ["own-model.ipynb", "phase-diagram.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebooks_carry_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_your_own_model_the_kernel_moves_most_upstream(tmp_path):
    out = printed(executed(TUTORIALS / "own-model.ipynb", tmp_path))
    assert out[1].split() == ["0", "4", "True"]  # first and last layer; the function unchanged
    sweep = re.findall(r"alpha = (\S+)\s+S\(0, T\) = (\S+)", out[2])
    assert [float(alpha) for alpha, _ in sweep] == [0.25, 1.0, 4.0]
    distances = [float(s) for _, s in sweep]
    assert 0 < distances[0] < distances[1] < distances[2]  # downstream < balanced < upstream


def test_the_phase_diagram_is_rich_downstream_at_small_scale(tmp_path):
    out = printed(executed(TUTORIALS / "phase-diagram.ipynb", tmp_path))
    deltas = np.array([-1.0, -0.25, 0.0, 0.25, 1.0])
    conserved = np.array(re.findall(r"-?\d+\.\d*", out[0]), dtype=float).reshape(4, 5)
    np.testing.assert_allclose(conserved, np.broadcast_to(deltas, (4, 5)), atol=1e-12)
    assert float(re.search(r"at T: (\S+)", out[1])[1]) < 1e-6  # converged to β*
    matrix = "\n".join(out[1].splitlines()[2:])  # after the two label lines
    S = np.array(re.findall(r"\d+\.\d*", matrix), dtype=float).reshape(4, 5)
    np.testing.assert_allclose(S[:, 2], S[0, 2], atol=1e-3)  # balanced: the same at every τ
    assert np.all(np.diff(S[0]) < 0)  # τ = 0.1: richest downstream, lazy upstream
    assert S[-1].max() - S[-1].min() < S[0].max() - S[0].min()  # large τ: nearly balanced
