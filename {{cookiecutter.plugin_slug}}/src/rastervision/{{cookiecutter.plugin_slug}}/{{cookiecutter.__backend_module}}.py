"""The {{ cookiecutter.__backend_class }}: a backend that learns (almost) nothing.

It implements the whole Raster Vision backend contract for the three pipelines
(chip classification, semantic segmentation, object detection), so every
command runs end to end on real data:

- ``chip`` samples windows from each scene and saves each chip with its label;
- ``train`` reads those chips back (:meth:`iter_samples`) and saves a model;
- ``predict`` slides a window over each scene, batches the chips through
  :meth:`predict_chips` and turns the results into Raster Vision labels.

The "model" is a constant: it predicts the most frequent class of the training
chips everywhere (no boxes, for object detection). To plug in your own model,
replace :meth:`train` and :meth:`predict_chips`; the rest is plumbing you can
keep.
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
    """Writes each chip and its label as an .npz file, zipped into the chip folder.

    An .npz holds ``chip`` (H, W, C) and either ``label`` (chip classification:
    a class id; semantic segmentation: an (H, W) array of class ids) or
    ``boxes`` ((N, 4) ymin, xmin, ymax, xmax in chip pixels) with ``class_ids``
    (object detection). Each chip command writes one zip named by a UUID, so
    several chip jobs (``--splits N``) never overwrite each other.
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
        """Save one chip with its label, under a folder named by its split."""
        if isinstance(sample.label, tuple):
            boxes, class_ids = sample.label
            label = {"boxes": boxes, "class_ids": class_ids}
        else:
            label = {"label": sample.label}
        split_dir = join(self.sample_dir, sample.split)
        make_dir(split_dir)
        path = join(split_dir, f"{sample.scene_id}-{self.num_samples}.npz")
        np.savez(path, chip=sample.chip, **label)
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

    # chip

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
        """Windows per the chip options' sampling: sliding, or random squares.

        Covers ``size``, ``stride``, ``padding``, ``max_windows`` and the AOI;
        other sampling options (size limits, negative-chip ratios) are left to
        your backend if it needs them.
        """
        sampling = chip_options.sampling
        if isinstance(sampling, dict):
            sampling = sampling[scene.id]
        size = sampling.size if isinstance(sampling.size, int) else sampling.size[0]
        if sampling.method == WindowSamplingMethod.sliding:
            windows = scene.extent.get_windows(
                size,
                sampling.stride,
                padding=sampling.padding,
                pad_direction=sampling.pad_direction,
            )
        else:
            windows = [
                scene.extent.make_random_square(size)
                for _ in range(sampling.max_windows)
            ]
        if scene.aoi_polygons:
            windows = Box.filter_by_aoi(windows, scene.aoi_polygons)
        return windows

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

    # train

    def iter_samples(self, split: str):
        """Yield the saved chips of one split ("train" or "valid") as dicts.

        Each dict has the arrays described in
        :class:`{{ cookiecutter.__backend_class }}SampleWriter`.
        """
        for zip_uri in list_paths(self.pipeline_config.chip_uri, ext=".zip"):
            with zipfile.ZipFile(download_if_needed(zip_uri, self.tmp_dir)) as chips:
                for name in chips.namelist():
                    if name.startswith(f"{split}/"):
                        with chips.open(name) as f, np.load(f) as sample:
                            yield dict(sample)

    def train(self, source_bundle_uri: str | None = None) -> None:
        """Count the classes of the training chips and save that as the model.

        ``source_bundle_uri`` is a bundle to fine-tune from; a constant model
        has nothing to fine-tune, so it is ignored here.
        """
        class_counts = Counter()
        for sample in self.iter_samples("train"):
            class_ids = sample.get("class_ids", sample.get("label"))
            class_counts.update(np.ravel(class_ids).tolist())
        counts = [class_counts[i] for i in range(self.num_classes)]
        predict_class_id = self.backend_config.predict_class_id
        if predict_class_id is None:
            predict_class_id = int(np.argmax(counts)) if any(counts) else 0
        self._save_model({"class_counts": counts, "predict_class_id": predict_class_id})

    def _save_model(self, model: dict) -> None:
        """Write the model into train/model-bundle.zip, the file RV bundles."""
        bundle_path = join(self.tmp_dir, MODEL_BUNDLE_FILENAME)
        with zipfile.ZipFile(bundle_path, "w") as bundle:
            bundle.writestr(MODEL_FILENAME, json.dumps(model, indent=2))
        upload_or_copy(
            bundle_path, join(self.pipeline_config.train_uri, MODEL_BUNDLE_FILENAME)
        )

    # predict

    def load_model(self, uri: str | None = None) -> None:
        """Load the model saved by :meth:`train` (or the one inside a bundle)."""
        if uri is None:
            uri = join(self.pipeline_config.train_uri, MODEL_BUNDLE_FILENAME)
        with zipfile.ZipFile(download_if_needed(uri, self.tmp_dir)) as bundle:
            self.model = json.loads(bundle.read(MODEL_FILENAME))

    def predict_chips(self, chips: np.ndarray) -> list:
        """Predict a batch of chips (N, H, W, C): replace this with your model.

        Returns one prediction per chip: class scores (chip classification),
        an (H, W) array of class ids (semantic segmentation), or a dict of
        ``boxes`` (ymin, xmin, ymax, xmax in chip pixels), ``class_ids`` and
        ``scores`` (object detection).
        """
        class_id = self.model["predict_class_id"]
        if isinstance(self.pipeline_config, ChipClassificationConfig):
            return [np.eye(self.num_classes)[class_id] for _ in chips]
        if isinstance(self.pipeline_config, ObjectDetectionConfig):
            no_boxes = {
                "boxes": np.zeros((0, 4)),
                "class_ids": np.zeros(0, dtype=int),
                "scores": np.zeros(0),
            }
            return [no_boxes for _ in chips]
        return [np.full(chip.shape[:2], class_id, dtype=np.uint8) for chip in chips]

    def predict_scene(self, scene, predict_options):
        """Slide a window over the scene and turn the predictions into labels."""
        windows = scene.extent.get_windows(
            predict_options.chip_sz, predict_options.stride
        )
        predictions = []
        for start in range(0, len(windows), predict_options.batch_sz):
            batch = windows[start : start + predict_options.batch_sz]
            chips = np.stack([scene.raster_source[window] for window in batch])
            predictions.extend(self.predict_chips(chips))
        if isinstance(self.pipeline_config, ChipClassificationConfig):
            return ChipClassificationLabels.from_predictions(windows, predictions)
        if isinstance(self.pipeline_config, ObjectDetectionConfig):
            labels = ObjectDetectionLabels.from_predictions(windows, predictions)
            return ObjectDetectionLabels.prune_duplicates(
                labels,
                score_thresh=predict_options.score_thresh,
                merge_thresh=predict_options.merge_thresh,
            )
        return SemanticSegmentationLabels.from_predictions(
            windows,
            predictions,
            extent=scene.extent,
            num_classes=self.num_classes,
            crop_sz=predict_options.crop_sz,
        )
