"""What a model is, to the backend: the one place that says it.

The backend turns Raster Vision's pipelines into these terms and back; a model
sees only them. To plug in your own model, implement :class:`Model` in
``model.py``: the backend, the Vegas experiment and the contract tests stay as
they are.

- :class:`ModelSpec`: what the model is asked to learn (task, classes, bands).
- :class:`Sample`: one training chip and its label, of the task's type.
- :class:`Chips`: the training (or validation) chips, read by index in any
  order, as often as needed, or streamed once.
- a prediction per chip, of the task's type (:data:`Prediction`).
- :class:`Model`: train, predict a batch of chips, save to and load from a folder.

This module imports nothing heavy: the plugin's registration imports it.
"""

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np


class Task(enum.Enum):
    """The three Raster Vision tasks a model can be trained for."""

    CHIP_CLASSIFICATION = "chip_classification"
    SEMANTIC_SEGMENTATION = "semantic_segmentation"
    OBJECT_DETECTION = "object_detection"


@dataclass(frozen=True)
class ModelSpec:
    """What a model is asked to learn; the backend makes it from the pipeline.

    ``num_bands`` is the number of channels of every chip, so a model can size
    its first layer or its features from it.
    """

    task: Task
    class_names: tuple[str, ...]
    num_bands: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class Boxes:
    """The objects in one chip (object detection labels and predictions).

    ``boxes``: (N, 4) float32, ymin, xmin, ymax, xmax in chip pixels;
    ``class_ids``: (N,) int64; ``scores``: (N,) float32 in [0, 1] (all 1 for
    labels).
    """

    boxes: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray = field(default=None)

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        if self.scores is None:
            self.scores = np.ones(len(self.boxes), dtype=np.float32)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if not len(self.boxes) == len(self.class_ids) == len(self.scores):
            raise ContractError(
                f"Boxes: {len(self.boxes)} boxes, {len(self.class_ids)} class ids "
                f"and {len(self.scores)} scores; they must be as many"
            )

    @classmethod
    def none(cls) -> "Boxes":
        """No objects."""
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0))

    def __len__(self) -> int:
        return len(self.boxes)


# A label, by task: chip classification, a class id; semantic segmentation, an
# (H, W) uint8 array of class ids; object detection, the chip's Boxes.
Label = int | np.ndarray | Boxes
# A prediction, by task: chip classification, (num_classes,) float32 class
# scores; semantic segmentation, an (H, W) uint8 array of class ids; object
# detection, Boxes with their scores.
Prediction = np.ndarray | Boxes


@dataclass
class Sample:
    """One training chip, (H, W, C) uint8, and its label (see :data:`Label`)."""

    chip: np.ndarray
    label: Label


class Chips(Protocol):
    """Saved chips: ``chips[i]`` reads one from disk; ``iter(chips)`` streams all.

    Neither holds more than a chip or two in memory, so a model may read them
    many times in any order (shuffled epochs) or once (a reservoir sample).
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...

    def __iter__(self) -> Iterator[Sample]: ...


class ContractError(ValueError):
    """A model broke the contract (a prediction of the wrong type or shape)."""


class ModelBundleError(Exception):
    """A model bundle this plugin cannot or will not load."""


class Model(ABC):
    """The interface the backend drives. ``model.py`` holds the implementation.

    ``settings`` is the model's own config (``ModelConfig`` in ``model.py``),
    saved in every pipeline-config.json. ``FORMAT_VERSION`` names what
    :meth:`save` writes: raise it when that changes, and the backend refuses
    bundles of another version with a clear error.
    """

    FORMAT_VERSION: ClassVar[int]

    @classmethod
    @abstractmethod
    def train(
        cls,
        spec: ModelSpec,
        settings,
        train_chips: Chips,
        valid_chips: Chips,
        init_dir: str | None = None,
    ) -> "Model":
        """Train on ``train_chips``; ``valid_chips`` may guide early stopping.

        ``init_dir``: a folder a previous :meth:`save` wrote (Raster Vision's
        ``train(source_bundle_uri)``), to start from instead of from scratch.
        """

    @abstractmethod
    def predict(self, chips: np.ndarray) -> Sequence[Prediction]:
        """One prediction per chip of ``chips`` (N, H, W, C uint8)."""

    @abstractmethod
    def save(self, model_dir: str) -> None:
        """Write everything :meth:`load` needs into the folder ``model_dir``."""

    @classmethod
    @abstractmethod
    def load(cls, model_dir: str, spec: ModelSpec, settings) -> "Model":
        """Read back what :meth:`save` wrote.

        Raises :class:`ModelBundleError` for anything it cannot trust: a
        crafted bundle must neither run code nor crash the process.
        """


def check_predictions(spec: ModelSpec, chips: np.ndarray, predictions) -> None:
    """Raise :class:`ContractError`, in one line, if ``predictions`` break the contract."""
    predictions = list(predictions)
    if len(predictions) != len(chips):
        raise ContractError(
            f"predict returned {len(predictions)} predictions for {len(chips)} chips"
        )
    height, width = chips.shape[1:3]
    for number, prediction in enumerate(predictions):
        where = f"prediction {number} ({spec.task.value})"
        if spec.task == Task.OBJECT_DETECTION:
            if not isinstance(prediction, Boxes):
                raise ContractError(
                    f"{where} is a {type(prediction).__name__}, not Boxes"
                )
            if len(prediction) and not (
                0 <= prediction.class_ids.min()
                and prediction.class_ids.max() < spec.num_classes
            ):
                raise ContractError(f"{where} has class ids outside the classes")
            if not np.all((prediction.scores >= 0) & (prediction.scores <= 1)):
                raise ContractError(f"{where} has scores outside [0, 1]")
            continue
        if not isinstance(prediction, np.ndarray):
            raise ContractError(
                f"{where} is a {type(prediction).__name__}, not a NumPy array"
            )
        if spec.task == Task.CHIP_CLASSIFICATION:
            if prediction.shape != (spec.num_classes,):
                raise ContractError(
                    f"{where} has shape {prediction.shape}, not one score per "
                    f"class ({spec.num_classes},)"
                )
        elif prediction.shape != (height, width) or prediction.dtype != np.uint8:
            raise ContractError(
                f"{where} is {prediction.dtype} of shape {prediction.shape}, not "
                f"uint8 class ids of the chip's shape {(height, width)}"
            )
        elif prediction.size and prediction.max() >= spec.num_classes:
            raise ContractError(f"{where} has class ids outside the classes")
