"""Shared fixtures: the sample data set and Vegas runs, made once per session."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from rastervision.pipeline import registry_
from rastervision.pipeline.cli import main as rastervision_cli
from rastervision.pipeline.config import build_config
from rastervision.pipeline.file_system import file_to_json

from rastervision.{{ cookiecutter.plugin_slug }}.contract import Boxes, ModelSpec, Sample, Task
from spacenet.sample_data import make_sample_data

PROJECT = Path(__file__).resolve().parents[1]
VEGAS = str(PROJECT / "spacenet" / "vegas.py")
RASTERVISION = str(Path(sys.executable).with_name("rastervision"))
# The sample data's default: its validation scenes hold buildings and background.
SAMPLE_SCENES = 8
# What scripts/build makes.
CPU_IMAGE = "{{ cookiecutter.docker_image }}-cpu"
GPU_IMAGE = "{{ cookiecutter.docker_image }}-gpu"


def spec_for(task: Task, num_bands: int = 3) -> ModelSpec:
    """The Vegas experiment's classes for ``task``, on ``num_bands`` bands."""
    if task == Task.OBJECT_DETECTION:
        return ModelSpec(task, ("building",), num_bands)
    return ModelSpec(task, ("building", "background"), num_bands)


def synthetic_samples(spec: ModelSpec, count: int, size: int = 48, seed: int = 0):
    """Chips with a bright square (half of them) on noisy ground, labelled for
    ``spec``'s task: class 0 is the square, class 1 (if any) the ground."""
    rng = np.random.default_rng(seed)
    samples = []
    for number in range(count):
        chip = rng.integers(0, 60, (size, size, spec.num_bands), dtype=np.uint8)
        mask = np.zeros((size, size), dtype=bool)
        if number % 2 == 0:
            side = int(rng.integers(10, 16))
            y, x = rng.integers(0, size - side, 2)
            mask[y : y + side, x : x + side] = True
            chip[mask] = rng.integers(180, 255, (mask.sum(), spec.num_bands))
            box = [[y, x, y + side, x + side]]
        else:
            box = np.zeros((0, 4))
        if spec.task == Task.CHIP_CLASSIFICATION:
            label = 0 if mask.any() else 1
        elif spec.task == Task.SEMANTIC_SEGMENTATION:
            label = np.where(mask, 0, 1).astype(np.uint8)
        else:
            label = Boxes(box, np.zeros(len(box)))
        samples.append(Sample(chip, label))
    return samples


def run_rastervision(*args, tmp_path, env=None):
    """Run the rastervision CLI as a user would, from an activated venv."""
    run_env = dict(os.environ, **(env or {}))
    # `run local` starts `python` from PATH: make it this venv's.
    run_env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), run_env["PATH"]]
    )
    run_env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        [RASTERVISION, *args], cwd=PROJECT, env=run_env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def rastervision_inprocess(*args, tmp_path):
    """``rastervision <args>`` through the same CLI, in this process: a new one
    would spend seconds importing Raster Vision again. Tests of what only a new
    process shows (discovery, exit status, stderr) use run_rastervision."""
    # Plugins' commands (Raster Vision's `predict` among them), as the
    # `rastervision` entry point adds them.
    for command in registry_.get_plugin_commands():
        rastervision_cli.add_command(command)
    rastervision_cli.main(
        ["--tmpdir", str(tmp_path), *args],
        prog_name="rastervision",
        standalone_mode=False,
    )


def run_inprocess(*args, tmp_path):
    """``rastervision run inprocess <args>``, in this process."""
    rastervision_inprocess("run", "inprocess", *args, tmp_path=tmp_path)


def vegas_args(
    raw_uri,
    root_uri,
    task_type,
    test="True",
    target="buildings",
    product="PS-RGB",
    model=None,
):
    """The Vegas experiment's file and its ``-a`` arguments."""
    arguments = {
        "raw_uri": raw_uri,
        "root_uri": str(root_uri),
        "target": target,
        "task_type": task_type,
        "test": test,
        "product": product,
    }
    if model is not None:
        arguments["model"] = model
    return [VEGAS] + [word for k, v in arguments.items() for word in ("-a", k, v)]


def build_backend(root: Path, tmp_path: Path):
    """The backend of the pipeline run under ``root``, as predict builds it."""
    config = build_config(file_to_json(str(root / "pipeline-config.json")))
    return config.backend.build(config, str(tmp_path))


def rewrite_zip(source: Path, target: Path, replace: dict[str, bytes | str]) -> None:
    """Copy the zip ``source`` to ``target`` with some members' contents replaced."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            new.writestr(name, replace.get(name, old.read(name)))
        for name in replace.keys() - set(old.namelist()):
            new.writestr(name, replace[name])


@pytest.fixture(scope="session")
def raw_uri(tmp_path_factory):
    """A folder holding spacenet/ with a few synthetic Vegas scenes, in every
    SpaceNet product (PAN, PS-RGB, MS, PS-MS)."""
    out = tmp_path_factory.mktemp("raw")
    make_sample_data(out, num_scenes=SAMPLE_SCENES, size=256, seed=0)
    return str(out)


@pytest.fixture(scope="session")
def vegas_run(raw_uri, tmp_path_factory):
    """``vegas_run(task_type, test, target, product, model)``: the root of a
    `run inprocess`.

    Each combination runs once per session; the contract tests and the model
    tests read the same outputs.
    """
    roots = {}

    def run(task_type, test="True", target="buildings", product="PS-RGB", model=None):
        key = (task_type, test, target, product, model)
        if key not in roots:
            tmp_path = tmp_path_factory.mktemp(f"{target}-{task_type}-{test}-{product}")
            root = tmp_path / "out"
            args = vegas_args(raw_uri, root, task_type, test, target, product, model)
            run_inprocess(*args, tmp_path=tmp_path)
            roots[key] = root
        return roots[key]

    return run
