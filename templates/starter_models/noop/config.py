{#- The noop model's part of the backend config: its imports and its fields. -#}
{%- macro imports() -%}
from rastervision.pipeline.config import Field, register_config
{%- endmacro -%}
{%- macro fields() %}
    predict_class_id: int | None = Field(
        None,
        ge=0,
        description="The class the model predicts everywhere; None: the most "
        "frequent class of the training chips.",
    )
{% endmacro -%}
