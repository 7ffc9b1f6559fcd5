"""The networks of the PyTorch starter model: small, fully convolutional, from scratch.

One encoder (blocks of two 3x3 convolutions, halving the size ``depth``
times, doubling the width each time) under three heads, one per task:

- :class:`SegmentationNet`: a U-Net decoder back to full size, class logits
  per pixel;
- :class:`ClassificationNet`: the chip averaged over 4 x 4 pixels first, then
  average and max pooled deepest features, class logits per chip;
- :class:`DetectionNet`: a decoder to 1/``DETECTION_STRIDE`` of the size with
  CenterNet's heatmap of object centres per class and, as TTFNet, the
  distances from each cell to its object's four edges.

Being fully convolutional, they take chips of any size (padded to a multiple
of ``2 ** depth``) and any band count (``num_bands``). Nothing here is trained
or downloaded: the weights come from training or a saved bundle.
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Chip classification: the chip is averaged over blocks of this many pixels
# a side before the encoder (as ResNet's stem strides by 4): a chip's class
# needs its context more than its finest detail, and the network costs 16
# times less (on the NEON tree crowns, the same F1 at a sixth of the CPU time).
CLASSIFICATION_STRIDE = 4
# Object detection: the decoder stops at 1/4 of the chip's size (CenterNet's
# output stride): one cell holds at most one object centre.
DETECTION_STRIDE = 4
# Object detection: heatmap peaks kept per chip at most, and below this score
# not kept at all.
MAX_OBJECTS = 100
MIN_PEAK_SCORE = 0.05


def box_distances(box: torch.Tensor) -> torch.Tensor:
    """:class:`DetectionNet`'s ``box`` output as distances in cells (exp of it)."""
    return torch.exp(box.float().clamp(max=8))


def chip_tensor(chips: np.ndarray) -> torch.Tensor:
    """Chips (N, H, W, C) uint8 as the networks take them: (N, C, H, W) in [0, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(chips))
    return tensor.permute(0, 3, 1, 2).float() / 255


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 convolutions, each with batch norm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class Encoder(nn.Module):
    """Features at full size and at each of ``depth`` halvings.

    The bands are normalised by a batch norm of their own first, so that
    8-bit and rescaled 16-bit imagery of any band count start alike.
    """

    def __init__(self, num_bands: int, width: int, depth: int):
        super().__init__()
        self.widths = [width * 2**level for level in range(depth + 1)]
        self.input_norm = nn.BatchNorm2d(num_bands)
        self.levels = nn.ModuleList()
        in_channels = num_bands
        for out_channels in self.widths:
            self.levels.append(conv_block(in_channels, out_channels))
            in_channels = out_channels

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        x = self.input_norm(x)
        for number, level in enumerate(self.levels):
            if number:
                x = F.max_pool2d(x, 2)
            x = level(x)
            features.append(x)
        return features


class Decoder(nn.Module):
    """Upsample the deepest features level by level, joining the encoder's.

    ``stop_level``: the level to stop at (0: full size; 2: a quarter).
    """

    def __init__(self, widths: list[int], stop_level: int = 0):
        super().__init__()
        self.blocks = nn.ModuleList(
            conv_block(widths[level + 1] + widths[level], widths[level])
            for level in reversed(range(stop_level, len(widths) - 1))
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = features[-1]
        for block, skip in zip(self.blocks, reversed(features[:-1]), strict=False):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear")
            x = block(torch.cat([x, skip], dim=1))
        return x


class Network(nn.Module):
    """What the three networks share: the encoder and padding to its multiple."""

    def __init__(self, num_bands: int, num_classes: int, width: int, depth: int):
        super().__init__()
        self.multiple = 2**depth
        self.encoder = Encoder(num_bands, width, depth)
        self.num_classes = num_classes

    def padded(self, chips: torch.Tensor) -> torch.Tensor:
        """Chips padded (by reflection) to a size the encoder halves evenly."""
        height, width = chips.shape[-2:]
        pad_y = -height % self.multiple
        pad_x = -width % self.multiple
        if not pad_y and not pad_x:
            return chips
        mode = "reflect" if pad_y < height and pad_x < width else "replicate"
        return F.pad(chips, (0, pad_x, 0, pad_y), mode=mode)


class SegmentationNet(Network):
    """Class logits per pixel, (N, classes, H, W)."""

    def __init__(self, num_bands: int, num_classes: int, width: int, depth: int):
        super().__init__(num_bands, num_classes, width, depth)
        self.decoder = Decoder(self.encoder.widths)
        self.head = nn.Conv2d(width, num_classes, 1)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        height, width = chips.shape[-2:]
        logits = self.head(self.decoder(self.encoder(self.padded(chips))))
        return logits[..., :height, :width]


class ClassificationNet(Network):
    """Class logits per chip, (N, classes)."""

    def __init__(self, num_bands: int, num_classes: int, width: int, depth: int):
        super().__init__(num_bands, num_classes, width, depth)
        # Padded so that the averaged chip is one the encoder halves evenly.
        self.multiple *= CLASSIFICATION_STRIDE
        deepest = self.encoder.widths[-1]
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(2 * deepest, num_classes))

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        averaged = F.avg_pool2d(self.padded(chips), CLASSIFICATION_STRIDE)
        deepest = self.encoder(averaged)[-1]
        pooled = torch.cat([deepest.mean(dim=(2, 3)), deepest.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


class DetectionNet(Network):
    """A CenterNet heatmap and TTFNet's box distances at 1/``DETECTION_STRIDE`` size.

    ``forward`` gives a dict: ``heatmap`` (N, classes, h, w) logits of an
    object centre in each cell; ``box`` (N, 4, h, w) the log of the distances,
    in cells, from the cell's centre to the top, left, bottom and right edges
    of its object's box. Training teaches ``box`` at every cell near a centre,
    not at the centre alone (as TTFNet): many more examples of each box's size
    than objects. ``score_threshold`` is set by training (the heatmap score
    that best separated objects on the validation chips): :meth:`detect`
    rescales scores so that it becomes 0.5, the default score threshold of
    Raster Vision's object detection predict options.
    """

    def __init__(self, num_bands: int, num_classes: int, width: int, depth: int):
        super().__init__(num_bands, num_classes, width, depth)
        stop_level = DETECTION_STRIDE.bit_length() - 1
        if depth < stop_level:
            raise ValueError(f"object detection needs depth >= {stop_level}")
        self.decoder = Decoder(self.encoder.widths, stop_level=stop_level)
        features = self.encoder.widths[stop_level]
        self.heatmap = nn.Conv2d(features, num_classes, 1)
        # Start from a low object prior (CenterNet's -2.19: p = 0.1) so the
        # first steps are not swamped by the many background cells.
        nn.init.constant_(self.heatmap.bias, -2.19)
        self.box = nn.Conv2d(features, 4, 1)
        self.register_buffer("score_threshold", torch.tensor(0.5))

    def forward(self, chips: torch.Tensor) -> dict[str, torch.Tensor]:
        cells_y = -(-chips.shape[-2] // DETECTION_STRIDE)
        cells_x = -(-chips.shape[-1] // DETECTION_STRIDE)
        x = self.decoder(self.encoder(self.padded(chips)))[..., :cells_y, :cells_x]
        return {"heatmap": self.heatmap(x), "box": self.box(x)}

    def detect(self, outputs: dict, height: int, width: int, calibrate: bool = True):
        """Boxes of each chip: a list of (boxes (K, 4), class ids (K,), scores (K,)).

        Boxes are ymin, xmin, ymax, xmax in chip pixels, clipped to the chip;
        scores are calibrated (see the class) unless ``calibrate`` is False.
        """
        heat = torch.sigmoid(outputs["heatmap"].float())
        peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
        num, classes, cells_y, cells_x = peaks.shape
        scores, flat = peaks.reshape(num, -1).topk(min(MAX_OBJECTS, peaks[0].numel()))
        class_ids = flat // (cells_y * cells_x)
        cell = flat % (cells_y * cells_x)
        centres = torch.stack([cell // cells_x, cell % cells_x], dim=-1) + 0.5
        distances = box_distances(outputs["box"]).reshape(num, 4, -1)
        limits = torch.tensor([height, width, height, width], device=heat.device)
        signs = torch.tensor([-1.0, -1.0, 1.0, 1.0], device=heat.device)
        results = []
        for i in range(num):
            keep = scores[i] >= MIN_PEAK_SCORE
            sides = distances[i][:, cell[i][keep]].T * signs
            boxes = (centres[i][keep].repeat(1, 2) + sides) * DETECTION_STRIDE
            boxes = torch.minimum(boxes.clamp(min=0), limits)
            kept_scores = scores[i][keep]
            if calibrate:
                kept_scores = self.calibrated(kept_scores)
            results.append((boxes, class_ids[i][keep], kept_scores))
        return results

    def calibrated(self, scores: torch.Tensor) -> torch.Tensor:
        """Scores rescaled, keeping their order, so ``score_threshold`` maps to 0.5."""
        threshold = self.score_threshold.clamp(1e-3, 1 - 1e-3)
        return torch.where(
            scores < threshold,
            0.5 * scores / threshold,
            0.5 + 0.5 * (scores - threshold) / (1 - threshold),
        )


NETWORKS = {
    "chip_classification": ClassificationNet,
    "semantic_segmentation": SegmentationNet,
    "object_detection": DetectionNet,
}


def build_network(task: str, num_bands: int, num_classes: int, width: int, depth: int):
    """The network for ``task`` (a Task's value), untrained."""
    return NETWORKS[task](num_bands, num_classes, width, depth)
