"""The model behind the {{ cookiecutter.__backend_class }}: a constant, to be replaced.

It predicts the most frequent class of the training chips everywhere (no boxes,
for object detection). Replace this module with your own model; the backend
only needs :class:`Model` with ``train``, ``predict_chips``, ``save`` and
``load``, and :data:`FORMAT_VERSION` (see the README, "Plug in your own model").
"""

import json
from collections import Counter
from collections.abc import Iterable
from os.path import join

import numpy as np
from rastervision.core.rv_pipeline import (
    ChipClassificationConfig,
    ObjectDetectionConfig,
)

# Raise this whenever what save() writes changes: the backend then refuses a
# bundle saved in another format with a clear error, not a KeyError.
FORMAT_VERSION = 1
MODEL_FILENAME = "model.json"


class Model:
    """Predicts one class everywhere."""

    def __init__(self, class_counts: list[int], predict_class_id: int, pipeline_config):
        self.class_counts = class_counts
        self.predict_class_id = predict_class_id
        self.pipeline_config = pipeline_config
        self.num_classes = len(pipeline_config.dataset.class_config)

    @classmethod
    def train(cls, samples: Iterable[dict], backend_config, pipeline_config) -> "Model":
        """Count the classes of the training chips; predict the most frequent one."""
        num_classes = len(pipeline_config.dataset.class_config)
        class_counts = Counter()
        for sample in samples:
            class_ids = sample.get("class_ids", sample.get("label"))
            class_counts.update(np.ravel(class_ids).tolist())
        counts = [class_counts[i] for i in range(num_classes)]
        predict_class_id = backend_config.predict_class_id
        if predict_class_id is None:
            predict_class_id = int(np.argmax(counts)) if any(counts) else 0
        return cls(counts, predict_class_id, pipeline_config)

    def save(self, model_dir: str) -> None:
        """Write the model's files into ``model_dir`` (zipped into the bundle)."""
        model = {
            "class_counts": self.class_counts,
            "predict_class_id": self.predict_class_id,
        }
        with open(join(model_dir, MODEL_FILENAME), "w") as f:
            json.dump(model, f, indent=2)

    @classmethod
    def load(cls, model_dir: str, backend_config, pipeline_config) -> "Model":
        """Read back what :meth:`save` wrote."""
        with open(join(model_dir, MODEL_FILENAME)) as f:
            model = json.load(f)
        return cls(model["class_counts"], model["predict_class_id"], pipeline_config)

    def predict_chips(self, chips: np.ndarray) -> list:
        """One prediction per chip of ``chips`` (N, H, W, C uint8).

        Class scores (chip classification), an (H, W) array of class ids
        (semantic segmentation), or a dict of ``boxes`` (ymin, xmin, ymax, xmax
        in chip pixels), ``class_ids`` and ``scores`` (object detection).
        """
        if isinstance(self.pipeline_config, ChipClassificationConfig):
            return [np.eye(self.num_classes)[self.predict_class_id] for _ in chips]
        if isinstance(self.pipeline_config, ObjectDetectionConfig):
            no_boxes = {
                "boxes": np.zeros((0, 4)),
                "class_ids": np.zeros(0, dtype=int),
                "scores": np.zeros(0),
            }
            return [no_boxes for _ in chips]
        return [
            np.full(chip.shape[:2], self.predict_class_id, dtype=np.uint8)
            for chip in chips
        ]
