"""This environment runs Raster Vision at its tested pins (constraints.txt)."""

import subprocess
import sys
from pathlib import Path

from rastervision.{{ cookiecutter.plugin_slug }} import check_pins

CONSTRAINTS = Path(__file__).resolve().parents[1] / "constraints.txt"


def test_raster_vision_dependencies_are_at_their_pins():
    pins = check_pins.read_pins(CONSTRAINTS)
    installed = check_pins.installed_versions()
    needed = check_pins.raster_vision_dependencies(installed)
    assert {"numpy", "shapely", "rasterio", "scikit-learn", "pydantic"} <= (
        needed & pins.keys()
    )
    assert check_pins.mismatches(pins, installed, needed) == []


def test_a_drifted_or_missing_dependency_is_reported(tmp_path):
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# pins\nnumpy==1.26.4\nsix==1.16.*\nscipy==1.14.0\n")
    pins = check_pins.read_pins(constraints)
    installed = {"numpy": "2.1.0", "six": "1.16.0", "torch": "2.4.0"}
    needed = {"numpy", "six", "scipy", "torch"}
    assert check_pins.mismatches(pins, installed, needed) == [
        "numpy: 2.1.0 installed, pinned ==1.26.4",
        "scipy: not installed, pinned ==1.14.0",
    ]


def test_raster_vision_own_pin_is_accepted_where_the_constraints_move_off_it(
    tmp_path,
):
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("matplotlib==3.9.2  # rv: ==3.9.1\nnumpy==1.26.4\n")
    pins = check_pins.read_pins(constraints)
    rv_pins = check_pins.read_rv_pins(constraints)
    assert set(rv_pins) == {"matplotlib"}
    needed = {"matplotlib", "numpy"}
    for matplotlib in ("3.9.1", "3.9.2"):
        installed = {"matplotlib": matplotlib, "numpy": "1.26.4"}
        assert check_pins.mismatches(pins, installed, needed, rv_pins) == []
    installed = {"matplotlib": "3.9.0", "numpy": "1.26.4"}
    assert check_pins.mismatches(pins, installed, needed, rv_pins) == [
        "matplotlib: 3.9.0 installed, pinned ==3.9.2"
    ]


def test_command_line_reports_the_pins():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rastervision.{{ cookiecutter.plugin_slug }}.check_pins",
            str(CONSTRAINTS),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pinned Raster Vision dependencies at their pins" in result.stdout


def test_pip_check_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "pip", "check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
