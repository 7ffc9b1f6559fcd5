"""The Vegas experiment, built and run for real on the sample data."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rastervision.pipeline.config import build_config, upgrade_config
from rastervision.pipeline.file_system import file_to_json

from rastervision.{{ cookiecutter.plugin_slug }} import {{ cookiecutter.__backend_class }}Config
from spacenet.sample_data import empty_scene_id
from spacenet.vegas import TASK_TYPES, get_config

PROJECT = Path(__file__).resolve().parents[1]
VEGAS = str(PROJECT / "spacenet" / "vegas.py")
RASTERVISION = str(Path(sys.executable).with_name("rastervision"))


def rastervision(*args, tmp_path, env=None):
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


def vegas_args(raw_uri, root_uri, task_type, test="True"):
    return [
        VEGAS,
        "-a",
        "raw_uri",
        raw_uri,
        "-a",
        "root_uri",
        str(root_uri),
        "-a",
        "target",
        "buildings",
        "-a",
        "task_type",
        task_type,
        "-a",
        "test",
        test,
    ]


def assert_outputs(root, task_type="chip_classification"):
    """Eval, bundle and model exist, and the predictions are the model's."""
    eval_json = json.loads(
        (root / "eval" / "validation_scenes" / "eval.json").read_text()
    )
    assert eval_json["overall"], "eval.json has no overall metrics"
    with zipfile.ZipFile(root / "bundle" / "model-bundle.zip") as bundle:
        assert {"pipeline-config.json", "model-bundle.zip"} <= set(bundle.namelist())
    with zipfile.ZipFile(root / "train" / "model-bundle.zip") as bundle:
        model = json.loads(bundle.read("model.json"))
    assert sum(model["class_counts"]) > 0, "train saw no labelled chips"
    class_id = model["predict_class_id"]
    predictions = sorted((root / "predict").iterdir())
    assert predictions, "predict wrote nothing"
    for prediction in predictions:
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


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_config_builds_and_survives_json(raw_uri, tmp_path, task_type):
    config = get_config("local", str(tmp_path), raw_uri=raw_uri, task_type=task_type)
    assert isinstance(config.backend, {{ cookiecutter.__backend_class }}Config)
    config.update()
    uri = str(tmp_path / "pipeline-config.json")
    config.to_file(uri)
    loaded = build_config(upgrade_config(file_to_json(uri)))
    assert type(loaded) is type(config)
    assert loaded.backend == config.backend
    assert loaded.dataset == config.dataset


@pytest.mark.parametrize(
    "args, message",
    [
        ({"target": "roads", "task_type": "chip_classification"}, "roads"),
        ({"target": "roads", "task_type": "object_detection"}, "roads"),
        ({"target": "cars"}, "target must be one of"),
        ({"task_type": "counting"}, "task_type must be one of"),
        ({"test": "maybe"}, "test must be True or False"),
        ({"raw_uri": ""}, "raw_uri is empty"),
        ({"raw_uri": "/nonexistent/folder"}, "Is -a raw_uri the folder"),
    ],
)
def test_bad_arguments_stop_before_any_work(raw_uri, tmp_path, args, message):
    kwargs = {"raw_uri": raw_uri, **args}
    with pytest.raises(ValueError, match=message):
        get_config("local", str(tmp_path / "out"), **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_inprocess_run_completes(raw_uri, tmp_path, task_type):
    root = tmp_path / "out"
    rastervision(
        "run", "inprocess", *vegas_args(raw_uri, root, task_type), tmp_path=tmp_path
    )
    assert_outputs(root, task_type)


def test_roads_segmentation_completes(raw_uri, tmp_path):
    root = tmp_path / "out"
    args = vegas_args(raw_uri, root, "semantic_segmentation")
    args[args.index("buildings")] = "roads"
    rastervision("run", "inprocess", *args, tmp_path=tmp_path)
    assert_outputs(root, "semantic_segmentation")


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_scene_without_buildings_does_not_crash(raw_uri, tmp_path, task_type):
    """Without test mode every scene is used, the empty one included."""
    root = tmp_path / "out"
    args = vegas_args(raw_uri, root, task_type, test="False")
    rastervision("run", "inprocess", *args, tmp_path=tmp_path)
    config = get_config("local", str(root), raw_uri=raw_uri, task_type=task_type)
    assert str(empty_scene_id(6)) in {s.id for s in config.dataset.all_scenes}
    assert_outputs(root, task_type)


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_run_local_with_profile_then_predict(raw_uri, tmp_path, task_type):
    """`run local` starts a process per command: the plugin must be discovered."""
    profile_dir = tmp_path / "profiles"
    profile_dir.mkdir()
    (profile_dir / "vegas-test").write_text("[BATCH]\ncpu_job_queue = unused\n")
    env = {"RV_CONFIG_DIR": str(profile_dir)}
    root = tmp_path / "out"
    rastervision(
        "-p",
        "vegas-test",
        "run",
        "local",
        *vegas_args(raw_uri, root, task_type),
        tmp_path=tmp_path,
        env=env,
    )
    assert_outputs(root, task_type)
    image = next(Path(raw_uri).glob("spacenet/SN2_buildings/**/PS-RGB/*.tif"))
    predictions = tmp_path / "predictions"
    rastervision(
        "predict",
        str(root / "bundle" / "model-bundle.zip"),
        str(image),
        str(predictions),
        tmp_path=tmp_path,
    )
    if task_type == "semantic_segmentation":
        assert (predictions / "labels.tif").is_file()
    else:
        features = json.loads(predictions.read_text())["features"]
        assert bool(features) == (task_type == "chip_classification")
