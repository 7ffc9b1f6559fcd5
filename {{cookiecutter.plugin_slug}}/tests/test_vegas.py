"""Contract tests: what any model behind the backend must pass.

The Vegas experiment, built and run for real on the sample data: every command
runs, the outputs and the bundle exist, predictions have the right shape and
classes, and predict works on the bundle. What one particular model predicts is
checked in tests/test_model.py.
"""

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import (
    PROJECT,
    RASTERVISION,
    SAMPLE_SCENES,
    build_backend,
    rastervision_inprocess,
    rewrite_zip,
    run_inprocess,
    run_rastervision,
    vegas_args,
)
from rastervision.core.box import Box
from rastervision.core.data_sample import DataSample
from rastervision.pipeline.config import build_config, upgrade_config
from rastervision.pipeline.file_system import file_to_json

from rastervision.{{ cookiecutter.plugin_slug }} import {{ cookiecutter.__backend_class }}Config
from rastervision.{{ cookiecutter.plugin_slug }}.chips import ChipWriter
from rastervision.{{ cookiecutter.plugin_slug }}.contract import ModelBundleError
from rastervision.{{ cookiecutter.plugin_slug }}.model import Model, ModelConfig
from spacenet.sample_data import empty_scene_id, make_sample_data
from spacenet.vegas import TASK_TYPES, SceneImageError, get_config

# Whole scenes (no test mode) with the model's quick settings: the tests that
# use it check which scenes a run takes, not how well the model learns.
QUICK_MODEL = ModelConfig.for_test_run().model_dump_json()


def assert_outputs(root, task_type="chip_classification", num_classes=2, num_bands=3):
    """Eval, bundle and model exist, and predictions are labels of known classes."""
    eval_json = json.loads(
        (root / "eval" / "validation_scenes" / "eval.json").read_text()
    )
    assert eval_json["overall"], "eval.json has no overall metrics"
    with zipfile.ZipFile(root / "bundle" / "model-bundle.zip") as bundle:
        assert {"pipeline-config.json", "model-bundle.zip"} <= set(bundle.namelist())
    with zipfile.ZipFile(root / "train" / "model-bundle.zip") as bundle:
        info = json.loads(bundle.read("model-info.json"))
    assert info["format_version"] == Model.FORMAT_VERSION
    assert info["task"] == task_type
    assert len(info["class_names"]) == num_classes
    assert info["num_bands"] == num_bands
    predictions = sorted((root / "predict").iterdir())
    assert predictions, "predict wrote nothing"
    for prediction in predictions:
        assert_prediction(prediction, task_type, num_classes)


def assert_prediction(prediction: Path, task_type, num_classes=2):
    """One scene's predictions: labels of the pipeline's type and classes."""
    if task_type == "semantic_segmentation":
        with rasterio.open(prediction / "labels.tif") as labels:
            values = labels.read(1)
            assert (labels.width, labels.height) == (256, 256)
        assert set(np.unique(values).tolist()) <= set(range(num_classes))
        return
    features = json.loads(prediction.read_text())["features"]
    if task_type == "chip_classification":
        assert features, "chip classification predicts every cell"
    for feature in features:
        assert feature["properties"]["class_id"] in range(num_classes)
        if task_type == "object_detection":
            assert 0 <= feature["properties"]["score"] <= 1


def assert_same_results(root: Path, expected_root: Path) -> None:
    """Two runs' eval scores and per-scene predictions are equal."""
    eval_path = Path("eval", "validation_scenes", "eval.json")
    assert (
        json.loads((root / eval_path).read_text())["overall"]
        == json.loads((expected_root / eval_path).read_text())["overall"]
    )
    predictions = sorted(p.name for p in (expected_root / "predict").iterdir())
    assert sorted(p.name for p in (root / "predict").iterdir()) == predictions
    for name in predictions:
        got, expected = root / "predict" / name, expected_root / "predict" / name
        if got.is_dir():
            with (
                rasterio.open(got / "labels.tif") as a,
                rasterio.open(expected / "labels.tif") as b,
            ):
                assert np.array_equal(a.read(), b.read()), name
        else:
            assert json.loads(got.read_text()) == json.loads(expected.read_text())


def num_classes_of(task_type):
    """Vegas' classes: the target, and background except for object detection."""
    return 1 if task_type == "object_detection" else 2


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


def test_object_detection_sees_every_small_object_whole_in_a_training_window(
    raw_uri, tmp_path
):
    """Training windows overlap by half: an object up to half a chip across,
    wherever it lies, is whole in some window, not only cut in two."""
    config = get_config(
        "local", str(tmp_path), raw_uri=raw_uri, task_type="object_detection"
    )
    sampling = config.chip_options.sampling
    extent = Box(0, 0, 3 * sampling.size, 3 * sampling.size)
    windows = extent.get_windows(sampling.size, sampling.stride)
    side = sampling.size // 2
    for top in range(0, extent.ymax - side + 1, 7):
        for left in range(0, extent.xmax - side + 1, 7):
            item = Box(top, left, top + side, left + side).to_shapely()
            assert any(w.to_shapely().contains(item) for w in windows), item.bounds


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
def test_inprocess_run_completes(vegas_run, task_type):
    assert_outputs(vegas_run(task_type), task_type, num_classes_of(task_type))


@pytest.mark.parametrize("product, num_bands", [("PAN", 1), ("MS", 8), ("PS-MS", 8)])
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_other_products_run_every_task(vegas_run, task_type, product, num_bands):
    """1-band and 8-band imagery: the model is sized from the chips' bands."""
    root = vegas_run(task_type, product=product)
    assert_outputs(root, task_type, num_classes_of(task_type), num_bands)


def test_band_selection_and_product_reach_the_raster_source(raw_uri, tmp_path):
    config = get_config(
        "local", str(tmp_path / "out"), raw_uri=raw_uri, product="MS", bands="4,2,1"
    )
    for scene in config.dataset.all_scenes:
        assert scene.raster_source.channel_order == [4, 2, 1]
        uri = scene.raster_source.uris[0]
        assert "/MS/SN2_buildings_train_AOI_2_Vegas_MS_img" in uri


@pytest.mark.parametrize(
    "args, message",
    [
        ({"product": "RGB-PanSharpen"}, "product must be one of PAN, PS-RGB"),
        ({"product": "PAN", "bands": "0,1"}, "PAN has 1 band"),
        ({"bands": "red"}, "band indices separated by commas"),
        ({"bands": "0,0"}, "each given once"),
    ],
)
def test_bad_product_or_bands_stop_before_any_work(raw_uri, tmp_path, args, message):
    with pytest.raises(ValueError, match=message):
        get_config("local", str(tmp_path / "out"), raw_uri=raw_uri, **args)
    assert not (tmp_path / "out").exists()


def rewrite_image(path: Path, image: np.ndarray) -> None:
    """Replace a GeoTIFF's pixels (and so its band count or dtype), same place."""
    with rasterio.open(path) as old:
        profile = old.profile
    profile.update(count=image.shape[0], dtype=image.dtype)
    with rasterio.open(path, "w", **profile) as new:
        new.write(image)


def sample_copy(tmp_path: Path, scene_id=2) -> tuple[Path, Path]:
    """Small PS-RGB sample data, and the path of one scene's image (the
    experiment checks scene 2 first, then 1 and 3)."""
    raw = tmp_path / "raw"
    make_sample_data(raw, num_scenes=3, size=64, products=("PS-RGB",))
    image = next(raw.glob(f"spacenet/SN2_buildings/**/PS-RGB/*_img{scene_id}.tif"))
    return raw, image


def test_a_scene_with_other_bands_stops_the_run_with_one_line(tmp_path):
    raw, image = sample_copy(tmp_path)
    rewrite_image(image, np.ones((2, 64, 64), dtype=np.uint16))
    root = tmp_path / "out"
    result = subprocess.run(
        [
            RASTERVISION,
            "run",
            "inprocess",
            *vegas_args(str(raw), root, "object_detection"),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"{image}: 2 band(s) uint16 in EPSG:4326; "
        "expected 3 band(s) (PS-RGB) uint16 in EPSG:4326"
    ), result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert not root.exists()


def test_a_scene_with_another_dtype_stops_the_run(tmp_path):
    raw, image = sample_copy(tmp_path, scene_id=1)
    rewrite_image(image, np.ones((3, 64, 64), dtype=np.float32))
    with pytest.raises(SceneImageError) as error:
        get_config("local", str(tmp_path / "out"), raw_uri=str(raw))
    assert str(error.value) == (
        f"{image}: 3 band(s) float32 in EPSG:4326; "
        "expected 3 band(s) (PS-RGB) uint16 in EPSG:4326"
    )
    assert not (tmp_path / "out").exists()


def test_a_missing_image_stops_the_run(tmp_path):
    raw, image = sample_copy(tmp_path, scene_id=3)
    image.unlink()
    with pytest.raises(SceneImageError) as error:
        get_config("local", str(tmp_path / "out"), raw_uri=str(raw))
    assert str(error.value) == (
        f"{image}: no such file; expected a PS-RGB image for every labelled scene"
    )


def test_uint8_imagery_is_read_too(tmp_path):
    raw, _ = sample_copy(tmp_path)
    for path in raw.glob("spacenet/**/*.tif"):
        with rasterio.open(path) as image:
            pixels = image.read()
        rewrite_image(path, (pixels // 8).astype(np.uint8))
    config = get_config("local", str(tmp_path / "out"), raw_uri=str(raw))
    assert len(config.dataset.train_scenes) == 2


def test_roads_segmentation_completes(vegas_run):
    root = vegas_run("semantic_segmentation", target="roads")
    assert_outputs(root, "semantic_segmentation")


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_scene_without_buildings_does_not_crash(raw_uri, vegas_run, task_type):
    """Without test mode every scene is used, the empty one included."""
    root = vegas_run(task_type, test="False", model=QUICK_MODEL)
    config = get_config("local", str(root), raw_uri=raw_uri, task_type=task_type)
    assert str(empty_scene_id(SAMPLE_SCENES)) in {
        s.id for s in config.dataset.all_scenes
    }
    assert_outputs(root, task_type, num_classes_of(task_type))


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_scenes_as_small_as_the_stats_sample_run(tmp_path, task_type):
    """Raster Vision's stats analyzer samples 300 px squares: 300 px scenes work."""
    raw = tmp_path / "raw"
    make_sample_data(raw, num_scenes=3, size=300, seed=1)
    root = tmp_path / "out"
    args = vegas_args(str(raw), root, task_type, test="False", model=QUICK_MODEL)
    run_inprocess(*args, tmp_path=tmp_path)
    assert (root / "eval" / "validation_scenes" / "eval.json").is_file()


def test_run_local_with_a_profile_in_two_jobs(raw_uri, vegas_run, tmp_path):
    """`run local` starts a process per command: the plugin must be discovered.

    Split into two jobs per command (``--splits 2``), it gives what one job
    (``run inprocess``) gives: the same chips, model, predictions and scores.
    One task: the jobs share chips and bundles the same way for every task.
    """
    task_type = "chip_classification"
    profile_dir = tmp_path / "profiles"
    profile_dir.mkdir()
    (profile_dir / "vegas-test").write_text("[BATCH]\ncpu_job_queue = unused\n")
    env = {"RV_CONFIG_DIR": str(profile_dir)}
    root = tmp_path / "out"
    result = run_rastervision(
        "-p",
        "vegas-test",
        "run",
        "local",
        *vegas_args(raw_uri, root, task_type),
        "--splits",
        "2",
        tmp_path=tmp_path,
        env=env,
    )
    assert_outputs(root, task_type, num_classes_of(task_type))
    assert len(list((root / "chip").glob("*.zip"))) == 2
    assert_same_results(root, vegas_run(task_type))
    # The plugin hides runpy's harmless warning about rastervision.pipeline.cli.
    assert "found in sys.modules" not in result.stderr


def predict_args(raw_uri, vegas_run, task_type, predictions):
    """``rastervision predict``'s arguments: a Vegas run's bundle, a sample image."""
    image = next(Path(raw_uri).glob("spacenet/SN2_buildings/**/PS-RGB/*.tif"))
    bundle = vegas_run(task_type) / "bundle" / "model-bundle.zip"
    return ["predict", str(bundle), str(image), str(predictions)]


@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_predict_command_on_the_bundle(raw_uri, vegas_run, tmp_path, task_type):
    """`rastervision predict` loads the bundle of each task."""
    predictions = tmp_path / "predictions"
    args = predict_args(raw_uri, vegas_run, task_type, predictions)
    rastervision_inprocess(*args, tmp_path=tmp_path)
    assert_prediction(predictions, task_type, num_classes_of(task_type))


def test_predict_command_in_a_new_process(raw_uri, vegas_run, tmp_path):
    """A new process finds the plugin to rebuild the bundle's saved config from
    its type hints (the same for every task's bundle)."""
    task_type = "object_detection"
    predictions = tmp_path / "predictions"
    run_rastervision(
        *predict_args(raw_uri, vegas_run, task_type, predictions), tmp_path=tmp_path
    )
    assert_prediction(predictions, task_type, num_classes_of(task_type))


def test_bundle_of_another_format_version_is_refused(vegas_run, tmp_path):
    """An old bundle met by new code: a clear error, not a KeyError."""
    root = vegas_run("chip_classification")
    other_version = tmp_path / "model-bundle.zip"
    rewrite_zip(
        root / "train" / "model-bundle.zip",
        other_version,
        {"model-info.json": json.dumps({"format_version": Model.FORMAT_VERSION + 1})},
    )
    backend = build_backend(root, tmp_path)
    with pytest.raises(ModelBundleError, match="format version"):
        backend.load_model(str(other_version))


def test_bundle_of_another_task_is_refused(vegas_run, tmp_path):
    """A model trained for one task, loaded by a pipeline of another."""
    segmentation = vegas_run("semantic_segmentation")
    backend = build_backend(vegas_run("chip_classification"), tmp_path)
    with pytest.raises(ModelBundleError, match="model for semantic_segmentation"):
        backend.load_model(str(segmentation / "train" / "model-bundle.zip"))


def test_chips_and_model_bundle_are_zipped_without_a_progress_bar(
    vegas_run, tmp_path, monkeypatch
):
    """Raster Vision's zipdir draws a tqdm bar that runs into a job's log lines."""
    import rastervision.pipeline.file_system.utils as file_system_utils

    def no_bar(*args, **kwargs):
        raise AssertionError("the plugin zipped with Raster Vision's progress bar")

    monkeypatch.setattr(file_system_utils, "tqdm", no_bar)
    root = vegas_run("chip_classification")
    backend = build_backend(root, tmp_path)
    backend.load_model(str(root / "train" / "model-bundle.zip"))
    backend.pipeline_config.train_uri = str(tmp_path / "train")
    backend._save_model()
    with zipfile.ZipFile(tmp_path / "train" / "model-bundle.zip") as bundle:
        assert "model-info.json" in bundle.namelist()

    chip = np.zeros((8, 8, 3), dtype=np.uint8)
    with ChipWriter(str(tmp_path / "chips.zip"), str(tmp_path)) as writer:
        for scene_id in ("1", "1", "2"):
            writer.write_sample(DataSample(chip, 1, "train", scene_id))
    with zipfile.ZipFile(tmp_path / "chips.zip") as chips:
        assert chips.namelist() == ["train/1-0.npz", "train/1-1.npz", "train/2-0.npz"]


def test_model_settings_come_from_a_json_object(raw_uri, tmp_path):
    """``-a model '{...}'`` sets the model's fields over its defaults."""
    config = get_config("local", str(tmp_path), raw_uri=raw_uri, model=QUICK_MODEL)
    assert config.backend.model == ModelConfig.for_test_run()
    with pytest.raises(ValueError, match="-a model must be a JSON object"):
        get_config("local", str(tmp_path), raw_uri=raw_uri, model="[1]")
