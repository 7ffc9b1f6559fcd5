"""Every starter model, and Raster Vision's stock PyTorch backends, on real imagery.

Manual, not part of the test suite (a quick smoke run of it is:
tests/test_real_imagery.py). It writes NEON tree-crown scenes from the tiles
that deepforest's wheel ships (``benchmarks/neon_data.py``: a 21 MB download
from PyPI, cached; train on the left half of each tile, evaluate on the
held-out right half), bakes one project per ``starter_model`` choice of the
template (``--template``; the choices come from its cookiecutter.json, each
baked as plugin ``neon_<choice>`` so that all of them install side by side),
installs them in one cached venv, and runs each task of
``benchmarks/neon_trees.py`` once per model with ``rastervision run
inprocess`` (through ``benchmarks/timed_rastervision.py``, which times each
command). ``stock`` is Raster Vision's own PyTorch backend of the task
(``benchmarks/pytorch_vegas.py``) trained from scratch for ``--epochs`` on the
CPU; a venv with it also holds PyTorch (``--torch``; see
``benchmarks/pytorch_side_by_side.py`` for the pins it cannot follow).

It prints one table: F1 per class on the held-out scenes (the minority class
first), CPU seconds of the train and predict commands, the peak memory of the
whole run, and the ratios of both CPU times to the stock backend's::

    python benchmarks/real_imagery.py [--tasks ...] [--models ...] [--epochs 10]
    python benchmarks/real_imagery.py --quick --models scikit-learn \\
        --tasks semantic_segmentation   # a smoke run: one small crop of a tile
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import neon_data
from pytorch_side_by_side import constraints_for_venv, f1_per_class, timed
from pytorch_side_by_side import make_venv as make_torch_venv

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
EXPERIMENT = BENCHMARKS / "neon_trees.py"
TIMED_CLI = BENCHMARKS / "timed_rastervision.py"
CACHE = REPO / ".cache" / "real-imagery"
TASKS = ("chip_classification", "semantic_segmentation", "object_detection")
STOCK = "stock"
# Quick mode: one small crop of one tile (a cell of train, a cell held out per
# row), stock backends for one epoch.
QUICK_TILES = ("OSBS_029",)
QUICK_MAX_SIZE = 2 * neon_data.CHIP_SIZE


# Download caches of uv and pip: kept in the repo, as the template tests do.
INSTALL_ENV = {
    "UV_CACHE_DIR": str(REPO / ".cache" / "uv"),
    "PIP_CACHE_DIR": str(REPO / ".cache" / "pip"),
}
UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))


def run(args, **kwargs):
    env = dict(kwargs.pop("env", os.environ), **INSTALL_ENV)
    return subprocess.run([str(a) for a in args], check=True, env=env, **kwargs)


def starter_choices(template: Path) -> list[str]:
    return json.loads((template / "cookiecutter.json").read_text())["starter_model"]


def slug(choice: str) -> str:
    return "neon_" + choice.replace("-", "_")


def bake(template: Path, choice: str, out: Path, home: Path) -> Path:
    """The template's project for ``choice`` as plugin ``neon_<choice>``.

    Baked into a stable folder (``out``): the venv holds it as an editable
    install, so the next run's bake updates the venv's code.
    """
    env = dict(os.environ, HOME=str(home), USERPROFILE=str(home))
    run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-f", "-o", out, template]
        + [f"plugin_name=NEON {choice}", f"starter_model={choice}", "write_profile=no"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return out / slug(choice)


def needs_torch(project: Path) -> bool:
    return "torch" in (project / "pyproject.toml").read_text()


def make_core_venv(venv: Path, projects: list[Path], version: str) -> Path:
    """A venv with Raster Vision core and the projects, at the projects' pins."""
    python = venv / "bin" / "python"
    constraints = projects[0] / "constraints.txt"
    if not python.exists():
        run([UV, "venv", "--seed", "-q", venv])
        run(
            [UV, "pip", "install", "-q", "--python", python, "-c", constraints]
            + [f"rastervision_core=={version}"]
        )
    for project in projects:
        run(
            [python, "-m", "pip", "install", "-q", "-c", "constraints.txt", "-e", "."],
            cwd=project,
        )
    return python


def make_venv(args, projects: list[Path], work: Path) -> Path:
    """One venv for every model of this run: with PyTorch where one needs it."""
    version = json.loads((args.template / "cookiecutter.json").read_text())[
        "rv_version"
    ][0]
    if STOCK in args.models or any(needs_torch(p) for p in projects):
        constraints = constraints_for_venv(projects[0], work)
        for project in projects:
            python = make_torch_venv(args.torch_venv, args.torch, project, constraints)
        return python
    return make_core_venv(args.venv, projects, version)


def minority_first(f1: dict, eval_json: Path) -> list[tuple[str, float | None]]:
    """F1 per class, the class with the fewest ground-truth items first."""
    counts = {
        c["class_name"]: c.get("gt_count", 0)
        for c in json.loads(eval_json.read_text())["overall"]
    }
    return sorted(f1.items(), key=lambda item: counts.get(item[0], 0))


def show(value, fmt="{:.2f}"):
    return "-" if value is None else fmt.format(value)


def print_table(rows, stock_rows):
    header = (
        f"{'task':22} {'model':14} {'F1 per class (minority first)':36}"
        f" {'train CPU s':>11} {'predict CPU s':>13} {'peak MiB':>8}"
        f" {'train x stock':>13} {'predict x stock':>15}"
    )
    print(header)
    for row in rows:
        stock = stock_rows.get(row["task"])
        ratios = [
            row[key] / stock[key] if stock and stock[key] else None
            for key in ("train", "predict")
        ]
        scores = ", ".join(
            f"{name} {'never predicted' if f1 is None else f'{f1:.2f}'}"
            for name, f1 in row["f1"]
        )
        print(
            f"{row['task']:22} {row['model']:14} {scores:36} {row['train']:11.1f}"
            f" {row['predict']:13.1f} {row['peak']:8.0f}"
            f" {show(ratios[0], '{:.3f}x'):>13} {show(ratios[1], '{:.3f}x'):>15}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--template",
        type=Path,
        default=REPO,
        help="template folder (default: this one)",
    )
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument(
        "--models", nargs="+", help=f"starter choices and/or {STOCK} (default: all)"
    )
    parser.add_argument("--epochs", type=int, default=10, help="stock backends' epochs")
    parser.add_argument("--batch-sz", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="smoke run: a tiny crop")
    parser.add_argument("--max-size", type=int, default=1024, help="tile crop, px")
    parser.add_argument("--tiles", nargs="+", choices=list(neon_data.TILES))
    parser.add_argument(
        "--venv", type=Path, default=REPO / ".cache" / "venvs" / "real-imagery"
    )
    parser.add_argument(
        "--torch-venv", type=Path, default=REPO / ".cache" / "pytorch-bench"
    )
    parser.add_argument("--torch", default="torch==2.14.1 torchvision==0.29.1")
    parser.add_argument("--work", type=Path, help="keep outputs here (default: temp)")
    args = parser.parse_args(argv)
    args.template = args.template.resolve()

    choices = starter_choices(args.template)
    args.models = args.models or [*choices, STOCK]
    unknown = [m for m in args.models if m not in (*choices, STOCK)]
    if unknown:
        parser.error(
            f"--models: unknown {', '.join(unknown)}; this template offers "
            f"{', '.join(choices)} (and {STOCK})"
        )
    tiles = args.tiles or (QUICK_TILES if args.quick else tuple(neon_data.TILES))
    max_size = QUICK_MAX_SIZE if args.quick else args.max_size
    epochs = 1 if args.quick else args.epochs

    work = (args.work or Path(tempfile.mkdtemp(prefix="real-imagery-"))).resolve()
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    summary = neon_data.write_scenes(data, CACHE / "wheel", tiles, max_size)
    starters = [m for m in args.models if m != STOCK] or choices[-1:]
    projects = {
        c: bake(args.template, c, CACHE / "projects" / c, home) for c in starters
    }
    python = make_venv(args, list(projects.values()), work)

    print(
        f"NEON tiles {', '.join(tiles)} (deepforest {neon_data.DEEPFOREST_VERSION}),"
        f" cropped to {max_size} px; train: left halves "
        f"({sum(v['boxes'] for k, v in summary.items() if k.startswith('train'))} crowns),"
        f" held out: right halves "
        f"({sum(v['boxes'] for k, v in summary.items() if k.startswith('heldout'))} crowns)."
        f" Starters: ModelConfig() defaults; {STOCK}: {epochs} epochs from scratch,"
        f" batch {args.batch_sz}, {args.torch}. Template: {args.template}"
    )
    rows, stock_rows = [], {}
    for task in args.tasks:
        for model in args.models:
            project = projects.get(model, next(iter(projects.values())))
            env = dict(
                os.environ,
                HOME=str(home),
                PATH=f"{python.parent}{os.pathsep}{os.environ['PATH']}",
                PYTHONPATH=f"{project}{os.pathsep}{BENCHMARKS}",
                TMPDIR=str(work),
            )
            root = work / "out" / task / model
            seconds_json = work / "out" / f"{task}-{model}-cpu.json"
            command = [python, TIMED_CLI, seconds_json, "run", "inprocess", EXPERIMENT]
            command += ["-a", "raw_uri", data, "-a", "root_uri", root]
            command += ["-a", "task_type", task, "-a", "backend"]
            command += (
                [STOCK, "-a", "epochs", epochs, "-a", "batch_sz", args.batch_sz]
                if model == STOCK
                else [slug(model)]
            )
            wall, cpu, peak = timed(command, work, env)
            seconds = json.loads(seconds_json.read_text())
            eval_json = root / "eval" / "validation_scenes" / "eval.json"
            row = dict(
                task=task,
                model=model,
                f1=minority_first(f1_per_class(eval_json), eval_json),
                train=seconds["train"],
                predict=seconds["predict"],
                peak=peak,
                wall=wall,
                cpu=cpu,
            )
            rows.append(row)
            if model == STOCK:
                stock_rows[task] = row
            print(f"done: {task} {model}: {wall:.0f} s wall", flush=True)
    (work / "results.json").write_text(json.dumps(rows, indent=1))
    print_table(rows, stock_rows)
    print(f"outputs: {work / 'out'}")


if __name__ == "__main__":
    main()
