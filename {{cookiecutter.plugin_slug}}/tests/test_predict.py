"""Plumbing tests of streamed prediction: reads, labels, progress.

Whatever the model, prediction of a large scene must read each row of windows
at once, keep only Raster Vision's label arrays, and show its progress; these
check that the shortcuts give exactly what Raster Vision's own code gives.
"""

import io
import logging
from pathlib import Path

import numpy as np
import pytest
from rastervision.core.box import Box
from rastervision.core.data import (
    MinMaxTransformer,
    RasterioSource,
    SemanticSegmentationDiscreteLabels,
    StatsTransformerConfig,
)

from rastervision.{{ cookiecutter.plugin_slug }}.backend import (
    SegmentationVotes,
    read_ahead,
    read_chips,
)
from rastervision.{{ cookiecutter.plugin_slug }}.progress import Progress


@pytest.fixture()
def image_uri(raw_uri):
    return str(next(Path(raw_uri).glob("spacenet/SN2_buildings/**/PS-RGB/*.tif")))


def stats_transformer(image_uri, tmp_path):
    """A StatsTransformer with the image's own statistics, as Vegas uses."""
    from rastervision.core.raster_stats import RasterStats

    stats = RasterStats()
    stats.compute([RasterioSource(image_uri)], sample_prob=None)
    stats_uri = str(tmp_path / "stats.json")
    stats.save(stats_uri)
    return StatsTransformerConfig(stats_uri=stats_uri).build()


@pytest.mark.parametrize("transformer", ["none", "stats", "min-max"])
@pytest.mark.parametrize(("size", "stride"), [(64, 64), (100, 60), (96, 128)])
def test_rows_of_windows_read_as_each_window_alone(
    image_uri, tmp_path, transformer, size, stride
):
    """Windows over the whole scene, edges and overhangs included."""
    transformers = []
    if transformer == "stats":
        transformers = [stats_transformer(image_uri, tmp_path)]
    elif transformer == "min-max":
        transformers = [MinMaxTransformer()]
    source = RasterioSource(image_uri, raster_transformers=transformers)
    windows = source.extent.get_windows(
        size, stride, padding=size // 4, pad_direction="both"
    )
    assert any(window.xmin < 0 for window in windows)
    expected = np.stack([source[window] for window in windows])
    assert np.array_equal(read_chips(source, windows), expected)
    batches = [windows[start : start + 5] for start in range(0, len(windows), 5)]
    streamed = [chips for _, chips in read_ahead(batches, source)]
    assert np.array_equal(np.concatenate(streamed), expected)


@pytest.mark.parametrize("pixels_per_block", [SegmentationVotes.PIXELS_PER_BLOCK, 7000])
def test_class_mask_equals_raster_vision_s(monkeypatch, pixels_per_block):
    """Vector outputs see the same mask as from Raster Vision's labels, the
    whole scene in one block or in blocks of 10 rows."""
    monkeypatch.setattr(SegmentationVotes, "PIXELS_PER_BLOCK", pixels_per_block)
    extent = Box(0, 0, 1100, 700)
    rng = np.random.default_rng(0)
    ours = SegmentationVotes(extent, 3)
    theirs = SemanticSegmentationDiscreteLabels(extent, 3)
    windows = extent.get_windows(300, 200)
    for window in windows[:-2]:  # some pixels get no vote
        prediction = rng.integers(0, 3, window.size, dtype=np.uint8)
        ours[window] = prediction
        theirs[window] = prediction
    for class_id in range(3):
        for threshold in (None, 0.5, 1.0):
            # Raster Vision's divides 0 by 0 where no window voted.
            with np.errstate(invalid="ignore"):
                expected = theirs.get_class_mask(extent, class_id, threshold)
            assert np.array_equal(
                ours.get_class_mask(extent, class_id, threshold), expected
            )


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_a_bar_in_a_terminal():
    terminal = FakeTerminal()
    with Progress(40, "Predicting scene", unit="window", stream=terminal) as bar:
        for _ in range(4):
            bar.update(10)
    assert "Predicting scene" in terminal.getvalue()
    assert "40/40" in terminal.getvalue()


def test_progress_logs_a_line_per_tenth_elsewhere(caplog):
    with caplog.at_level(logging.INFO):
        with Progress(250, "Chipping scene", stream=io.StringIO()) as bar:
            for _ in range(250):
                bar.update()
    lines = [r.getMessage() for r in caplog.records if "Chipping" in r.getMessage()]
    assert len(lines) == 10
    assert lines[0].startswith("Chipping scene: 25 of 250 chips (10%)")
    assert lines[-1].startswith("Chipping scene: 250 of 250 chips (100%)")
