"""Predict time and peak memory against scene area, for the model this project holds.

Trains once on the sample data (Vegas buildings, ``-a test False``), then
writes scenes of growing area (a sample image repeated, written block by
block) and runs Raster Vision's predictor on each in a fresh process. Prints,
per scene: megapixels, predict seconds and peak memory (RSS; the medians of
``--repeat`` runs); and for the pixels it adds over the scene before it, the
megapixels per second and the bytes of peak memory per pixel. Time is linear in area when that rate holds
as scenes grow; start-up (imports, loading the model) counts in the first
scene only.

The scenes are written to a temporary folder and deleted after.

Usage: python benchmarks/scale_benchmark.py [--mpx 1 16 64 144]
       [--task semantic_segmentation] [--raster-only] [--repeat 3]
"""

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from model_benchmark import in_fresh_process, write_sample_data
from rasterio.windows import Window

PROJECT = Path(__file__).resolve().parents[1]
ROWS_PER_WRITE = 1024


def train_bundle(raw_uri: str, root_uri: str, task_type: str) -> str:
    """Run the Vegas pipeline up to its bundle; return the bundle's path."""
    rastervision = Path(sys.executable).with_name("rastervision")
    command = [str(rastervision), "run", "inprocess", "spacenet/vegas.py"]
    command += ["analyze", "chip", "train", "bundle"]
    for name, value in [
        ("raw_uri", raw_uri),
        ("root_uri", root_uri),
        ("target", "buildings"),
        ("task_type", task_type),
        ("test", "False"),
    ]:
        command += ["-a", name, value]
    subprocess.run(command, cwd=PROJECT, check=True, capture_output=True)
    return str(Path(root_uri, "bundle", "model-bundle.zip"))


def write_scene(sample_image: Path, path: Path, megapixels: float) -> int:
    """Write a square scene of about ``megapixels`` by repeating ``sample_image``.

    Written a block of rows at a time, so the benchmark's own memory stays
    small. Returns the scene's pixel count.
    """
    side = max(1, round(math.sqrt(megapixels * 1e6)))
    with rasterio.open(sample_image) as sample:
        tile = sample.read()
        profile = sample.profile
    profile.update(
        width=side,
        height=side,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    )
    _, tile_h, tile_w = tile.shape
    repeats_x = math.ceil(side / tile_w)
    with rasterio.open(path, "w", **profile) as scene:
        for row in range(0, side, ROWS_PER_WRITE):
            height = min(ROWS_PER_WRITE, side - row)
            rows = np.arange(row, row + height) % tile_h
            block = np.tile(tile[:, rows, :], (1, 1, repeats_x))[:, :, :side]
            scene.write(block, window=Window(0, row, side, height))
    return side * side


def predict(bundle: str, image: str, out: str, raster_only: bool) -> dict:
    """Predict ``image`` in this process; return seconds and peak memory.

    As ``rastervision predict`` does; ``raster_only``: without the polygons of
    each class that it also writes (Raster Vision's own vectorization, over the
    whole scene at once).
    """
    from rastervision.core.predictor import Predictor

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_dir:
        predictor = Predictor(bundle, tmp_dir)
        if not raster_only:
            predictor.predict([image], out)
        else:
            predictor.scene.raster_source.uris = [image]
            predictor.scene.label_store.uri = out
            predictor.scene.label_store.vector_output = []
            pipeline = predictor.config.build(tmp_dir)
            pipeline.build_backend(str(Path(predictor.bundle_dir, "model-bundle.zip")))
            pipeline.predict()
    return {
        "seconds": time.perf_counter() - start,
        # ru_maxrss is in KiB on Linux.
        "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mpx", type=float, nargs="+", default=[1, 16, 64, 144], help="scene areas"
    )
    parser.add_argument(
        "--task",
        default="semantic_segmentation",
        choices=["chip_classification", "semantic_segmentation", "object_detection"],
    )
    parser.add_argument(
        "--raster-only",
        action="store_true",
        help="segmentation: leave out the polygons rastervision predict writes",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per scene; the figures are their medians (machines are noisy)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(predict(*json.loads(args.child))))
        return

    with tempfile.TemporaryDirectory() as tmp:
        raw_uri, root_uri = Path(tmp, "raw"), Path(tmp, "root")
        write_sample_data(str(raw_uri), 4, 650, targets=["buildings"])
        bundle = train_bundle(str(raw_uri), str(root_uri), args.task)
        sample_image = next(raw_uri.glob("**/PS-RGB/*.tif"))
        what = " (raster labels only)" if args.raster_only else ""
        print(f"buildings {args.task}: predict scenes of growing area{what}")
        previous = None
        for megapixels in sorted(args.mpx):
            image = Path(tmp, f"scene-{megapixels}.tif")
            pixels = write_scene(sample_image, image, megapixels)
            out = str(Path(tmp, f"out-{megapixels}"))
            runs = [
                in_fresh_process(__file__, [bundle, str(image), out, args.raster_only])
                for _ in range(args.repeat)
            ]
            run = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            image.unlink()
            line = (
                f"{pixels / 1e6:.1f} Mpx: predict {run['seconds']:.1f} s, "
                f"peak {run['peak_bytes'] / 2**20:.0f} MiB"
            )
            if previous is not None:
                added = pixels - previous[0]
                seconds = run["seconds"] - previous[1]["seconds"]
                memory = run["peak_bytes"] - previous[1]["peak_bytes"]
                line += (
                    f"; the added {added / 1e6:.1f} Mpx: "
                    f"{added / 1e6 / seconds:.2f} Mpx/s, "
                    f"{memory / added:+.1f} bytes per pixel"
                )
            print(line)
            previous = (pixels, run)


if __name__ == "__main__":
    main()
