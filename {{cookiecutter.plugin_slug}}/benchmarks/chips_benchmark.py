"""Memory of reading saved chips: by index in shuffled epochs, and as a stream.

Writes chip zips as the ``chip`` command does (``chips.ChipWriter``), of N and
10 N chips, then reads them back through ``chips.SavedChips``: two shuffled
epochs by index and one stream. Prints the peak memory the reading allocated
(tracemalloc, which sees NumPy's arrays) for each size: no more than one chip
is held at a time, so it grows only by the index (which zip member holds each
chip, a few hundred bytes a chip), not with the chips.

    python benchmarks/chips_benchmark.py [--chips 200] [--size 128] [--bands 3]
"""

import argparse
import tempfile
import time
import tracemalloc
from os.path import join

import numpy as np
from rastervision.core.data_sample import DataSample

from rastervision.{{ cookiecutter.plugin_slug }}.chips import ChipWriter, SavedChips


def write_chips(folder: str, count: int, size: int, bands: int) -> str:
    """A chip zip of ``count`` random chips with segmentation labels."""
    rng = np.random.default_rng(0)
    zip_uri = join(folder, "chips.zip")
    with ChipWriter(zip_uri, folder) as writer:
        for number in range(count):
            writer.write_sample(
                DataSample(
                    chip=rng.integers(0, 255, (size, size, bands), dtype=np.uint8),
                    label=rng.integers(0, 2, (size, size), dtype=np.uint8),
                    split="train",
                    scene_id=str(number % 7),
                )
            )
    return zip_uri


def read_peak(zip_uri: str) -> tuple[float, float]:
    """Peak MiB allocated while reading every chip three times, and seconds."""
    tracemalloc.start()
    start = time.perf_counter()
    chips = SavedChips([zip_uri], "train")
    rng = np.random.default_rng(1)
    for _ in range(2):
        for index in rng.permutation(len(chips)):
            chips[index]
    for _ in chips:
        pass
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=200)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--bands", type=int, default=3)
    args = parser.parse_args()
    chip_mib = args.size * args.size * (args.bands + 1) / 2**20
    peaks = []
    for count in (args.chips, 10 * args.chips):
        with tempfile.TemporaryDirectory() as folder:
            zip_uri = write_chips(folder, count, args.size, args.bands)
            peak, seconds = read_peak(zip_uri)
        peaks.append(peak)
        print(
            f"{count} chips ({count * chip_mib:.0f} MiB of chips): peak "
            f"{peak:.1f} MiB while reading each 3 times, {seconds:.1f} s"
        )
    per_chip = (peaks[1] - peaks[0]) * 2**20 / (9 * args.chips)
    print(
        f"10x the chips: peak memory x{peaks[1] / peaks[0]:.2f}, "
        f"{per_chip:.0f} bytes per chip more (a chip is {chip_mib * 2**20:.0f} bytes)"
    )


if __name__ == "__main__":
    main()
