"""The model behind the {{ cookiecutter.__backend_class }}: compact networks in plain PyTorch.

A small fully convolutional network per task, trained from scratch
(``networks.py``): a U-Net for semantic segmentation, its encoder with a
pooled head for chip classification, and a dense detector for object
detection (CenterNet's object-centre heatmap, TTFNet's distances to the box's
edges) whose boxes Raster Vision merges across windows. The first layer takes
as many bands as the chips have.

Training (``training.py``, with Lightning, imported only by :meth:`Model.train`)
runs shuffled, augmented epochs over the chips with a class-balanced loss and
keeps the epoch with the best validation F1. ``train(source_bundle_uri)``
fine-tunes an earlier bundle's network; ``init_weights`` starts from your own
weights instead. On the CPU the same chips and ``seed`` give the same model.

The bundle holds the weights as safetensors (plain arrays: loading runs no
code) and the architecture's settings as JSON; :meth:`Model.load` checks both
against each other before any weight is used.

This module imports torch only where a model trains, predicts or loads: the
plugin's registration, which every ``rastervision`` command runs, imports it.
"""

import json
import logging
from os.path import join
from typing import Literal

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

log = logging.getLogger(__name__)

WEIGHTS_FILENAME = "weights.safetensors"
ARCHITECTURE_FILENAME = "architecture.json"
# The architecture settings a bundle may hold, and their bounds: a crafted
# bundle cannot make the network huge.
ARCHITECTURE_BOUNDS = {"width": (4, 64), "depth": (2, 5)}
# Epochs of training per task when ModelConfig.epochs is None. Detection's
# boxes take longer to learn than classes: on the NEON tree crowns, 40 epochs
# give F1 0.51 where 20 give 0.41.
DEFAULT_EPOCHS = {
    Task.CHIP_CLASSIFICATION: 20,
    Task.SEMANTIC_SEGMENTATION: 20,
    Task.OBJECT_DETECTION: 40,
}


@register_config("{{ cookiecutter.plugin_slug }}.model")
class ModelConfig(Config):
    """The model's settings, saved in every pipeline-config.json."""

    width: int = Field(
        16,
        ge=ARCHITECTURE_BOUNDS["width"][0],
        le=ARCHITECTURE_BOUNDS["width"][1],
        description="Channels of the first level; each deeper level doubles them.",
    )
    depth: int = Field(
        4,
        ge=ARCHITECTURE_BOUNDS["depth"][0],
        le=ARCHITECTURE_BOUNDS["depth"][1],
        description="Times the encoder halves the chip: each level sees twice as far.",
    )
    epochs: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="Passes over the training chips; None: the task's "
        "(DEFAULT_EPOCHS: detection learns its boxes more slowly).",
    )
    batch_size: int = Field(16, ge=1, le=4096, description="Chips per training step.")
    learning_rate: float = Field(
        3e-3, gt=0, le=1, description="Peak learning rate of the one-cycle schedule."
    )
    class_balance: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Weigh each class's loss by (mean count / its count) to this "
        "power: 0, not at all; 1, all classes alike.",
    )
    augment: bool = Field(
        True, description="Random flips and 90-degree rotations of training chips."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where to train and predict; auto: a GPU if there is one."
    )
    devices: int = Field(
        1,
        ge=1,
        description="GPUs to train on (Lightning's DDP when more than one).",
    )
    mixed_precision: bool = Field(
        True, description="On a GPU, train and predict in bfloat16 mixed precision."
    )
    init_weights: str | None = Field(
        None,
        description="A safetensors file (path or URI) of weights to start from; "
        "weights whose name and shape match the network are taken.",
    )
    seed: int = Field(
        0, ge=0, description="Seed of initialisation, shuffling and augmentation."
    )

    @classmethod
    def for_test_run(cls) -> "ModelConfig":
        """A test run checks that every command works, not how well the model
        learns: a narrow, shallow network for two epochs."""
        return cls(width=8, depth=2, epochs=2)

    def epochs_for(self, task: Task) -> int:
        """``epochs``, or the task's default when it is None."""
        return self.epochs or DEFAULT_EPOCHS[task]

    def architecture(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in ARCHITECTURE_BOUNDS}


def torch_device(settings: ModelConfig):
    import torch

    if settings.device == "cuda" or (
        settings.device == "auto" and torch.cuda.is_available()
    ):
        return torch.device("cuda")
    return torch.device("cpu")


class Model(contract.Model):
    """A network of ``networks.py`` for the spec's task, and how to run it."""

    # 2: chip classification averages 4 x 4 pixels before its encoder.
    # 3: object detection gives distances to the box's edges, not size and offset.
    FORMAT_VERSION = 3

    def __init__(self, spec: ModelSpec, settings: ModelConfig, network, architecture):
        self.spec = spec
        self.settings = settings
        self.network = network
        self.architecture = architecture
        self.predicted_on_gpu = False

    @classmethod
    def build(cls, spec: ModelSpec, settings: ModelConfig, architecture: dict):
        from rastervision.{{ cookiecutter.plugin_slug }} import networks

        network = networks.build_network(
            spec.task.value, spec.num_bands, spec.num_classes, **architecture
        )
        return cls(spec, settings, network, architecture)

    @classmethod
    def train(cls, spec, settings, train_chips: Chips, valid_chips, init_dir=None):
        """Train from scratch, from ``init_weights``, or on from ``init_dir``'s bundle."""
        import torch

        from rastervision.{{ cookiecutter.plugin_slug }} import training

        torch.manual_seed(settings.seed)
        if init_dir is not None:
            model = cls.load(init_dir, spec, settings)
            log.info("fine-tuning the bundle's network %s", model.architecture)
        else:
            model = cls.build(spec, settings, settings.architecture())
            if settings.init_weights:
                model.take_weights(settings.init_weights)
        training.fit(model.network, spec, settings, train_chips, valid_chips)
        model.settings = settings
        return model

    def take_weights(self, uri: str) -> None:
        """Start from the weights of a safetensors file whose names and shapes match."""
        from rastervision.pipeline.file_system import download_if_needed, get_tmp_dir
        from safetensors.torch import load_file

        with get_tmp_dir() as tmp_dir:
            weights = load_file(download_if_needed(uri, tmp_dir))
        own = self.network.state_dict()
        matching = {
            name: tensor
            for name, tensor in weights.items()
            if name in own and own[name].shape == tensor.shape
        }
        if not matching:
            raise ValueError(
                f"init_weights {uri}: none of its {len(weights)} weights matches "
                "the network by name and shape"
            )
        self.network.load_state_dict(matching, strict=False)
        log.info("took %d of %d weights from %s", len(matching), len(own), uri)

    def save(self, model_dir: str) -> None:
        from safetensors.torch import save_file

        state = {
            name: tensor.detach().cpu().contiguous()
            for name, tensor in self.network.state_dict().items()
        }
        save_file(state, join(model_dir, WEIGHTS_FILENAME))
        with open(join(model_dir, ARCHITECTURE_FILENAME), "w") as f:
            json.dump(self.architecture, f)

    @classmethod
    def load(cls, model_dir: str, spec: ModelSpec, settings) -> "Model":
        """Read back what :meth:`save` wrote, refusing anything that does not fit.

        The architecture must be in bounds, and the weights must be exactly the
        network's: the same names, shapes and dtypes, and finite.
        """
        import torch
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            with open(join(model_dir, ARCHITECTURE_FILENAME)) as f:
                architecture = json.load(f)
        except (OSError, ValueError) as error:
            raise ModelBundleError(
                f"{ARCHITECTURE_FILENAME} is unreadable ({error})"
            ) from error
        if not isinstance(architecture, dict) or set(architecture) != set(
            ARCHITECTURE_BOUNDS
        ):
            raise ModelBundleError(
                f"{ARCHITECTURE_FILENAME} must give exactly {sorted(ARCHITECTURE_BOUNDS)}"
            )
        for name, (low, high) in ARCHITECTURE_BOUNDS.items():
            value = architecture[name]
            if type(value) is not int or not low <= value <= high:
                raise ModelBundleError(
                    f"{ARCHITECTURE_FILENAME}: {name} {value!r} is not an integer "
                    f"in [{low}, {high}]"
                )
        try:
            model = cls.build(spec, settings, architecture)
        except ValueError as error:
            raise ModelBundleError(f"{ARCHITECTURE_FILENAME}: {error}") from error
        try:
            weights = load_file(join(model_dir, WEIGHTS_FILENAME))
        except (OSError, SafetensorError, ValueError) as error:
            raise ModelBundleError(
                f"{WEIGHTS_FILENAME} is unreadable ({error})"
            ) from error
        expected = model.network.state_dict()
        for name, tensor in expected.items():
            found = weights.get(name)
            if (
                found is None
                or found.shape != tensor.shape
                or found.dtype != tensor.dtype
            ):
                raise ModelBundleError(
                    f"{WEIGHTS_FILENAME} does not fit the network: {name} should be "
                    f"{tensor.dtype} {tuple(tensor.shape)}, found "
                    + (
                        "nothing"
                        if found is None
                        else f"{found.dtype} {tuple(found.shape)}"
                    )
                )
            if found.is_floating_point() and not torch.isfinite(found).all():
                raise ModelBundleError(f"{WEIGHTS_FILENAME}: {name} is not finite")
        if set(weights) != set(expected):
            extra = sorted(set(weights) - set(expected))[:3]
            raise ModelBundleError(
                f"{WEIGHTS_FILENAME} holds weights the network lacks: {extra}"
            )
        model.network.load_state_dict(weights)
        model.network.eval()
        return model

    def predict(self, chips: np.ndarray) -> list[contract.Prediction]:
        import torch

        from rastervision.{{ cookiecutter.plugin_slug }} import networks

        device = torch_device(self.settings)
        network = self.network.to(device).eval()
        height, width = chips.shape[1:3]
        autocast = torch.autocast(
            device.type,
            dtype=torch.bfloat16,
            enabled=device.type == "cuda" and self.settings.mixed_precision,
        )
        with torch.inference_mode(), autocast:
            outputs = network(networks.chip_tensor(chips).to(device))
            if self.spec.task == Task.CHIP_CLASSIFICATION:
                scores = torch.softmax(outputs.float(), dim=1).cpu().numpy()
                predictions = list(scores.astype(np.float32))
            elif self.spec.task == Task.SEMANTIC_SEGMENTATION:
                class_ids = outputs.argmax(dim=1).to(torch.uint8).cpu().numpy()
                predictions = list(class_ids)
            else:
                predictions = [
                    Boxes(
                        boxes.cpu().numpy(),
                        class_ids.cpu().numpy(),
                        scores.cpu().numpy(),
                    )
                    for boxes, class_ids, scores in network.detect(
                        outputs, height, width
                    )
                ]
        self.log_gpu_memory(device, len(chips))
        return predictions

    def log_gpu_memory(self, device, batch_size: int) -> None:
        """After the first batch on a GPU, its peak memory: the same for every batch."""
        if device.type == "cuda" and not self.predicted_on_gpu:
            import torch

            self.predicted_on_gpu = True
            peak = torch.cuda.max_memory_allocated() / 2**20
            log.info(
                "predict (%d chips a batch): peak GPU memory: %.0f MiB",
                batch_size,
                peak,
            )
