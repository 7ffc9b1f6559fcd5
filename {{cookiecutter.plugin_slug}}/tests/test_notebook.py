"""The starter notebook, run as Jupyter runs it: nbclient and a kernel of this venv.

One kernel trains a model bundle in test mode on the sample data (one task);
another runs the notebook again for each other task, given a Vegas run's
bundle. Every run must draw its two figures: a chip with its labels, and a
scene's prediction beside its ground truth.
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from spacenet.vegas import TASK_TYPES

PROJECT = Path(__file__).resolve().parents[1]
NOTEBOOK = PROJECT / "notebooks" / "vegas_starter.ipynb"
# The environment variables the notebook's parameters cell reads.
PARAMETERS = ("TASK_TYPE", "TARGET", "DATA_DIR", "BUNDLE", "OUT_DIR")
# Appended to the executed copy only: which Python the kernel runs.
WHICH_PYTHON = "import sys\nprint(sys.executable)"
# The task the notebook trains for; the others are given a Vegas run's bundle.
TRAINED_TASK = "semantic_segmentation"


def run_notebook(*runs):
    """Execute the notebook's code once for each dict of VEGAS_* parameters,
    one run after the other in one kernel (which imports Raster Vision once);
    return the number of figures each run drew."""
    code = [
        cell.source
        for cell in nbformat.read(NOTEBOOK, as_version=4).cells
        if cell.cell_type == "code"
    ]
    cells, spans = [], []
    for parameters in runs:
        # The run's parameters, set as a user would before starting Jupyter.
        unset = [f"VEGAS_{name}" for name in PARAMETERS]
        values = {f"VEGAS_{k.upper()}": str(v) for k, v in parameters.items()}
        cells.append(
            f"import os\nfor name in {unset!r}:\n    os.environ.pop(name, None)\n"
            f"os.environ.update({values!r})"
        )
        spans.append(slice(len(cells), len(cells) + len(code)))
        cells.extend(code)
    cells.append(WHICH_PYTHON)
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells]
    )
    # It starts in notebooks/, as Jupyter starts it.
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    kernel_python = notebook.cells[-1].outputs[0]["text"].strip()
    assert Path(kernel_python).resolve() == Path(sys.executable).resolve()
    return [figures(notebook.cells[span]) for span in spans]


def figures(cells) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in cells
        for output in cell.outputs
    )


def test_notebook_is_valid_and_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "parameters" in code[0].metadata.get("tags", [])


def test_notebook_trains_a_bundle_then_plots(raw_uri, tmp_path):
    out = tmp_path / "out"
    drawn = run_notebook(dict(task_type=TRAINED_TASK, data_dir=raw_uri, out_dir=out))
    assert (out / "bundle" / "model-bundle.zip").is_file()
    assert drawn == [2]


def test_notebook_plots_given_bundles_without_training(raw_uri, vegas_run, tmp_path):
    """The other tasks, each with the bundle of a Vegas run: nothing trained."""
    unused = tmp_path / "unused"
    given = [t for t in TASK_TYPES if t != TRAINED_TASK]
    drawn = run_notebook(
        *(
            dict(
                task_type=task_type,
                data_dir=raw_uri,
                bundle=vegas_run(task_type) / "bundle" / "model-bundle.zip",
                out_dir=unused,
            )
            for task_type in given
        )
    )
    assert drawn == [2] * len(given)
    assert not unused.exists(), "a given bundle must not be trained again"
