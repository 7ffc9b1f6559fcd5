"""Real labelled imagery for benchmarks: NEON tree crowns from deepforest's wheel.

The deepforest package on PyPI ships four NEON airborne RGB tiles (0.1 m
pixels, 8-bit) with hand-drawn tree-crown boxes, as test data. This module
downloads that wheel once (``pip download --no-deps``, about 21 MB), reads the
tiles and their boxes, and writes GeoTIFF + GeoJSON scenes for the three
Raster Vision tasks that ``benchmarks/neon_trees.py`` reads:

- ``<part>/<tile>.tif``: the image (3-band uint8 GeoTIFF, no nodata value).
- ``<part>/<tile>-boxes.geojson``: one box per crown, class ``tree``
  (object detection).
- ``<part>/<tile>-crowns.geojson``: one ellipse inscribed in each box, class
  ``tree`` (semantic segmentation: crowns are round, boxes are not; the rest
  is background).
- ``<part>/<tile>-cells.geojson``: the chip grid, each cell ``tree`` when the
  crowns cover at least ``CELL_COVER_THRESH`` of it, else ``background``
  (chip classification).

Split: each tile is cut to whole cells of ``CHIP_SIZE`` pixels; the left
half of its cell columns (rounded up) is ``train``, the right half
``heldout``. Boxes cut by the split are clipped to their part and kept when at
least half of the box lies in it.

Only one tile (OSBS_029) is a GeoTIFF with a real georeference; the others are
PNGs. They get a plausible one (their NEON site's UTM zone, 0.1 m pixels, the
tile's corner from its file name where it has one): an axis-aligned 0.1 m grid,
so pixel boxes map 1:1 to the scene's pixels. GeoJSON is in EPSG:4326, as
Raster Vision expects.

Usage::

    python benchmarks/neon_data.py OUT [--max-size 1024] [--tiles OSBS_029 ...]
"""

import argparse
import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.features import rasterize
from rasterio.transform import from_origin
from rasterio.warp import transform_geom
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from shapely import affinity
from shapely.geometry import Point, box, mapping

DEEPFOREST_VERSION = "2.1.0"
CHIP_SIZE = 128
# Chip classification: a cell is ``tree`` when crowns cover this fraction of it.
CELL_COVER_THRESH = 0.25
# A box cut by the train/held-out split stays when this fraction of it is inside.
MIN_BOX_FRACTION = 0.5
PARTS = ("train", "heldout")
TREE, BACKGROUND = 0, 1
CLASS_NAMES = {TREE: "tree", BACKGROUND: "background"}
PIXEL_METRES = 0.1


@dataclass(frozen=True)
class Tile:
    """One labelled tile in the wheel, and where a PNG one plausibly lies."""

    image: str
    labels: str  # a CSV (image_path, xmin, ymin, xmax, ymax, label) or VOC XML
    epsg: int
    corner: tuple[float, float]  # (easting, northing) of the top-left corner


DATA = "deepforest/data/"
TILES = {
    "OSBS_029": Tile(DATA + "OSBS_029.tif", DATA + "OSBS_029.csv", 32617, (0, 0)),
    # Labels Alive and Dead: both are tree crowns.
    "SOAP_061": Tile(
        DATA + "SOAP_061.png", DATA + "SOAP_061.xml", 32611, (297000, 4104000)
    ),
    "YELL_541000_4977000": Tile(
        DATA + "2019_YELL_2_541000_4977000_image_crop.png",
        DATA + "2019_YELL_2_541000_4977000_image_crop.xml",
        32612,
        (541000, 4978000),
    ),
    "YELL_528000_4978000": Tile(
        DATA + "2019_YELL_2_528000_4978000_image_crop2.png",
        DATA + "2019_YELL_2_528000_4978000_image_crop2.xml",
        32612,
        (528000, 4979000),
    ),
}


def fetch_wheel(cache: Path, version: str = DEEPFOREST_VERSION) -> Path:
    """deepforest's wheel in ``cache``, downloaded from PyPI the first time."""
    name = f"deepforest-{version}-py3-none-any.whl"
    wheel = cache / name
    if not wheel.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
            + [f"deepforest=={version}", "-d", str(cache)],
            check=True,
        )
    if not wheel.is_file():
        raise FileNotFoundError(f"pip download left no {name} in {cache}")
    return wheel


def read_boxes(text: str, image_name: str) -> np.ndarray:
    """Crown boxes (N, 4: xmin, ymin, xmax, ymax, pixels) of a CSV or VOC XML."""
    if text.lstrip().startswith("<"):
        root = ElementTree.fromstring(text)
        rows = [
            [
                float(obj.find(f"bndbox/{k}").text)
                for k in ("xmin", "ymin", "xmax", "ymax")
            ]
            for obj in root.iter("object")
        ]
    else:
        rows = [
            [float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
            for row in csv.DictReader(text.splitlines())
            if Path(row["image_path"]).stem == Path(image_name).stem
        ]
    if not rows:
        raise ValueError(f"no crown boxes for {image_name} in deepforest's labels")
    return np.array(rows)


def read_tile(wheel: Path, name: str, unpacked: Path):
    """Image (3, H, W) uint8, its CRS and transform, and its crown boxes."""
    tile = TILES[name]
    with zipfile.ZipFile(wheel) as archive:
        archive.extract(tile.image, unpacked)
        boxes = read_boxes(archive.read(tile.labels).decode(), Path(tile.image).name)
    with warnings.catch_warnings():
        # Expected for the PNG tiles: they get a georeference below.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(unpacked / tile.image) as source:
            image = source.read(indexes=[1, 2, 3])
            if source.crs is not None:
                return image, source.crs, source.transform, boxes
    crs = CRS.from_epsg(tile.epsg)
    return image, crs, from_origin(*tile.corner, PIXEL_METRES, PIXEL_METRES), boxes


def crown_ellipse(xmin, ymin, xmax, ymax):
    """The ellipse inscribed in a box, as a polygon (pixel coordinates)."""
    centre = Point((xmin + xmax) / 2, (ymin + ymax) / 2)
    return affinity.scale(centre.buffer(1.0, 16), (xmax - xmin) / 2, (ymax - ymin) / 2)


def write_geojson(path: Path, geoms_classes, crs, transform):
    """Pixel-coordinate geometries with class ids, written in EPSG:4326."""
    features = []
    for geom, class_id in geoms_classes:
        on_map = affinity.affine_transform(geom, transform.to_shapely())
        features.append(
            {
                "type": "Feature",
                "geometry": transform_geom(crs, "EPSG:4326", mapping(on_map)),
                "properties": {
                    "class_id": class_id,
                    "class_name": CLASS_NAMES[class_id],
                },
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def write_part(
    out: Path, name: str, image, crs, transform, boxes, col0: int, width: int
):
    """One part of a tile (columns col0 to col0 + width) as a scene's files."""
    height = image.shape[1]
    part_transform = window_transform(Window(col0, 0, width, height), transform)
    out.mkdir(parents=True, exist_ok=True)
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs=crs,
        transform=part_transform,
        compress="deflate",
    )
    with rasterio.open(out / f"{name}.tif", "w", **profile) as sink:
        sink.write(image[:, :, col0 : col0 + width])

    frame = box(0, 0, width, height)
    kept = []
    for xmin, ymin, xmax, ymax in boxes:
        crown = box(xmin - col0, ymin, xmax - col0, ymax)
        inside = crown.intersection(frame)
        if inside.area >= MIN_BOX_FRACTION * crown.area > 0:
            kept.append(inside.bounds)
    write_geojson(
        out / f"{name}-boxes.geojson",
        [(box(*b), TREE) for b in kept],
        crs,
        part_transform,
    )
    ellipses = [crown_ellipse(*b).intersection(frame) for b in kept]
    write_geojson(
        out / f"{name}-crowns.geojson",
        [(e, TREE) for e in ellipses],
        crs,
        part_transform,
    )

    cover = rasterize(ellipses, out_shape=(height, width), fill=0, default_value=1)
    cells = []
    for y in range(0, height, CHIP_SIZE):
        for x in range(0, width, CHIP_SIZE):
            fraction = cover[y : y + CHIP_SIZE, x : x + CHIP_SIZE].mean()
            class_id = TREE if fraction >= CELL_COVER_THRESH else BACKGROUND
            # Shifted half a pixel: Raster Vision floors each corner after the
            # round trip through EPSG:4326, which then gives the cell exactly.
            cell = box(x + 0.5, y + 0.5, x + CHIP_SIZE + 0.5, y + CHIP_SIZE + 0.5)
            cells.append((cell, class_id))
    write_geojson(out / f"{name}-cells.geojson", cells, crs, part_transform)
    return {
        "boxes": len(kept),
        "tree_pixels": float(cover.mean()),
        "tree_cells": sum(c == TREE for _, c in cells),
        "cells": len(cells),
    }


def write_scenes(
    out: Path, cache: Path, tiles=tuple(TILES), max_size: int = 1024
) -> dict:
    """Write every tile's train and held-out scenes under ``out``; return counts.

    Each tile is cropped around its centre to at most ``max_size`` pixels a
    side, rounded down to whole cells of ``CHIP_SIZE``.
    """
    if max_size < 2 * CHIP_SIZE:
        raise ValueError(f"max_size must be at least {2 * CHIP_SIZE} (two cells)")
    wheel = fetch_wheel(cache)
    summary = {}
    for name in tiles:
        if name not in TILES:
            raise ValueError(f"unknown tile {name!r}; choose from {', '.join(TILES)}")
        image, crs, transform, boxes = read_tile(wheel, name, cache / "unpacked")
        height, width = (
            min(n, max_size) // CHIP_SIZE * CHIP_SIZE for n in image.shape[1:]
        )
        row0, col0 = (image.shape[1] - height) // 2, (image.shape[2] - width) // 2
        image = image[:, row0 : row0 + height, col0 : col0 + width]
        transform = window_transform(Window(col0, row0, width, height), transform)
        boxes = boxes - [col0, row0, col0, row0]
        cols = width // CHIP_SIZE
        train_cols = (cols + 1) // 2
        for part, col0, ncols in (
            ("train", 0, train_cols),
            ("heldout", train_cols, cols - train_cols),
        ):
            summary[f"{part}/{name}"] = write_part(
                out / part,
                name,
                image,
                crs,
                transform,
                boxes,
                col0 * CHIP_SIZE,
                ncols * CHIP_SIZE,
            )
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cache", type=Path, help="wheel cache (default: OUT/wheel)")
    parser.add_argument("--max-size", type=int, default=1024)
    parser.add_argument("--tiles", nargs="+", choices=list(TILES), default=list(TILES))
    args = parser.parse_args(argv)
    summary = write_scenes(
        args.out, args.cache or args.out / "wheel", args.tiles, args.max_size
    )
    for scene, counts in summary.items():
        print(scene, counts)


if __name__ == "__main__":
    main()
