"""A segmentation label store whose polygons take strips of rows, not the whole scene.

``rastervision predict`` asks for the polygons of every class. Raster Vision
{{ cookiecutter.rv_version }} makes them from whole-scene masks (a copy, a
denoised copy, GDAL's own copy) and holds every polygon, every vertex a
Python float, before writing the GeoJSON: several bytes per scene pixel, the
largest part of ``predict``'s memory on a large scene. This store makes the
same polygons a strip of rows at a time: each strip is denoised with a margin
of rows above and below (so the result matches the whole-scene mask's),
polygons that touch a strip's edge are joined with their neighbours at the
end, and each polygon is written to the GeoJSON as soon as it is whole, a
ring at a time.

Only Raster Vision's plain polygon output takes this path; other vector
outputs (buildings, which break up clusters of touching buildings) keep
Raster Vision's whole-scene code.
"""

import json
from itertools import chain

import numpy as np
from rasterio import Affine
from rasterio.features import shapes
from shapely import STRtree, get_coordinates
from shapely.geometry import Polygon, shape
from shapely.ops import unary_union

from rastervision.core.box import Box
from rastervision.core.data import (
    PolygonVectorOutputConfig,
    SemanticSegmentationLabelStore,
    SemanticSegmentationLabelStoreConfig,
)
from rastervision.core.data.utils.vectorization import denoise
from rastervision.pipeline.config import register_config
from rastervision.pipeline.file_system import make_dir
from rastervision.{{ cookiecutter.plugin_slug }}.progress import Progress


def strip_polygons(labels, vector_output, rows_per_strip, on_strip=None):
    """Yield the polygons of ``vector_output``'s class, in the labels' pixels.

    The same polygons as Raster Vision's ``PolygonVectorOutputConfig`` makes
    from the whole scene's mask, in another order. ``on_strip`` is called
    after each strip (progress).
    """
    extent = labels.extent
    margin = vector_output.denoise
    at_edges = []  # pieces cut by a strip's edge, joined at the end
    for top in range(extent.ymin, extent.ymax, rows_per_strip):
        bottom = min(top + rows_per_strip, extent.ymax)
        above = min(margin, top - extent.ymin)
        below = min(margin, extent.ymax - bottom)
        window = Box(top - above, extent.xmin, bottom + below, extent.xmax)
        mask = labels.get_class_mask(
            window, vector_output.class_id, vector_output.threshold
        ).astype("uint8")
        if vector_output.denoise > 0:
            mask = denoise(mask, vector_output.denoise)
        mask = mask[above : above + bottom - top]
        origin = Affine.translation(0, top - extent.ymin)
        for geometry, value in shapes(mask, mask=mask == 1, transform=origin):
            if value != 1:
                continue
            polygon = shape(geometry)
            _, miny, _, maxy = polygon.bounds
            cut_above = top > extent.ymin and miny == top - extent.ymin
            cut_below = bottom < extent.ymax and maxy == bottom - extent.ymin
            if cut_above or cut_below:
                at_edges.append(polygon)
            else:
                yield polygon
        if on_strip is not None:
            on_strip()
    if at_edges:
        yield from join_pieces(at_edges)


def join_pieces(pieces):
    """Join polygons cut by strip edges into whole ones.

    A piece's holes lie inside its strip, so they are holes of the whole
    polygon as they are: only the outlines are unioned (cheap, where a union
    of the pieces themselves would copy every hole, for the background class
    the outline of every building), then each piece's holes go back in.
    """
    outlines = unary_union([Polygon(piece.exterior) for piece in pieces])
    wholes = list(getattr(outlines, "geoms", [outlines]))
    holes = [list(whole.interiors) for whole in wholes]
    points = [piece.representative_point() for piece in pieces]
    for piece_at, whole_at in STRtree(wholes).query(points, "within").T:
        holes[whole_at].extend(pieces[piece_at].interiors)
    pieces.clear()
    for whole, whole_holes in zip(wholes, holes, strict=True):
        yield Polygon(whole.exterior, whole_holes)


class StripLabelStore(SemanticSegmentationLabelStore):
    """Raster Vision's segmentation label store, with polygons made by strips."""

    rows_per_strip = 1024

    def write_vector_outputs(self, labels, vector_output_dir: str) -> None:
        strips = -(-labels.extent.height // self.rows_per_strip)
        plain = PolygonVectorOutputConfig
        total = sum(strips if type(vo) is plain else 1 for vo in self.vector_outputs)
        with Progress(total, "Vectorizing predictions", "strip") as progress:
            for vo in self.vector_outputs:
                if type(vo) is plain:
                    self.write_polygons(labels, vo, vector_output_dir, progress)
                    continue
                mask = labels.get_class_mask(labels.extent, vo.class_id, vo.threshold)
                self.write_vector_output(vo, mask, vector_output_dir)
                progress.update()

    def write_polygons(self, labels, vector_output, vector_output_dir, progress):
        """Write a class's polygons as GeoJSON, one feature at a time."""
        make_dir(vector_output_dir)
        path = vector_output.get_uri(vector_output_dir, self.class_config)
        with open(path, "w") as geojson:
            geojson.write('{"type": "FeatureCollection", "features": [')
            separator = ""
            polygons = strip_polygons(
                labels, vector_output, self.rows_per_strip, progress.update
            )
            for polygon in polygons:
                geojson.write(separator)
                self.write_feature(geojson, polygon)
                separator = ", "
            geojson.write("]}")

    def write_feature(self, geojson, polygon):
        """Write ``polygon`` as a GeoJSON feature in map coordinates.

        A ring at a time, its coordinates as arrays: a class that spans the
        scene (the background around every building) is one polygon holding
        a vertex for every corner of every building.
        """
        geojson.write('{"type": "Feature", "geometry": {"type": "Polygon", ')
        geojson.write('"coordinates": [')
        for number, ring in enumerate(chain([polygon.exterior], polygon.interiors)):
            x, y = get_coordinates(ring).T
            x, y = self.crs_transformer.pixel_to_map((x, y), bbox=self.bbox)
            coordinates = np.column_stack([x, y]).tolist()
            geojson.write((", " if number else "") + json.dumps(coordinates))
        geojson.write(']}, "properties": {}}')


@register_config("{{ cookiecutter.plugin_slug }}.strip_label_store")
class StripLabelStoreConfig(SemanticSegmentationLabelStoreConfig):
    """Configure a :class:`StripLabelStore`: Raster Vision's store, polygons by strips."""

    def build(self, class_config, crs_transformer, bbox, tmp_dir=None):
        """As Raster Vision's own build, but with the strip-by-strip store."""
        class_config.ensure_null_class()
        return StripLabelStore(
            uri=self.uri,
            crs_transformer=crs_transformer,
            class_config=class_config,
            bbox=bbox,
            tmp_dir=tmp_dir,
            vector_outputs=self.vector_output,
            save_as_rgb=self.rgb,
            smooth_output=self.smooth_output,
            smooth_as_uint8=self.smooth_as_uint8,
            rasterio_block_size=self.rasterio_block_size,
        )
