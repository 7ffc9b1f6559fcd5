"""The {{ cookiecutter.__backend_class }}: a backend that learns (almost) nothing.

It implements the whole Raster Vision backend contract for the three pipelines
(chip classification, semantic segmentation, object detection) so every command
runs end to end: ``chip`` writes real chips and labels, ``train`` reads them and
saves a model, ``predict`` returns labels of the right type. The "model" only
counts how often each class occurs; predictions are constant (the most frequent
class) or, for object detection, empty. Replace :meth:`train` and
:meth:`predict_scene` with your own model.
"""

import json
import uuid
import zipfile
from collections import Counter
from os.path import join

import numpy as np
from rastervision.core.backend import Backend, SampleWriter
from rastervision.core.box import Box
from rastervision.core.data import (
    ChipClassificationLabels,
    ObjectDetectionLabels,
    SemanticSegmentationLabels,
)
from rastervision.core.data_sample import DataSample
from rastervision.core.rv_pipeline import (
    ChipClassificationConfig,
    ObjectDetectionConfig,
    SemanticSegmentationConfig,
    WindowSamplingMethod,
)
from rastervision.pipeline.file_system import (
    download_if_needed,
    list_paths,
    make_dir,
    upload_or_copy,
    zipdir,
)

from rastervision.{{ cookiecutter.plugin_slug }}.{{ cookiecutter.__backend_module }}_config import (
    MODEL_BUNDLE_FILENAME,
)

MODEL_FILENAME = "model.json"


class {{ cookiecutter.__backend_class }}SampleWriter(SampleWriter):
    """Writes chips and their labels as .npz files, zipped into the chip folder.

    Each chip command writes one zip named by a UUID, so several chip jobs
    (``rastervision run ... --splits N``) never overwrite each other.
    """

    def __init__(self, output_uri: str, tmp_dir: str):
        self.output_uri = output_uri
        self.sample_dir = join(tmp_dir, f"samples-{uuid.uuid4()}")
        self.num_samples = 0

    def __enter__(self):
        make_dir(self.sample_dir)
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            zip_path = self.sample_dir + ".zip"
            zipdir(self.sample_dir, zip_path)
            upload_or_copy(zip_path, self.output_uri)

    def write_sample(self, sample: DataSample):
        """Save one chip with its class ids (and boxes, for object detection)."""
        class_ids, boxes = _label_arrays(sample.label)
        split_dir = join(self.sample_dir, sample.split)
        make_dir(split_dir)
        np.savez(
            join(split_dir, f"{sample.scene_id}-{self.num_samples}.npz"),
            chip=sample.chip,
            class_ids=class_ids,
            boxes=boxes,
        )
        self.num_samples += 1


class {{ cookiecutter.__backend_class }}(Backend):
    """A constant predictor: the place to put your own model."""

    def __init__(self, backend_config, pipeline_config, tmp_dir: str):
        self.backend_config = backend_config
        self.pipeline_config = pipeline_config
        self.tmp_dir = tmp_dir
        self.model: dict | None = None

    @property
    def num_classes(self) -> int:
        return len(self.pipeline_config.dataset.class_config)

    def get_sample_writer(self) -> {{ cookiecutter.__backend_class }}SampleWriter:
        output_uri = join(self.pipeline_config.chip_uri, f"{uuid.uuid4()}.zip")
        return {{ cookiecutter.__backend_class }}SampleWriter(output_uri, self.tmp_dir)

    def chip_dataset(self, dataset, chip_options) -> None:
        """Sample windows from every training and validation scene and save them."""
        class_config = dataset.class_config
        splits = [("train", s) for s in dataset.train_scenes]
        splits += [("valid", s) for s in dataset.validation_scenes]
        with self.get_sample_writer() as writer:
            for split, scene_config in splits:
                scene = scene_config.build(class_config, self.tmp_dir)
                for window in self._training_windows(scene, chip_options):
                    chip = scene.raster_source[window]
                    label = self._window_label(scene, window, chip_options)
                    if chip_options.keep_chip(chip, label):
                        writer.write_sample(
                            DataSample(
                                chip=chip,
                                label=label,
                                split=split,
                                scene_id=scene.id,
                                window=window,
                            )
                        )

    def _training_windows(self, scene, chip_options) -> list[Box]:
        sampling = chip_options.sampling
        if isinstance(sampling, dict):
            sampling = sampling[scene.id]
        extent = scene.extent
        if sampling.method == WindowSamplingMethod.sliding:
            windows = extent.get_windows(
                sampling.size,
                sampling.stride,
                padding=sampling.padding,
                pad_direction=sampling.pad_direction,
            )
        else:
            size = sampling.size if isinstance(sampling.size, int) else sampling.size[0]
            windows = [
                extent.make_random_square(size) for _ in range(sampling.max_windows)
            ]
        if scene.aoi_polygons:
            windows = Box.filter_by_aoi(windows, scene.aoi_polygons)
        limit = self.backend_config.max_chips_per_scene
        return windows if limit is None else windows[:limit]

    def _window_label(self, scene, window: Box, chip_options):
        """The label of one window: a class id, an (H, W) array, or boxes."""
        if isinstance(self.pipeline_config, ObjectDetectionConfig):
            sampling = chip_options.sampling
            labels = scene.label_source.get_labels(
                window, ioa_thresh=sampling.ioa_thresh, clip=sampling.clip
            )
            boxes = ObjectDetectionLabels.global_to_local(labels.get_npboxes(), window)
            return boxes, labels.get_class_ids()
        return scene.label_source[window]

    def train(self, source_bundle_uri: str | None = None) -> None:
        """Count the classes of the training chips and save that as the model.

        ``source_bundle_uri`` is a bundle to fine-tune from; a constant model
        has nothing to fine-tune, so it is ignored here.
        """
        class_counts = Counter()
        num_samples = Counter()
        for zip_uri in list_paths(self.pipeline_config.chip_uri, ext=".zip"):
            with zipfile.ZipFile(download_if_needed(zip_uri, self.tmp_dir)) as chips:
                for name in chips.namelist():
                    split = name.split("/")[0]
                    num_samples[split] += 1
                    if split == "train":
                        with chips.open(name) as f:
                            class_ids = np.load(f)["class_ids"]
                        class_counts.update(class_ids.ravel().tolist())
        model = {
            "class_counts": [class_counts[i] for i in range(self.num_classes)],
            "num_samples": dict(num_samples),
        }
        self._save_model(model)

    def _save_model(self, model: dict) -> None:
        train_dir = join(self.tmp_dir, "train")
        make_dir(train_dir)
        model_path = join(train_dir, MODEL_FILENAME)
        with open(model_path, "w") as f:
            json.dump(model, f, indent=2)
        bundle_path = join(self.tmp_dir, MODEL_BUNDLE_FILENAME)
        with zipfile.ZipFile(bundle_path, "w") as bundle:
            bundle.write(model_path, MODEL_FILENAME)
        upload_or_copy(
            bundle_path, join(self.pipeline_config.train_uri, MODEL_BUNDLE_FILENAME)
        )

    def load_model(self, uri: str | None = None) -> None:
        """Load the model saved by :meth:`train` (or the one inside a bundle)."""
        if uri is None:
            uri = join(self.pipeline_config.train_uri, MODEL_BUNDLE_FILENAME)
        with zipfile.ZipFile(download_if_needed(uri, self.tmp_dir)) as bundle:
            self.model = json.loads(bundle.read(MODEL_FILENAME))

    @property
    def majority_class_id(self) -> int:
        counts = self.model["class_counts"]
        return int(np.argmax(counts)) if any(counts) else 0

    def predict_scene(self, scene, predict_options):
        """Predict the most frequent training class everywhere (no boxes for OD)."""
        if self.model is None:
            self.load_model()
        if isinstance(self.pipeline_config, ChipClassificationConfig):
            windows = scene.extent.get_windows(
                predict_options.chip_sz, predict_options.stride
            )
            scores = np.eye(self.num_classes)[self.majority_class_id]
            return ChipClassificationLabels.from_predictions(
                windows, [scores] * len(windows)
            )
        if isinstance(self.pipeline_config, SemanticSegmentationConfig):
            labels = SemanticSegmentationLabels.make_empty(
                scene.extent, self.num_classes
            )
            labels.mask_fill(
                scene.extent,
                np.ones(scene.extent.size, dtype=bool),
                self.majority_class_id,
            )
            return labels
        return ObjectDetectionLabels.make_empty()


def _label_arrays(label) -> tuple[np.ndarray, np.ndarray]:
    """Class ids and (N, 4) boxes of a window's label, whatever the task."""
    if isinstance(label, tuple):
        boxes, class_ids = label
        return np.asarray(class_ids), np.asarray(boxes, dtype=float).reshape(-1, 4)
    return np.atleast_1d(np.asarray(label)), np.zeros((0, 4))
