"""Saved chips: how the ``chip`` command writes them and how ``train`` reads them.

Each chip is one ``.npz`` file, ``<split>/<scene id>-<number>.npz``, holding
``chip`` (H, W, C uint8) and its label: ``label`` (a class id, or an (H, W)
array of class ids) or, for object detection, ``boxes`` ((N, 4) ymin, xmin,
ymax, xmax in chip pixels) and ``class_ids``. Each chip command zips its chips
into one file named by a UUID, so several chip jobs (``--splits N``) never
overwrite each other; chips are numbered within their scene and read back in
order of scene and number, so a split run trains on what one job would.
"""

import io
import os
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterator
from os.path import join
from pathlib import Path

import numpy as np
from rastervision.core.backend import SampleWriter
from rastervision.core.data_sample import DataSample
from rastervision.pipeline.file_system import make_dir, upload_or_copy

from rastervision.{{ cookiecutter.plugin_slug }}.contract import Boxes, Sample


def zip_folder(folder: str, zip_path: str) -> None:
    """Zip the files under ``folder``, named relative to it, into ``zip_path``.

    Raster Vision's ``zipdir`` does the same with a tqdm bar, which runs into
    the log lines of a job whose output is not a terminal.
    """
    make_dir(zip_path, use_dirname=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())


def encode(sample: Sample) -> dict[str, np.ndarray]:
    """The arrays of one chip's .npz file."""
    if isinstance(sample.label, Boxes):
        return {
            "chip": sample.chip,
            "boxes": sample.label.boxes,
            "class_ids": sample.label.class_ids,
        }
    return {"chip": sample.chip, "label": np.asarray(sample.label)}


def decode(arrays) -> Sample:
    """The :class:`Sample` :func:`encode` wrote."""
    if "boxes" in arrays:
        return Sample(arrays["chip"], Boxes(arrays["boxes"], arrays["class_ids"]))
    label = arrays["label"]
    return Sample(arrays["chip"], int(label) if label.ndim == 0 else label)


class ChipWriter(SampleWriter):
    """Writes each chip and its label into a zip of .npz files (see the module)."""

    def __init__(self, output_uri: str, tmp_dir: str):
        self.output_uri = output_uri
        self.sample_dir = join(tmp_dir, f"samples-{uuid.uuid4()}")
        self.scene_counts: Counter[str] = Counter()

    def __enter__(self):
        make_dir(self.sample_dir)
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            zip_path = self.sample_dir + ".zip"
            zip_folder(self.sample_dir, zip_path)
            upload_or_copy(zip_path, self.output_uri)

    def write_sample(self, sample: DataSample):
        """Save one chip with its label, under a folder named by its split."""
        split_dir = join(self.sample_dir, sample.split)
        make_dir(split_dir)
        number = self.scene_counts[sample.scene_id]
        path = join(split_dir, f"{sample.scene_id}-{number}.npz")
        np.savez(path, **encode(Sample(sample.chip, sample.label)))
        self.scene_counts[sample.scene_id] += 1


class SavedChips:
    """The chips of one split in local chip zips: by index, or streamed.

    The index (which zip and member holds chip ``i``) is built once from the
    zips' tables of contents; each chip is read from its zip when asked for, so
    memory does not grow with the number of chips. The zip files are opened
    once per process (a forked data-loader worker opens its own).
    """

    def __init__(self, zip_paths: list[str], split: str):
        self.zip_paths = list(zip_paths)
        self.split = split
        self.index: list[tuple[int, str]] = []
        for number, path in enumerate(self.zip_paths):
            with zipfile.ZipFile(path) as chips:
                self.index += [
                    (number, name)
                    for name in chips.namelist()
                    if name.startswith(f"{split}/") and name.endswith(".npz")
                ]
        self.index.sort(key=lambda entry: chip_order(entry[1]))
        self._open: dict[int, zipfile.ZipFile] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int) -> Sample:
        number, name = self.index[index]
        # Read the member whole: np.load seeks, which a compressed zip member
        # can only do by decompressing again from its start.
        with np.load(io.BytesIO(self._zip(number).read(name))) as arrays:
            return decode(arrays)

    def __iter__(self) -> Iterator[Sample]:
        for index in range(len(self)):
            yield self[index]

    def _zip(self, number: int) -> zipfile.ZipFile:
        if self._pid != os.getpid():  # a forked worker: the parent's handles are shared
            self._open, self._pid = {}, os.getpid()
        if number not in self._open:
            self._open[number] = zipfile.ZipFile(self.zip_paths[number])
        return self._open[number]

    def __getstate__(self):
        """Picklable for spawned data-loader workers: the zips reopen there."""
        return {**self.__dict__, "_open": {}}


def chip_order(name: str) -> tuple[str, int]:
    """Sort key of a chip's member name, ``<split>/<scene id>-<number>.npz``."""
    scene_id, _, number = name.split("/", 1)[1].removesuffix(".npz").rpartition("-")
    return scene_id, int(number)


class CountedChips:
    """Chips that count their first reading in a :class:`Progress` bar."""

    def __init__(self, chips, progress):
        self.chips = chips
        self.progress = progress
        self.seen: set[int] = set()

    def __len__(self) -> int:
        return len(self.chips)

    def __getitem__(self, index: int) -> Sample:
        if index not in self.seen and len(self.seen) < len(self.chips):
            self.seen.add(index)
            self.progress.update()
        return self.chips[index]

    def __iter__(self) -> Iterator[Sample]:
        for index in range(len(self)):
            yield self[index]
