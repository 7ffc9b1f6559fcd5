"""How long the Vegas test run takes, measured against Raster Vision's start-up.

Prints, as medians over ``--repeat`` runs on this machine:

- ``rastervision --help`` with this plugin and with the plugin hidden from
  discovery (the same interpreter, only the plugin skipped), and the overhead;
- the whole ``-a test True`` Vegas run, ``run inprocess`` on the sample data,
  for each task, and its ratio to ``rastervision --help``; with ``--full``
  also the whole run without test mode (every sample scene).

Usage: python benchmarks/vegas_speed.py [--repeat N] [--full]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PLUGIN = "rastervision.{{ cookiecutter.plugin_slug }}"
TASK_TYPES = ("chip_classification", "semantic_segmentation", "object_detection")

# `rastervision --help` through the CLI's own entry point, optionally with the
# plugin filtered out of the namespace scan that Raster Vision uses to find it.
HELP_CODE = """
import pkgutil, sys
hidden = sys.argv[1]
scan = pkgutil.iter_modules
pkgutil.iter_modules = lambda *a, **k: (m for m in scan(*a, **k) if m.name != hidden)
from rastervision.pipeline.cli import _main
sys.argv = ["rastervision", "--help"]
_main()
"""


def seconds(command, env):
    """Wall time of one run of ``command``, which must succeed."""
    start = time.perf_counter()
    subprocess.run(command, cwd=PROJECT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def median_seconds(make_commands, repeat, env):
    """Median wall time of each command of ``make_commands(run_index)``.

    The commands of one round run back to back, so a busy moment of the
    machine weighs on all of them alike.
    """
    rounds = [
        [seconds(command, env) for command in make_commands(run_index)]
        for run_index in range(repeat)
    ]
    return [statistics.median(times) for times in zip(*rounds, strict=True)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure")
    parser.add_argument(
        "--full",
        action="store_true",
        help="also time the whole run without test mode (-a test False)",
    )
    args = parser.parse_args(argv)

    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(
            os.environ, TMPDIR=tmp, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
        )
        raw_uri = Path(tmp) / "raw"
        subprocess.run(
            [sys.executable, "spacenet/sample_data.py", str(raw_uri)],
            cwd=PROJECT,
            check=True,
            capture_output=True,
        )
        help_with, help_without = median_seconds(
            lambda _: [
                [sys.executable, "-c", HELP_CODE, "no-such-plugin"],
                [sys.executable, "-c", HELP_CODE, PLUGIN],
            ],
            args.repeat,
            env,
        )
        print(f"rastervision --help with the plugin:    {help_with:.2f} s")
        print(f"rastervision --help without the plugin: {help_without:.2f} s")
        print(
            f"plugin overhead at start-up: {100 * (help_with / help_without - 1):+.1f}%"
        )

        modes = (
            {"test run": "True", "full run": "False"}
            if args.full
            else {"test run": "True"}
        )
        for mode, test in modes.items():

            def vegas_runs(run_index, test=test):
                """One run per task, each in a fresh root_uri (no reused chips)."""
                return [
                    [
                        str(bin_dir / "rastervision"),
                        "run",
                        "inprocess",
                        "spacenet/vegas.py",
                        "-a",
                        "raw_uri",
                        str(raw_uri),
                        "-a",
                        "root_uri",
                        str(Path(tmp) / f"{task_type}-{test}-{run_index}"),
                        "-a",
                        "task_type",
                        task_type,
                        "-a",
                        "test",
                        test,
                    ]
                    for task_type in TASK_TYPES
                ]

            for task_type, run_seconds in zip(
                TASK_TYPES, median_seconds(vegas_runs, args.repeat, env), strict=True
            ):
                print(
                    f"Vegas {mode}, {task_type}: {run_seconds:.2f} s "
                    f"= {run_seconds / help_with:.2f}x rastervision --help"
                )


if __name__ == "__main__":
    main()
