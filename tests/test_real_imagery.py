"""The real-imagery benchmark (benchmarks/real_imagery.py) runs end to end.

Its quick mode on one small crop of a NEON tile, for the scikit-learn starter
and one task: the data preparation, bake, install, the experiment and the
table are checked, not the figures (the benchmark prints those). It needs
deepforest's wheel from PyPI (21 MB, cached in .cache/real-imagery/wheel).
"""

import json
import re
import sys

from conftest import REPO, run_checked

BENCHMARKS = REPO / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import neon_data  # noqa: E402


def test_neon_cells_map_exactly_to_the_chip_grid(tmp_path):
    """The chip-classification cells come back from Raster Vision as the exact
    windows it predicts on (eval matches cells by exact box), with the classes
    written, and every crown box lies inside its part."""
    from rastervision.core.box import Box
    from rastervision.core.data import (
        ChipClassificationLabelSourceConfig,
        ClassConfig,
        ClassInferenceTransformerConfig,
        GeoJSONVectorSourceConfig,
        RasterioSourceConfig,
    )

    data = tmp_path / "data"
    summary = neon_data.write_scenes(
        data, REPO / ".cache" / "real-imagery" / "wheel", ["SOAP_061"], max_size=400
    )
    assert summary["train/SOAP_061"]["cells"] == 6  # 384 px: 3 rows, 2 columns
    assert summary["heldout/SOAP_061"]["cells"] == 3
    class_config = ClassConfig(names=["tree", "background"])
    part = data / "heldout"
    raster_source = RasterioSourceConfig(uris=[str(part / "SOAP_061.tif")]).build(
        tmp_path
    )
    label_source = ChipClassificationLabelSourceConfig(
        vector_source=GeoJSONVectorSourceConfig(
            uris=[str(part / "SOAP_061-cells.geojson")],
            transformers=[ClassInferenceTransformerConfig(default_class_id=0)],
        ),
        infer_cells=False,
    ).build(class_config, raster_source.crs_transformer, raster_source.bbox)
    labels = label_source.get_labels()
    grid = raster_source.extent.get_windows(neon_data.CHIP_SIZE, neon_data.CHIP_SIZE)
    assert sorted(map(tuple, labels.get_cells())) == sorted(map(tuple, grid))
    written = json.loads((part / "SOAP_061-cells.geojson").read_text())["features"]
    assert sorted(labels.get_class_ids()) == sorted(
        f["properties"]["class_id"] for f in written
    )
    extent = Box(0, 0, raster_source.extent.ymax, raster_source.extent.xmax)
    boxes = json.loads((part / "SOAP_061-boxes.geojson").read_text())["features"]
    assert len(boxes) == summary["heldout/SOAP_061"]["boxes"] > 0
    # Within a pixel: Raster Vision floors the coordinates it reads back.
    assert all(
        extent.to_shapely().buffer(1).contains(g)
        for g in GeoJSONVectorSourceConfig(uris=[str(part / "SOAP_061-boxes.geojson")])
        .build(class_config, raster_source.crs_transformer)
        .get_geoms()
    )


def test_real_imagery_quick_run_prints_the_table(tmp_path):
    work = tmp_path / "work"
    result = run_checked(
        [sys.executable, BENCHMARKS / "real_imagery.py", "--quick"]
        + ["--models", "scikit-learn", "--tasks", "semantic_segmentation"]
        + ["--work", work],
        timeout=600,
    )
    [row] = [
        line
        for line in result.stdout.splitlines()
        if line.startswith("semantic_segmentation") and "scikit-learn" in line
    ]
    # Trees are the minority class: first, with a number or "never predicted".
    assert re.search(r"scikit-learn\s+tree (\d\.\d\d|never predicted), background", row)
    rows = json.loads((work / "results.json").read_text())
    assert [(r["task"], r["model"]) for r in rows] == [
        ("semantic_segmentation", "scikit-learn")
    ]
    assert rows[0]["train"] > 0 and rows[0]["predict"] > 0
