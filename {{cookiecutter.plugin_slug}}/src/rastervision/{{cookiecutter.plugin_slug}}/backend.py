"""The {{ cookiecutter.__backend_class }}: Raster Vision's backend contract, around a model.

It implements the whole Raster Vision backend contract for the three pipelines
(chip classification, semantic segmentation, object detection), so every
command runs end to end on real data:

- ``chip`` samples windows from each scene and saves each chip with its label
  (``chips.py``);
- ``train`` hands the saved training and validation chips to the model and
  saves it in ``model-bundle.zip``;
- ``predict`` slides a window over each scene, batches the chips through the
  model and turns its predictions into Raster Vision labels.

The model sees none of Raster Vision's pipeline: only the terms of
``contract.py``. It lives in ``model.py``: to plug in your own, change that
file (see the README, "Plug in your own model"); this module is plumbing you
can keep.
"""

import json
import uuid
import zipfile
from os.path import join

import numpy as np
from rastervision.core.backend import Backend
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

from rastervision.{{ cookiecutter.plugin_slug }}.chips import ChipWriter, SavedChips
from rastervision.{{ cookiecutter.plugin_slug }}.config import MODEL_BUNDLE_FILENAME
from rastervision.{{ cookiecutter.plugin_slug }}.contract import (
    Boxes,
    ModelBundleError,
    ModelSpec,
    Task,
)
from rastervision.{{ cookiecutter.plugin_slug }}.model import Model

# Written next to the model's own files in model-bundle.zip: the model's format
# version and its spec, checked before the model is loaded.
MODEL_INFO_FILENAME = "model-info.json"
PIPELINE_TASKS = {
    ChipClassificationConfig: Task.CHIP_CLASSIFICATION,
    SemanticSegmentationConfig: Task.SEMANTIC_SEGMENTATION,
    ObjectDetectionConfig: Task.OBJECT_DETECTION,
}


def task_of(pipeline_config) -> Task:
    """The task of a Raster Vision pipeline config."""
    for pipeline_class, task in PIPELINE_TASKS.items():
        if isinstance(pipeline_config, pipeline_class):
            return task
    raise TypeError(
        f"{type(pipeline_config).__name__} is not a pipeline this backend runs"
    )


class {{ cookiecutter.__backend_class }}(Backend):
    """Chips, training data, bundles and sliding-window prediction for a :class:`Model`."""

    def __init__(self, backend_config, pipeline_config, tmp_dir: str):
        self.backend_config = backend_config
        self.pipeline_config = pipeline_config
        self.tmp_dir = tmp_dir
        self.task = task_of(pipeline_config)
        self.model: Model | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.pipeline_config.dataset.class_config.names)

    # chip

    def get_sample_writer(self) -> ChipWriter:
        output_uri = join(self.pipeline_config.chip_uri, f"{uuid.uuid4()}.zip")
        return ChipWriter(output_uri, self.tmp_dir)

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
        """The label of one window: a class id, an (H, W) array, or Boxes."""
        if self.task == Task.OBJECT_DETECTION:
            sampling = chip_options.sampling
            labels = scene.label_source.get_labels(
                window, ioa_thresh=sampling.ioa_thresh, clip=sampling.clip
            )
            boxes = ObjectDetectionLabels.global_to_local(labels.get_npboxes(), window)
            return Boxes(boxes, labels.get_class_ids())
        return scene.label_source[window]

    # train

    def saved_chips(self, split: str) -> SavedChips:
        """The chips of one split ("train" or "valid") that ``chip`` saved."""
        zip_paths = [
            download_if_needed(uri, self.tmp_dir)
            for uri in list_paths(self.pipeline_config.chip_uri, ext=".zip")
        ]
        return SavedChips(sorted(zip_paths), split)

    def train(self, source_bundle_uri: str | None = None) -> None:
        """Train the model on the saved chips and save it in train/.

        ``source_bundle_uri``: a model bundle (``model-bundle.zip`` of an
        earlier run, or its ``bundle/model-bundle.zip``) whose model training
        starts from, if the model supports it.
        """
        train_chips = self.saved_chips("train")
        if not len(train_chips):
            raise ValueError("No training chips: check the chip options and scenes.")
        spec = ModelSpec(
            task=self.task,
            class_names=self.class_names,
            num_bands=train_chips[0].chip.shape[-1],
        )
        init_dir = None
        if source_bundle_uri is not None:
            init_dir = self._extract_model(source_bundle_uri, spec)
        self.model = Model.train(
            spec,
            self.backend_config.model,
            train_chips,
            self.saved_chips("valid"),
            init_dir=init_dir,
        )
        self.spec = spec
        self._save_model()

    def _save_model(self) -> None:
        """Zip the model's files, format version and spec into train/model-bundle.zip."""
        model_dir = join(self.tmp_dir, f"model-{uuid.uuid4()}")
        make_dir(model_dir)
        self.model.save(model_dir)
        info = {
            "format_version": Model.FORMAT_VERSION,
            "task": self.spec.task.value,
            "class_names": list(self.spec.class_names),
            "num_bands": self.spec.num_bands,
        }
        with open(join(model_dir, MODEL_INFO_FILENAME), "w") as f:
            json.dump(info, f)
        bundle_path = join(self.tmp_dir, MODEL_BUNDLE_FILENAME)
        zipdir(model_dir, bundle_path)
        upload_or_copy(
            bundle_path, join(self.pipeline_config.train_uri, MODEL_BUNDLE_FILENAME)
        )

    # predict

    def _extract_model(self, uri: str, spec: ModelSpec | None = None) -> str:
        """Unzip a model bundle into a new folder; check its format and spec.

        Raises :class:`ModelBundleError` when ``uri`` is not a model bundle of
        this format version, or holds a model of another task or classes (or
        band count, when ``spec`` gives one).
        """
        model_dir = join(self.tmp_dir, f"model-{uuid.uuid4()}")
        try:
            with zipfile.ZipFile(download_if_needed(uri, self.tmp_dir)) as bundle:
                if "pipeline-config.json" in bundle.namelist():  # a whole bundle
                    bundle.extract(MODEL_BUNDLE_FILENAME, model_dir)
                    return self._extract_model(
                        join(model_dir, MODEL_BUNDLE_FILENAME), spec
                    )
                bundle.extractall(model_dir)
            with open(join(model_dir, MODEL_INFO_FILENAME)) as f:
                info = json.load(f)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise ModelBundleError(
                f"{uri} is not a model bundle of this plugin ({error})"
            ) from error
        format_version = info.get("format_version") if isinstance(info, dict) else None
        if format_version != Model.FORMAT_VERSION:
            raise ModelBundleError(
                f"{uri} holds a model of format version {format_version}, but this "
                f"plugin reads format version {Model.FORMAT_VERSION}: train again "
                "with this version, or predict with the plugin version that trained it"
            )
        try:
            saved = ModelSpec(
                task=Task(info["task"]),
                class_names=tuple(str(name) for name in info["class_names"]),
                num_bands=int(info["num_bands"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ModelBundleError(
                f"{uri} has an unreadable model spec ({error})"
            ) from error
        wanted = spec or ModelSpec(self.task, self.class_names, saved.num_bands)
        if saved != wanted:
            raise ModelBundleError(
                f"{uri} holds a model for {describe(saved)}, but this pipeline "
                f"needs one for {describe(wanted)}"
            )
        self.spec = saved
        return model_dir

    def load_model(self, uri: str | None = None) -> None:
        """Load the model saved by :meth:`train` (or the one inside a bundle).

        Raises :class:`ModelBundleError` for a bundle this plugin cannot or
        will not load (see :meth:`_extract_model` and the model's ``load``).
        """
        if uri is None:
            uri = join(self.pipeline_config.train_uri, MODEL_BUNDLE_FILENAME)
        model_dir = self._extract_model(uri)
        self.model = Model.load(model_dir, self.spec, self.backend_config.model)

    def predict_chips(self, chips: np.ndarray) -> list:
        """Predict a batch of chips (N, H, W, C uint8), checking the band count."""
        if chips.shape[-1] != self.spec.num_bands:
            raise ValueError(
                f"The chips have {chips.shape[-1]} bands, but the model was "
                f"trained on {self.spec.num_bands}: give the scene's raster "
                "source the channel_order of the training scenes"
            )
        return list(self.model.predict(chips))

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
        if self.task == Task.CHIP_CLASSIFICATION:
            return ChipClassificationLabels.from_predictions(windows, predictions)
        if self.task == Task.OBJECT_DETECTION:
            if predict_options.stride < predict_options.chip_sz:
                predictions = [
                    drop_cut_boxes(prediction, window, scene.extent)
                    for prediction, window in zip(predictions, windows, strict=True)
                ]
            predictions = [
                {
                    "boxes": boxes.boxes,
                    "class_ids": boxes.class_ids,
                    "scores": boxes.scores,
                }
                for boxes in predictions
            ]
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
            num_classes=len(self.class_names),
            crop_sz=predict_options.crop_sz,
        )


def describe(spec: ModelSpec) -> str:
    """A spec in words, for error messages."""
    return (
        f"{spec.task.value} of {', '.join(spec.class_names)} on "
        f"{spec.num_bands} band(s)"
    )


def drop_cut_boxes(prediction: Boxes, window: Box, extent: Box) -> Boxes:
    """Drop the boxes that touch an edge of ``window`` inside the scene.

    Windows overlap (stride < chip size), so an object cut by such an edge is
    seen whole by a neighbouring window, as long as it is no larger than the
    overlap; its cut part would otherwise stay as a second, wrong box.
    """
    boxes = prediction.boxes
    height, width = window.size
    cut = (
        ((boxes[:, 0] <= 0) & (window.ymin > extent.ymin))
        | ((boxes[:, 1] <= 0) & (window.xmin > extent.xmin))
        | ((boxes[:, 2] >= height) & (window.ymax < extent.ymax))
        | ((boxes[:, 3] >= width) & (window.xmax < extent.xmax))
    )
    return Boxes(boxes[~cut], prediction.class_ids[~cut], prediction.scores[~cut])
