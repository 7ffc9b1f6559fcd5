"""Model tests: what the scikit-learn starter model does. Adapt these to your model.

The contract tests (tests/test_contract.py, tests/test_vegas.py,
tests/test_plugin.py) hold for any model; the tests here check this one: it
learns each task well beyond what a constant model can reach, gives the same
results for the same data and seed, refuses a bundle of untrusted types or of
trees that point outside themselves (and a classifier it could not save,
before training), and validates its settings.
"""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    rewrite_zip,
    run_rastervision,
    spec_for,
    synthetic_samples,
    vegas_args,
)
from rastervision.pipeline.config import build_config
from skops import io as skops_io
from sklearn.neighbors import KNeighborsClassifier

from rastervision.{{ cookiecutter.plugin_slug }} import model as model_module
from rastervision.{{ cookiecutter.plugin_slug }}.contract import ModelBundleError, Task
from rastervision.{{ cookiecutter.plugin_slug }}.model import (
    MODEL_FILENAME,
    Model,
    ModelConfig,
)

# F1 floors on the sample data (its default 8 scenes of 256 px, `-a test
# False`), below what docs/model.md shows the model reaches. A constant model
# scores 0 on a class it never predicts, and no boxes score 0.
F1_FLOORS = {
    ("buildings", "chip_classification"): {"building": 0.9, "background": 0.9},
    ("buildings", "semantic_segmentation"): {"building": 0.85, "background": 0.85},
    ("buildings", "object_detection"): {"building": 0.6},
    ("roads", "semantic_segmentation"): {"road": 0.7, "background": 0.7},
}


def f1_per_class(root: Path) -> dict:
    """F1 of each class in eval.json (None for a class never predicted)."""
    eval_json = json.loads((root / "eval/validation_scenes/eval.json").read_text())
    return {m["class_name"]: m["metrics"]["f1"] for m in eval_json["overall"]}


@pytest.mark.parametrize(("target", "task_type"), F1_FLOORS)
def test_learns_beyond_a_constant_model(vegas_run, target, task_type):
    f1 = f1_per_class(vegas_run(task_type, test="False", target=target))
    for class_name, floor in F1_FLOORS[target, task_type].items():
        assert (f1[class_name] or 0) >= floor, f1


def test_same_data_and_seed_give_the_same_evaluation(vegas_run, raw_uri, tmp_path):
    first = vegas_run("object_detection", test="False")
    root = tmp_path / "again"
    args = vegas_args(raw_uri, root, "object_detection", test="False")
    run_rastervision("run", "inprocess", *args, tmp_path=tmp_path)
    eval_path = "eval/validation_scenes/eval.json"
    # Equal as JSON: every figure the same. The order of the per-scene entries
    # may differ: Raster Vision keeps scene groups as sets of ids, whose order
    # follows Python's per-process string hashing (PYTHONHASHSEED).
    again = json.loads((root / eval_path).read_text())
    assert again == json.loads((first / eval_path).read_text())


def test_predict_refuses_a_bundle_with_untrusted_types(vegas_run, raw_uri, tmp_path):
    """A bundle whose classifier is of a type TRUSTED_TYPES lacks is not loaded."""
    root = vegas_run("semantic_segmentation")
    untrusted = tmp_path / MODEL_FILENAME
    # A k-d tree (not brute force) so the bundle holds KDTree, a type
    # skops does not trust by default.
    neighbours = KNeighborsClassifier(n_neighbors=1, algorithm="kd_tree")
    skops_io.dump(neighbours.fit([[0], [1]], [0, 1]), untrusted)
    inner = tmp_path / "model-bundle.zip"
    rewrite_zip(
        root / "train" / "model-bundle.zip",
        inner,
        {MODEL_FILENAME: untrusted.read_bytes()},
    )
    bundle = tmp_path / "tampered-bundle.zip"
    rewrite_zip(
        root / "bundle" / "model-bundle.zip",
        bundle,
        {"model-bundle.zip": inner.read_bytes()},
    )
    image = next(Path(raw_uri).glob("spacenet/SN2_buildings/**/PS-RGB/*.tif"))
    with pytest.raises(AssertionError) as refused:
        run_rastervision(
            "predict", str(bundle), str(image), str(tmp_path / "out"), tmp_path=tmp_path
        )
    message = str(refused.value)
    assert "ModelBundleError" in message
    assert "holds types this plugin does not trust" in message
    assert "KDTree" in message
    assert not (tmp_path / "out").exists()


def test_a_tree_pointing_outside_itself_is_refused(tmp_path):
    """Such a tree would make scikit-learn read outside memory: a crash at predict."""
    spec = spec_for(Task.SEMANTIC_SEGMENTATION)
    settings = ModelConfig.for_test_run()
    model = Model.train(spec, settings, synthetic_samples(spec, 12), [])
    model.save(str(tmp_path))
    path = tmp_path / MODEL_FILENAME
    with zipfile.ZipFile(path) as saved:
        members = {name: saved.read(name) for name in saved.namelist()}
    for name, content in members.items():
        if name.endswith(".npy"):
            array = np.load(io.BytesIO(content), allow_pickle=False)
            if array.dtype.names and "left_child" in array.dtype.names:
                array["left_child"][array["left_child"] > 0] = 10**9
                out = io.BytesIO()
                np.save(out, array)
                members[name] = out.getvalue()
    with zipfile.ZipFile(path, "w") as crafted:
        for name, content in members.items():
            crafted.writestr(name, content)
    with pytest.raises(ModelBundleError, match="nodes point outside it"):
        Model.load(str(tmp_path), spec, settings)


def test_chips_of_one_class_give_a_model_that_predicts_it():
    """A test run's few chips may hold one class: nothing to learn, no crash."""
    spec = spec_for(Task.SEMANTIC_SEGMENTATION)
    background = [s for s in synthetic_samples(spec, 12) if (s.label == 1).all()]
    model = Model.train(spec, ModelConfig.for_test_run(), background, [])
    chips = np.stack([s.chip for s in synthetic_samples(spec, 2, seed=9)])
    assert all((prediction == 1).all() for prediction in model.predict(chips))


class NoChips:
    """Training chips that fail when read: training must stop before."""

    def __iter__(self):
        raise AssertionError("the chips were read before the classifier was checked")


def test_a_classifier_with_untrusted_types_stops_before_training(monkeypatch):
    def make_estimator(settings, balanced):
        return KNeighborsClassifier()

    monkeypatch.setattr(model_module, "make_estimator", make_estimator)
    spec = spec_for(Task.CHIP_CLASSIFICATION)
    with pytest.raises(TypeError, match="TRUSTED_TYPES in model.py lacks: add"):
        Model.train(spec, ModelConfig(), NoChips(), [])


def test_config_survives_a_json_round_trip():
    config = ModelConfig(
        trees=7, max_depth=None, pixels_per_chip=50, feature_scales=[2.0], seed=3
    )
    loaded = build_config(json.loads(config.json()))
    assert loaded == config
    assert loaded.feature_scales == [2.0] and loaded.max_depth is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"trees": 0}, "trees"),
        ({"pixels_per_chip": 5}, "pixels_per_chip"),
        ({"feature_scales": []}, "feature_scales"),
        ({"feature_scales": [1.0, -2.0]}, "must be in"),
        ({"feature_scales": [2.0, 2.0]}, "must differ"),
        ({"seed": -1}, "seed"),
        ({"min_object_pixels": 0}, "min_object_pixels"),
    ],
)
def test_config_rejects_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**settings)
