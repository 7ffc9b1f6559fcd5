"""Where SpaceNet Vegas keeps its files: the one place this project writes it.

Paths are relative to ``raw_uri``, the folder (or ``s3://spacenet-dataset/``)
that holds ``spacenet/``, as the bucket is laid out today. Each image product is
a folder of the same tiles (same image ids) beside the others::

    spacenet/SN2_buildings/train/AOI_2_Vegas/PS-RGB/SN2_buildings_train_AOI_2_Vegas_PS-RGB_img1.tif
    spacenet/SN2_buildings/train/AOI_2_Vegas/geojson_buildings/SN2_buildings_train_AOI_2_Vegas_geojson_buildings_img1.geojson

``spacenet/vegas.py`` reads this layout, ``spacenet/sample_data.py`` writes it.
"""

# SpaceNet's image products, by their folder names, and their band counts: all
# 16-bit. PAN is panchromatic (0.3 m), MS multispectral (1.2 m), PS-MS and
# PS-RGB pan-sharpened to 0.3 m.
PRODUCT_BANDS = {"PAN": 1, "PS-RGB": 3, "MS": 8, "PS-MS": 8}
DEFAULT_PRODUCT = "PS-RGB"

BUILDINGS = "buildings"
ROADS = "roads"
TARGETS = (BUILDINGS, ROADS)
# Per target: SpaceNet's challenge folder, its label folder and the class name.
_CHALLENGE = {BUILDINGS: "SN2_buildings", ROADS: "SN3_roads"}
_LABELS = {BUILDINGS: "geojson_buildings", ROADS: "geojson_roads"}
CLASS_NAMES = {BUILDINGS: "building", ROADS: "road"}
AOI = "AOI_2_Vegas"


def _folder(target: str, kind: str) -> str:
    return f"spacenet/{_CHALLENGE[target]}/train/{AOI}/{kind}"


def _prefix(target: str, kind: str) -> str:
    return f"{_CHALLENGE[target]}_train_{AOI}_{kind}_img"


def image_dir(target: str, product: str = DEFAULT_PRODUCT) -> str:
    return _folder(target, product)


def image_path(target: str, scene_id, product: str = DEFAULT_PRODUCT) -> str:
    return f"{image_dir(target, product)}/{_prefix(target, product)}{scene_id}.tif"


def label_dir(target: str) -> str:
    return _folder(target, _LABELS[target])


def label_prefix(target: str) -> str:
    """A label file's name up to its scene id (``...geojson_buildings_img``)."""
    return _prefix(target, _LABELS[target])


def label_path(target: str, scene_id) -> str:
    return f"{label_dir(target)}/{label_prefix(target)}{scene_id}.geojson"
