"""Write a small synthetic data set in the SpaceNet Vegas layout.

The real SpaceNet Vegas scenes live in the ``spacenet-dataset`` S3 bucket and take a
while to download. This module writes a few synthetic scenes with the same folder
layout (``spacenet/layout.py``), file names, raster format (uint16 GeoTIFF in
EPSG:4326, nodata 0) and GeoJSON labels, so that the Vegas experiment can be tried
end to end in seconds: pass the output folder as ``raw_uri``. Each scene is
written in every SpaceNet product: PAN (1 band), PS-RGB (3), MS and PS-MS (8).
Unlike the real MS (1.2 m pixels), every product here has the same pixel grid;
PAN and the 8 bands are made from the RGB picture.

The pictures are simple on purpose: bright roofs and dark roads on a noisy desert
background, so a learner has something it could pick up.

Usage::

    python spacenet/sample_data.py OUT [--scenes N] [--size PX] [--seed S]
        [--products PAN PS-RGB MS PS-MS]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import rasterio
from rasterio.features import rasterize
from rasterio.transform import Affine, from_origin
from shapely import affinity
from shapely.geometry import LineString, box, mapping

# Run as a script, this file's folder is on sys.path, not the project's.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from spacenet import layout  # noqa: E402

TARGETS = layout.TARGETS
PRODUCTS = tuple(layout.PRODUCT_BANDS)
# How each product's bands are made from red, green and blue (rows: bands).
# The 8 bands stand for WorldView-2's coastal, blue, green, yellow, red, red
# edge, near-infrared 1 and 2: roofs and roads stay apart from the desert.
PRODUCT_MIX = {
    "PAN": [[1 / 3, 1 / 3, 1 / 3]],
    "PS-RGB": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
    "MS": [
        [0, 0.2, 0.8],
        [0, 0, 1],
        [0, 1, 0],
        [0.5, 0.5, 0],
        [1, 0, 0],
        [0.8, 0.2, 0],
        [0.7, 0.3, 0.1],
        [0.6, 0.3, 0.2],
    ],
}
PRODUCT_MIX["PS-MS"] = PRODUCT_MIX["MS"]
NODATA = 0

FIRST_SCENE_ID = 1
MIN_SCENES = 2
MIN_SIZE = 64

# Real SpaceNet PS-RGB tiles: EPSG:4326, square pixels of about 2.7e-6 degrees
# (about 0.3 m at the latitude of Las Vegas).
CRS = "EPSG:4326"
PIXEL_DEGREES = 2.7e-6
PIXEL_METRES = 0.3
VEGAS_LON = -115.2
VEGAS_LAT = 36.15

# Colours (red, green, blue) in the 11-bit range of the real pan-sharpened images.
DESERT_RGB = (720, 660, 560)
ROOF_RGB = (1550, 1500, 1450)
ROOF_RGB_SPREAD = 250
ASPHALT_RGB = (380, 380, 400)
SCENE_BRIGHTNESS_SPREAD = 80
NOISE_SIGMA = 40
MAX_VALUE = 2047

BUILDING_SIDE_METRES = (6.0, 20.0)
BUILDING_GAP_METRES = 2.0
PIXELS_PER_BUILDING = 4000  # at most one building per this many pixels
# The built-up block of a scene spans this fraction of its width and height.
MIN_BLOCK_FRACTION = 0.3
MAX_BLOCK_FRACTION = 0.6
PLACEMENT_TRIES = 20  # per building, before giving up on a crowded scene
LANE_WIDTH_METRES = 3.5


def empty_scene_id(num_scenes: int) -> int:
    """Return the id of the buildings scene that has no buildings.

    Real SpaceNet has such scenes, and pipelines must cope with them; here the last
    scene is the empty one.
    """
    return FIRST_SCENE_ID + num_scenes - 1


def scene_paths(
    raw_dir: str | Path, target: str, scene_id: int, product: str = "PS-RGB"
) -> tuple[Path, Path]:
    """Return the (image, label) paths of one scene under ``raw_dir``."""
    raw_dir = Path(raw_dir)
    return (
        raw_dir / layout.image_path(target, scene_id, product),
        raw_dir / layout.label_path(target, scene_id),
    )


def make_sample_data(
    out_dir: str | Path,
    num_scenes: int = 8,
    size: int = 256,
    seed: int = 0,
    targets: tuple[str, ...] = TARGETS,
    products: tuple[str, ...] = PRODUCTS,
) -> dict[str, list[int]]:
    """Write ``num_scenes`` scenes of ``size`` x ``size`` pixels for each target,
    each in every one of ``products``.

    ``out_dir`` plays the role of ``raw_uri``: it receives the ``spacenet/`` folder.
    Existing files are overwritten. The output depends only on the arguments, so the
    same call always writes the same bytes (a product's images do not depend on
    which other products are written). Returns the scene ids written per target.
    """
    _check_arguments(num_scenes, size, seed, targets)
    unknown = sorted(set(products) - set(PRODUCTS))
    if not products or unknown:
        raise ValueError(
            f"products must be one or more of {', '.join(PRODUCTS)}, got {products}"
        )
    scene_ids = list(range(FIRST_SCENE_ID, FIRST_SCENE_ID + num_scenes))
    written = {target: scene_ids for target in targets}
    for target in written:
        for scene_id in scene_ids:
            _write_scene(
                Path(out_dir), target, scene_id, num_scenes, size, seed, products
            )
    return written


def _check_arguments(
    num_scenes: int, size: int, seed: int, targets: tuple[str, ...]
) -> None:
    if num_scenes < MIN_SCENES:
        raise ValueError(
            f"num_scenes must be at least {MIN_SCENES} (training and validation "
            f"scenes, the last buildings scene being empty), got {num_scenes}"
        )
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels, got {size}")
    if seed < 0:
        raise ValueError(f"seed must not be negative, got {seed}")
    unknown = sorted(set(targets) - set(TARGETS))
    if not targets or unknown:
        raise ValueError(
            f"targets must be one or more of {', '.join(TARGETS)}, got {targets}"
        )


def _write_scene(
    out_dir: Path,
    target: str,
    scene_id: int,
    num_scenes: int,
    size: int,
    seed: int,
    products: tuple[str, ...],
) -> None:
    # One random stream per scene, so a scene does not change with the other scenes
    # or targets asked for.
    rng = np.random.default_rng([seed, TARGETS.index(target), scene_id])
    # Scenes lie side by side along a row, one row per target.
    transform = from_origin(
        VEGAS_LON + (scene_id - FIRST_SCENE_ID) * size * PIXEL_DEGREES,
        VEGAS_LAT - TARGETS.index(target) * size * PIXEL_DEGREES,
        PIXEL_DEGREES,
        PIXEL_DEGREES,
    )
    if target == "buildings":
        if scene_id == empty_scene_id(num_scenes):
            features, shapes, colours = [], [], []
        else:
            features, shapes, colours = _buildings(rng, size, transform)
    else:
        features, shapes, colours = _roads(rng, size, transform)

    rgb = _paint(rng, size, transform, shapes, colours)
    for product in products:
        image_path, label_path = scene_paths(out_dir, target, scene_id, product)
        _write_image(image_path, _mix(rgb, PRODUCT_MIX[product]), transform)
    label_path.parent.mkdir(parents=True, exist_ok=True)
    with open(label_path, "w") as file:
        json.dump({"type": "FeatureCollection", "features": features}, file)


def _buildings(
    rng: np.random.Generator, size: int, transform: Affine
) -> tuple[list[dict], list, list]:
    """Return building features, their footprints and roof colours.

    Footprints are rotated rectangles that keep a small gap between each other,
    with their centres in a random block of the scene (so some chips are desert
    only), each one wholly inside the image: Raster Vision's object detection label
    source drops a box less than 80% inside its scene, so a building cut by the
    scene's edge would be seen in the pixels but missing from the labels.
    """
    image_box = box(0, 0, size, size)
    min_side, max_side = (side / PIXEL_METRES for side in BUILDING_SIDE_METRES)
    max_side = min(max_side, size / 3)
    gap = BUILDING_GAP_METRES / PIXEL_METRES
    # The buildings stand in one built-up block; the rest of the scene is desert.
    block_size = rng.uniform(MIN_BLOCK_FRACTION, MAX_BLOCK_FRACTION, 2) * size
    block_start = rng.uniform(0, size - block_size)
    block_area = block_size[0] * block_size[1]
    wanted = int(rng.integers(1, max(1, block_area // PIXELS_PER_BUILDING) + 1))
    footprints = []
    for _ in range(PLACEMENT_TRIES * wanted):
        if len(footprints) == wanted:
            break
        width, height = rng.uniform(min_side, max_side, 2)
        footprint = affinity.translate(
            affinity.rotate(
                box(-width / 2, -height / 2, width / 2, height / 2), rng.uniform(0, 180)
            ),
            *rng.uniform(block_start, block_start + block_size),
        )
        inside = image_box.contains(footprint)
        if inside and all(footprint.distance(other) > gap for other in footprints):
            footprints.append(footprint)

    features = [
        _feature(
            _to_lonlat(footprint, transform),
            {"building": "yes"},
        )
        for footprint in footprints
    ]
    colours = [
        np.add(ROOF_RGB, rng.integers(-ROOF_RGB_SPREAD, ROOF_RGB_SPREAD + 1))
        for _ in footprints
    ]
    return features, [_to_lonlat(f, transform) for f in footprints], colours


def _roads(
    rng: np.random.Generator, size: int, transform: Affine
) -> tuple[list[dict], list, list]:
    """Return road features (centre lines), their surfaces and colours.

    Each road crosses the image from one edge to another with one bend, and is as
    wide as its lanes.
    """
    features, surfaces = [], []
    for road_id in range(1, int(rng.integers(1, 4)) + 1):
        start_edge, end_edge = rng.choice(4, 2, replace=False)
        start = _point_on_edge(rng, size, start_edge)
        end = _point_on_edge(rng, size, end_edge)
        bend = np.clip((start + end) / 2 + rng.uniform(-0.15, 0.15, 2) * size, 0, size)
        centre_line = LineString([start, bend, end])
        lanes = int(rng.integers(1, 5))
        surface = centre_line.buffer(lanes * LANE_WIDTH_METRES / PIXEL_METRES / 2)
        properties = {
            "road_id": road_id,
            "road_type": 5 if lanes <= 2 else 3,  # residential or secondary
            "lane_number": lanes,
            "one_way_ty": 2,  # two way
            "paved": 1,
            "bridge_type": 2,  # not a bridge
        }
        features.append(_feature(_to_lonlat(centre_line, transform), properties))
        surfaces.append(_to_lonlat(surface, transform))
    return features, surfaces, [ASPHALT_RGB] * len(surfaces)


def _point_on_edge(rng: np.random.Generator, size: int, edge: int) -> np.ndarray:
    """Return a random point on edge 0 (top), 1 (right), 2 (bottom) or 3 (left)."""
    along = rng.uniform(0.1, 0.9) * size
    return np.array([(along, 0), (size, along), (along, size), (0, along)][edge])


def _to_lonlat(geometry, transform: Affine):
    """Map a geometry from pixel (column, row) to longitude/latitude coordinates."""
    return affinity.affine_transform(geometry, transform.to_shapely())


def _feature(geometry, properties: dict) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": mapping(geometry)}


def _paint(
    rng: np.random.Generator, size: int, transform: Affine, shapes: list, colours: list
) -> np.ndarray:
    """Return a (3, size, size) uint16 image with each shape burnt in its colour."""
    palette = np.array([DESERT_RGB, *colours], dtype=np.float32)
    # Some scenes are brighter than others.
    palette[0] += rng.integers(-SCENE_BRIGHTNESS_SPREAD, SCENE_BRIGHTNESS_SPREAD + 1)
    shape_index = np.zeros((size, size), dtype=np.uint16)
    if shapes:
        shape_index = rasterize(
            zip(shapes, range(1, len(shapes) + 1), strict=True),
            out_shape=(size, size),
            transform=transform,
            dtype=np.uint16,
        )
    image = palette[shape_index].transpose(2, 0, 1)
    image += rng.normal(0, NOISE_SIGMA, image.shape)
    return np.clip(np.rint(image), 1, MAX_VALUE).astype(np.uint16)


def _mix(rgb: np.ndarray, mix: list[list[float]]) -> np.ndarray:
    """The (bands, H, W) uint16 image whose bands mix ``rgb``'s as ``mix`` says."""
    if mix == PRODUCT_MIX["PS-RGB"]:
        return rgb
    bands = np.tensordot(np.asarray(mix, dtype=np.float32), rgb, axes=1)
    return np.clip(np.rint(bands), 1, MAX_VALUE).astype(np.uint16)


def _write_image(path: Path, image: np.ndarray, transform: Affine) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    count, height, width = image.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype=image.dtype,
        crs=CRS,
        transform=transform,
        nodata=NODATA,
    ) as dataset:
        dataset.write(image)


def main(argv: list[str] | None = None) -> None:
    """Command line entry point; see ``--help``."""
    parser = argparse.ArgumentParser(
        description="Write synthetic scenes in the SpaceNet Vegas layout (SN2 "
        "buildings, SN3 roads) under OUT, to try the Vegas experiment without "
        "downloading SpaceNet. Pass OUT as raw_uri."
    )
    parser.add_argument("out_dir", metavar="OUT", help="folder to write spacenet/ in")
    parser.add_argument(
        "--scenes",
        type=_int_at_least(MIN_SCENES),
        default=8,
        help=f"scenes per target, at least {MIN_SCENES}: some to train on, some to "
        "validate on, and the last buildings scene is empty (default: %(default)s)",
    )
    parser.add_argument(
        "--size",
        type=_int_at_least(MIN_SIZE),
        default=256,
        help=f"image width and height in pixels, at least {MIN_SIZE}; real SpaceNet "
        "tiles are 650 (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=_int_at_least(0),
        default=0,
        help="random seed; the same seed writes the same files (default: %(default)s)",
    )
    parser.add_argument(
        "--targets",
        nargs="+",
        choices=TARGETS,
        default=TARGETS,
        help=f"what to write (default: {' '.join(TARGETS)})",
    )
    parser.add_argument(
        "--products",
        nargs="+",
        choices=PRODUCTS,
        default=PRODUCTS,
        help=f"SpaceNet image products to write (default: {' '.join(PRODUCTS)})",
    )
    args = parser.parse_args(argv)
    written = make_sample_data(
        args.out_dir,
        args.scenes,
        args.size,
        args.seed,
        tuple(args.targets),
        tuple(args.products),
    )

    for target, scene_ids in written.items():
        image_path, label_path = scene_paths(args.out_dir, target, scene_ids[0])
        print(
            f"{target}: {len(scene_ids)} scenes, img{scene_ids[0]} to "
            f"img{scene_ids[-1]}, {args.size}x{args.size} pixels"
        )
        products = ", ".join(args.products)
        print(f"  images in {image_path.parent.parent} ({products})")
        print(f"  labels in {label_path.parent}")
        if target == "buildings":
            print(f"  img{empty_scene_id(args.scenes)} has no buildings")
    print(f"Use {args.out_dir} as raw_uri.")


def _int_at_least(minimum: int):
    """Return an argparse type that accepts integers not below ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


if __name__ == "__main__":
    main()
