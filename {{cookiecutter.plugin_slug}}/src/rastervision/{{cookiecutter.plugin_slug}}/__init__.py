"""{{ cookiecutter.plugin_name.strip() | replace('\\', '\\\\') | replace('"', '\\"') }}: a Raster Vision backend plugin.

Raster Vision imports this package in every process (it finds it inside the
``rastervision`` namespace package) and calls :func:`register_plugin`. Keep the
imports here light: every ``rastervision`` command pays for them.
"""

import warnings

PLUGIN_NAME = "rastervision.{{ cookiecutter.plugin_slug }}"
# Raise this, and pass an upgrader to @register_config, when a config field
# changes in a way that old pipeline-config.json files need migrating.
PLUGIN_VERSION = 0


def register_plugin(registry):
    """Tell Raster Vision's registry this plugin's config version."""
    registry.set_plugin_version(PLUGIN_NAME, PLUGIN_VERSION)


# `rastervision run local` starts every command as `python -m
# rastervision.pipeline.cli`; importing the package first loads the plugins and
# the cli module, so runpy warns, harmlessly, that the module is already
# imported. Raster Vision imports this plugin before runpy checks: hide that
# one warning here.
warnings.filterwarnings(
    "ignore",
    message=r"'rastervision\.pipeline\.cli' found in sys\.modules",
    category=RuntimeWarning,
)
# Two more that every run shows and nobody can act on: Raster Vision's GeoJSON
# reading (geopandas 1.0.1 at RV's pins) and its eval of a class never
# predicted, whose precision is undefined (eval.json says null). Only these
# messages, from there: any other warning still shows.
warnings.filterwarnings(
    "ignore",
    message=r"You are adding a column named 'geometry' to a GeoDataFrame",
    category=FutureWarning,
    module=r"pandas\.",
)
warnings.filterwarnings(
    "ignore",
    message=r"invalid value encountered in (scalar )?divide",
    category=RuntimeWarning,
    module=r"rastervision\.core\.evaluation\.",
)

# Defined above the imports below on purpose: importing a config module imports
# rastervision.pipeline, which loads every plugin, this one included while it
# is still half imported. Raster Vision then finds register_plugin already here
# and records the plugin's version, also when a script or notebook imports this
# package before anything else of Raster Vision.
#
# Importing the config modules runs their @register_config decorators, which is
# what lets Raster Vision turn a saved pipeline-config.json back into objects.
from rastervision.{{ cookiecutter.plugin_slug }}.config import (  # noqa: E402
    {{ cookiecutter.__backend_class }}Config,
)
from rastervision.{{ cookiecutter.plugin_slug }}.label_sources import (  # noqa: E402
    EmptySafeChipClassificationLabelSourceConfig,
)
from rastervision.{{ cookiecutter.plugin_slug }}.label_stores import (  # noqa: E402
    StripLabelStoreConfig,
)

__all__ = [
    "{{ cookiecutter.__backend_class }}Config",
    "EmptySafeChipClassificationLabelSourceConfig",
    "StripLabelStoreConfig",
    "register_plugin",
]
