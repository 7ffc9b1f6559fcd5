"""Segmentation predictions as GeoJSON: the vector outputs of spacenet/vegas.py.

Raster Vision {{ cookiecutter.rv_version }} turns a class's mask into polygons
with code that calls ``np.int0``, which numpy 2 removed: with dependencies off
Raster Vision's pins, the ``predict`` command of a segmentation run crashes
there. These tests run that code on masks with real shapes in them, and check
that the plugin's label store, which makes polygons a strip of rows at a time,
makes the same polygons as Raster Vision's whole-scene code.
"""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from rastervision.core.box import Box
from rastervision.core.data import (
    BuildingVectorOutputConfig,
    PolygonVectorOutputConfig,
    SemanticSegmentationDiscreteLabels,
    SemanticSegmentationLabelStoreConfig,
)
from shapely.geometry import shape
from shapely.ops import unary_union

from rastervision.{{ cookiecutter.plugin_slug }}.label_stores import (
    StripLabelStore,
    StripLabelStoreConfig,
    strip_polygons,
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


def assert_same_polygons(ours, theirs):
    """The same polygons, up to order and the vertices where a strip cut them."""
    assert len(ours) == len(theirs)
    assert sorted((p.area, p.bounds) for p in ours) == sorted(
        (p.area, p.bounds) for p in theirs
    )
    assert unary_union(ours).symmetric_difference(unary_union(theirs)).area == 0


@settings(max_examples=200, deadline=None)
@given(
    mask=arrays(bool, st.tuples(st.integers(1, 40), st.integers(1, 30))),
    rows_per_strip=st.integers(1, 40),
    denoise=st.sampled_from([0, 3, 4]),
)
def test_polygons_by_strips_equal_the_whole_scene_s(mask, rows_per_strip, denoise):
    """Any mask, any strip height: Raster Vision's polygons, no more, no fewer."""
    height, width = mask.shape
    extent = Box(0, 0, height, width)
    labels = SemanticSegmentationDiscreteLabels(extent, 2)
    labels[extent] = np.where(mask, 0, 1).astype(np.uint8)
    output = PolygonVectorOutputConfig(class_id=0, denoise=denoise)

    ours = list(strip_polygons(labels, output, rows_per_strip))
    theirs = list(output.vectorize(mask.astype(np.uint8)))
    assert_same_polygons(ours, theirs)


def test_label_store_writes_raster_vision_s_polygons(raw_uri, tmp_path, monkeypatch):
    """A scene's true labels saved as `rastervision predict` saves them: every
    class as polygons, by the plugin's store (strips cut through its buildings)
    and by Raster Vision's; the same polygons, in map coordinates."""
    monkeypatch.setattr(StripLabelStore, "rows_per_strip", 50)
    config = get_config(
        "local",
        str(tmp_path / "out"),
        raw_uri=raw_uri,
        target="buildings",
        task_type="semantic_segmentation",
    )
    config.update()
    scene_config = config.dataset.train_scenes[0]
    scene_config.raster_source.transformers = []
    scene = scene_config.build(config.dataset.class_config, str(tmp_path))
    labels = scene.label_source.get_labels()
    class_config = config.dataset.class_config
    outputs = [PolygonVectorOutputConfig(class_id=i) for i in range(len(class_config))]
    written = {}
    for store_config in (StripLabelStoreConfig, SemanticSegmentationLabelStoreConfig):
        uri = tmp_path / store_config.__name__
        store = store_config(uri=str(uri), vector_output=outputs).build(
            class_config, scene.raster_source.crs_transformer, scene.extent, tmp_path
        )
        store.save(labels)
        written[store_config] = [
            [
                shape(feature["geometry"])
                for feature in json.loads(path.read_text())["features"]
            ]
            for path in sorted((uri / "vector_output").iterdir())
        ]
    ours, theirs = written.values()
    assert len(ours) == len(theirs) == 2
    for our_class, their_class in zip(ours, theirs, strict=True):
        assert our_class, "no polygons"
        assert len(our_class) == len(their_class)
        difference = unary_union(our_class).symmetric_difference(
            unary_union(their_class)
        )
        assert difference.area < 1e-12 * unary_union(their_class).area
