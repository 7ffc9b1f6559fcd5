"""The plugin as Raster Vision sees it: discovered, registered, serialisable."""

import json
import subprocess
import sys
from pathlib import Path

from rastervision.pipeline.config import build_config

from rastervision.{{ cookiecutter.plugin_slug }} import {{ cookiecutter.__backend_class }}Config

PLUGIN = "rastervision.{{ cookiecutter.plugin_slug }}"
TYPE_HINT = "{{ cookiecutter.__type_hint }}"


def test_a_fresh_process_discovers_the_plugin():
    """What `rastervision run local` relies on: discovery, not an import."""
    code = (
        "import json\n"
        "from rastervision.pipeline import registry_ as registry\n"
        "print(json.dumps({'discovered': registry.discover_plugins(),"
        " 'versions': registry.plugin_versions,"
        f" 'config': registry.get_config({TYPE_HINT!r}).__name__}}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert PLUGIN in found["discovered"]
    assert found["versions"][PLUGIN] == 0
    assert found["config"] == "{{ cookiecutter.__backend_class }}Config"


def test_importing_the_plugin_first_registers_it_and_hides_only_known_warnings():
    """A script or notebook may import the plugin before Raster Vision: it is
    registered all the same. The warnings it hides from Raster Vision's code
    still show, with the same messages, from anywhere else."""
    code = (
        "import warnings\n"
        f"import {PLUGIN}\n"
        "from rastervision.pipeline import registry_ as registry\n"
        f"print(registry.plugin_versions[{PLUGIN!r}])\n"
        "warnings.warn('invalid value encountered in divide', RuntimeWarning)\n"
        "warnings.warn('invalid value encountered in scalar divide', RuntimeWarning)\n"
        "warnings.warn('You are adding a column named geometry', FutureWarning)\n"
        "warnings.warn('something else', FutureWarning)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "0"
    assert "RuntimeWarning: invalid value encountered in divide" in result.stderr
    assert "RuntimeWarning: invalid value encountered in scalar divide" in result.stderr
    assert "FutureWarning: You are adding a column named geometry" in result.stderr
    assert "FutureWarning: something else" in result.stderr


def test_rastervision_cli_loads_with_the_plugin():
    result = subprocess.run(
        [Path(sys.executable).with_name("rastervision"), "--help"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "run" in result.stdout


def test_config_survives_a_json_round_trip():
    """Every field of the config is saved and read back (model tests try values)."""
    config = {{ cookiecutter.__backend_class }}Config()
    saved = json.loads(config.json())
    assert saved["type_hint"] == TYPE_HINT
    assert set({{ cookiecutter.__backend_class }}Config.model_fields) <= set(saved)
    loaded = build_config(saved)
    assert isinstance(loaded, {{ cookiecutter.__backend_class }}Config)
    assert loaded == config


def test_bundle_holds_the_model_file():
    assert {{ cookiecutter.__backend_class }}Config().get_bundle_filenames() == ["model-bundle.zip"]
