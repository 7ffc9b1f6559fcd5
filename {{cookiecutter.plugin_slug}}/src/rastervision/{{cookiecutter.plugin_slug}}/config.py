"""Configuration of the {{ cookiecutter.__backend_class }}.

Kept apart from the backend itself so that registering the plugin (which every
``rastervision`` command does) imports nothing heavy.
"""

from rastervision.core.backend import BackendConfig
from rastervision.pipeline.config import Field, register_config

from rastervision.{{ cookiecutter.plugin_slug }}.model import ModelConfig

# The file in train/ (and in the model bundle) that holds the trained model.
# Raster Vision's predictor loads a file of exactly this name from the bundle.
MODEL_BUNDLE_FILENAME = "model-bundle.zip"


@register_config("{{ cookiecutter.__type_hint }}")
class {{ cookiecutter.__backend_class }}Config(BackendConfig):
    """Configure a {{ cookiecutter.__backend_class }}: the model's settings.

    Every field is saved in pipeline-config.json and in the model bundle.
    """

    model: ModelConfig = Field(
        default_factory=ModelConfig,
        description="The model's settings (ModelConfig in model.py).",
    )

    def build(self, pipeline, tmp_dir):
        """Build the backend; imported here so plugin registration stays light."""
        from rastervision.{{ cookiecutter.plugin_slug }}.backend import (
            {{ cookiecutter.__backend_class }},
        )

        return {{ cookiecutter.__backend_class }}(self, pipeline, tmp_dir)

    def get_bundle_filenames(self):
        """Files of train/ that go into the model bundle."""
        return [MODEL_BUNDLE_FILENAME]
