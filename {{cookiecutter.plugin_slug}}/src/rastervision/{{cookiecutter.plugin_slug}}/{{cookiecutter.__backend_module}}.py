"""The {{ cookiecutter.__backend_class }}: Raster Vision's backend contract, around a model.

It implements the whole Raster Vision backend contract for the three pipelines
(chip classification, semantic segmentation, object detection), so every
command runs end to end on real data:

- ``chip`` samples windows from each scene and saves each chip with its label;
- ``train`` reads those chips back (:meth:`iter_samples`), hands them to the
  model and saves it in ``model-bundle.zip``;
- ``predict`` slides a window over each scene, batches the chips through
  :meth:`predict_chips` and turns the results into Raster Vision labels.

The model itself lives in ``model.py``: to plug in your own, change that file
(see the README, "Plug in your own model"); this module is plumbing you can keep.
"""

import json
import uuid
import zipfile
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
    ModelBundleError,
)
from rastervision.{{ cookiecutter.plugin_slug }}.model import FORMAT_VERSION, Model

# Written next to the model's own files in model-bundle.zip: which model format
# the bundle holds, checked before the model is loaded.
MODEL_INFO_FILENAME = "model-info.json"


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
    """Chips, training samples, bundles and sliding-window prediction for a :class:`Model`."""

    def __init__(self, backend_config, pipeline_config, tmp_dir: str):
        self.backend_config = backend_config
        self.pipeline_config = pipeline_config
        self.tmp_dir = tmp_dir
        self.model: Model | None = None

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
        """Train the model on the training chips and save it in train/.

        ``source_bundle_uri`` is a bundle to fine-tune from; the starter model
        trains from scratch, so it is ignored here.
        """
        self.model = Model.train(
            self.iter_samples("train"), self.backend_config, self.pipeline_config
        )
        self._save_model()

    def _save_model(self) -> None:
        """Zip the model's files and its format version into train/model-bundle.zip."""
        model_dir = join(self.tmp_dir, "model")
        make_dir(model_dir)
        self.model.save(model_dir)
        with open(join(model_dir, MODEL_INFO_FILENAME), "w") as f:
            json.dump({"format_version": FORMAT_VERSION}, f)
        bundle_path = join(self.tmp_dir, MODEL_BUNDLE_FILENAME)
        zipdir(model_dir, bundle_path)
        upload_or_copy(
            bundle_path, join(self.pipeline_config.train_uri, MODEL_BUNDLE_FILENAME)
        )

    # predict

    def load_model(self, uri: str | None = None) -> None:
        """Load the model saved by :meth:`train` (or the one inside a bundle).

        Raises :class:`ModelBundleError` when the file is not a model bundle of
        this format version.
        """
        if uri is None:
            uri = join(self.pipeline_config.train_uri, MODEL_BUNDLE_FILENAME)
        model_dir = join(self.tmp_dir, f"model-{uuid.uuid4()}")
        try:
            with zipfile.ZipFile(download_if_needed(uri, self.tmp_dir)) as bundle:
                bundle.extractall(model_dir)
            with open(join(model_dir, MODEL_INFO_FILENAME)) as f:
                format_version = json.load(f).get("format_version")
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise ModelBundleError(
                f"{uri} is not a model bundle of this plugin ({error})"
            ) from error
        if format_version != FORMAT_VERSION:
            raise ModelBundleError(
                f"{uri} holds a model of format version {format_version}, but this "
                f"plugin reads format version {FORMAT_VERSION}: train again with "
                "this version, or predict with the plugin version that trained it"
            )
        self.model = Model.load(model_dir, self.backend_config, self.pipeline_config)

    def predict_chips(self, chips: np.ndarray) -> list:
        """Predict a batch of chips (N, H, W, C uint8) with the model.

        Returns one prediction per chip: class scores (chip classification),
        an (H, W) array of class ids (semantic segmentation), or a dict of
        ``boxes`` (ymin, xmin, ymax, xmax in chip pixels), ``class_ids`` and
        ``scores`` (object detection).
        """
        return self.model.predict_chips(chips)

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
            if predict_options.stride < predict_options.chip_sz:
                predictions = [
                    drop_cut_boxes(prediction, window, scene.extent)
                    for prediction, window in zip(predictions, windows, strict=True)
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
            num_classes=self.num_classes,
            crop_sz=predict_options.crop_sz,
        )


def drop_cut_boxes(prediction: dict, window: Box, extent: Box) -> dict:
    """Drop the boxes that touch an edge of ``window`` inside the scene.

    Windows overlap (stride < chip size), so an object cut by such an edge is
    seen whole by a neighbouring window, as long as it is no larger than the
    overlap; its cut part would otherwise stay as a second, wrong box.
    """
    boxes = np.asarray(prediction["boxes"]).reshape(-1, 4)
    height, width = window.size
    cut = (
        ((boxes[:, 0] <= 0) & (window.ymin > extent.ymin))
        | ((boxes[:, 1] <= 0) & (window.xmin > extent.xmin))
        | ((boxes[:, 2] >= height) & (window.ymax < extent.ymax))
        | ((boxes[:, 3] >= width) & (window.xmax < extent.xmax))
    )
    return {key: np.asarray(value)[~cut] for key, value in prediction.items()}
