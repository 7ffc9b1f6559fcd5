"""Label sources that Raster Vision {{ cookiecutter.rv_version }} lacks.

SpaceNet has images with no buildings, whose GeoJSON has no features. Raster
Vision's chip classification label source rejects such a scene ("All label
polygons must have a class_id.") because an empty table has no ``class_id``
column; segmentation and detection cope. The label source here treats such a
scene as all background instead.
"""

from rastervision.core.data import (
    ChipClassificationLabelSource,
    ChipClassificationLabelSourceConfig,
)
from rastervision.pipeline.config import register_config


class EmptySafeChipClassificationLabelSource(ChipClassificationLabelSource):
    """A chip classification label source that accepts a scene with no labels."""

    def validate_labels(self, df):
        if len(df) == 0 and "class_id" not in df.columns:
            df["class_id"] = []
        super().validate_labels(df)


@register_config("{{ cookiecutter.plugin_slug }}.empty_safe_chip_classification_label_source")
class EmptySafeChipClassificationLabelSourceConfig(ChipClassificationLabelSourceConfig):
    """Configure an :class:`EmptySafeChipClassificationLabelSource`."""

    def build(self, class_config, crs_transformer, bbox=None, tmp_dir=None):
        """As Raster Vision's own build, but with the empty-safe label source."""
        if self.vector_source is None:
            raise ValueError("Cannot build with a None vector_source.")
        if self.infer_cells and self.cell_sz is None and not self.lazy:
            raise ValueError("Cannot build with infer_cells=True and cell_sz=None.")
        vector_source = self.vector_source.build(class_config, crs_transformer)
        return EmptySafeChipClassificationLabelSource(
            self, vector_source, bbox=bbox, lazy=self.lazy
        )
