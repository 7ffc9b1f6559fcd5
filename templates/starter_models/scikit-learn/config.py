{#- The scikit-learn model's part of the backend config: imports and fields. -#}
{%- macro imports() -%}
from rastervision.pipeline.config import Field, field_validator, register_config
{%- endmacro -%}
{%- macro fields() %}
    n_estimators: int = Field(
        40, ge=1, le=1000, description="Trees in each random forest."
    )
    max_depth: int | None = Field(
        12, ge=1, le=100, description="Depth limit of each tree; None: no limit."
    )
    min_samples_leaf: int = Field(
        2, ge=1, le=10000, description="Training samples each tree leaf holds at least."
    )
    pixels_per_chip: int = Field(
        1000,
        ge=10,
        le=100_000,
        description="Training pixels sampled from each chip, split evenly among "
        "the classes present.",
    )
    max_training_pixels: int = Field(
        300_000,
        ge=100,
        le=50_000_000,
        description="Training rows (pixels, or chips for chip classification) "
        "kept at most, a uniform sample of all: memory and training time stay "
        "flat as the data set grows.",
    )
    feature_scales: list[float] = Field(
        [1.0, 4.0],
        min_length=1,
        max_length=6,
        description="Gaussian sigmas in pixels of the smoothed bands and local "
        "spread computed around each pixel.",
    )
    min_object_pixels: int = Field(
        40,
        ge=1,
        description="Object detection: connected components smaller than this "
        "many pixels are not reported as objects.",
    )
    seed: int = Field(
        0, ge=0, description="Seed of the pixel sampling and of the forests."
    )

    @field_validator("feature_scales")
    @classmethod
    def scales_are_positive_and_distinct(cls, scales: list[float]) -> list[float]:
        """Each scale adds features: a zero, negative or repeated one is a mistake."""
        if any(scale <= 0 or scale > 64 for scale in scales):
            raise ValueError(f"feature scales must be in (0, 64] pixels, got {scales}")
        if len(set(scales)) != len(scales):
            raise ValueError(f"feature scales must differ, got {scales}")
        return scales
{% endmacro -%}
