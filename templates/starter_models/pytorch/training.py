"""Training of the PyTorch starter model, with Lightning.

Imported only by ``Model.train``: predicting needs torch alone. Lightning runs
the loop: shuffled epochs, the device (CPU, one GPU, or several with its DDP),
mixed precision on a GPU, a progress bar with the loss and validation F1, and
the checkpoint of the epoch with the best validation F1, which is the one kept.

- :class:`ChipDataset`: the contract's chips as tensors, with random flips and
  90-degree rotations (a satellite or aerial image has no "up"), and for object
  detection CenterNet's and TTFNet's targets made from the boxes after
  augmentation.
- :class:`TrainingModule`: the losses (class-balanced cross entropy; for
  detection CenterNet's focal loss on the heatmap plus TTFNet's generalised
  IoU loss on the boxes) and validation F1 of each class.
"""

import logging
import sys
import tempfile
import warnings

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from rastervision.{{ cookiecutter.plugin_slug }}.contract import (
    Boxes,
    Chips,
    ModelSpec,
    Task,
)
from rastervision.{{ cookiecutter.plugin_slug }}.networks import (
    DETECTION_STRIDE,
    box_distances,
    chip_tensor,
)

log = logging.getLogger(__name__)

# Training steps per epoch at least (see fit).
MIN_STEPS_PER_EPOCH = 8
# Object detection: a predicted box matches an object when their intersection
# over union is at least this (as Raster Vision's evaluation).
MATCH_IOU = 0.5
# Object detection: the weight of the box loss beside the heatmap's (TTFNet's).
BOX_LOSS_WEIGHT = 5
# Object detection: heatmap scores tried as the score threshold on validation.
THRESHOLDS = np.linspace(0.05, 0.95, 19)


def augment(chip: np.ndarray, label, rng: np.random.Generator):
    """The chip and label flipped and rotated by a random multiple of 90 degrees."""
    turns = int(rng.integers(4))
    flip = bool(rng.integers(2))
    height, width = chip.shape[:2]
    if isinstance(label, Boxes):
        boxes = label.boxes.copy()
        if flip:  # left to right
            boxes[:, [1, 3]] = width - boxes[:, [3, 1]]
        for _ in range(turns):  # as np.rot90: (y, x) -> (width - x, y)
            boxes = np.stack(
                [width - boxes[:, 3], boxes[:, 0], width - boxes[:, 1], boxes[:, 2]],
                axis=1,
            )
            height, width = width, height
        label = Boxes(boxes, label.class_ids)
    elif isinstance(label, np.ndarray):
        label = np.rot90(label[:, ::-1] if flip else label, turns)
    chip = np.rot90(chip[:, ::-1] if flip else chip, turns)
    return np.ascontiguousarray(chip), label


def detection_targets(boxes: Boxes, height: int, width: int, num_classes: int):
    """CenterNet's and TTFNet's targets at 1/``DETECTION_STRIDE`` of the chip's size.

    Returns ``heatmap`` (classes, h, w): a Gaussian around each object's
    centre, 1 at the centre's cell; ``box`` (4, h, w): the distances in cells
    from each cell's centre to its object's top, left, bottom and right edges;
    ``box_weight`` (h, w): where ``box`` is learnt, the cells of the middle
    half of each object (its centre's cell at least), weighted by the Gaussian
    and summing to 1 per object. A cell two objects share teaches the smaller.
    """
    cells_y = -(-height // DETECTION_STRIDE)
    cells_x = -(-width // DETECTION_STRIDE)
    heatmap = np.zeros((num_classes, cells_y, cells_x), dtype=np.float32)
    box = np.zeros((4, cells_y, cells_x), dtype=np.float32)
    box_weight = np.zeros((cells_y, cells_x), dtype=np.float32)
    # Cell centres, in cells.
    ys = np.arange(cells_y)[:, None] + 0.5
    xs = np.arange(cells_x)[None, :] + 0.5
    edges = np.reshape(boxes.boxes, (-1, 4)).astype(np.float64) / DETECTION_STRIDE
    sides = np.maximum(edges[:, 2:] - edges[:, :2], 1 / DETECTION_STRIDE)
    for index in np.argsort(-sides.prod(axis=1), kind="stable"):  # largest first
        ymin, xmin, ymax, xmax = edges[index]
        box_h, box_w = sides[index]
        class_id = boxes.class_ids[index]
        centre_y, centre_x = (ymin + ymax) / 2, (xmin + xmax) / 2
        row = min(int(centre_y), cells_y - 1)
        col = min(int(centre_x), cells_x - 1)
        sigma_y, sigma_x = max(box_h / 6, 0.5), max(box_w / 6, 0.5)
        gaussian = np.exp(
            -((ys - row - 0.5) ** 2) / (2 * sigma_y**2)
            - (xs - col - 0.5) ** 2 / (2 * sigma_x**2)
        )
        np.maximum(heatmap[class_id], gaussian, out=heatmap[class_id])
        heatmap[class_id, row, col] = 1
        middle = (np.abs(ys - centre_y) <= box_h / 4) & (
            np.abs(xs - centre_x) <= box_w / 4
        )
        middle[row, col] = True
        box_weight[middle] = gaussian[middle] / gaussian[middle].sum()
        for side, distance in enumerate((ys - ymin, xs - xmin, ymax - ys, xmax - xs)):
            box[side][middle] = np.broadcast_to(distance, middle.shape)[middle]
    return {"heatmap": heatmap, "box": np.maximum(box, 0), "box_weight": box_weight}


class ChipDataset(Dataset):
    """The contract's chips as (chip tensor, target) pairs, augmented if asked.

    Targets: a class id (chip classification), an (H, W) int64 map of class
    ids (semantic segmentation), or a dict of detection targets plus the
    boxes themselves (object detection, see :func:`detection_targets`).
    """

    def __init__(self, chips: Chips, spec: ModelSpec, augment: bool, seed: int):
        self.chips = chips
        self.spec = spec
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.chips)

    def __getitem__(self, index: int):
        sample = self.chips[index]
        chip, label = sample.chip, sample.label
        if self.augment:
            # Seeded by epoch and chip: the same augmentation however the
            # chips are read, so a CPU run repeats exactly.
            rng = np.random.default_rng([self.seed, self.epoch, index])
            chip, label = augment(chip, label, rng)
        tensor = chip_tensor(chip[None])[0]
        if self.spec.task == Task.CHIP_CLASSIFICATION:
            return tensor, int(label)
        if self.spec.task == Task.SEMANTIC_SEGMENTATION:
            return tensor, torch.from_numpy(np.asarray(label, dtype=np.int64))
        height, width = chip.shape[:2]
        targets = detection_targets(label, height, width, self.spec.num_classes)
        targets = {key: torch.from_numpy(value) for key, value in targets.items()}
        return tensor, targets, label


def collate_detection(batch):
    """Stack chips and targets; keep each chip's Boxes as a list (they vary in number)."""
    chips = torch.stack([item[0] for item in batch])
    targets = {
        key: torch.stack([item[1][key] for item in batch]) for key in batch[0][1]
    }
    return chips, targets, [item[2] for item in batch]


def class_weights(chips: Chips, spec: ModelSpec, power: float) -> torch.Tensor:
    """Loss weight per class: (mean count / class count) ** ``power``, from one pass."""
    counts = np.zeros(spec.num_classes)
    for sample in chips:
        counts += np.bincount(np.ravel(sample.label), minlength=spec.num_classes)[
            : spec.num_classes
        ]
    present = counts > 0
    weights = np.ones(spec.num_classes)
    weights[present] = (counts[present].mean() / counts[present]) ** power
    return torch.tensor(weights / weights[present].mean(), dtype=torch.float32)


def giou_loss(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - generalised IoU, per cell, of boxes given as their distances from the
    cell's centre to their top, left, bottom and right edges: (N, 4, h, w) each."""
    top, left, bottom, right = predicted.unbind(1)
    top_t, left_t, bottom_t, right_t = target.unbind(1)
    area = (top + bottom) * (left + right)
    area_t = (top_t + bottom_t) * (left_t + right_t)
    intersection = (torch.minimum(top, top_t) + torch.minimum(bottom, bottom_t)) * (
        torch.minimum(left, left_t) + torch.minimum(right, right_t)
    )
    union = (area + area_t - intersection).clamp(min=1e-6)
    enclosing = (
        (torch.maximum(top, top_t) + torch.maximum(bottom, bottom_t))
        * (torch.maximum(left, left_t) + torch.maximum(right, right_t))
    ).clamp(min=1e-6)
    return 1 - intersection / union + (enclosing - union) / enclosing


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, per object centre."""
    prob = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    positive = target.eq(1).float()
    negative_weight = (1 - target) ** 4
    loss = -(
        positive * (1 - prob) ** 2 * torch.log(prob)
        + (1 - positive) * negative_weight * prob**2 * torch.log(1 - prob)
    ).sum()
    return loss / positive.sum().clamp(min=1)


def f1_scores(true_positives, false_positives, false_negatives) -> np.ndarray:
    """F1 per class from counts (0 where a class is neither present nor predicted)."""
    tp, fp, fn = (
        np.asarray(x, dtype=float)
        for x in (true_positives, false_positives, false_negatives)
    )
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of ``a`` with every box of ``b``."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - intersection
    return intersection / np.maximum(union, 1e-6)


def match_counts(boxes, class_ids, scores, truth: Boxes, num_classes: int):
    """Per threshold of :data:`THRESHOLDS` and class: true positives, false
    positives, false negatives, as an array (thresholds, 3, classes).

    Best scores first, a prediction matches the unmatched object of its class
    it overlaps most, if by at least :data:`MATCH_IOU` (as Raster Vision's
    evaluation). The predictions above a threshold are a prefix of that order,
    so one pass gives the matches at every threshold.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, class_ids, scores = boxes[order], class_ids[order], scores[order]
    hit = np.zeros(len(boxes), dtype=bool)
    if len(boxes) and len(truth):
        iou = box_iou(boxes, truth.boxes)
        iou[class_ids[:, None] != truth.class_ids[None, :]] = 0
        free = np.ones(len(truth), dtype=bool)
        for row in range(len(boxes)):
            candidates = np.where(free, iou[row], 0)
            best = int(candidates.argmax())
            if candidates[best] >= MATCH_IOU:
                free[best] = False
                hit[row] = True
    kept = scores[None, :] >= THRESHOLDS[:, None]
    counts = np.zeros((len(THRESHOLDS), 3, num_classes))
    for class_id in range(num_classes):
        of_class = class_ids == class_id
        tp = (kept & hit & of_class).sum(axis=1)
        counts[:, 0, class_id] = tp
        counts[:, 1, class_id] = (kept & of_class).sum(axis=1) - tp
        counts[:, 2, class_id] = (truth.class_ids == class_id).sum() - tp
    return counts


class TrainingModule(L.LightningModule):
    """A network, its loss and its validation F1 (``val_f1``: the mean over classes)."""

    def __init__(
        self, network, spec: ModelSpec, settings, weights: torch.Tensor, steps: int
    ):
        super().__init__()
        self.network = network
        self.spec = spec
        self.settings = settings
        self.register_buffer("weights", weights)
        self.steps = steps
        self.counts = None

    def forward(self, chips):
        return self.network(chips)

    def loss(self, outputs, targets):
        if self.spec.task != Task.OBJECT_DETECTION:
            return F.cross_entropy(outputs, targets, weight=self.weights)
        weight = targets["box_weight"]
        objects = weight.sum().clamp(min=1)
        box_loss = giou_loss(box_distances(outputs["box"]), targets["box"])
        return (
            focal_loss(outputs["heatmap"].float(), targets["heatmap"])
            + BOX_LOSS_WEIGHT * (box_loss * weight).sum() / objects
        )

    def training_step(self, batch, batch_index):
        loss = self.loss(self(batch[0]), batch[1])
        self.log("loss", loss, prog_bar=True, batch_size=len(batch[0]))
        return loss

    def on_validation_epoch_start(self):
        self.counts = None

    def validation_step(self, batch, batch_index):
        chips = batch[0]
        outputs = self(chips)
        if self.spec.task == Task.OBJECT_DETECTION:
            counts = np.zeros((len(THRESHOLDS), 3, self.spec.num_classes))
            # Raw heatmap scores: the threshold is chosen among them.
            detections = self.network.detect(
                outputs, *chips.shape[-2:], calibrate=False
            )
            for (boxes, class_ids, scores), truth in zip(
                detections, batch[2], strict=True
            ):
                counts += match_counts(
                    boxes.cpu().numpy(),
                    class_ids.cpu().numpy(),
                    scores.cpu().numpy(),
                    truth,
                    self.spec.num_classes,
                )
        else:
            predicted = outputs.argmax(dim=1).flatten()
            truth = batch[1].flatten()
            k = self.spec.num_classes
            confusion = torch.bincount(truth * k + predicted, minlength=k * k).reshape(
                k, k
            )
            tp = confusion.diag()
            counts = torch.stack([tp, confusion.sum(0) - tp, confusion.sum(1) - tp])
            counts = counts.cpu().numpy()[None]
        self.counts = counts if self.counts is None else self.counts + counts

    def on_validation_epoch_end(self):
        if self.counts is None:
            return
        f1 = np.stack([f1_scores(*counts) for counts in self.counts])
        present = self.counts[0, 0] + self.counts[0, 2] > 0
        mean_f1 = f1[:, present].mean(axis=1) if present.any() else f1.mean(axis=1)
        best = int(np.argmax(mean_f1))
        if self.spec.task == Task.OBJECT_DETECTION:
            self.network.score_threshold.fill_(float(THRESHOLDS[best]))
        self.log("val_f1", float(mean_f1[best]), prog_bar=True)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.settings.learning_rate, weight_decay=1e-4
        )
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=self.settings.learning_rate, total_steps=self.steps
        )
        return [optimizer], [{"scheduler": schedule, "interval": "step"}]


class EpochLog(L.Callback):
    """A log line per epoch where no terminal shows Lightning's progress bar."""

    def on_train_epoch_end(self, trainer, module):
        metrics = {
            key: f"{float(value):.3f}"
            for key, value in trainer.callback_metrics.items()
        }
        log.info(
            "epoch %d/%d: %s", trainer.current_epoch + 1, trainer.max_epochs, metrics
        )


class NextEpoch(L.Callback):
    """Tell the training data which epoch it is, for its seeded augmentation."""

    def __init__(self, dataset: ChipDataset):
        self.dataset = dataset

    def on_train_epoch_start(self, trainer, module):
        self.dataset.epoch = trainer.current_epoch


def fit(network, spec: ModelSpec, settings, train_chips: Chips, valid_chips: Chips):
    """Train ``network`` in place on the chips; keep the epoch best on validation."""
    L.seed_everything(settings.seed, workers=True, verbose=False)
    # Lightning's notes on GPUs, TPUs and tips: this module logs what matters.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    train_data = ChipDataset(
        train_chips, spec, augment=settings.augment, seed=settings.seed
    )
    collate = collate_detection if spec.task == Task.OBJECT_DETECTION else None
    generator = torch.Generator().manual_seed(settings.seed)
    # A small data set gets smaller batches, so that it still gets enough
    # steps to learn from: the same arithmetic per epoch, more updates.
    batch_size = min(
        settings.batch_size, max(2, len(train_data) // MIN_STEPS_PER_EPOCH)
    )
    train_loader = DataLoader(
        train_data,
        batch_size=batch_size,
        shuffle=True,
        drop_last=len(train_data) > batch_size,
        collate_fn=collate,
        generator=generator,
    )
    valid_loader = None
    if len(valid_chips):
        valid_loader = DataLoader(
            ChipDataset(valid_chips, spec, augment=False, seed=settings.seed),
            batch_size=settings.batch_size,
            collate_fn=collate,
        )
    weights = torch.ones(spec.num_classes)
    if spec.task != Task.OBJECT_DETECTION:
        weights = class_weights(train_chips, spec, settings.class_balance)
    epochs = settings.epochs_for(spec.task)
    steps = epochs * len(train_loader)
    network.train()  # a loaded bundle's network comes in eval mode
    module = TrainingModule(network, spec, settings, weights, steps)
    cuda = settings.device == "cuda" or (
        settings.device == "auto" and torch.cuda.is_available()
    )
    in_terminal = sys.stderr.isatty()
    with tempfile.TemporaryDirectory() as checkpoint_dir:
        best = L.pytorch.callbacks.ModelCheckpoint(
            dirpath=checkpoint_dir, monitor="val_f1", mode="max", save_top_k=1
        )
        trainer = L.Trainer(
            accelerator="gpu" if cuda else "cpu",
            devices=settings.devices if cuda else 1,
            precision="bf16-mixed" if cuda and settings.mixed_precision else "32-true",
            max_epochs=epochs,
            deterministic=not cuda,
            logger=False,
            callbacks=[NextEpoch(train_data), *([best] if valid_loader else [])]
            + ([] if in_terminal else [EpochLog()]),
            enable_checkpointing=valid_loader is not None,
            enable_progress_bar=in_terminal,
            enable_model_summary=False,
            num_sanity_val_steps=0,
        )
        with warnings.catch_warnings():
            # Lightning 2.6 with torch 2.13: harmless, and no user can act on it.
            warnings.filterwarnings(
                "ignore", message=r".*isinstance\(treespec, LeafSpec\)"
            )
            trainer.fit(module, train_loader, valid_loader)
        if valid_loader is not None and best.best_model_path:
            state = torch.load(
                best.best_model_path, map_location="cpu", weights_only=True
            )
            module.load_state_dict(state["state_dict"])
            log.info("kept epoch with validation F1 %.3f", float(best.best_model_score))
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**20
        log.info("training: peak GPU memory: %.0f MiB", peak)
    return network.cpu().eval()
