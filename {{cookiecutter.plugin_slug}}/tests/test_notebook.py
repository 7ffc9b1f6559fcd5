"""The starter notebook, run as Jupyter runs it: nbclient and a kernel of this venv.

Each run trains a model bundle in test mode on the sample data (one task), or
uses a given one (the others), and must draw its two figures: a chip with its
labels, and a scene's prediction beside its ground truth.
"""

import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from spacenet.vegas import TASK_TYPES

PROJECT = Path(__file__).resolve().parents[1]
NOTEBOOK = PROJECT / "notebooks" / "vegas_starter.ipynb"
# Appended to the executed copy only: which Python the kernel runs.
WHICH_PYTHON = "import sys\nprint(sys.executable)"
# The task the notebook trains for; the others are given a Vegas run's bundle.
TRAINED_TASK = "semantic_segmentation"


def run_notebook(monkeypatch, **parameters):
    """Execute the notebook with VEGAS_* parameters; return the executed copy."""
    for name in ("TASK_TYPE", "TARGET", "DATA_DIR", "BUNDLE", "OUT_DIR"):
        monkeypatch.delenv(f"VEGAS_{name}", raising=False)
    for name, value in parameters.items():
        monkeypatch.setenv(f"VEGAS_{name.upper()}", str(value))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(WHICH_PYTHON))
    # The kernel inherits this process's environment, hence the parameters;
    # it starts in notebooks/, as Jupyter starts it.
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    kernel_python = notebook.cells[-1].outputs[0]["text"].strip()
    assert Path(kernel_python).resolve() == Path(sys.executable).resolve()
    return notebook


def figures(notebook) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def test_notebook_is_valid_and_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "parameters" in code[0].metadata.get("tags", [])


def test_notebook_trains_a_bundle_then_plots(raw_uri, tmp_path, monkeypatch):
    out = tmp_path / "out"
    notebook = run_notebook(
        monkeypatch, task_type=TRAINED_TASK, data_dir=raw_uri, out_dir=out
    )
    assert (out / "bundle" / "model-bundle.zip").is_file()
    assert figures(notebook) == 2


@pytest.mark.parametrize("task_type", [t for t in TASK_TYPES if t != TRAINED_TASK])
def test_notebook_plots_a_given_bundle_without_training(
    raw_uri, vegas_run, tmp_path, monkeypatch, task_type
):
    """The other tasks, each with the bundle of a Vegas run: nothing trained."""
    unused = tmp_path / "unused"
    notebook = run_notebook(
        monkeypatch,
        task_type=task_type,
        data_dir=raw_uri,
        bundle=vegas_run(task_type) / "bundle" / "model-bundle.zip",
        out_dir=unused,
    )
    assert figures(notebook) == 2
    assert not unused.exists(), "a given bundle must not be trained again"
