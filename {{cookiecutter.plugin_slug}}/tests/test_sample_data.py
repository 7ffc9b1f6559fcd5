"""Tests for the synthetic SpaceNet Vegas sample data."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize
from rastervision.core.data import (
    ClassConfig,
    ClassInferenceTransformerConfig,
    GeoJSONVectorSourceConfig,
    ObjectDetectionLabelSourceConfig,
    RasterioSourceConfig,
    RasterizedSourceConfig,
    RasterizerConfig,
    Scene,
    SceneConfig,
    SemanticSegmentationLabelSourceConfig,
)
from shapely.geometry import box, shape

from spacenet.sample_data import empty_scene_id, make_sample_data, scene_paths

SCRIPT = Path(__file__).parents[1] / "spacenet" / "sample_data.py"
NUM_SCENES = 3
SIZE = 128
SCENE_IDS = [1, 2, 3]


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("sample")
    written = make_sample_data(out_dir, num_scenes=NUM_SCENES, size=SIZE, seed=0)
    assert written == {"buildings": SCENE_IDS, "roads": SCENE_IDS}
    return out_dir


def all_scenes(sample_dir: Path):
    for target in ("buildings", "roads"):
        for scene_id in SCENE_IDS:
            yield (target, scene_id, *scene_paths(sample_dir, target, scene_id))


def read_features(label_path: Path) -> list[dict]:
    with open(label_path) as file:
        collection = json.load(file)
    assert collection["type"] == "FeatureCollection"
    return collection["features"]


def relative_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_writes_exactly_the_spacenet_vegas_layout(sample_dir):
    sn2 = "spacenet/SN2_buildings/train/AOI_2_Vegas"
    sn3 = "spacenet/SN3_roads/train/AOI_2_Vegas"
    templates = [
        sn2 + "/geojson_buildings/"
        "SN2_buildings_train_AOI_2_Vegas_geojson_buildings_img{}.geojson",
        sn3 + "/geojson_roads/SN3_roads_train_AOI_2_Vegas_geojson_roads_img{}.geojson",
    ]
    for product in ("PAN", "PS-RGB", "MS", "PS-MS"):
        templates += [
            f"{sn2}/{product}/SN2_buildings_train_AOI_2_Vegas_{product}_img" + "{}.tif",
            f"{sn3}/{product}/SN3_roads_train_AOI_2_Vegas_{product}_img" + "{}.tif",
        ]
    expected = {t.format(i) for t in templates for i in SCENE_IDS}
    assert relative_files(sample_dir) == expected


@pytest.mark.parametrize(
    "product, num_bands", [("PAN", 1), ("PS-RGB", 3), ("MS", 8), ("PS-MS", 8)]
)
def test_each_product_has_its_band_count_on_the_same_grid(
    sample_dir, product, num_bands
):
    for target, scene_id, rgb_path, _ in all_scenes(sample_dir):
        image_path, _ = scene_paths(sample_dir, target, scene_id, product)
        with rasterio.open(image_path) as image, rasterio.open(rgb_path) as rgb:
            assert image.count == num_bands
            assert set(image.dtypes) == {"uint16"}
            assert image.nodata == 0
            assert (image.transform, image.crs) == (rgb.transform, rgb.crs)
            pixels = image.read()
        assert 0 < pixels.min() and pixels.max() < 2048


def test_one_product_alone_is_the_same_bytes(sample_dir, tmp_path):
    make_sample_data(tmp_path, num_scenes=NUM_SCENES, size=SIZE, products=("PAN",))
    for target, scene_id, _, _ in all_scenes(sample_dir):
        alone, _ = scene_paths(tmp_path, target, scene_id, "PAN")
        together, _ = scene_paths(sample_dir, target, scene_id, "PAN")
        assert alone.read_bytes() == together.read_bytes()


def test_images_are_georeferenced_uint16_rgb_near_vegas(sample_dir):
    origins = set()
    for _, _, image_path, _ in all_scenes(sample_dir):
        with rasterio.open(image_path) as dataset:
            assert dataset.count == 3
            assert dataset.dtypes == ("uint16",) * 3
            assert (dataset.width, dataset.height) == (SIZE, SIZE)
            assert dataset.crs.to_epsg() == 4326
            assert dataset.res == pytest.approx((2.7e-6, 2.7e-6))
            assert -115.3 < dataset.bounds.left < -115.1
            assert 36.1 < dataset.bounds.top < 36.2
            origins.add((dataset.bounds.left, dataset.bounds.top))
            image = dataset.read()
        assert 100 < image.min() and image.max() < 2048
    assert len(origins) == 2 * NUM_SCENES, "each scene should have its own place"


def test_labels_are_lonlat_geometries_on_their_image(sample_dir):
    geometry_types = {"buildings": {"Polygon"}, "roads": {"LineString"}}
    for target, scene_id, image_path, label_path in all_scenes(sample_dir):
        with rasterio.open(image_path) as dataset:
            image_box = box(*dataset.bounds)
        features = read_features(label_path)
        if (target, scene_id) == ("buildings", empty_scene_id(NUM_SCENES)):
            assert features == []
            continue
        assert features, f"{label_path.name} should have features"
        geometries = [shape(feature["geometry"]) for feature in features]
        assert {g.geom_type for g in geometries} == geometry_types[target]
        assert all(g.intersects(image_box) for g in geometries)
        if target == "buildings":
            assert all(f["properties"]["building"] == "yes" for f in features)
            assert not any(
                a.intersects(b) for a in geometries for b in geometries if a is not b
            )
        else:
            assert all(f["properties"]["lane_number"] >= 1 for f in features)


def test_last_buildings_scene_is_empty(sample_dir):
    assert empty_scene_id(NUM_SCENES) == SCENE_IDS[-1]
    _, label_path = scene_paths(sample_dir, "buildings", SCENE_IDS[-1])
    assert read_features(label_path) == []


def test_buildings_are_bright_and_roads_dark(sample_dir):
    for target, _, image_path, label_path in all_scenes(sample_dir):
        geometries = [shape(f["geometry"]) for f in read_features(label_path)]
        if not geometries:
            continue
        with rasterio.open(image_path) as dataset:
            brightness = dataset.read().mean(axis=0)
            on_label = rasterize(
                geometries,
                out_shape=brightness.shape,
                transform=dataset.transform,
                all_touched=True,
                dtype=np.uint8,
            ).astype(bool)
        labelled, background = brightness[on_label], brightness[~on_label]
        if target == "buildings":
            assert labelled.mean() > background.mean() + 300
        else:
            assert labelled.mean() < background.mean() - 150


def test_same_seed_same_bytes_other_seed_other_bytes(sample_dir, tmp_path):
    make_sample_data(tmp_path / "same", num_scenes=NUM_SCENES, size=SIZE, seed=0)
    make_sample_data(tmp_path / "other", num_scenes=NUM_SCENES, size=SIZE, seed=1)
    files = relative_files(sample_dir)
    for name in files:
        expected = (sample_dir / name).read_bytes()
        assert (tmp_path / "same" / name).read_bytes() == expected, name
    differing = [
        name
        for name in files
        if (tmp_path / "other" / name).read_bytes() != (sample_dir / name).read_bytes()
    ]
    # Only the empty buildings scene's label file can be the same.
    assert len(differing) >= len(files) - 1


@pytest.mark.parametrize(
    "arguments",
    [
        {"num_scenes": 1},
        {"size": 32},
        {"seed": -1},
        {"targets": ("cars",)},
        {"targets": ()},
        {"products": ("RGB-PanSharpen",)},
        {"products": ()},
    ],
)
def test_make_sample_data_rejects_bad_arguments(tmp_path, arguments):
    with pytest.raises(ValueError):
        make_sample_data(tmp_path, **arguments)
    assert not any(tmp_path.iterdir())


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_help():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("OUT", "--scenes", "--size", "--seed", "--targets", "--products"):
        assert option in result.stdout


def test_cli_writes_the_same_files_as_the_function(sample_dir, tmp_path):
    result = run_cli(str(tmp_path), "--scenes", "3", "--size", "128")
    assert result.returncode == 0, result.stderr
    assert "img3 has no buildings" in result.stdout
    assert relative_files(tmp_path) == relative_files(sample_dir)
    for name in relative_files(sample_dir):
        assert (tmp_path / name).read_bytes() == (sample_dir / name).read_bytes()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--scenes", "1"], "argument --scenes: must be at least 2"),
        (["--size", "32"], "argument --size: must be at least 64"),
        (["--size", "big"], "argument --size: not an integer: 'big'"),
        (["--targets", "cars"], "argument --targets: invalid choice: 'cars'"),
        (["--products", "RGB"], "argument --products: invalid choice: 'RGB'"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, arguments, message):
    result = run_cli(str(tmp_path), *arguments)
    assert result.returncode == 2
    assert message in result.stderr
    assert not any(tmp_path.iterdir())


def build_scene(image_path: Path, label_source_config, tmp_dir: Path) -> Scene:
    scene_config = SceneConfig(
        id=image_path.stem,
        raster_source=RasterioSourceConfig(uris=[str(image_path)]),
        label_source=label_source_config,
    )
    class_config = ClassConfig(names=["building", "background"])
    return scene_config.build(class_config, tmp_dir=str(tmp_dir))


def vector_source(label_path: Path) -> GeoJSONVectorSourceConfig:
    # The SpaceNet files have no class property: every feature is a building.
    return GeoJSONVectorSourceConfig(
        uris=[str(label_path)],
        transformers=[ClassInferenceTransformerConfig(default_class_id=0)],
    )


def test_raster_vision_reads_a_buildings_scene(sample_dir, tmp_path):
    image_path, label_path = scene_paths(sample_dir, "buildings", SCENE_IDS[0])
    num_buildings = len(read_features(label_path))

    segmentation = build_scene(
        image_path,
        SemanticSegmentationLabelSourceConfig(
            raster_source=RasterizedSourceConfig(
                vector_source=vector_source(label_path),
                rasterizer_config=RasterizerConfig(background_class_id=1),
            )
        ),
        tmp_path,
    )
    chip = segmentation.raster_source[:, :]
    assert chip.shape == (SIZE, SIZE, 3) and chip.dtype == np.uint16
    label_array = segmentation.label_source.get_label_arr()
    assert label_array.shape == (SIZE, SIZE)
    assert 0 < (label_array == 0).sum() < SIZE * SIZE

    detection = build_scene(
        image_path,
        ObjectDetectionLabelSourceConfig(vector_source=vector_source(label_path)),
        tmp_path,
    )
    assert len(detection.label_source.get_labels()) == num_buildings > 0


def test_raster_vision_reads_the_empty_buildings_scene(sample_dir, tmp_path):
    image_path, label_path = scene_paths(sample_dir, "buildings", SCENE_IDS[-1])
    scene = build_scene(
        image_path,
        ObjectDetectionLabelSourceConfig(vector_source=vector_source(label_path)),
        tmp_path,
    )
    assert len(scene.label_source.get_labels()) == 0
