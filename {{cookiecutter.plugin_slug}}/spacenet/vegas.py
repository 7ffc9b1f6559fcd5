"""SpaceNet Vegas: buildings or roads, for all three Raster Vision tasks.

Run it with (see the README for the sample data and the profile)::

    rastervision -p {{ cookiecutter.rv_profile }} run local spacenet/vegas.py \\
        -a raw_uri data/sample -a root_uri out/vegas \\
        -a target buildings -a task_type chip_classification -a test True

Raster Vision passes every ``-a key value`` to :func:`get_config` as a string.
"""

import random
import re
from os.path import join

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
    SemanticSegmentationLabelStoreConfig,
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
from rastervision.{{ cookiecutter.plugin_slug }}.model import ModelConfig

CHIP_CLASSIFICATION = "chip_classification"
SEMANTIC_SEGMENTATION = "semantic_segmentation"
OBJECT_DETECTION = "object_detection"
TASK_TYPES = (CHIP_CLASSIFICATION, SEMANTIC_SEGMENTATION, OBJECT_DETECTION)

BUILDINGS = "buildings"
ROADS = "roads"
# Roads are lines: only segmentation makes sense of them.
TARGET_TASKS = {BUILDINGS: TASK_TYPES, ROADS: (SEMANTIC_SEGMENTATION,)}

REMOTE_RAW_URI = "s3://spacenet-dataset/"
LOCAL_RAW_URI = "/opt/data/spacenet-dataset"

# Where SpaceNet keeps each target, relative to raw_uri.
LAYOUTS = {
    BUILDINGS: {
        "image_dir": "spacenet/SN2_buildings/train/AOI_2_Vegas/PS-RGB",
        "image_prefix": "SN2_buildings_train_AOI_2_Vegas_PS-RGB_img",
        "label_dir": "spacenet/SN2_buildings/train/AOI_2_Vegas/geojson_buildings",
        "label_prefix": "SN2_buildings_train_AOI_2_Vegas_geojson_buildings_img",
        "class_name": "building",
    },
    ROADS: {
        "image_dir": "spacenet/SN3_roads/train/AOI_2_Vegas/PS-RGB",
        "image_prefix": "SN3_roads_train_AOI_2_Vegas_PS-RGB_img",
        "label_dir": "spacenet/SN3_roads/train/AOI_2_Vegas/geojson_roads",
        "label_prefix": "SN3_roads_train_AOI_2_Vegas_geojson_roads_img",
        "class_name": "road",
    },
}

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


def check_choice(name: str, value: str, choices) -> str:
    if value not in choices:
        raise ValueError(
            f"-a {name} must be one of {', '.join(choices)}; got {value!r}"
        )
    return value


def get_scene_ids(raw_uri: str, target: str) -> list[str]:
    """Scene ids of every labelled image, sorted as numbers."""
    layout = LAYOUTS[target]
    label_dir = join(raw_uri, layout["label_dir"])
    pattern = re.compile(re.escape(layout["label_prefix"]) + r"(\d+)\.geojson$")
    ids = []
    for path in list_paths(label_dir, ext=".geojson"):
        match = pattern.search(path)
        if match:
            ids.append(match.group(1))
    return sorted(ids, key=int)


def build_scene(
    raw_uri: str, target: str, task_type: str, scene_id: str
) -> SceneConfig:
    layout = LAYOUTS[target]
    image_uri = join(
        raw_uri, layout["image_dir"], f"{layout['image_prefix']}{scene_id}.tif"
    )
    label_uri = join(
        raw_uri, layout["label_dir"], f"{layout['label_prefix']}{scene_id}.geojson"
    )
    # SpaceNet images are uint16: the stats transformer rescales them to uint8.
    raster_source = RasterioSourceConfig(
        uris=[image_uri],
        channel_order=[0, 1, 2],
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
        # labels.tif plus the target class (id 0) as GeoJSON polygons.
        label_store = SemanticSegmentationLabelStoreConfig(
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
    class_name = LAYOUTS[target]["class_name"]
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


def get_window_sampling(test: bool, sampling_class=WindowSamplingConfig, **options):
    """Sliding windows over whole scenes; a test run takes a few random chips."""
    if test:
        return sampling_class(
            method="random",
            size=CHIP_SIZE,
            max_windows=TEST_MAX_CHIPS_PER_SCENE,
            **options,
        )
    return sampling_class(size=CHIP_SIZE, stride=CHIP_SIZE, **options)


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
            sampling=get_window_sampling(
                test, ObjectDetectionWindowSamplingConfig, ioa_thresh=0.01, clip=True
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
    """
    check_choice("target", target, tuple(TARGET_TASKS))
    check_choice("task_type", task_type, TASK_TYPES)
    if task_type not in TARGET_TASKS[target]:
        raise ValueError(
            f"-a target {target} works only with task_type "
            f"{' or '.join(TARGET_TASKS[target])}: roads are lines, not objects"
        )
    test = parse_bool("test", test)
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
            f"{join(raw_uri, LAYOUTS[target]['label_dir'])}; need at least 2. "
            "Is -a raw_uri the folder that holds spacenet/?"
        )
    random.Random(5678).shuffle(scene_ids)
    num_train = min(max(1, round(len(scene_ids) * TRAIN_SPLIT)), len(scene_ids) - 1)
    train_ids, validation_ids = scene_ids[:num_train], scene_ids[num_train:]
    if test:
        train_ids = train_ids[:TEST_MAX_TRAIN_SCENES]
        validation_ids = validation_ids[:TEST_MAX_VALIDATION_SCENES]

    dataset = DatasetConfig(
        class_config=get_class_config(target, task_type),
        train_scenes=[build_scene(raw_uri, target, task_type, i) for i in train_ids],
        validation_scenes=[
            build_scene(raw_uri, target, task_type, i) for i in validation_ids
        ],
    )
    pipeline_class, chip_options, predict_options = get_pipeline_options(
        task_type, test
    )
    return pipeline_class(
        root_uri=root_uri,
        dataset=dataset,
        analyzers=[get_stats_analyzer()],
        # A test run checks that every command works, not how well the model
        # learns: the model's quick settings.
        backend={{ cookiecutter.__backend_class }}Config(
            model=ModelConfig.for_test_run() if test else ModelConfig()
        ),
        chip_options=chip_options,
        predict_options=predict_options,
    )
