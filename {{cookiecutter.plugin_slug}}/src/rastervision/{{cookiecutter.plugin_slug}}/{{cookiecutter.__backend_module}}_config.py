"""Configuration of the {{ cookiecutter.__backend_class }}.

Kept apart from the backend itself so that registering the plugin (which every
``rastervision`` command does) imports nothing heavy.
"""

from rastervision.core.backend import BackendConfig
from rastervision.pipeline.config import Field, register_config

# The file in train/ (and in the model bundle) that holds the trained model.
# Raster Vision's predictor loads a file of exactly this name from the bundle.
MODEL_BUNDLE_FILENAME = "model-bundle.zip"


@register_config("{{ cookiecutter.__type_hint }}")
class {{ cookiecutter.__backend_class }}Config(BackendConfig):
    """Configure a {{ cookiecutter.__backend_class }}.

    Add the hyperparameters of your own model here: every field is saved in
    pipeline-config.json and in the model bundle.
    """

    predict_class_id: int | None = Field(
        None,
        description="The class the model predicts everywhere; None: the most "
        "frequent class of the training chips.",
    )

    def build(self, pipeline, tmp_dir):
        """Build the backend; imported here so plugin registration stays light."""
        from rastervision.{{ cookiecutter.plugin_slug }}.{{ cookiecutter.__backend_module }} import (
            {{ cookiecutter.__backend_class }},
        )

        return {{ cookiecutter.__backend_class }}(self, pipeline, tmp_dir)

    def get_bundle_filenames(self):
        """Files of train/ that go into the model bundle."""
        return [MODEL_BUNDLE_FILENAME]
