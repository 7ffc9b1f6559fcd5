"""Segmentation predictions as GeoJSON: the vector outputs of spacenet/vegas.py.

Raster Vision {{ cookiecutter.rv_version }} turns a class's mask into polygons
with code that calls ``np.int0``, which numpy 2 removed: with dependencies off
Raster Vision's pins, the ``predict`` command of a segmentation run crashes
there. These tests run that code on masks with real shapes in them.
"""

import json

import pytest
from rastervision.core.data import (
    BuildingVectorOutputConfig,
    PolygonVectorOutputConfig,
)

from spacenet.vegas import get_config


@pytest.mark.parametrize(
    "target, vector_output",
    [("buildings", BuildingVectorOutputConfig), ("roads", PolygonVectorOutputConfig)],
)
def test_vector_outputs_of_the_ground_truth(raw_uri, tmp_path, target, vector_output):
    """Save a scene's true labels through the experiment's own label store."""
    config = get_config(
        "local",
        str(tmp_path / "out"),
        raw_uri=raw_uri,
        target=target,
        task_type="semantic_segmentation",
    )
    config.update()
    scene_config = config.dataset.train_scenes[0]
    [output] = scene_config.label_store.vector_output
    assert type(output) is vector_output and output.class_id == 0
    # No analyze step ran: read the image without the stats transformer.
    scene_config.raster_source.transformers = []
    scene = scene_config.build(config.dataset.class_config, str(tmp_path))
    labels = scene.label_source.get_labels()
    scene.label_store.save(labels)

    class_name = config.dataset.class_config.get_name(0)
    vectors = tmp_path / "out" / "predict" / scene_config.id / "vector_output"
    geojson = json.loads((vectors / f"class-0-{class_name}.json").read_text())
    assert geojson["features"], f"no {class_name} polygons from the true labels"
    assert {f["geometry"]["type"] for f in geojson["features"]} <= {
        "Polygon",
        "MultiPolygon",
    }
