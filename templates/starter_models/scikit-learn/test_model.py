"""Model tests: what the scikit-learn starter model does. Adapt these to your model.

The contract tests (tests/test_vegas.py, tests/test_plugin.py) hold for any
model; the tests here check this one: it learns each task well beyond what a
constant model can reach, gives the same results for the same data and seed,
saves its forests so that they load back exactly and no bundle can run code on
load, and validates its settings.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import rewrite_zip, run_rastervision, vegas_args
from rastervision.pipeline.config import build_config
from sklearn.ensemble import RandomForestClassifier

from rastervision.{{ cookiecutter.plugin_slug }} import {{ cookiecutter.__backend_class }}Config
from rastervision.{{ cookiecutter.plugin_slug }}.{{ cookiecutter.__backend_module }}_config import ModelBundleError
from rastervision.{{ cookiecutter.plugin_slug }}.model import (
    MODEL_FILENAME,
    load_estimator,
    save_estimator,
)

# F1 floors on the sample data (its default 8 scenes of 256 px, `-a test
# False`), below what the README shows the model reaches. A constant model
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


@pytest.mark.parametrize(
    "settings",
    [{"max_depth": 6}, {"max_depth": None, "class_weight": "balanced"}],
)
def test_a_saved_forest_loads_back_exactly(settings, tmp_path):
    rng = np.random.default_rng(0)
    features = rng.random((500, 6))
    targets = (features[:, 0] + features[:, 3] > 1).astype(int)
    forest = RandomForestClassifier(n_estimators=5, random_state=0, **settings)
    forest.fit(features, targets)
    path = tmp_path / MODEL_FILENAME
    save_estimator(forest, path)
    with np.load(path, allow_pickle=False) as npz:
        assert not any(npz[name].dtype.hasobject for name in npz.files)
    loaded = load_estimator(path)
    assert type(loaded) is RandomForestClassifier
    assert loaded.get_params() == forest.get_params()
    unseen = rng.random((1000, 6))
    assert np.array_equal(loaded.predict_proba(unseen), forest.predict_proba(unseen))


def write_marker(path):
    """What a malicious bundle would run on load, if it were loaded."""
    Path(path).write_text("code from the bundle ran")


class RunsCodeWhenUnpickled:
    """An object that calls :func:`write_marker` when pickle loads it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return write_marker, (self.path,)


def test_predict_refuses_a_bundle_with_python_objects(vegas_run, raw_uri, tmp_path):
    root = vegas_run("semantic_segmentation")
    marker = tmp_path / "marker"
    tampered_model = tmp_path / MODEL_FILENAME
    # np.savez pickles an array of objects; np.load with pickle allowed would
    # run write_marker.
    np.savez(
        tampered_model,
        structure=np.array("{}"),
        weights=np.array([RunsCodeWhenUnpickled(str(marker))], dtype=object),
    )
    inner = tmp_path / "model-bundle.zip"
    rewrite_zip(
        root / "train" / "model-bundle.zip",
        inner,
        {MODEL_FILENAME: tampered_model.read_bytes()},
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
    assert "holds Python objects, which this plugin does not load" in message
    assert not marker.exists()
    assert not (tmp_path / "out").exists()


def test_load_refuses_types_it_does_not_know(tmp_path):
    path = tmp_path / MODEL_FILENAME
    # The name of a function where an estimator type belongs.
    structure = {"estimator": ["write_marker", {"dict": {"path": str(path)}}]}
    np.savez(path, structure=np.array(json.dumps(structure)))
    with pytest.raises(ModelBundleError, match="holds a 'write_marker'"):
        load_estimator(path)


def test_config_survives_a_json_round_trip():
    config = {{ cookiecutter.__backend_class }}Config(
        n_estimators=7, max_depth=None, pixels_per_chip=50, feature_scales=[2.0], seed=3
    )
    loaded = build_config(json.loads(config.json()))
    assert loaded == config
    assert loaded.feature_scales == [2.0] and loaded.max_depth is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_estimators": 0}, "n_estimators"),
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
        {{ cookiecutter.__backend_class }}Config(**settings)
