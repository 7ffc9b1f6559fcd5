"""Model tests: what the constant starter model does. Adapt these to your model.

The contract tests (tests/test_contract.py, tests/test_vegas.py,
tests/test_plugin.py) hold for any model; the tests here check this one: it
counts the classes of the training chips and predicts the most frequent one
everywhere, and no boxes.
"""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import run_rastervision
from rastervision.pipeline.config import build_config

from rastervision.{{ cookiecutter.plugin_slug }}.model import ModelConfig
from spacenet.vegas import TASK_TYPES


def saved_model(root):
    with zipfile.ZipFile(root / "train" / "model-bundle.zip") as bundle:
        return json.loads(bundle.read("model.json"))


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_predicts_the_most_frequent_class_everywhere(vegas_run, task_type):
    root = vegas_run(task_type)
    model = saved_model(root)
    assert sum(model["class_counts"]) > 0, "train saw no labelled chips"
    class_id = model["predict_class_id"]
    assert class_id == int(np.argmax(model["class_counts"]))
    for prediction in sorted((root / "predict").iterdir()):
        if task_type == "semantic_segmentation":
            with rasterio.open(prediction / "labels.tif") as labels:
                assert np.unique(labels.read()).tolist() == [class_id]
            continue
        features = json.loads(prediction.read_text())["features"]
        if task_type == "chip_classification":
            assert features
            assert {f["properties"]["class_id"] for f in features} == {class_id}
        else:
            assert features == [], "the constant model predicts no boxes"


def test_predict_on_the_bundle_gives_no_boxes(vegas_run, raw_uri, tmp_path):
    root = vegas_run("object_detection")
    image = next(Path(raw_uri).glob("spacenet/SN2_buildings/**/PS-RGB/*.tif"))
    predictions = tmp_path / "predictions.json"
    run_rastervision(
        "predict",
        str(root / "bundle" / "model-bundle.zip"),
        str(image),
        str(predictions),
        tmp_path=tmp_path,
    )
    assert json.loads(predictions.read_text())["features"] == []


def test_config_survives_a_json_round_trip():
    config = ModelConfig(predict_class_id=1)
    loaded = build_config(json.loads(config.json()))
    assert loaded == config
    assert loaded.predict_class_id == 1


def test_config_rejects_a_negative_class_id():
    with pytest.raises(ValueError, match="predict_class_id"):
        ModelConfig(predict_class_id=-1)
