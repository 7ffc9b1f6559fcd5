"""The plugin's starter model side by side with Raster Vision's PyTorch backends.

Manual, not part of the test suite: it needs PyTorch. It bakes the template
(``--starter-model``, scikit-learn by default), installs the project into a
cached venv that also holds ``rastervision_pytorch_backend`` (at Raster Vision's
pins, with the exceptions below), writes the project's sample data, and runs the
Vegas experiment per task twice with ``rastervision run inprocess``: once with
the plugin's backend (``spacenet/vegas.py``), once with Raster Vision's stock
PyTorch backend of the task (``benchmarks/pytorch_vegas.py``: same scenes,
chips and sampling, trained from scratch for ``--epochs`` on the CPU, since no
pretrained weights can be downloaded here). It prints F1 per class, wall time,
CPU time and peak memory of each run, the CPU time of the commands in which
the backends differ (train and predict; ``benchmarks/timed_rastervision.py``
times each command), and the ratios of both CPU times::

    python benchmarks/pytorch_side_by_side.py [--epochs 10] [--scenes 6]

Where the venv cannot follow Raster Vision's pins (said in the output too):
torch and torchvision are the ones ``--torch`` names (Raster Vision pins
2.4.0/0.19.0, CUDA builds of several GB; these machines keep a local 2.14.1),
onnx/onnxscript are newer (torch 2.14's exporter needs them; Raster Vision
only logs the failed ONNX export of its bundle), and albucore is pinned to the
release albumentations 1.4.13 was made with (0.0.13; later ones break it).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = REPO / "benchmarks" / "pytorch_vegas.py"
TIMED_CLI = REPO / "benchmarks" / "timed_rastervision.py"
# The commands in which the two backends differ; the others (analyze, chip,
# eval) and start-up run the same code for both.
BACKEND_COMMANDS = ("train", "predict")
RUNS = {
    "chip_classification": ("buildings", "chip_classification"),
    "semantic_segmentation": ("buildings", "semantic_segmentation"),
    "object_detection": ("buildings", "object_detection"),
    "roads": ("roads", "semantic_segmentation"),
}
# Packages the venv cannot take at Raster Vision's pins: see the docstring.
NOT_AT_PINS = ("torch", "torchvision", "onnx")
EXTRA_CONSTRAINTS = ["albucore==0.0.13", "onnxscript==0.7.2", "onnx>=1.17"]


def run(args, **kwargs):
    return subprocess.run([str(a) for a in args], check=True, **kwargs)


def constraints_for_venv(project: Path, work: Path) -> Path:
    """The project's constraints.txt less the pins the venv cannot follow."""
    lines = [
        line
        for line in (project / "constraints.txt").read_text().splitlines()
        if line.split("==")[0].strip() not in NOT_AT_PINS
    ]
    path = work / "constraints-pytorch-bench.txt"
    path.write_text("\n".join(lines + EXTRA_CONSTRAINTS) + "\n")
    return path


def bake(work: Path, starter_model: str) -> Path:
    """A fresh project from this template, with HOME kept inside ``work``."""
    home = work / "home"
    home.mkdir(exist_ok=True)
    answers = ["write_profile=no"]
    context = json.loads((REPO / "cookiecutter.json").read_text())
    if "starter_model" in context:
        answers.append(f"starter_model={starter_model}")
    env = dict(os.environ, HOME=str(home), USERPROFILE=str(home))
    run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "-f", "-o", work, REPO]
        + answers,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    [project] = [p for p in work.iterdir() if (p / "spacenet" / "vegas.py").is_file()]
    return project


def make_venv(venv: Path, torch: str, project: Path, constraints: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        run([sys.executable, "-m", "venv", venv])
        run([python, "-m", "pip", "install", "-q", *torch.split()])
    version = json.loads((REPO / "cookiecutter.json").read_text())["rv_version"][0]
    run(
        [python, "-m", "pip", "install", "-q", "-c", constraints]
        + [f"rastervision_pytorch_backend=={version}", "onnxscript", "-e", project]
    )
    return python


def timed(args, cwd, env):
    """Wall seconds, CPU seconds and peak RSS (MiB) of one command."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # Read stderr while waiting, then collect the child's own resource usage.
    stderr = process.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{args} failed:\n{stderr[-4000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def f1_per_class(eval_json: Path) -> dict:
    """F1 of each class (None where the model never predicted the class)."""
    overall = json.loads(eval_json.read_text())["overall"]
    return {
        c["class_name"]: c["metrics"]["f1"]
        for c in overall
        if c["class_name"] != "average"
    }


def show(f1):
    return "never predicted" if f1 is None else f"{f1:.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-sz", type=int, default=8)
    parser.add_argument("--scenes", type=int, help="default: sample_data.py's")
    parser.add_argument("--size", type=int, help="default: sample_data.py's")
    parser.add_argument("--seed", type=int, help="default: sample_data.py's")
    parser.add_argument("--starter-model", default="scikit-learn")
    parser.add_argument("--tasks", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--venv", type=Path, default=REPO / ".cache" / "pytorch-bench")
    parser.add_argument("--torch", default="torch==2.14.1 torchvision==0.29.1")
    parser.add_argument("--work", type=Path, help="keep outputs here (default: temp)")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="pytorch-side-by-side-"))
    work.mkdir(parents=True, exist_ok=True)
    project = bake(work, args.starter_model)
    constraints = constraints_for_venv(project, work)
    python = make_venv(args.venv, args.torch, project, constraints)
    data = work / "data"
    sample = [python, project / "spacenet" / "sample_data.py", data]
    for option in ("scenes", "size", "seed"):
        if getattr(args, option) is not None:
            sample += [f"--{option}", getattr(args, option)]
    run(sample, stdout=subprocess.DEVNULL)
    env = dict(
        os.environ,
        PATH=f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(project),
        TMPDIR=str(work),
    )
    print(
        f"sample data ({' '.join(map(str, sample[3:])) or 'the defaults'}), "
        "-a test False; PyTorch: "
        f"{args.epochs} epochs from scratch on the CPU, batch {args.batch_sz}; "
        f"plugin: {project.name} ({args.starter_model}). Not at RV's pins in this "
        f"venv: {', '.join(NOT_AT_PINS)} ({args.torch}), albucore 0.0.13."
    )
    header = (
        f"{'run':24} {'backend':9} {'wall s':>7} {'CPU s':>7} {'train+predict CPU s':>20}"
        f" {'peak MiB':>8}  F1 per class"
    )
    print(header)
    for name in args.tasks:
        target, task_type = RUNS[name]
        common = ["-a", "raw_uri", data, "-a", "target", target]
        common += ["-a", "task_type", task_type]
        results = {}
        for backend, experiment, extra in (
            ("plugin", project / "spacenet" / "vegas.py", ["-a", "test", "False"]),
            (
                "pytorch",
                EXPERIMENT,
                ["-a", "epochs", args.epochs, "-a", "batch_sz", args.batch_sz],
            ),
        ):
            root = work / "out" / name / backend
            per_command = work / "out" / f"{name}-{backend}-cpu.json"
            command = [python, TIMED_CLI, per_command, "run", "inprocess", experiment]
            command += ["-a", "root_uri", root, *common, *extra]
            wall, cpu, peak = timed(command, project, env)
            seconds = json.loads(per_command.read_text())
            backend_cpu = sum(seconds[command] for command in BACKEND_COMMANDS)
            f1 = f1_per_class(root / "eval" / "validation_scenes" / "eval.json")
            results[backend] = (cpu, backend_cpu)
            scores = ", ".join(f"{k} {show(v)}" for k, v in f1.items())
            print(
                f"{name:24} {backend:9} {wall:7.1f} {cpu:7.1f} {backend_cpu:20.1f}"
                f" {peak:8.0f}  {scores}"
            )
        whole, backend_only = (
            results["plugin"][i] / results["pytorch"][i] for i in range(2)
        )
        print(
            f"{name:24} plugin CPU time = {whole:.3f}x PyTorch's "
            f"(train+predict: {backend_only:.3f}x)"
        )
    print(f"outputs: {work / 'out'}")


if __name__ == "__main__":
    main()
