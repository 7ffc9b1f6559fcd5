"""The model behind the {{ cookiecutter.__backend_class }}: a scikit-learn classifier on pixel features.

Every task starts from the same per-pixel features: the bands, and at each of
``feature_scales`` the bands smoothed with a Gaussian and their local spread
(standard deviation), so a pixel also sees its neighbourhood. Then:

- semantic segmentation: the classifier labels each pixel, trained on pixels
  sampled from each chip with the classes present balanced;
- chip classification: it labels each chip from statistics of its pixel
  features (mean, spread and high percentiles of each);
- object detection: it tells object pixels from background (trained on the
  middle of each box against the pixels outside all boxes), then each
  connected group of object pixels of at least ``min_object_pixels`` becomes a
  box, scored by its mean probability and given the class most of its pixels
  have.

The classifier is a random forest: :func:`make_estimator` and
:data:`TRUSTED_TYPES` are all a swap to another scikit-learn classifier changes
(see docs/model.md, "Swap in another scikit-learn classifier").

Training streams the chips once and keeps ``pixels_per_chip`` pixels of each
in a bounded uniform sample, so memory grows with the sample, not with the
images. The same chips and ``seed`` give the same model. The classifier is
saved with skops, which loads only the types listed in :data:`TRUSTED_TYPES`
and runs no code from the file; the loaded arrays are then checked before any
compiled scikit-learn code reads them (:func:`check_estimator`).
"""

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from os.path import join

import numpy as np
from rastervision.pipeline.config import Config, Field, field_validator, register_config
from scipy import ndimage

from rastervision.{{ cookiecutter.plugin_slug }} import contract
from rastervision.{{ cookiecutter.plugin_slug }}.contract import (
    Boxes,
    Chips,
    ModelBundleError,
    ModelSpec,
    Task,
)

log = logging.getLogger(__name__)

MODEL_FILENAME = "model.skops"
# Percentiles of each pixel feature that describe a chip, with its mean and
# spread: the top ones catch a small bright roof in a large chip.
CHIP_PERCENTILES = (50, 90, 99, 99.9, 100)
# Object detection: a pixel is an object's when its object probability is above
# this. High, so that the fringe between two close objects, which the smoothed
# features make look a little like both, does not join them into one box.
OBJECT_PROBABILITY = 0.8
# Object detection training: a pixel of a box too near its edge to be sure it
# is the object's.
UNKNOWN = -1


@register_config("{{ cookiecutter.plugin_slug }}.model")
class ModelConfig(Config):
    """The model's settings, saved in every pipeline-config.json."""

    trees: int = Field(40, ge=1, le=1000, description="Trees in the random forest.")
    max_depth: int | None = Field(
        12, ge=1, le=100, description="Depth limit of each tree; None: no limit."
    )
    min_samples_leaf: int = Field(
        2, ge=1, le=10000, description="Training rows each tree leaf holds at least."
    )
    pixels_per_chip: int = Field(
        1000,
        ge=10,
        le=100_000,
        description="Training pixels sampled from each chip, split evenly among "
        "the classes present.",
    )
    max_training_rows: int = Field(
        300_000,
        ge=100,
        le=50_000_000,
        description="Training rows (pixels, or chips for chip classification) "
        "kept at most, a uniform sample of all: memory and training time stay "
        "flat as the data set grows.",
    )
    feature_scales: list[float] = Field(
        [1.0, 4.0],
        min_length=1,
        max_length=6,
        description="Gaussian sigmas in pixels of the smoothed bands and local "
        "spread computed around each pixel.",
    )
    min_object_pixels: int = Field(
        40,
        ge=1,
        description="Object detection: connected components smaller than this "
        "many pixels are not reported as objects.",
    )
    seed: int = Field(0, ge=0, description="Seed of the pixel sampling and the model.")

    @field_validator("feature_scales")
    @classmethod
    def scales_are_positive_and_distinct(cls, scales: list[float]) -> list[float]:
        """Each scale adds features: a zero, negative or repeated one is a mistake."""
        if any(scale <= 0 or scale > 64 for scale in scales):
            raise ValueError(f"feature scales must be in (0, 64] pixels, got {scales}")
        if len(set(scales)) != len(scales):
            raise ValueError(f"feature scales must differ, got {scales}")
        return scales

    @classmethod
    def for_test_run(cls) -> "ModelConfig":
        """A test run checks that every command works, not how well the model
        learns: a few shallow trees on features of one scale, quick to train."""
        return cls(trees=4, max_depth=6, feature_scales=[2.0])


# --- The classifier: to swap in another, change these two. -------------------


def make_estimator(settings: ModelConfig, balanced: bool):
    """A new, unfitted classifier. ``balanced``: weigh the classes equally."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=settings.trees,
        max_depth=settings.max_depth,
        min_samples_leaf=settings.min_samples_leaf,
        class_weight="balanced" if balanced else None,
        random_state=settings.seed,
        # Trees train on every core; the forest is the same. (Predict runs
        # parts of each batch in threads already: see Model.predict.)
        n_jobs=-1,
    )


# The types a saved classifier holds that skops does not trust by itself. A
# bundle holding any other type is refused; training checks first that the
# classifier of make_estimator saves nothing else, and names what to add here.
TRUSTED_TYPES = [
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
]

# -----------------------------------------------------------------------------


def pixel_features(chips: np.ndarray, scales: list[float]) -> np.ndarray:
    """Per-pixel features of chips (N, H, W, C uint8): (N, H, W, C * (1 + 2 * scales)).

    The bands scaled to [0, 1], then per scale the Gaussian-smoothed bands and
    the local standard deviation around each pixel.
    """
    bands = chips.astype(np.float32) / 255
    features = [bands]
    for scale in scales:
        sigma = (0, scale, scale, 0)  # smooth within each chip and band
        mean = ndimage.gaussian_filter(bands, sigma)
        mean_of_squares = ndimage.gaussian_filter(bands * bands, sigma)
        spread = np.sqrt(np.maximum(mean_of_squares - mean * mean, 0))
        features += [mean, spread]
    return np.concatenate(features, axis=-1)


def chip_features(chips: np.ndarray, scales: list[float]) -> np.ndarray:
    """One row per chip: mean, spread and percentiles of each pixel feature."""
    pixels = pixel_features(chips, scales).reshape(
        len(chips), -1, _num_features(chips, scales)
    )
    return np.concatenate(
        [
            pixels.mean(axis=1),
            pixels.std(axis=1),
            *np.percentile(pixels, CHIP_PERCENTILES, axis=1),
        ],
        axis=1,
    )


def _num_features(chips: np.ndarray, scales: list[float]) -> int:
    return chips.shape[-1] * (1 + 2 * len(scales))


def sample_pixels(
    labels: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Flat indices of up to ``count`` pixels of ``labels``, classes balanced.

    Each class present gets an equal share (all its pixels if it has fewer);
    pixels labelled :data:`UNKNOWN` are never picked.
    """
    classes = np.setdiff1d(np.unique(labels), [UNKNOWN])
    if not len(classes):  # a chip wholly inside a box's margin
        return np.zeros(0, dtype=np.int64)
    share = max(1, count // len(classes))
    picked = []
    for class_id in classes:
        where = np.flatnonzero(labels == class_id)
        picked.append(rng.choice(where, min(share, len(where)), replace=False))
    return np.concatenate(picked)


def boxes_mask(
    shape: tuple[int, int], boxes: np.ndarray, class_ids: np.ndarray
) -> np.ndarray:
    """An (H, W) array: 0 for background, class id + 1 in the middle of each box.

    A box's margins are -1, "unknown": a box is axis-aligned, its object may
    not be (a rotated roof leaves background in the corners of its box), so
    only the middle half of each side is surely the object's.
    """
    mask = np.zeros(shape, dtype=np.int64)
    boxes = np.clip(np.rint(boxes).astype(int), 0, None)
    for ymin, xmin, ymax, xmax in boxes:
        mask[ymin:ymax, xmin:xmax] = UNKNOWN
    for (ymin, xmin, ymax, xmax), class_id in zip(boxes, class_ids, strict=True):
        dy, dx = (ymax - ymin) // 4, (xmax - xmin) // 4
        mask[ymin + dy : ymax - dy, xmin + dx : xmax - dx] = class_id + 1
    return mask


class TrainingSample:
    """At most ``capacity`` training rows, a uniform sample of all rows added.

    Reservoir sampling: memory and the forest's training time stay bounded
    however many chips there are; the same rows and seed give the same sample.
    """

    def __init__(self, capacity: int, seed: int):
        self.capacity = capacity
        self.rng = np.random.default_rng([seed, capacity])
        self.features: np.ndarray | None = None
        self.targets: np.ndarray | None = None
        self.size = 0  # rows kept
        self.seen = 0  # rows offered

    def add(self, features: np.ndarray, targets) -> None:
        """Offer rows (features (N, F), targets (N,)); each is kept fairly."""
        targets = np.atleast_1d(targets)
        if self.features is None:
            self.features = np.empty((self.capacity, features.shape[1]), np.float32)
            self.targets = np.empty(self.capacity, targets.dtype)
        free = min(self.capacity - self.size, len(features))
        self.features[self.size : self.size + free] = features[:free]
        self.targets[self.size : self.size + free] = targets[:free]
        self.size += free
        # Once full, the n-th row offered replaces a random kept row with
        # probability capacity / n.
        offered = self.seen + free + np.arange(len(features) - free)
        slots = self.rng.integers(0, offered + 1)
        keep = slots < self.capacity
        self.features[slots[keep]] = features[free:][keep]
        self.targets[slots[keep]] = targets[free:][keep]
        self.seen += len(features)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept rows: features and targets."""
        return self.features[: self.size], self.targets[: self.size]


class Model(contract.Model):
    """A scikit-learn classifier per task, on the features of :func:`pixel_features`."""

    # Raise this whenever what save() writes changes: the backend then refuses
    # a bundle saved in another format with a clear error. (Version 1: skops
    # without the model's spec; 2: a format of arrays and JSON.)
    FORMAT_VERSION = 3

    def __init__(self, spec: ModelSpec, settings: ModelConfig, estimator):
        self.spec = spec
        self.settings = settings
        self.estimator = estimator

    @classmethod
    def train(cls, spec, settings, train_chips: Chips, valid_chips, init_dir=None):
        """Fit the classifier on features gathered chip by chip from ``train_chips``.

        A classifier does not continue from an earlier one: ``init_dir`` (a
        bundle to fine-tune from) is not used, and says so in the log.
        """
        if init_dir is not None:
            log.warning("The scikit-learn model trains from scratch: not fine-tuning")
        is_chip_classification = spec.task == Task.CHIP_CLASSIFICATION
        estimator = make_estimator(settings, balanced=is_chip_classification)
        check_saveable(estimator)
        scales = settings.feature_scales
        sample = TrainingSample(settings.max_training_rows, settings.seed)
        for number, chip_sample in enumerate(train_chips):
            chip = chip_sample.chip[np.newaxis]
            label = chip_sample.label
            if is_chip_classification:
                sample.add(chip_features(chip, scales), label)
                continue
            if isinstance(label, Boxes):
                label = boxes_mask(chip.shape[1:3], label.boxes, label.class_ids)
            rng = np.random.default_rng([settings.seed, number])
            picked = sample_pixels(label, settings.pixels_per_chip, rng)
            pixels = pixel_features(chip, scales).reshape(
                -1, _num_features(chip, scales)
            )
            sample.add(pixels[picked], label.ravel()[picked])
        if not sample.size:
            raise ValueError("No training pixels: check the chip options and scenes.")
        features, targets = sample.arrays()
        if len(np.unique(targets)) == 1:
            # Nothing to tell apart: predict that class (some classifiers
            # refuse one class, others predict a second one they never saw).
            log.warning("The training chips hold one class only: predicting it")
            from sklearn.dummy import DummyClassifier

            estimator = DummyClassifier()
        estimator.fit(features, targets)
        return cls(spec, settings, estimator)

    def save(self, model_dir: str) -> None:
        """Write the classifier into ``model_dir`` with skops."""
        from skops import io as skops_io

        skops_io.dump(self.estimator, join(model_dir, MODEL_FILENAME))

    @classmethod
    def load(cls, model_dir: str, spec: ModelSpec, settings: ModelConfig) -> "Model":
        """Read the classifier back, trusting only :data:`TRUSTED_TYPES`, and check it."""
        from skops import io as skops_io

        path = join(model_dir, MODEL_FILENAME)
        try:
            untrusted = set(skops_io.get_untrusted_types(file=path))
            untrusted -= set(TRUSTED_TYPES)
            if untrusted:
                raise ModelBundleError(
                    f"{MODEL_FILENAME} holds types this plugin does not trust, so "
                    f"it was not loaded: {', '.join(sorted(untrusted))}"
                )
            estimator = skops_io.load(path, trusted=TRUSTED_TYPES)
        except ModelBundleError:
            raise
        except Exception as error:  # skops reports a corrupt file in many ways
            raise ModelBundleError(
                f"{MODEL_FILENAME} is unreadable ({type(error).__name__}: {error})"
            ) from error
        width = spec.num_bands * (1 + 2 * len(settings.feature_scales))
        if spec.task == Task.CHIP_CLASSIFICATION:
            width *= 2 + len(CHIP_PERCENTILES)
        labels = spec.num_classes + (spec.task == Task.OBJECT_DETECTION)
        check_estimator(estimator, width, labels)
        return cls(spec, settings, estimator)

    def predict(self, chips: np.ndarray) -> list[contract.Prediction]:
        """Predict parts of the batch on every core at once.

        The features' filters and the trees release the GIL, so threads run
        in parallel; each chip's prediction does not depend on the others.
        """
        workers = min(os.cpu_count() or 1, len(chips))
        if workers < 2:
            return self._predict(chips)
        with ThreadPoolExecutor(workers) as pool:
            parts = pool.map(self._predict, np.array_split(chips, workers))
            return [prediction for part in parts for prediction in part]

    def _predict(self, chips: np.ndarray) -> list[contract.Prediction]:
        scales = self.settings.feature_scales
        if self.spec.task == Task.CHIP_CLASSIFICATION:
            scores = self._class_scores(chip_features(chips, scales))
            return list(scores.astype(np.float32))
        pixels = pixel_features(chips, scales).reshape(-1, _num_features(chips, scales))
        if self.spec.task == Task.OBJECT_DETECTION:
            # Column 0: background; column k + 1: class k.
            scores = self._class_scores(pixels, self.spec.num_classes + 1)
            scores = scores.reshape(*chips.shape[:3], -1)
            return [self._objects(chip_scores) for chip_scores in scores]
        class_ids = self.estimator.predict(pixels).astype(np.uint8)
        return list(class_ids.reshape(chips.shape[:3]))

    def _class_scores(
        self, features: np.ndarray, num_columns: int | None = None
    ) -> np.ndarray:
        """Class probabilities with a column for every class, trained on or not."""
        scores = np.zeros((len(features), num_columns or self.spec.num_classes))
        scores[:, self.estimator.classes_.astype(int)] = self.estimator.predict_proba(
            features
        )
        return scores

    def _objects(self, scores: np.ndarray) -> Boxes:
        """Boxes of the connected groups of object pixels of one chip."""
        object_probability = 1 - scores[..., 0]
        groups, _ = ndimage.label(object_probability > OBJECT_PROBABILITY)
        boxes, class_ids, box_scores = [], [], []
        for number, found in enumerate(ndimage.find_objects(groups), start=1):
            in_group = groups[found] == number
            if in_group.sum() < self.settings.min_object_pixels:
                continue
            rows, cols = found
            boxes.append((rows.start, cols.start, rows.stop, cols.stop))
            votes = scores[found][in_group][:, 1:].argmax(axis=1)
            class_ids.append(int(np.bincount(votes).argmax()))
            box_scores.append(float(object_probability[found][in_group].mean()))
        return Boxes(boxes, class_ids, np.clip(box_scores, 0, 1))


# --- Saving and checking ------------------------------------------------------


def check_saveable(estimator) -> None:
    """Refuse, before any training, a classifier that saves untrusted types.

    Fits a copy on a few random rows, saves it in memory with skops and asks
    skops which types the file holds that :data:`TRUSTED_TYPES` lacks.
    """
    from sklearn.base import clone
    from skops import io as skops_io

    rng = np.random.default_rng(0)
    probe = clone(estimator).fit(rng.random((40, 3)), np.arange(40) % 2)
    missing = set(skops_io.get_untrusted_types(data=skops_io.dumps(probe)))
    missing -= set(TRUSTED_TYPES)
    if missing:
        raise TypeError(
            f"A saved {type(estimator).__name__} holds types that TRUSTED_TYPES "
            f"in model.py lacks: add {', '.join(repr(m) for m in sorted(missing))}"
        )


def check_estimator(estimator, num_features: int, num_labels: int) -> None:
    """Raise :class:`ModelBundleError` unless a loaded classifier is safe to run.

    scikit-learn's compiled code trusts the indices in its arrays: a tree node
    pointing outside its tree reads outside memory. Every decision tree (of a
    forest or of gradient boosting) is checked, then a prediction on one row of
    zeros must give a probability per class.
    """
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    if getattr(estimator, "n_features_in_", None) != num_features:
        raise ModelBundleError(
            f"{MODEL_FILENAME} holds a classifier of "
            f"{getattr(estimator, 'n_features_in_', None)} features, not "
            f"{num_features}: it was trained with other bands or settings"
        )
    classes = np.asarray(getattr(estimator, "classes_", [-1]))
    if classes.ndim != 1 or not np.isin(classes, np.arange(num_labels)).all():
        raise ModelBundleError(f"{MODEL_FILENAME} has class ids outside the classes")
    for part in parts_of(estimator):
        if isinstance(part, Tree):
            check_tree(part, num_features)
        elif isinstance(part, TreePredictor):
            check_tree_predictor(part, num_features)
    try:
        probabilities = estimator.predict_proba(np.zeros((1, num_features)))
    except Exception as error:  # numpy's own checks: shapes that do not fit
        raise ModelBundleError(
            f"{MODEL_FILENAME} does not predict ({type(error).__name__}: {error})"
        ) from error
    if np.shape(probabilities) != (1, len(classes)):
        raise ModelBundleError(f"{MODEL_FILENAME} gives no probability per class")


def parts_of(value, seen=None):
    """``value`` and every object inside it (attributes, lists, tuples, dicts)."""
    seen = set() if seen is None else seen
    if id(value) in seen or isinstance(value, np.ndarray | str | bytes | int | float):
        return
    seen.add(id(value))
    yield value
    if isinstance(value, list | tuple):
        children = value
    elif isinstance(value, dict):
        children = value.values()
    else:
        children = getattr(value, "__dict__", {}).values()
    for child in children:
        yield from parts_of(child, seen)


def check_tree(tree, num_features: int) -> None:
    """A decision tree whose every split reads a real feature and child."""
    left, right = tree.children_left, tree.children_right
    check_nodes(left, right, tree.feature, tree.n_features, num_features, "tree")
    if tree.n_outputs != 1:
        raise ModelBundleError(f"{MODEL_FILENAME}: a tree has {tree.n_outputs} outputs")


def check_tree_predictor(predictor, num_features: int) -> None:
    """A gradient-boosting tree whose every split reads a real feature and child."""
    nodes = predictor.nodes
    split = ~nodes["is_leaf"].astype(bool)
    left = np.where(split, nodes["left"], -1)
    right = np.where(split, nodes["right"], -1)
    check_nodes(left, right, nodes["feature_idx"], num_features, num_features, "tree")
    if nodes["is_categorical"][split].any():
        raise ModelBundleError(
            f"{MODEL_FILENAME} holds categorical splits, which this plugin does not load"
        )


def check_nodes(left, right, feature, tree_features, num_features, what) -> None:
    """Children after their parent and inside the tree; features inside the data.

    Children after the parent (as scikit-learn builds trees) also rules out a
    cycle, which would make prediction loop forever.
    """
    count = len(left)
    index = np.arange(count)
    split = left != -1
    if (
        tree_features != num_features
        or len(right) != count
        or len(feature) != count
        or not np.array_equal(split, right != -1)
        or (left[split] <= index[split]).any()
        or (right[split] <= index[split]).any()
        or (left[split] >= count).any()
        or (right[split] >= count).any()
        or (feature[split] < 0).any()
        or (feature[split] >= num_features).any()
    ):
        raise ModelBundleError(
            f"{MODEL_FILENAME} holds a {what} whose nodes point outside it: not loaded"
        )
