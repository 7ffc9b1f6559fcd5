"""Check that Raster Vision's dependencies are at its tested pins.

Raster Vision {{ cookiecutter.rv_version }} publishes its wheels without versions
for its dependencies, so a plain ``pip install`` takes today's releases (numpy
2, ...), which it was never tested with. ``constraints.txt`` holds the versions
its own requirements files pin, which its Docker image installs. Run this
wherever the plugin runs (your venv, the image) to see whether they match::

    python -m rastervision.{{ cookiecutter.plugin_slug }}.check_pins [constraints.txt]

It exits 1 and lists the differences when a dependency of an installed
``rastervision_*`` package is missing or at another version than pinned.
Where ``constraints.txt`` moves off Raster Vision's own pin (a line ending in
``# rv: ==X``, e.g. matplotlib, whose pinned release PyPI has yanked), Raster
Vision's version is accepted too, so its Docker image passes.
Not imported by the plugin itself.
"""

import argparse
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name


def read_pins(path: Path) -> dict[str, Requirement]:
    """The constraints file's requirements, by canonical package name."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = requirement
    return pins


def read_rv_pins(path: Path) -> dict[str, SpecifierSet]:
    """Raster Vision's own pins where the constraints move off them: the
    ``# rv: ==X`` note at the end of a line, by canonical package name."""
    rv_pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        code, _, note = line.partition("#")
        note = note.strip()
        if code.strip() and note.startswith("rv:"):
            name = canonicalize_name(Requirement(code.strip()).name)
            rv_pins[name] = SpecifierSet(note.removeprefix("rv:").strip())
    return rv_pins


def installed_versions() -> dict[str, str]:
    """Every distribution this Python sees, by canonical name."""
    return {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions()
    }


def raster_vision_dependencies(installed: dict[str, str]) -> set[str]:
    """Installed rastervision_* packages and everything they require.

    Extras and environment markers that do not apply here are left out, as pip
    leaves them out.
    """
    needed = {name for name in installed if name.startswith("rastervision-")}
    todo = list(needed)
    while todo:
        try:
            requires = metadata.requires(todo.pop()) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            name = canonicalize_name(requirement.name)
            if name not in needed:
                needed.add(name)
                todo.append(name)
    return needed


def mismatches(
    pins: dict[str, Requirement],
    installed: dict[str, str],
    needed: set[str],
    rv_pins: dict[str, SpecifierSet] | None = None,
) -> list[str]:
    """One line per needed, pinned package that is missing or off its pin
    (and off Raster Vision's own pin, where ``rv_pins`` names one)."""
    rv_pins = rv_pins or {}
    problems = []
    for name in sorted(needed & pins.keys()):
        version = installed.get(name)
        if version is None:
            problems.append(f"{name}: not installed, pinned {pins[name].specifier}")
        elif not pins[name].specifier.contains(version, prereleases=True) and not (
            name in rv_pins and rv_pins[name].contains(version, prereleases=True)
        ):
            problems.append(
                f"{name}: {version} installed, pinned {pins[name].specifier}"
            )
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "constraints",
        nargs="?",
        default="constraints.txt",
        type=Path,
        help="the constraints file (default: constraints.txt)",
    )
    args = parser.parse_args(argv)
    pins = read_pins(args.constraints)
    installed = installed_versions()
    needed = raster_vision_dependencies(installed)
    problems = mismatches(pins, installed, needed, read_rv_pins(args.constraints))
    checked = sorted(needed & pins.keys())
    for problem in problems:
        print(problem)
    print(
        f"{len(checked) - len(problems)} of {len(checked)} pinned Raster Vision "
        f"dependencies at their pins ({args.constraints})"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
