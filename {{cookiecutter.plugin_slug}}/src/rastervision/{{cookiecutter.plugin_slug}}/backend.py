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
file (see docs/model.md, "Plug in your own model"); this module is plumbing you
can keep.
"""

import json
import uuid
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from os.path import join

import numpy as np
from rastervision.core.backend import Backend
from rastervision.core.box import Box
from rastervision.core.data import (
    CastTransformer,
    ChipClassificationLabels,
    NanTransformer,
    ObjectDetectionLabels,
    RasterioSource,
    ReclassTransformer,
    RGBClassTransformer,
    SemanticSegmentationDiscreteLabels,
    StatsTransformer,
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
)

from rastervision.{{ cookiecutter.plugin_slug }}.chips import (
    ChipWriter,
    CountedChips,
    SavedChips,
    zip_folder,
)
from rastervision.{{ cookiecutter.plugin_slug }}.config import MODEL_BUNDLE_FILENAME
from rastervision.{{ cookiecutter.plugin_slug }}.contract import (
    Boxes,
    ModelBundleError,
    ModelSpec,
    Task,
)
from rastervision.{{ cookiecutter.plugin_slug }}.model import Model
from rastervision.{{ cookiecutter.plugin_slug }}.progress import Progress

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
                windows = self._training_windows(scene, chip_options)
                with Progress(len(windows), f"Chipping {scene.id}") as bar:
                    for window in windows:
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
                        bar.update()

    def _training_windows(self, scene, chip_options) -> list[Box]:
        """Windows per the chip options' sampling: sliding, or random squares.

        Covers ``size``, ``stride``, ``padding``, ``max_windows`` and the AOI;
        other sampling options (size limits, negative-chip ratios) are left to
        your backend if it needs them. Random windows are drawn from a seed of
        the scene id, so a run split into jobs (``--splits N``) chips the same
        windows as one job.
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
            extent = scene.extent
            if size > min(extent.size):
                raise ValueError(
                    f"Scene {scene.id} is {extent.size} px, smaller than the "
                    f"chip size {size}"
                )
            random = np.random.default_rng(zlib.crc32(scene.id.encode()))
            windows = [
                Box.make_square(
                    int(random.integers(extent.ymin, extent.ymax - size + 1)),
                    int(random.integers(extent.xmin, extent.xmax - size + 1)),
                    size,
                )
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
        with Progress(len(train_chips), "Reading training chips") as bar:
            self.model = Model.train(
                spec,
                self.backend_config.model,
                CountedChips(train_chips, bar),
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
        zip_folder(model_dir, bundle_path)
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
        """Slide a window over the scene and add each batch's predictions to its labels.

        Memory stays flat as the scene grows beyond Raster Vision's own label
        arrays: no prediction is kept once added, and the next batch's windows
        are read while the model predicts the current one.
        """
        windows = scene.extent.get_windows(
            predict_options.chip_sz, predict_options.stride
        )
        labels = self._empty_labels(scene)
        batches = [
            windows[start : start + predict_options.batch_sz]
            for start in range(0, len(windows), predict_options.batch_sz)
        ]
        with Progress(len(windows), f"Predicting {scene.id}", unit="window") as bar:
            for batch, chips in read_ahead(batches, scene.raster_source):
                self._add_predictions(
                    labels, batch, self.predict_chips(chips), scene, predict_options
                )
                bar.update(len(batch))
        if self.task == Task.OBJECT_DETECTION:
            return ObjectDetectionLabels.prune_duplicates(
                labels.labels(),
                score_thresh=predict_options.score_thresh,
                merge_thresh=predict_options.merge_thresh,
            )
        return labels

    def _empty_labels(self, scene):
        """Labels for the whole scene, to add each batch's predictions to."""
        if self.task == Task.CHIP_CLASSIFICATION:
            return ChipClassificationLabels()
        if self.task == Task.OBJECT_DETECTION:
            return SceneBoxes()
        return SegmentationVotes(scene.extent, len(self.class_names))

    def _add_predictions(self, labels, windows, predictions, scene, predict_options):
        """Add one batch's predictions to the scene's ``labels``."""
        if self.task == Task.CHIP_CLASSIFICATION:
            for window, scores in zip(windows, predictions, strict=True):
                labels.set_cell(window, int(np.argmax(scores)), scores)
        elif self.task == Task.SEMANTIC_SEGMENTATION:
            labels.add_predictions(
                windows, predictions, crop_sz=predict_options.crop_sz
            )
        else:
            for window, boxes in zip(windows, predictions, strict=True):
                if predict_options.stride < predict_options.chip_sz:
                    boxes = drop_cut_boxes(boxes, window, scene.extent)
                labels.add(window, boxes)


class SegmentationVotes(SemanticSegmentationDiscreteLabels):
    """Raster Vision's per-pixel class votes, with a lean whole-scene class mask.

    Raster Vision's own ``get_class_mask``, which its label store calls on the
    whole scene for vector outputs, first makes a float score of every class
    for every pixel: 8 bytes per class per pixel. This one gives the same mask,
    computed a block of rows at a time, each block about a megapixel whatever
    the scene's width (its scores take 24 bytes a pixel while they live).
    """

    PIXELS_PER_BLOCK = 2**20

    def get_class_mask(self, window: Box, class_id: int, threshold=None):
        if threshold is None:
            threshold = 1 / self.num_classes
        ymin, xmin, ymax, xmax = window.intersection(self.extent)
        mask = np.zeros((ymax - ymin, xmax - xmin), dtype=bool)
        rows = max(1, self.PIXELS_PER_BLOCK // max(1, xmax - xmin))
        for top in range(ymin, ymax, rows):
            bottom = min(top + rows, ymax)
            counts = self.pixel_counts[:, top:bottom, xmin:xmax]
            # Pixels no window hit have no votes: 0 / 0, not in the mask.
            with np.errstate(invalid="ignore", divide="ignore"):
                scores = counts[class_id] / counts.sum(axis=0)
            mask[top - ymin : bottom - ymin] = scores >= threshold
        return mask


class SceneBoxes:
    """A scene's predicted boxes, gathered window by window in scene pixels.

    Raster Vision's ObjectDetectionLabels copies all its boxes on each
    addition; these are joined once, at the end.
    """

    def __init__(self):
        self.parts: list[Boxes] = []

    def add(self, window: Box, boxes: Boxes) -> None:
        global_boxes = ObjectDetectionLabels.local_to_global(boxes.boxes, window)
        self.parts.append(Boxes(global_boxes, boxes.class_ids, boxes.scores))

    def labels(self) -> ObjectDetectionLabels:
        if not self.parts:
            return ObjectDetectionLabels.make_empty()
        # float64, as Raster Vision's own labels: its GeoJSON writer takes no
        # float32.
        return ObjectDetectionLabels(
            np.concatenate([part.boxes for part in self.parts]).astype(np.float64),
            np.concatenate([part.class_ids for part in self.parts]),
            scores=np.concatenate([part.scores for part in self.parts]).astype(
                np.float64
            ),
        )


def read_ahead(batches: list[list[Box]], raster_source):
    """Yield each batch of windows with its chips (N, H, W, C).

    A thread reads the next batch while the caller predicts the current one;
    raster reads release the GIL, so reading and predicting overlap.
    """
    with ThreadPoolExecutor(max_workers=1) as reader:
        pending = None
        for batch in batches:
            future = reader.submit(read_chips, raster_source, batch)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (batch, future)
        if pending is not None:
            yield pending[0], pending[1].result()


# Raster transformers that map each pixel on its own, so a chip cut from a
# larger read equals the chip read alone (MinMaxTransformer, for one, scales
# by the values of the whole read).
PER_PIXEL_TRANSFORMERS = (
    CastTransformer,
    NanTransformer,
    ReclassTransformer,
    RGBClassTransformer,
    StatsTransformer,
)


def read_chips(raster_source, windows: list[Box]) -> np.ndarray:
    """The chips of ``windows``: one read per row of windows where it is the same.

    Raster Vision reads each window of a GeoTIFF through a boundless (VRT)
    read, about 20 times slower than the pixels it returns: a row of windows
    read at once costs one such read.
    """
    per_pixel = isinstance(raster_source, RasterioSource) and all(
        isinstance(transformer, PER_PIXEL_TRANSFORMERS)
        for transformer in raster_source.raster_transformers
    )
    if not per_pixel:
        return np.stack([raster_source[window] for window in windows])
    chips = []
    for (ymin, ymax), row in groupby(windows, key=lambda w: (w.ymin, w.ymax)):
        row = list(row)
        xmin = min(window.xmin for window in row)
        strip = raster_source[Box(ymin, xmin, ymax, max(w.xmax for w in row))]
        chips += [strip[:, w.xmin - xmin : w.xmax - xmin] for w in row]
    return np.stack(chips)


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
