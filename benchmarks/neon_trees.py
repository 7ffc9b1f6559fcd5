"""NEON tree crowns (real airborne RGB) for all three Raster Vision tasks.

The scenes are the ones ``benchmarks/neon_data.py`` writes (train: the left
half of each tile, validation: the held-out right half). Chips, windows and
predict options are the generated project's Vegas ones
(``spacenet/vegas.py``, imported from the project folder, which must be on
``PYTHONPATH`` together with this folder), so a starter model meets these
scenes exactly as it meets Vegas::

    rastervision run inprocess benchmarks/neon_trees.py -a raw_uri NEON \\
        -a root_uri OUT -a task_type semantic_segmentation -a backend noop_plugin

``-a backend`` is a plugin's slug (its ``<slug>.backend`` config with
``ModelConfig()`` defaults: not the test mode's quick settings), or ``stock``
for Raster Vision's own PyTorch backend of the task from scratch
(``benchmarks/pytorch_vegas.py``; ``epochs``, ``batch_sz``, ``lr`` apply).

The images are 8-bit: no statistics transformer. Every scene is whole cells
of the chip size, so training windows never run past a scene's edge and no
padding is taught as the tree class (id 0).
"""

from os.path import join

import neon_data
from rastervision.core.data import (
    ChipClassificationLabelSourceConfig,
    ClassConfig,
    ClassInferenceTransformerConfig,
    DatasetConfig,
    GeoJSONVectorSourceConfig,
    ObjectDetectionLabelSourceConfig,
    RasterioSourceConfig,
    RasterizedSourceConfig,
    RasterizerConfig,
    SceneConfig,
    SemanticSegmentationLabelSourceConfig,
)
from rastervision.pipeline import registry_ as registry
from rastervision.pipeline.file_system import list_paths
from spacenet import vegas

LABEL_FILES = {
    vegas.CHIP_CLASSIFICATION: "cells",
    vegas.SEMANTIC_SEGMENTATION: "crowns",
    vegas.OBJECT_DETECTION: "boxes",
}


def build_scene(part_uri: str, tile: str, task_type: str) -> SceneConfig:
    vector_source = GeoJSONVectorSourceConfig(
        uris=[join(part_uri, f"{tile}-{LABEL_FILES[task_type]}.geojson")],
        transformers=[ClassInferenceTransformerConfig(default_class_id=0)],
    )
    if task_type == vegas.CHIP_CLASSIFICATION:
        # The cells and their classes (tree cover) are in the file already.
        label_source = ChipClassificationLabelSourceConfig(
            vector_source=vector_source, infer_cells=False
        )
    elif task_type == vegas.SEMANTIC_SEGMENTATION:
        label_source = SemanticSegmentationLabelSourceConfig(
            raster_source=RasterizedSourceConfig(
                vector_source=vector_source,
                rasterizer_config=RasterizerConfig(
                    background_class_id=neon_data.BACKGROUND
                ),
            )
        )
    else:
        label_source = ObjectDetectionLabelSourceConfig(vector_source=vector_source)
    return SceneConfig(
        id=tile,
        raster_source=RasterioSourceConfig(
            uris=[join(part_uri, f"{tile}.tif")], channel_order=[0, 1, 2]
        ),
        label_source=label_source,
    )


def get_class_config(task_type: str) -> ClassConfig:
    if task_type == vegas.OBJECT_DETECTION:
        return ClassConfig(names=["tree"], colors=["green"])
    names = [neon_data.CLASS_NAMES[i] for i in (neon_data.TREE, neon_data.BACKGROUND)]
    null_class = "background" if task_type == vegas.SEMANTIC_SEGMENTATION else None
    return ClassConfig(names=names, colors=["green", "black"], null_class=null_class)


def get_scenes(raw_uri: str, part: str, task_type: str) -> list[SceneConfig]:
    part_uri = join(raw_uri, part)
    tiles = sorted(
        path.rsplit("/", 1)[-1][: -len(".tif")]
        for path in list_paths(part_uri, ext=".tif")
    )
    if not tiles:
        raise ValueError(
            f"no {part} scenes (.tif) under {part_uri}: "
            "write them with python benchmarks/neon_data.py RAW_URI"
        )
    return [build_scene(part_uri, tile, task_type) for tile in tiles]


def get_config(
    runner,
    root_uri,
    raw_uri,
    task_type=vegas.SEMANTIC_SEGMENTATION,
    backend="stock",
    epochs="10",
    batch_sz="8",
    lr="1e-3",
    backbone=None,
):
    """The NEON pipeline config; Raster Vision calls this with the ``-a`` values."""
    vegas.check_choice("task_type", task_type, vegas.TASK_TYPES)
    if vegas.CHIP_SIZE != neon_data.CHIP_SIZE:
        raise ValueError(
            f"spacenet/vegas.py chips {vegas.CHIP_SIZE} px, the NEON cells are "
            f"{neon_data.CHIP_SIZE} px: set neon_data.CHIP_SIZE to match"
        )
    pipeline_class, chip_options, predict_options = vegas.get_pipeline_options(
        task_type, test=False
    )
    dataset = DatasetConfig(
        class_config=get_class_config(task_type),
        train_scenes=get_scenes(raw_uri, "train", task_type),
        validation_scenes=get_scenes(raw_uri, "heldout", task_type),
    )
    if backend == "stock":
        import pytorch_vegas  # needs PyTorch: imported only for the stock backend

        backend_config = pytorch_vegas.stock_backend(
            dataset,
            chip_options.sampling,
            task_type,
            vegas.CHIP_SIZE,
            epochs,
            batch_sz,
            lr,
            backbone,
        )
    else:
        backend_config = registry.get_config(f"{backend}.backend")()
    return pipeline_class(
        root_uri=root_uri,
        dataset=dataset,
        backend=backend_config,
        chip_options=chip_options,
        predict_options=predict_options,
    )
