"""SpaceNet Vegas: buildings or roads, for all three Raster Vision tasks.

Run it with (see the README for the sample data and the profile)::

    rastervision -p {{ cookiecutter.rv_profile }} run local spacenet/vegas.py \\
        -a raw_uri data/sample -a root_uri out/vegas \\
        -a target buildings -a task_type chip_classification -a test True

Raster Vision passes every ``-a key value`` to :func:`get_config` as a string.
``-a product PAN|PS-RGB|MS|PS-MS`` picks SpaceNet's image product (default
PS-RGB) and ``-a bands 0,1,2`` a selection of its bands (default all).
"""

import json
import os
import random
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from os.path import join
from pathlib import Path
from urllib.parse import urlparse

import rasterio
from rasterio.errors import RasterioIOError

from rastervision.core.analyzer import StatsAnalyzerConfig
from rastervision.core.data import (
    BufferTransformerConfig,
    BuildingVectorOutputConfig,
    ClassConfig,
    ClassInferenceTransformerConfig,
    DatasetConfig,
    GeoJSONVectorSourceConfig,
    ObjectDetectionLabelSourceConfig,
    PolygonVectorOutputConfig,
    RasterioSourceConfig,
    RasterizedSourceConfig,
    RasterizerConfig,
    SceneConfig,
    SemanticSegmentationLabelSourceConfig,
    StatsTransformerConfig,
)
from rastervision.core.rv_pipeline import (
    ChipClassificationConfig,
    ChipOptions,
    ObjectDetectionChipOptions,
    ObjectDetectionConfig,
    ObjectDetectionPredictOptions,
    ObjectDetectionWindowSamplingConfig,
    PredictOptions,
    SemanticSegmentationChipOptions,
    SemanticSegmentationConfig,
    SemanticSegmentationPredictOptions,
    WindowSamplingConfig,
)
from rastervision.pipeline.file_system import list_paths

from rastervision.{{ cookiecutter.plugin_slug }} import (
    EmptySafeChipClassificationLabelSourceConfig,
    {{ cookiecutter.__backend_class }}Config,
)
from rastervision.{{ cookiecutter.plugin_slug }}.batch_check import check_batch_setup
from rastervision.{{ cookiecutter.plugin_slug }}.label_stores import StripLabelStoreConfig
from rastervision.{{ cookiecutter.plugin_slug }}.model import ModelConfig

# spacenet/ is not installed: Raster Vision loads this file by its path, so make
# spacenet.layout importable from the project folder that holds it.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from spacenet import layout  # noqa: E402

CHIP_CLASSIFICATION = "chip_classification"
SEMANTIC_SEGMENTATION = "semantic_segmentation"
OBJECT_DETECTION = "object_detection"
TASK_TYPES = (CHIP_CLASSIFICATION, SEMANTIC_SEGMENTATION, OBJECT_DETECTION)

BUILDINGS = layout.BUILDINGS
ROADS = layout.ROADS
# Roads are lines: only segmentation makes sense of them.
TARGET_TASKS = {BUILDINGS: TASK_TYPES, ROADS: (SEMANTIC_SEGMENTATION,)}

REMOTE_RAW_URI = "s3://spacenet-dataset/"
LOCAL_RAW_URI = "/opt/data/spacenet-dataset"

# The image dtypes the experiment reads (the stats transformer rescales both to
# uint8); every scene must have the same one, and the same CRS.
DTYPES = ("uint8", "uint16")

# How segmentation predictions of the target class become GeoJSON polygons:
# building outputs split touching buildings apart; roads stay plain polygons.
VECTOR_OUTPUTS = {
    BUILDINGS: BuildingVectorOutputConfig,
    ROADS: PolygonVectorOutputConfig,
}

CHIP_SIZE = 128
# Chip classification: the fraction of a cell one polygon must cover for the
# cell to be the target's. 1% of a 128 px cell is 164 px: about 15 square
# metres at SpaceNet's 0.3 m per pixel, under half the sample data's smallest
# roof (6 m square). A thinner sliver of roof at a cell's edge is background.
CELL_COVER_THRESH = 0.01
TEST_MAX_TRAIN_SCENES = 2
TEST_MAX_VALIDATION_SCENES = 1
TEST_MAX_CHIPS_PER_SCENE = 4
TRAIN_SPLIT = 0.8
# Road centre lines become polygons this many pixels wide on each side.
ROAD_BUFFER_PIXELS = 10


def parse_bool(name: str, value) -> bool:
    """Turn a ``-a name value`` string (or a real bool) into a bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"-a {name} must be True or False, not {value!r}")


def model_settings(test: bool, overrides=None) -> ModelConfig:
    """The model's settings: its defaults (a test run's quick ones), with the
    fields a ``-a model '{"name": value}'`` JSON object gives over them."""
    base = ModelConfig.for_test_run() if test else ModelConfig()
    if not overrides:
        return base
    try:
        fields = json.loads(overrides)
    except ValueError as error:
        raise ValueError(f"-a model must be a JSON object: {error}") from error
    if not isinstance(fields, dict):
        raise ValueError(f"-a model must be a JSON object, not {overrides!r}")
    return ModelConfig(**{**base.model_dump(), **fields})


def check_choice(name: str, value: str, choices) -> str:
    if value not in choices:
        raise ValueError(
            f"-a {name} must be one of {', '.join(choices)}; got {value!r}"
        )
    return value


def parse_bands(value, product: str) -> list[int]:
    """``-a bands 0,1,2`` as a list of band indices of ``product`` (default all)."""
    count = layout.PRODUCT_BANDS[product]
    if value is None or str(value).strip() == "":
        return list(range(count))
    try:
        bands = [int(band) for band in str(value).split(",")]
    except ValueError:
        raise ValueError(
            f"-a bands must be band indices separated by commas (0,1,2), not {value!r}"
        ) from None
    wrong = [band for band in bands if not 0 <= band < count]
    if wrong or len(set(bands)) != len(bands):
        raise ValueError(
            f"-a bands {value}: {product} has {count} band(s), 0 to {count - 1}, "
            "each given once"
        )
    return bands


class SceneImageError(SystemExit):
    """A scene's image differs from what the experiment expects.

    A ``SystemExit``: ``rastervision run`` stops with just its one line (no
    traceback), before anything is written.
    """


def s3_gdal_options() -> dict:
    """GDAL's settings to read ``s3://`` images as Raster Vision reaches them:
    its boto3 session's credentials and region, its endpoint (``AWS_ENDPOINT_URL``
    included: MinIO, a test server), ``AWS_REQUEST_PAYER`` or the profile's
    ``requester_pays``, and ``AWS_NO_SIGN_REQUEST``."""
    from rasterio.session import AWSSession
    from rastervision.aws_s3 import S3FileSystem

    endpoint = urlparse(S3FileSystem.get_client().meta.endpoint_url)
    options = {}
    endpoint_url = None
    if not endpoint.hostname.endswith(".amazonaws.com"):
        endpoint_url = endpoint.netloc
        options["AWS_VIRTUAL_HOSTING"] = False
        options["AWS_HTTPS"] = endpoint.scheme == "https"
    options["session"] = AWSSession(
        S3FileSystem.get_session(),
        endpoint_url=endpoint_url,
        requester_pays=S3FileSystem.get_request_payer() == "requester",
    )
    return options


def is_local(uri: str) -> bool:
    return urlparse(uri).scheme in ("", "file")


def read_header(uri: str, product: str, gdal_options: dict) -> tuple:
    """An image's band count, dtypes and CRS, from its header alone (a few
    ranged reads for a remote image)."""
    path = uri
    if is_local(uri):
        path = urlparse(uri).path if uri.startswith("file:") else uri
        if not os.path.isfile(path):
            raise SceneImageError(
                f"{uri}: no such file; expected a {product} image for every "
                "labelled scene"
            )
    try:
        with rasterio.Env(**gdal_options), rasterio.open(path) as image:
            return image.count, set(image.dtypes), str(image.crs)
    except RasterioIOError as error:
        raise SceneImageError(f"{uri}: cannot read its header: {error}") from None


def check_scene_images(image_uris: list[str], product: str) -> None:
    """Stop unless every image has the product's band count, one dtype of
    ``DTYPES`` and one CRS (those of the first image).

    Reads headers only, many at a time: SpaceNet Vegas has thousands of
    scenes, on S3 for most users.
    """
    gdal_options = {} if all(map(is_local, image_uris)) else s3_gdal_options()
    with ThreadPoolExecutor(max_workers=16) as pool:
        headers = list(
            pool.map(lambda uri: read_header(uri, product, gdal_options), image_uris)
        )
    _, first_dtypes, first_crs = headers[0]
    dtype = min(first_dtypes)
    if dtype not in DTYPES:
        dtype = " or ".join(DTYPES)
    expected = (layout.PRODUCT_BANDS[product], {dtype}, first_crs)
    for uri, header in zip(image_uris, headers, strict=True):
        if header != expected:
            bands, dtypes, crs = header
            raise SceneImageError(
                f"{uri}: {bands} band(s) {'/'.join(sorted(dtypes))} in {crs}; "
                f"expected {expected[0]} band(s) ({product}) {dtype} in {first_crs}"
            )


def get_scene_ids(raw_uri: str, target: str) -> list[str]:
    """Scene ids of every labelled image, sorted as numbers."""
    label_dir = join(raw_uri, layout.label_dir(target))
    pattern = re.compile(re.escape(layout.label_prefix(target)) + r"(\d+)\.geojson$")
    ids = []
    for path in list_paths(label_dir, ext=".geojson"):
        match = pattern.search(path)
        if match:
            ids.append(match.group(1))
    return sorted(ids, key=int)


def build_scene(
    raw_uri: str,
    target: str,
    task_type: str,
    scene_id: str,
    product: str = layout.DEFAULT_PRODUCT,
    bands: list[int] | None = None,
) -> SceneConfig:
    image_uri = join(raw_uri, layout.image_path(target, scene_id, product))
    label_uri = join(raw_uri, layout.label_path(target, scene_id))
    # SpaceNet images are uint16: the stats transformer rescales them (and uint8
    # images) to uint8, from statistics that leave nodata (0) out.
    raster_source = RasterioSourceConfig(
        uris=[image_uri],
        channel_order=bands or parse_bands(None, product),
        transformers=[StatsTransformerConfig()],
    )
    vector_source = GeoJSONVectorSourceConfig(
        uris=[label_uri],
        transformers=[
            ClassInferenceTransformerConfig(default_class_id=0),
            BufferTransformerConfig(
                geom_type="LineString", class_bufs={0: ROAD_BUFFER_PIXELS}
            ),
        ],
    )
    if task_type == CHIP_CLASSIFICATION:
        # Some SpaceNet images have no buildings: see the plugin's label_sources.
        # A cell is the target's when one of its polygons covers at least
        # CELL_COVER_THRESH of the cell: the label depends only on what the cell
        # shows, not on how much of a building lies outside it.
        label_source = EmptySafeChipClassificationLabelSourceConfig(
            vector_source=vector_source,
            ioa_thresh=CELL_COVER_THRESH,
            use_intersection_over_cell=True,
            pick_min_class_id=True,
            background_class_id=1,
            infer_cells=True,
        )
    elif task_type == SEMANTIC_SEGMENTATION:
        label_source = SemanticSegmentationLabelSourceConfig(
            raster_source=RasterizedSourceConfig(
                vector_source=vector_source,
                rasterizer_config=RasterizerConfig(background_class_id=1),
            )
        )
    else:
        label_source = ObjectDetectionLabelSourceConfig(vector_source=vector_source)
    label_store = None  # the task's default: GeoJSON predictions
    if task_type == SEMANTIC_SEGMENTATION:
        # labels.tif plus the target class (id 0) as GeoJSON polygons; the
        # polygons `rastervision predict` adds take strips of rows, not the
        # whole scene (see label_stores.py).
        label_store = StripLabelStoreConfig(
            vector_output=[VECTOR_OUTPUTS[target](class_id=0)]
        )
    return SceneConfig(
        id=scene_id,
        raster_source=raster_source,
        label_source=label_source,
        label_store=label_store,
    )


def get_class_config(target: str, task_type: str) -> ClassConfig:
    """The target class, plus background where cells or pixels can lack it."""
    class_name = layout.CLASS_NAMES[target]
    if task_type == OBJECT_DETECTION:
        return ClassConfig(names=[class_name], colors=["orange"])
    if task_type == SEMANTIC_SEGMENTATION:
        # Background doubles as the null class: no extra "null" class is added.
        return ClassConfig(
            names=[class_name, "background"],
            colors=["orange", "black"],
            null_class="background",
        )
    return ClassConfig(names=[class_name, "background"], colors=["orange", "black"])


def get_window_sampling(
    test: bool,
    sampling_class=WindowSamplingConfig,
    stride: int = CHIP_SIZE,
    **options,
):
    """Sliding windows over whole scenes; a test run takes a few random chips."""
    if test:
        return sampling_class(
            method="random",
            size=CHIP_SIZE,
            max_windows=TEST_MAX_CHIPS_PER_SCENE,
            **options,
        )
    return sampling_class(size=CHIP_SIZE, stride=stride, **options)


def get_stats_analyzer() -> StatsAnalyzerConfig:
    """Image statistics from every pixel, for scenes of any size, the same each run.

    Raster Vision's default samples random 300 px squares: it stops with
    ``BoxSizeError`` on a scene 300 px wide (or a 256 x 1000 strip), and its
    statistics, hence every prediction, change from run to run. A sliding
    window over whole scenes reads each pixel once: cheap at SpaceNet's sizes.
    """
    return StatsAnalyzerConfig(sample_prob=None)


def get_pipeline_options(task_type: str, test: bool):
    """Pipeline class, chip options and predict options for a task."""
    if task_type == CHIP_CLASSIFICATION:
        # Eval matches predicted cells to label cells exactly: same size, no overlap.
        return (
            ChipClassificationConfig,
            ChipOptions(sampling=get_window_sampling(test)),
            PredictOptions(chip_sz=CHIP_SIZE, stride=CHIP_SIZE),
        )
    if task_type == SEMANTIC_SEGMENTATION:
        return (
            SemanticSegmentationConfig,
            SemanticSegmentationChipOptions(sampling=get_window_sampling(test)),
            SemanticSegmentationPredictOptions(chip_sz=CHIP_SIZE),
        )
    return (
        ObjectDetectionConfig,
        ObjectDetectionChipOptions(
            # Every object a chip shows is in its labels, clipped to the chip:
            # by default an object less than 80% inside would be left out and
            # its pixels taught as background.
            # Windows overlapping by half: an object cut by one window's edge
            # is whole in the next, so the model learns whole objects from
            # four times as many chips (NEON tree crowns: F1 0.32 -> 0.42).
            sampling=get_window_sampling(
                test,
                ObjectDetectionWindowSamplingConfig,
                stride=CHIP_SIZE // 2,
                ioa_thresh=0.01,
                clip=True,
            )
        ),
        # Windows twice the chip size, overlapping by half: each object up to
        # CHIP_SIZE pixels across is seen whole by one of them.
        ObjectDetectionPredictOptions(chip_sz=2 * CHIP_SIZE, stride=CHIP_SIZE),
    )


def get_config(
    runner,
    root_uri,
    raw_uri=None,
    use_remote_data="False",
    target=BUILDINGS,
    task_type=CHIP_CLASSIFICATION,
    test="False",
    product=layout.DEFAULT_PRODUCT,
    bands=None,
    model=None,
):
    """The Vegas pipeline config; Raster Vision calls this with the ``-a`` values.

    Args:
        runner: the runner's name (``local``, ``inprocess``, ``batch``).
        root_uri: where every output goes.
        raw_uri: the folder (or s3:// URI) that holds ``spacenet/``. Defaults to
            SpaceNet's bucket with ``use_remote_data True``, else
            ``/opt/data/spacenet-dataset``.
        target: ``buildings`` or ``roads`` (roads: semantic segmentation only).
        task_type: ``chip_classification``, ``semantic_segmentation`` or
            ``object_detection``.
        test: ``True`` keeps the run tiny: a few scenes and chips, and the
            model's quick settings (``ModelConfig.for_test_run``).
        product: SpaceNet's image product, its folder name: ``PS-RGB`` (3
            bands), ``PAN`` (1), ``MS`` or ``PS-MS`` (8).
        bands: band indices to use, ``0,1,2``; default all the product's.
        model: the model's settings (``ModelConfig`` fields) as a JSON object
            over its defaults, ``{"epochs": 50}``.

    Every scene's image header is checked first (band count, dtype, CRS): one
    that differs stops the run with :class:`SceneImageError`.
    """
    check_choice("target", target, tuple(TARGET_TASKS))
    check_choice("task_type", task_type, TASK_TYPES)
    check_choice("product", product, tuple(layout.PRODUCT_BANDS))
    band_list = parse_bands(bands, product)
    if task_type not in TARGET_TASKS[target]:
        raise ValueError(
            f"-a target {target} works only with task_type "
            f"{' or '.join(TARGET_TASKS[target])}: roads are lines, not objects"
        )
    test = parse_bool("test", test)
    settings = model_settings(test, model)
    if runner == "batch":
        # Before any work: fail now, not halfway through submitting the jobs.
        check_batch_setup()
    if raw_uri is None:
        remote = parse_bool("use_remote_data", use_remote_data)
        raw_uri = REMOTE_RAW_URI if remote else LOCAL_RAW_URI
    if not str(raw_uri).strip():
        raise ValueError("-a raw_uri is empty: give the folder that holds spacenet/")

    scene_ids = get_scene_ids(raw_uri, target)
    if len(scene_ids) < 2:
        raise ValueError(
            f"Found {len(scene_ids)} labelled {target} scene(s) under "
            f"{join(raw_uri, layout.label_dir(target))}; need at least 2. "
            "Is -a raw_uri the folder that holds spacenet/?"
        )
    random.Random(5678).shuffle(scene_ids)
    num_train = min(max(1, round(len(scene_ids) * TRAIN_SPLIT)), len(scene_ids) - 1)
    train_ids, validation_ids = scene_ids[:num_train], scene_ids[num_train:]
    if test:
        train_ids = train_ids[:TEST_MAX_TRAIN_SCENES]
        validation_ids = validation_ids[:TEST_MAX_VALIDATION_SCENES]

    def scenes(ids):
        return [
            build_scene(raw_uri, target, task_type, i, product, band_list) for i in ids
        ]

    dataset = DatasetConfig(
        class_config=get_class_config(target, task_type),
        train_scenes=scenes(train_ids),
        validation_scenes=scenes(validation_ids),
    )
    # Before Raster Vision writes anything under root_uri.
    check_scene_images([s.raster_source.uris[0] for s in dataset.all_scenes], product)
    pipeline_class, chip_options, predict_options = get_pipeline_options(
        task_type, test
    )
    return pipeline_class(
        root_uri=root_uri,
        dataset=dataset,
        analyzers=[get_stats_analyzer()],
        # A test run checks that every command works, not how well the model
        # learns: the model's quick settings (see model_settings).
        backend={{ cookiecutter.__backend_class }}Config(model=settings),
        chip_options=chip_options,
        predict_options=predict_options,
    )
