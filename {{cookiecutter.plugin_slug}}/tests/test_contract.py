"""Contract tests: what any model in model.py must do. Keep them when you swap it.

They drive the model through ``contract.py`` alone, on synthetic chips, so they
run in seconds and a failure says in one line what the model broke: a
prediction of the wrong type or shape, a save that does not load back to the
same predictions, a crafted bundle that crashes the process or runs code.
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import PROJECT, spec_for, synthetic_samples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rastervision.{{ cookiecutter.plugin_slug }}.contract import (
    Boxes,
    ModelBundleError,
    Task,
    check_predictions,
)
from rastervision.{{ cookiecutter.plugin_slug }}.model import Model, ModelConfig

TASKS = list(Task)
# Fuzz cases per run; FUZZ_CASES=2000 pytest tests/test_contract.py for more.
FUZZ_CASES = int(os.environ.get("FUZZ_CASES", "150"))
FUZZ_WORKER = Path(__file__).with_name("fuzz_worker.py")


@pytest.fixture(scope="module")
def trained():
    """``trained(task, num_bands)``: a model trained on synthetic chips, once."""
    models = {}

    def train(task: Task, num_bands: int = 3):
        if (task, num_bands) not in models:
            spec = spec_for(task, num_bands)
            model = Model.train(
                spec,
                ModelConfig.for_test_run(),
                synthetic_samples(spec, 24, seed=1),
                synthetic_samples(spec, 8, seed=2),
            )
            models[task, num_bands] = spec, model
        return models[task, num_bands]

    return train


def chips_of(spec, count=5, size=48, seed=3) -> np.ndarray:
    return np.stack([s.chip for s in synthetic_samples(spec, count, size, seed)])


@pytest.mark.parametrize("num_bands", [1, 3, 8])
@pytest.mark.parametrize("task", TASKS, ids=[t.value for t in TASKS])
def test_predictions_keep_the_contract(trained, task, num_bands):
    spec, model = trained(task, num_bands)
    for size in (48, 96):  # predict windows may be larger than training chips
        chips = chips_of(spec, size=size)
        check_predictions(spec, chips, model.predict(chips))


def assert_same_predictions(expected, actual):
    assert len(expected) == len(actual), "a different number of predictions"
    for one, other in zip(expected, actual, strict=True):
        if isinstance(one, Boxes):
            assert isinstance(other, Boxes), "boxes became something else"
            for field in ("boxes", "class_ids", "scores"):
                assert np.array_equal(getattr(one, field), getattr(other, field)), (
                    f"the loaded model predicts other {field}"
                )
        else:
            assert np.array_equal(one, other), "the loaded model predicts otherwise"


@pytest.mark.parametrize("task", TASKS, ids=[t.value for t in TASKS])
def test_a_saved_model_loads_back_to_the_same_predictions(trained, task, tmp_path):
    spec, model = trained(task)
    model.save(str(tmp_path))
    loaded = Model.load(str(tmp_path), spec, ModelConfig.for_test_run())
    chips = chips_of(spec, seed=4)
    assert_same_predictions(model.predict(chips), loaded.predict(chips))


def test_an_empty_folder_is_refused(tmp_path):
    spec = spec_for(Task.SEMANTIC_SEGMENTATION)
    with pytest.raises(ModelBundleError):
        Model.load(str(tmp_path), spec, ModelConfig.for_test_run())


# --- Crafted bundles -----------------------------------------------------------


class OpensMarker:
    """Unpickled, it creates the file $FUZZ_MARKER: code run from a bundle."""

    def __reduce__(self):
        return open, (os.environ["FUZZ_MARKER"], "w")


def mutate_json(value, draw):
    """``value`` with one of its leaves (or itself) replaced by a drawn value."""
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict | list):
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                walk(child, path + [key])

    walk(value, [])
    path = draw(st.sampled_from(paths))
    replacement = draw(
        st.one_of(
            st.sampled_from([-1, 0, 1, 2**31, -(2**63), 10**30, 1e308, None, [], {}]),
            st.integers(-(2**40), 2**40),
            st.sampled_from(["builtins.eval", "os.system", "builtins.open", ""]),
            st.text(max_size=12),
        )
    )
    if not path:
        return replacement
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = replacement
    return value


def mutate_array(array: np.ndarray, draw) -> np.ndarray:
    """``array`` with extreme values, another shape or another dtype."""
    kind = draw(st.sampled_from(["values", "shape", "dtype"]))
    if kind == "shape":
        flat = array.reshape(-1)
        return flat[: draw(st.integers(0, len(flat)))] if len(flat) else flat
    if kind == "dtype" and not array.dtype.names:
        return array.astype(draw(st.sampled_from([np.int8, np.float32, np.int64])))
    array = array.copy()
    if array.size == 0:
        return array
    field = draw(st.sampled_from(array.dtype.names)) if array.dtype.names else None
    target = array[field] if field else array
    flat = target.reshape(-1)
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(flat) - 1))
        value = draw(st.sampled_from([-3, -2, -1, len(flat), 2**31 - 1, 1e30]))
        # 1e30 fits no integer dtype: whatever the cast gives is crafted too.
        with np.errstate(invalid="ignore"):
            flat[index] = np.array(value).astype(flat.dtype)
    if field:
        array[field] = flat.reshape(array[field].shape)
        return array
    return flat.reshape(array.shape)


def mutate(data: bytes, name: str, draw) -> bytes:
    """One mutation of a bundle file, by what the file is."""
    kinds = ["bytes"]
    if zipfile.is_zipfile(io.BytesIO(data)):
        kinds += ["member"] * 4
    if name.endswith(".json"):
        kinds += ["json"] * 3
    if name.endswith(".npy"):
        kinds += ["array"] * 3 + ["pickle"]
    kind = draw(st.sampled_from(kinds))
    if kind == "member":
        with zipfile.ZipFile(io.BytesIO(data)) as old:
            members = {member: old.read(member) for member in old.namelist()}
        member = draw(st.sampled_from(sorted(members)))
        members[member] = mutate(members[member], member, draw)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as new:
            for member, content in members.items():
                new.writestr(member, content)
        return out.getvalue()
    if kind == "json":
        try:
            return json.dumps(mutate_json(json.loads(data), draw)).encode()
        except ValueError:
            pass
    out = io.BytesIO()
    if kind == "array":
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except ValueError:
            array = None
        if array is not None:
            np.save(out, mutate_array(array, draw), allow_pickle=False)
            return out.getvalue()
    if kind == "pickle":
        np.save(out, np.array([OpensMarker()], dtype=object), allow_pickle=True)
        return out.getvalue()
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


class FuzzWorker:
    """tests/fuzz_worker.py in a subprocess, started again whenever it dies."""

    def __init__(self, task: Task, env: dict):
        self.command = [sys.executable, str(FUZZ_WORKER), task.value]
        self.env = env
        self.process = None

    def outcome(self, bundle: Path) -> str:
        if self.process is None:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=PROJECT,
                env=self.env,
            )
        self.process.stdin.write(f"{bundle}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline().strip()
        if not line:
            code = self.process.wait()
            self.process = None
            return f"crashed (exit {code})"
        return line

    def close(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait()


def test_crafted_bundles_neither_run_code_nor_crash(
    trained, tmp_path, capsys, monkeypatch
):
    """Mutated bundles load to a model that keeps the contract, or are refused
    with ModelBundleError; none crashes the process or runs code."""
    task = Task.SEMANTIC_SEGMENTATION
    spec, model = trained(task)
    good = tmp_path / "good"
    good.mkdir()
    model.save(str(good))
    files = {path.name: path.read_bytes() for path in sorted(good.iterdir())}
    marker = tmp_path / "marker"
    monkeypatch.setenv("FUZZ_MARKER", str(marker))
    worker = FuzzWorker(task, dict(os.environ, PYTHONPATH=str(PROJECT)))
    outcomes = {}

    @settings(
        max_examples=FUZZ_CASES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def case(data):
        name = data.draw(st.sampled_from(sorted(files)))
        mutated = mutate(files[name], name, data.draw)
        bundle = Path(tempfile.mkdtemp(dir=tmp_path))
        for other, content in files.items():
            (bundle / other).write_bytes(mutated if other == name else content)
        result = worker.outcome(bundle)
        kind = result.split(":")[0]
        outcomes[kind] = outcomes.get(kind, 0) + 1
        assert kind in ("loaded", "refused"), f"{name}: {result}"
        assert not marker.exists(), f"{name}: loading ran code from the bundle"

    try:
        case()
    finally:
        worker.close()
    with capsys.disabled():
        print(
            f"\nfuzz: {sum(outcomes.values())} crafted bundles, "
            f"{outcomes.get('loaded', 0)} loaded and kept the contract, "
            f"{outcomes.get('refused', 0)} refused with ModelBundleError, 0 crashed"
        )
