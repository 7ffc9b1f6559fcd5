"""The generated Vegas experiment with Raster Vision's stock PyTorch backends.

Used by benchmarks/pytorch_side_by_side.py (and, through
:func:`stock_backend`, by benchmarks/neon_trees.py): same scenes, classes, chip size and
window sampling as the generated project's ``spacenet/vegas.py`` (imported from
the project folder, which must be on ``PYTHONPATH``), with the plugin's backend
swapped for Raster Vision's own PyTorch backend of the task, trained from
scratch (no pretrained weights can be downloaded here) on the CPU.

The bundles it makes hold the model weights but no ONNX copy: Raster Vision
0.31.1 exports one after training, with torch 2.4 (its pin); the torch this
benchmark runs (2.14) fails that export for the detection model, which would
stop the run. The export is not what this benchmark measures, so it is skipped.
"""

import logging

from rastervision.pytorch_backend import (
    PyTorchChipClassificationConfig,
    PyTorchObjectDetectionConfig,
    PyTorchSemanticSegmentationConfig,
)
from rastervision.pytorch_learner import (
    Backbone,
    Learner,
    ClassificationGeoDataConfig,
    ClassificationModelConfig,
    ObjectDetectionGeoDataConfig,
    ObjectDetectionModelConfig,
    SemanticSegmentationGeoDataConfig,
    SemanticSegmentationModelConfig,
    SolverConfig,
)
from spacenet import vegas

log = logging.getLogger(__name__)


def skip_onnx_export(learner, path, *args, **kwargs):
    """Stands in for Learner.export_to_onnx: see the module docstring."""
    log.warning("pytorch_vegas: ONNX export to %s skipped (benchmark only)", path)


Learner.export_to_onnx = skip_onnx_export

BACKENDS = {
    vegas.CHIP_CLASSIFICATION: (
        PyTorchChipClassificationConfig,
        ClassificationGeoDataConfig,
        ClassificationModelConfig,
    ),
    vegas.SEMANTIC_SEGMENTATION: (
        PyTorchSemanticSegmentationConfig,
        SemanticSegmentationGeoDataConfig,
        SemanticSegmentationModelConfig,
    ),
    vegas.OBJECT_DETECTION: (
        PyTorchObjectDetectionConfig,
        ObjectDetectionGeoDataConfig,
        ObjectDetectionModelConfig,
    ),
}

# The smallest backbone each stock model takes (DeepLabv3 takes only ResNet-50
# and -101).
BACKBONES = {
    vegas.CHIP_CLASSIFICATION: "resnet18",
    vegas.SEMANTIC_SEGMENTATION: "resnet50",
    vegas.OBJECT_DETECTION: "resnet18",
}


def get_config(
    runner,
    root_uri,
    raw_uri,
    target=vegas.BUILDINGS,
    task_type=vegas.CHIP_CLASSIFICATION,
    epochs="10",
    batch_sz="8",
    lr="1e-3",
    backbone=None,
):
    config = vegas.get_config(
        runner,
        root_uri,
        raw_uri=raw_uri,
        target=target,
        task_type=task_type,
        test="False",
    )
    config.backend = stock_backend(
        config.dataset,
        config.chip_options.sampling,
        task_type,
        vegas.CHIP_SIZE,
        epochs,
        batch_sz,
        lr,
        backbone,
    )
    return config


def stock_backend(
    dataset, sampling, task_type, img_sz, epochs, batch_sz, lr, backbone=None
):
    """Raster Vision's PyTorch backend of ``task_type`` for these scenes and
    chip sampling, trained from scratch for ``epochs``."""
    backend_class, data_class, model_class = BACKENDS[task_type]
    return backend_class(
        data=data_class(
            scene_dataset=dataset,
            sampling=sampling,
            img_sz=img_sz,
            num_workers=0,
        ),
        model=model_class(
            backbone=Backbone(backbone or BACKBONES[task_type]), pretrained=False
        ),
        solver=SolverConfig(
            lr=float(lr), num_epochs=int(epochs), batch_sz=int(batch_sz), one_cycle=True
        ),
    )
