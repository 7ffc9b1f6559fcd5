"""The model behind the {{ cookiecutter.__backend_class }}: a constant, to be replaced.

It predicts the most frequent class of the training chips everywhere (no boxes,
for object detection). Replace it with your own: implement the
:class:`~rastervision.{{ cookiecutter.plugin_slug }}.contract.Model` interface
here and put your settings in :class:`ModelConfig` (see docs/model.md, "Plug
in your own model"). Nothing else needs to change.
"""

import json
from collections import Counter
from os.path import join

import numpy as np
from rastervision.pipeline.config import Config, Field, register_config

from rastervision.{{ cookiecutter.plugin_slug }} import contract
from rastervision.{{ cookiecutter.plugin_slug }}.contract import (
    Boxes,
    Chips,
    ModelBundleError,
    ModelSpec,
    Task,
)

MODEL_FILENAME = "model.json"


@register_config("{{ cookiecutter.plugin_slug }}.model")
class ModelConfig(Config):
    """The model's settings, saved in every pipeline-config.json."""

    predict_class_id: int | None = Field(
        None,
        ge=0,
        description="The class the model predicts everywhere; None: the most "
        "frequent class of the training chips.",
    )

    @classmethod
    def for_test_run(cls) -> "ModelConfig":
        """Settings for a test run (``-a test True``): the same, it is instant."""
        return cls()


class Model(contract.Model):
    """Predicts one class everywhere."""

    # Raise this whenever what save() writes changes. (Version 1 was the
    # bundle of earlier versions of the template, without the model's spec.)
    FORMAT_VERSION = 2

    def __init__(self, spec: ModelSpec, class_counts: list[int], predict_class_id: int):
        self.spec = spec
        self.class_counts = class_counts
        self.predict_class_id = predict_class_id

    @classmethod
    def train(cls, spec, settings, train_chips: Chips, valid_chips, init_dir=None):
        """Count the classes of the training chips; predict the most frequent one."""
        class_counts = Counter()
        for sample in train_chips:
            label = sample.label
            class_ids = label.class_ids if isinstance(label, Boxes) else label
            class_counts.update(np.ravel(class_ids).tolist())
        counts = [class_counts[i] for i in range(spec.num_classes)]
        predict_class_id = settings.predict_class_id
        if predict_class_id is None:
            predict_class_id = int(np.argmax(counts)) if any(counts) else 0
        return cls(spec, counts, predict_class_id)

    def save(self, model_dir: str) -> None:
        model = {
            "class_counts": self.class_counts,
            "predict_class_id": self.predict_class_id,
        }
        with open(join(model_dir, MODEL_FILENAME), "w") as f:
            json.dump(model, f, indent=2)

    @classmethod
    def load(cls, model_dir: str, spec: ModelSpec, settings) -> "Model":
        """Read back what :meth:`save` wrote, refusing values out of range."""
        try:
            with open(join(model_dir, MODEL_FILENAME)) as f:
                model = json.load(f)
            counts = [int(count) for count in model["class_counts"]]
            class_id = model["predict_class_id"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelBundleError(
                f"{MODEL_FILENAME} is unreadable ({error})"
            ) from error
        if type(class_id) is not int or not 0 <= class_id < spec.num_classes:
            raise ModelBundleError(
                f"{MODEL_FILENAME}: predict_class_id {class_id!r} is not a class "
                f"id of the {spec.num_classes} classes"
            )
        return cls(spec, counts, class_id)

    def predict(self, chips: np.ndarray) -> list[contract.Prediction]:
        if self.spec.task == Task.CHIP_CLASSIFICATION:
            scores = np.eye(self.spec.num_classes, dtype=np.float32)
            return [scores[self.predict_class_id] for _ in chips]
        if self.spec.task == Task.OBJECT_DETECTION:
            return [Boxes.none() for _ in chips]
        return [
            np.full(chip.shape[:2], self.predict_class_id, dtype=np.uint8)
            for chip in chips
        ]
