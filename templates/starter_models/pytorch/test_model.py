"""Model tests: what the PyTorch starter model does. Adapt these to your model.

The contract tests (tests/test_contract.py, tests/test_vegas.py,
tests/test_plugin.py) hold for any model; the tests here check this one: it
learns each task beyond what a constant model can reach, repeats exactly on
the CPU for the same data and seed, fine-tunes an earlier bundle
(``train(source_bundle_uri)``) and starts from a user's own weights, refuses a
bundle whose weights or architecture do not fit, predicts without importing
Lightning, and validates its settings.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import build_backend, spec_for, synthetic_samples
from rastervision.pipeline.config import build_config
from safetensors.torch import load_file, save_file

from rastervision.{{ cookiecutter.plugin_slug }}.contract import (
    Boxes,
    ModelBundleError,
    Task,
)
from rastervision.{{ cookiecutter.plugin_slug }}.model import (
    ARCHITECTURE_FILENAME,
    WEIGHTS_FILENAME,
    Model,
    ModelConfig,
)

# Quick settings that still learn the synthetic chips: a minute of CPU at most
# for all three tasks.
QUICK = {"width": 8, "depth": 2, "epochs": 12, "batch_size": 8}


def train(task: Task, count: int = 24, **settings) -> tuple[Model, list]:
    spec = spec_for(task)
    config = ModelConfig(**{**QUICK, **settings})
    samples = synthetic_samples(spec, count)
    valid = synthetic_samples(spec, 8, seed=5)
    return Model.train(spec, config, samples, valid), valid


def segmentation_f1(model: Model, samples) -> float:
    """F1 of class 0 (the synthetic "building") over ``samples``."""
    predicted = np.stack(model.predict(np.stack([s.chip for s in samples])))
    truth = np.stack([s.label for s in samples])
    tp = np.sum((predicted == 0) & (truth == 0))
    return 2 * tp / max(np.sum(predicted == 0) + np.sum(truth == 0), 1)


def test_learns_segmentation_beyond_a_constant_model():
    model, valid = train(Task.SEMANTIC_SEGMENTATION)
    assert segmentation_f1(model, valid) > 0.6


def test_learns_to_classify_chips():
    model, valid = train(Task.CHIP_CLASSIFICATION, count=48)
    predicted = np.argmax(model.predict(np.stack([s.chip for s in valid])), axis=1)
    assert np.mean(predicted == [s.label for s in valid]) >= 0.75


def test_finds_objects():
    model, valid = train(Task.OBJECT_DETECTION, count=48, epochs=20)
    predictions = model.predict(np.stack([s.chip for s in valid]))
    found = sum(int((p.scores >= 0.5).sum()) for p in predictions)
    objects = sum(len(s.label) for s in valid)
    assert 0.5 * objects <= found <= 2 * objects, (found, objects)


def test_detection_targets_decode_to_their_boxes():
    """A network that output its training targets exactly would find exactly
    the labelled boxes, overlapping and at the chip's edge included."""
    from rastervision.{{ cookiecutter.plugin_slug }} import networks, training

    truth = Boxes(
        np.array([[10, 20, 50, 44], [30, 30, 70, 60], [0, 101, 23, 128]], float),
        np.array([0, 1, 1]),
    )
    targets = training.detection_targets(truth, 128, 128, num_classes=2)
    outputs = {
        "heatmap": torch.logit(torch.from_numpy(targets["heatmap"])[None], eps=1e-4),
        "box": torch.from_numpy(targets["box"])[None].clamp(min=1e-3).log(),
    }
    network = networks.DetectionNet(3, 2, width=8, depth=2)
    boxes, class_ids, scores = network.detect(outputs, 128, 128, calibrate=False)[0]
    found = scores > 0.9

    def in_order(boxes, class_ids):
        rows = np.column_stack([boxes, class_ids])
        return rows[np.lexsort(rows.T[::-1])]

    np.testing.assert_allclose(
        in_order(boxes[found].numpy(), class_ids[found].numpy()),
        in_order(truth.boxes, truth.class_ids),
        atol=1e-3,
    )


def test_same_data_and_seed_give_the_same_weights(tmp_path):
    first, _ = train(Task.SEMANTIC_SEGMENTATION, epochs=2)
    again, _ = train(Task.SEMANTIC_SEGMENTATION, epochs=2)
    other, _ = train(Task.SEMANTIC_SEGMENTATION, epochs=2, seed=1)
    for name, tensor in first.network.state_dict().items():
        assert torch.equal(tensor, again.network.state_dict()[name]), name
    assert not all(
        torch.equal(tensor, other.network.state_dict()[name])
        for name, tensor in first.network.state_dict().items()
    )


def test_save_and_load_give_the_same_predictions(tmp_path):
    model, valid = train(Task.OBJECT_DETECTION, epochs=2)
    model.save(str(tmp_path))
    loaded = Model.load(str(tmp_path), model.spec, model.settings)
    chips = np.stack([s.chip for s in valid])
    for saved, read in zip(model.predict(chips), loaded.predict(chips), strict=True):
        np.testing.assert_array_equal(saved.boxes, read.boxes)
        np.testing.assert_array_equal(saved.scores, read.scores)


def test_fine_tunes_from_an_earlier_bundle(vegas_run, tmp_path):
    """``train(source_bundle_uri)`` starts from the bundle's network, and the
    bundle it writes loads and predicts (a round trip through Raster Vision's
    bundle format)."""
    root = vegas_run("semantic_segmentation")
    backend = build_backend(root, tmp_path)
    backend.load_model()
    before = {k: v.clone() for k, v in backend.model.network.state_dict().items()}
    tuned = build_backend(root, tmp_path / "tuned")
    tuned.pipeline_config.train_uri = str(tmp_path / "tuned-train")
    tuned.train(source_bundle_uri=str(root / "bundle" / "model-bundle.zip"))
    after = tuned.model.network.state_dict()
    assert before.keys() == after.keys()
    assert not all(torch.equal(before[k], after[k]) for k in before)
    reloaded = build_backend(root, tmp_path / "reloaded")
    reloaded.load_model(str(tmp_path / "tuned-train" / "model-bundle.zip"))
    chips = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    assert len(reloaded.predict_chips(chips)) == 2


def test_starts_from_the_users_own_weights(tmp_path):
    model, _ = train(Task.SEMANTIC_SEGMENTATION, epochs=1)
    path = tmp_path / "encoder.safetensors"
    encoder = {
        k: v for k, v in model.network.state_dict().items() if k.startswith("encoder.")
    }
    save_file(encoder, str(path))
    spec = spec_for(Task.SEMANTIC_SEGMENTATION)
    fresh = Model.build(spec, ModelConfig(**QUICK), ModelConfig(**QUICK).architecture())
    fresh.take_weights(str(path))
    for name, tensor in encoder.items():
        assert torch.equal(fresh.network.state_dict()[name], tensor), name
    save_file({"unrelated": torch.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="none of its 1 weights matches"):
        fresh.take_weights(str(path))


@pytest.fixture
def saved(tmp_path):
    """A saved segmentation model's folder, its spec and settings."""
    model, _ = train(Task.SEMANTIC_SEGMENTATION, epochs=1)
    model.save(str(tmp_path))
    return tmp_path, model.spec, model.settings


def test_weights_of_the_wrong_shape_are_refused(saved):
    folder, spec, settings = saved
    weights = load_file(str(folder / WEIGHTS_FILENAME))
    name = next(k for k, v in weights.items() if v.ndim == 4)
    weights[name] = torch.zeros(1, 1, 1, 1)
    save_file(weights, str(folder / WEIGHTS_FILENAME))
    with pytest.raises(ModelBundleError, match=f"does not fit the network: {name}"):
        Model.load(str(folder), spec, settings)


def test_weights_that_are_not_finite_are_refused(saved):
    folder, spec, settings = saved
    weights = load_file(str(folder / WEIGHTS_FILENAME))
    name = next(k for k, v in weights.items() if v.is_floating_point())
    weights[name] = torch.full_like(weights[name], float("nan"))
    save_file(weights, str(folder / WEIGHTS_FILENAME))
    with pytest.raises(ModelBundleError, match="is not finite"):
        Model.load(str(folder), spec, settings)


def test_a_pickle_in_place_of_the_weights_is_refused(saved):
    """torch.save writes pickles, which run code when loaded: never read one."""
    folder, spec, settings = saved
    torch.save({"weights": torch.zeros(2)}, str(folder / WEIGHTS_FILENAME))
    with pytest.raises(ModelBundleError, match="is unreadable"):
        Model.load(str(folder), spec, settings)


@pytest.mark.parametrize(
    ("architecture", "message"),
    [
        ({"width": 4096, "depth": 2}, "width 4096 is not an integer in"),
        ({"width": 8, "depth": "2"}, "depth '2' is not an integer"),
        ({"width": 8}, "must give exactly"),
        ([8, 2], "must give exactly"),
        ({"width": 16, "depth": 2}, "does not fit the network"),
    ],
)
def test_an_architecture_that_does_not_fit_is_refused(saved, architecture, message):
    folder, spec, settings = saved
    (folder / ARCHITECTURE_FILENAME).write_text(json.dumps(architecture))
    with pytest.raises(ModelBundleError, match=message):
        Model.load(str(folder), spec, settings)


def test_predict_needs_torch_alone(saved):
    """Predicting imports neither Lightning nor the training module."""
    folder, spec, _ = saved
    script = f"""
import sys
import numpy as np
from conftest import spec_for
from rastervision.{{ cookiecutter.plugin_slug }}.contract import Task
from rastervision.{{ cookiecutter.plugin_slug }}.model import Model, ModelConfig
model = Model.load({str(folder)!r}, spec_for(Task.SEMANTIC_SEGMENTATION), ModelConfig())
model.predict(np.zeros((1, 32, 32, 3), dtype=np.uint8))
heavy = [m for m in sys.modules if m.startswith("lightning") or m.endswith(".training")]
assert not heavy, heavy
"""
    tests = Path(__file__).parent
    subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        cwd=tests.parent,
        env=dict(os.environ, PYTHONPATH=f"{tests}{os.pathsep}{tests.parent}"),
    )


def test_config_survives_a_json_round_trip():
    config = ModelConfig(
        width=8, depth=3, device="cpu", init_weights="s3://b/w.safetensors"
    )
    assert build_config(json.loads(config.json())) == config


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"width": 2}, "width"),
        ({"depth": 9}, "depth"),
        ({"epochs": 0}, "epochs"),
        ({"device": "tpu"}, "device"),
        ({"class_balance": 2}, "class_balance"),
        ({"learning_rate": 0}, "learning_rate"),
    ],
)
def test_config_rejects_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**settings)
