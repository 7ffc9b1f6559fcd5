"""The Raster Vision pins the template carries (templates/rv-pins/).

Each file becomes a generated project's constraints.txt. These tests check what
the README promises of them: exact pins of Raster Vision's own packages and
dependencies, usable as pip constraints, and a ``requires-python`` line that
names exactly the Pythons (3.x minors) the pins install on from wheels.
"""

import os
import subprocess
import sys

import pytest
from conftest import INSTALL_ENV, REPO, uv
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

PINS = sorted((REPO / "templates" / "rv-pins").glob("*.txt"))
RV_PACKAGES = ("rastervision_core", "rastervision_aws_batch", "rastervision_aws_s3")


def requirements(path):
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def requires_python(path):
    [line] = [
        line for line in path.read_text().splitlines() if "requires-python:" in line
    ]
    return SpecifierSet(line.split("requires-python:")[1].strip())


@pytest.mark.parametrize("pins", PINS, ids=lambda p: p.stem)
def test_pins_are_exact_constraints_of_that_version(pins):
    found = {r.name: r for r in requirements(pins)}
    for requirement in found.values():
        assert not requirement.extras, f"{requirement}: constraints cannot name extras"
        [specifier] = requirement.specifier
        assert specifier.operator == "==", requirement
    for package in RV_PACKAGES:
        assert str(found[package].specifier) == f"=={pins.stem}"
    assert {"numpy", "shapely", "rasterio", "scikit-learn"} <= found.keys()


def installs_on(pins, minor):
    """Whether RV resolves with these pins for Python 3.<minor>, wheels only.

    uv's resolver for a target Python (pip's ``install --dry-run
    --python-version`` answers the same at some 15 s of CPU a resolution, uv
    in about one), run by this Python, against PyPI, as for a user.
    """
    requirements = "".join(f"{package}=={pins.stem}\n" for package in RV_PACKAGES)
    result = subprocess.run(
        [uv(), "pip", "compile", "-", "--quiet", "--no-header"]
        + ["--python", sys.executable, "--python-version", f"3.{minor}"]
        + ["--only-binary", ":all:"]
        + ["--constraints", str(pins), "--output-file", os.devnull],
        input=requirements,
        env=dict(os.environ, **INSTALL_ENV),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.returncode == 0


@pytest.mark.parametrize("pins", PINS, ids=lambda p: p.stem)
def test_requires_python_names_where_the_pins_install(pins):
    allowed = [m for m in range(8, 16) if f"3.{m}" in requires_python(pins)]
    assert allowed == list(range(allowed[0], allowed[-1] + 1)), allowed
    assert installs_on(pins, allowed[0]) and installs_on(pins, allowed[-1])
    assert not installs_on(pins, allowed[-1] + 1)
    assert not installs_on(pins, allowed[0] - 1)
