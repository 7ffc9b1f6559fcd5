"""The model behind the {{ cookiecutter.__backend_class }}: random forests on pixel features.

Every task starts from the same per-pixel features: the bands, and at each of
``feature_scales`` the bands smoothed with a Gaussian and their local spread
(standard deviation), so a pixel also sees its neighbourhood. Then:

- semantic segmentation: a forest classifies each pixel, trained on pixels
  sampled from each chip with the classes present balanced;
- chip classification: a forest classifies each chip from statistics of its
  pixel features (mean, spread and high percentiles of each);
- object detection: a forest tells object pixels from background (trained on
  the middle of each box against the pixels outside all boxes), then each
  connected group of object pixels of at least ``min_object_pixels`` becomes a
  box, scored by its mean probability and given the class most of its pixels
  have.

Training reads the chips one at a time and keeps ``pixels_per_chip`` pixels of
each, so memory grows with the sample, not with the images. The same chips and
``seed`` give the same model. The forests are saved as arrays of numbers and
JSON (:func:`save_estimator`), which load without running any code: a bundle
holding anything else is refused.

To plug in your own model, replace this module (see the README).
"""

import json
from collections.abc import Iterable
from os.path import join

import numpy as np
from rastervision.core.rv_pipeline import (
    ChipClassificationConfig,
    ObjectDetectionConfig,
)
from scipy import ndimage
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

# The array-backed tree inside every fitted DecisionTreeClassifier; scikit-learn
# keeps it in a private module.
from sklearn.tree._tree import Tree

from rastervision.{{ cookiecutter.plugin_slug }}.{{ cookiecutter.__backend_module }}_config import (
    ModelBundleError,
)

# Raise this whenever what save() writes changes: the backend then refuses a
# bundle saved in another format with a clear error, not a KeyError. (Version
# 1 was the skops file of earlier versions of the template.)
FORMAT_VERSION = 2
MODEL_FILENAME = "model.npz"
# The only estimator types model.npz may hold. Add yours when you change the
# estimator (save_estimator names any other it meets).
ESTIMATOR_TYPES = {
    estimator_type.__name__: estimator_type
    for estimator_type in (RandomForestClassifier, DecisionTreeClassifier)
}
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


class Model:
    """A random forest per task, on the features of :func:`pixel_features`."""

    def __init__(
        self, estimator: RandomForestClassifier, backend_config, pipeline_config
    ):
        self.estimator = estimator
        self.config = backend_config
        self.pipeline_config = pipeline_config
        self.num_classes = len(pipeline_config.dataset.class_config)

    @classmethod
    def train(cls, samples: Iterable[dict], backend_config, pipeline_config) -> "Model":
        """Fit the forest on features gathered chip by chip from ``samples``."""
        config = backend_config
        scales = config.feature_scales
        is_chip_classification = isinstance(pipeline_config, ChipClassificationConfig)
        sample = TrainingSample(config.max_training_pixels, config.seed)
        for number, chip_sample in enumerate(samples):
            chip = chip_sample["chip"][np.newaxis]
            if is_chip_classification:
                sample.add(chip_features(chip, scales), chip_sample["label"])
                continue
            if "boxes" in chip_sample:
                labels = boxes_mask(
                    chip.shape[1:3], chip_sample["boxes"], chip_sample["class_ids"]
                )
            else:
                labels = chip_sample["label"]
            rng = np.random.default_rng([config.seed, number])
            picked = sample_pixels(labels, config.pixels_per_chip, rng)
            pixels = pixel_features(chip, scales).reshape(
                -1, _num_features(chip, scales)
            )
            sample.add(pixels[picked], labels.ravel()[picked])
        if not sample.size:
            raise ValueError("No training chips: check the chip options and scenes.")
        estimator = RandomForestClassifier(
            n_estimators=config.n_estimators,
            max_depth=config.max_depth,
            min_samples_leaf=config.min_samples_leaf,
            class_weight="balanced" if is_chip_classification else None,
            random_state=config.seed,
            n_jobs=1,
        )
        estimator.fit(*sample.arrays())
        return cls(estimator, backend_config, pipeline_config)

    def save(self, model_dir: str) -> None:
        """Write the forest into ``model_dir`` (zipped into the bundle)."""
        save_estimator(self.estimator, join(model_dir, MODEL_FILENAME))

    @classmethod
    def load(cls, model_dir: str, backend_config, pipeline_config) -> "Model":
        """Read the forest back; see :func:`load_estimator`."""
        estimator = load_estimator(join(model_dir, MODEL_FILENAME))
        return cls(estimator, backend_config, pipeline_config)

    def predict_chips(self, chips: np.ndarray) -> list:
        """One prediction per chip of ``chips`` (N, H, W, C uint8).

        Class scores (chip classification), an (H, W) array of class ids
        (semantic segmentation), or a dict of ``boxes`` (ymin, xmin, ymax, xmax
        in chip pixels), ``class_ids`` and ``scores`` (object detection).
        """
        scales = self.config.feature_scales
        if isinstance(self.pipeline_config, ChipClassificationConfig):
            return list(self._class_scores(chip_features(chips, scales)))
        pixels = pixel_features(chips, scales).reshape(-1, _num_features(chips, scales))
        if isinstance(self.pipeline_config, ObjectDetectionConfig):
            # Column 0: background; column k + 1: class k.
            scores = self._class_scores(pixels, self.num_classes + 1)
            scores = scores.reshape(*chips.shape[:3], -1)
            return [self._objects(chip_scores) for chip_scores in scores]
        class_ids = self.estimator.predict(pixels).astype(np.uint8)
        return list(class_ids.reshape(chips.shape[:3]))

    def _class_scores(
        self, features: np.ndarray, num_columns: int | None = None
    ) -> np.ndarray:
        """Class probabilities with a column for every class, trained on or not."""
        scores = np.zeros((len(features), num_columns or self.num_classes))
        scores[:, self.estimator.classes_.astype(int)] = self.estimator.predict_proba(
            features
        )
        return scores

    def _objects(self, scores: np.ndarray) -> dict:
        """Boxes of the connected groups of object pixels of one chip."""
        object_probability = 1 - scores[..., 0]
        groups, _ = ndimage.label(object_probability > OBJECT_PROBABILITY)
        boxes, class_ids, box_scores = [], [], []
        for number, found in enumerate(ndimage.find_objects(groups), start=1):
            in_group = groups[found] == number
            if in_group.sum() < self.config.min_object_pixels:
                continue
            rows, cols = found
            boxes.append((rows.start, cols.start, rows.stop, cols.stop))
            votes = scores[found][in_group][:, 1:].argmax(axis=1)
            class_ids.append(int(np.bincount(votes).argmax()))
            box_scores.append(float(object_probability[found][in_group].mean()))
        return {
            "boxes": np.array(boxes, dtype=float).reshape(-1, 4),
            "class_ids": np.array(class_ids, dtype=int),
            "scores": np.array(box_scores),
        }


# Saving estimators without pickle. model.npz holds arrays of numbers and, as
# its "structure" entry, JSON text: the estimators' states (what scikit-learn's
# own pickles hold) with each array replaced by its name in the file. Loading
# reads the arrays with allow_pickle=False and rebuilds only ESTIMATOR_TYPES and
# their trees, so nothing in a bundle can make it run code. (skops does the same
# for any estimator but takes about 1 s to import, a third of a test run.)


def save_estimator(estimator, path: str) -> None:
    """Write a fitted estimator of :data:`ESTIMATOR_TYPES` to ``path`` (.npz)."""
    arrays = {}
    structure = _to_plain(estimator, arrays)
    np.savez(path, structure=np.array(json.dumps(structure)), **arrays)


def load_estimator(path: str):
    """Read an estimator written by :func:`save_estimator`.

    Raises :class:`ModelBundleError` if the file holds Python objects (which
    only pickle could load) or types outside :data:`ESTIMATOR_TYPES`, or is not
    such a file at all.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        structure = json.loads(str(arrays.pop("structure")))
        return _from_plain(structure, arrays)
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ModelBundleError(
                f"{MODEL_FILENAME} holds Python objects, which this plugin does "
                "not load: loading them could run code. It was not loaded."
            ) from error
        raise ModelBundleError(f"{MODEL_FILENAME} is unreadable ({error})") from error
    except (OSError, KeyError, TypeError) as error:
        raise ModelBundleError(f"{MODEL_FILENAME} is unreadable ({error})") from error


def _to_plain(value, arrays: dict):
    """``value`` as JSON data, its arrays moved into ``arrays`` under new names.

    Containers, arrays, NumPy scalars, trees and estimators become one-key
    dicts saying what they were; None, bools, numbers and strings stay as they are.
    """
    if type(value) in ESTIMATOR_TYPES.values():
        state = _to_plain(value.__getstate__(), arrays)
        return {"estimator": [type(value).__name__, state]}
    if isinstance(value, Tree):
        _, arguments, state = value.__reduce__()
        return {"tree": [_to_plain(list(arguments), arrays), _to_plain(state, arrays)]}
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError(f"{MODEL_FILENAME} takes no arrays of Python objects")
        name = f"array_{len(arrays)}"
        arrays[name] = value
        return {"array": name}
    if isinstance(value, np.generic):
        return {"scalar": [value.dtype.str, value.item()]}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"{MODEL_FILENAME} takes only dicts with string keys")
        return {"dict": {key: _to_plain(item, arrays) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {type(value).__name__: [_to_plain(item, arrays) for item in value]}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(
        f"{MODEL_FILENAME} cannot hold a {type(value).__qualname__}: add your "
        "estimator's type to ESTIMATOR_TYPES, or save it another way"
    )


def _from_plain(value, arrays: dict):
    """The value :func:`_to_plain` turned into ``value``."""
    if not isinstance(value, dict):
        return value
    [(kind, content)] = value.items()
    if kind == "array":
        return arrays[content]
    if kind == "scalar":
        dtype, item = content
        return np.array(item, dtype=np.dtype(dtype))[()]
    if kind == "dict":
        return {key: _from_plain(item, arrays) for key, item in content.items()}
    if kind in ("list", "tuple"):
        items = [_from_plain(item, arrays) for item in content]
        return items if kind == "list" else tuple(items)
    if kind == "tree":
        arguments, state = content
        tree = Tree(*_from_plain(arguments, arrays))
        tree.__setstate__(_from_plain(state, arrays))
        return tree
    if kind == "estimator":
        type_name, state = content
        if type_name not in ESTIMATOR_TYPES:
            raise ModelBundleError(
                f"{MODEL_FILENAME} holds a {type_name!r}, which this plugin does "
                f"not load (it loads {', '.join(ESTIMATOR_TYPES)}). It was not loaded."
            )
        estimator_type = ESTIMATOR_TYPES[type_name]
        estimator = estimator_type.__new__(estimator_type)
        estimator.__setstate__(_from_plain(state, arrays))
        return estimator
    raise ModelBundleError(f"{MODEL_FILENAME} holds an unknown entry {kind!r}")
