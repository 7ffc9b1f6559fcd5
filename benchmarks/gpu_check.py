"""GPU check of the pytorch starter: Vegas and NEON on CUDA (bf16) beside the CPU.

For each task (chip_classification, semantic_segmentation, object_detection)
it runs the generated project's Vegas experiment (``spacenet/vegas.py``, on its
sample data, ``-a test False``) and the NEON real-imagery benchmark
(``benchmarks/neon_trees.py``), each once on CUDA (``device: auto`` sees the GPU;
``mixed_precision`` on: bf16) and once on the CPU (``CUDA_VISIBLE_DEVICES=""``,
so auto falls back), every run a whole ``rastervision run inprocess`` in a
child process through ``benchmarks/timed_rastervision.py``. It prints one table
(experiment, task, device, F1 per class from eval.json, train and predict
seconds, peak GPU MiB from the model's ``peak GPU memory: N MiB`` log lines)
and writes it as JSON (``results.json``), the table (``table.txt``) and the
runs' logs (``logs.tar.gz``) to ``--out``. GPU rows run first; a run that
would start past ``--budget`` seconds is skipped, so the table always comes.

The bundle (``--bundle``, one folder, git-ignored, carried to the device):
``wheels/`` (Raster Vision 0.31.1 and the dependencies the device lacks, for
CPython 3.12), ``stubs/`` (a stand-in boto3), ``project/`` (a baked pytorch
project) and ``data.tar.xz`` (``vegas/``, the project's sample data, and
``neon/``, the scenes of ``benchmarks/neon_data.py``; unpacked into ``--work``
at the start). What travels must stay under 64 MiB. Make it here with::

    python benchmarks/gpu_check.py prepare --project PROJECT --neon NEON_DATA

(``PROJECT``: a baked pytorch project, its current model files; run it with a
Python that has the project's dependencies, which writes the Vegas sample
data; ``--keep-wheels`` reuses the wheels already there.) The device's copy of
the repo is the checkout the session started in: this file must be in its
working tree (committed or not) and the bundle at its root.

Device command (the run tool, carry [".gpu"], timeout_s 600), from the repo root::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/wheels/*.whl && export PYTHONPATH=/tmp/site || exit; nvidia-smi -L; PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --bundle .gpu --out $OUT --budget 330

Options: ``--tasks``, ``--experiments`` (vegas neon), ``--devices`` (cuda cpu),
``--epochs N`` (every run's ModelConfig.epochs; default: the task's own, 20,
or 40 for object detection), ``--quick`` (3 epochs). On a machine without a
GPU the cuda rows say so and are skipped. The device's numpy is 2.x, on which Raster Vision 0.31.1's
segmentation vector outputs call the removed ``np.int0``: the child process
restores that alias (``np.int0 = np.intp``) and says so in its log.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TASKS = ("chip_classification", "semantic_segmentation", "object_detection")
EXPERIMENTS = ("vegas", "neon")
DEVICES = ("cuda", "cpu")
PEAK = re.compile(r"peak GPU memory: (\d+) MiB")
COMMAND = re.compile(r"^gpu_check: command (\w+) starts$")
QUICK_EPOCHS = 3
VEGAS_SCENES = 8

# The wheels the device lacks (KINDS.md's package list), at Raster Vision
# 0.31.1's pins where a CPython 3.12 wheel works with the device's numpy 2:
# rasterio 1.3.11 (1.3.10's wheels are built for numpy 1) and triangle 20250106
# (likewise). click is carried at its pin. boto3 is a stub (see stubs/).
# geopandas.read_file needs pyogrio or fiona: fiona 1.9.6 is the smallest
# (16 MB; pyogrio's wheels are 22 MB and more), each bundling its own GDAL.
WHEELS = (
    "rastervision_core==0.31.1",
    "rastervision_pipeline==0.31.1",
    "pydantic==2.8.2",
    "pydantic_core==2.20.1",
    "annotated-types==0.7.0",
    "everett==3.3.0",
    "configobj==5.0.9",
    "geopandas==1.0.1",
    "shapely==2.0.5",
    "pyproj==3.6.1",
    "rasterio==1.3.11",
    "affine==2.4.0",
    "cligj==0.7.2",
    "click-plugins==1.1.1",
    "snuggs==1.4.7",
    "click==8.1.7",
    "pystac==1.10.1",
    "triangle==20250106",
    "fiona==1.9.6",
)
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
BOTO3_STUB = '''"""A stand-in for boto3 on the GPU check's machine (no network there).

rastervision.core.utils.stac imports boto3 at import time but uses it only to
read STAC catalogues from S3, which the GPU check never does; the real boto3
and botocore wheels would take 13 MB of the 64 MiB that travels.
"""


def __getattr__(name):
    raise ImportError(
        f"boto3.{name}: boto3 is a stand-in here (benchmarks/gpu_check.py's bundle); "
        "S3 is not reachable from the GPU check"
    )
'''


# --- the experiment file: `rastervision run inprocess benchmarks/gpu_check.py`


def get_config(runner, gpu_check_experiment, gpu_check_epochs="", **kwargs):
    """Vegas's or NEON's config, with the model's epochs set if asked.

    Raster Vision loads this file as an experiment only when ``--epochs`` or
    ``--quick`` is given; otherwise the runs use the experiment files directly.
    """
    if gpu_check_experiment == "neon":
        import neon_trees as module
    else:
        from spacenet import vegas as module
    config = module.get_config(runner, **kwargs)
    if gpu_check_epochs:
        model = config.backend.model
        config.backend.model = model.model_copy(
            update={"epochs": int(gpu_check_epochs)}
        )
    return config


# --- the child: one `rastervision run inprocess`, timed per command


def child(argv: list[str]) -> None:
    """``child WALL.json CPU.json run inprocess ...``: the rastervision CLI with
    each command's wall seconds (here) and CPU seconds (timed_rastervision)."""
    import numpy as np

    if int(np.__version__.split(".")[0]) >= 2 and not hasattr(np, "int0"):
        np.int0 = np.intp
        print(
            f"gpu_check: numpy {np.__version__}: np.int0 = np.intp restored "
            "(Raster Vision 0.31.1's vector outputs call it)",
            flush=True,
        )
    from rastervision.pipeline.runner import inprocess_runner

    import timed_rastervision

    wall_out = Path(argv[0])
    walls = {}
    run_command = inprocess_runner._run_command

    def wall_timed(cfg_json_uri, command, *args, **kwargs):
        # Marks the log, so a peak GPU memory line is known by its command.
        print(f"gpu_check: command {command} starts", flush=True)
        start = time.perf_counter()
        try:
            return run_command(cfg_json_uri, command, *args, **kwargs)
        finally:
            walls[command] = walls.get(command, 0.0) + time.perf_counter() - start
            wall_out.write_text(json.dumps(walls))

    inprocess_runner._run_command = wall_timed
    sys.argv = ["timed_rastervision.py", *argv[1:]]
    timed_rastervision.main()


# --- the parent


def child_env(bundle: Path, device: str, tmp: Path) -> dict:
    project = bundle / "project"
    paths = [bundle / "stubs", project / "src", project, HERE]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(p) for p in paths] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    env["PYTHONUNBUFFERED"] = "1"
    env["TMPDIR"] = str(tmp)
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def probe_gpu(env: dict) -> dict:
    """torch's view of the GPU, in a child process (the parent stays off CUDA)."""
    code = (
        "import json, torch; c = torch.cuda.is_available(); "
        "print(json.dumps({'torch': torch.__version__, 'cuda': c, "
        "'name': torch.cuda.get_device_name(0) if c else None, "
        "'bf16': torch.cuda.is_bf16_supported() if c else None}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    try:
        return json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"cuda": False, "error": (result.stdout + result.stderr)[-2000:]}


def experiment_args(
    experiment: str, task: str, bundle: Path, data: Path, root: Path, epochs
):
    if experiment == "vegas":
        file = bundle / "project" / "spacenet" / "vegas.py"
        args = {
            "raw_uri": data / "vegas",
            "target": "buildings",
            "task_type": task,
            "test": "False",
            "product": "PS-RGB",
        }
    else:
        file = HERE / "neon_trees.py"
        args = {
            "raw_uri": data / "neon",
            "task_type": task,
            "backend": "torch_plugin",
        }
    args["root_uri"] = root
    if epochs:
        file = Path(__file__).resolve()
        args.update(gpu_check_experiment=experiment, gpu_check_epochs=epochs)
    words = [word for k, v in args.items() for word in ("-a", k, str(v))]
    return ["run", "inprocess", str(file), *words]


def f1_scores(root: Path) -> dict | None:
    path = root / "eval" / "validation_scenes" / "eval.json"
    if not path.exists():
        return None
    overall = json.loads(path.read_text())["overall"]
    # RV writes null for an F1 of 0/0 (no predictions and no labels of a class).
    return {
        m["class_name"]: None
        if m["metrics"].get("f1") is None
        else round(m["metrics"]["f1"], 3)
        for m in overall
    }


def run_one(experiment, task, device, args, work: Path, bundle: Path, limit: float):
    name = f"{experiment}-{task}-{device}"
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    tmp = work / "tmp" / name
    tmp.mkdir(parents=True, exist_ok=True)
    walls, cpus, log = (
        work / f"{name}.wall.json",
        work / f"{name}.cpu.json",
        work / f"{name}.log",
    )
    for path in (walls, cpus):
        path.unlink(missing_ok=True)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "child",
        str(walls),
        str(cpus),
        *experiment_args(experiment, task, bundle, work / "data", root, args.epochs),
    ]
    row = {"experiment": experiment, "task": task, "device": device}
    start = time.perf_counter()
    with open(log, "w") as out:
        out.write(" ".join(command) + "\n")
        out.flush()
        try:
            result = subprocess.run(
                command,
                cwd=bundle / "project",
                env=child_env(bundle, device, tmp),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=max(limit, 1),
            )
            row["status"] = (
                "ok" if result.returncode == 0 else f"failed (exit {result.returncode})"
            )
        except subprocess.TimeoutExpired:
            row["status"] = f"timed out after {limit:.0f} s"
    row["wall_s"] = round(time.perf_counter() - start, 1)
    text = log.read_text(errors="replace")
    wall = json.loads(walls.read_text()) if walls.exists() else {}
    cpu = json.loads(cpus.read_text()) if cpus.exists() else {}
    row["train_s"] = round(wall["train"], 1) if "train" in wall else None
    row["predict_s"] = round(wall["predict"], 1) if "predict" in wall else None
    row["command_wall_s"] = {k: round(v, 1) for k, v in wall.items()}
    row["command_cpu_s"] = {k: round(v, 1) for k, v in cpu.items()}
    peaks, command = {}, None
    for line in text.splitlines():
        if started := COMMAND.match(line):
            command = started[1]
        elif peak := PEAK.search(line):
            peaks[command] = max(peaks.get(command, 0), int(peak[1]))
    row["peak_gpu_mib"] = peaks or None
    try:
        row["f1"] = f1_scores(root)
    except (OSError, ValueError, KeyError, TypeError) as error:
        row["f1"] = None
        row["status"] += f"; eval.json unreadable: {error!r}"
    if device == "cuda" and row["status"] == "ok" and not peaks:
        row["status"] = "ok, but no 'peak GPU memory' line: did it run on the GPU?"
    if row["status"] != "ok" and not row["status"].startswith("ok"):
        row["log_tail"] = text[-3000:]
    shutil.rmtree(tmp, ignore_errors=True)
    return row


def format_table(rows: list[dict]) -> str:
    head = [
        "experiment",
        "task",
        "device",
        "F1 per class",
        "train s",
        "predict s",
        "peak GPU MiB (train/predict)",
        "status",
    ]
    lines = []
    for row in rows:
        f1 = row.get("f1")
        f1_text = (
            " ".join(
                f"{k}={'null' if v is None else f'{v:.3f}'}" for k, v in f1.items()
            )
            if f1
            else "-"
        )
        peaks = row.get("peak_gpu_mib") or {}
        peak_text = (
            f"{peaks.get('train', '-')}/{peaks.get('predict', '-')}" if peaks else "-"
        )
        cells = [
            row["experiment"],
            row["task"],
            row["device"],
            f1_text,
            "-" if row.get("train_s") is None else f"{row['train_s']:.1f}",
            "-" if row.get("predict_s") is None else f"{row['predict_s']:.1f}",
            peak_text,
            row["status"],
        ]
        lines.append(cells)
    widths = [
        max(len(str(c)) for c in column) for column in zip(head, *lines, strict=True)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    rule = "  ".join("-" * w for w in widths)
    return "\n".join(
        [fmt.format(*head), rule] + [fmt.format(*cells) for cells in lines]
    )


def write_outputs(out: Path, report: dict, work: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    (out / "table.txt").write_text(format_table(report["rows"]) + "\n")
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for log in sorted(work.glob("*.log")):
            tar.add(log, arcname=log.name)


def check(args) -> int:
    start = time.perf_counter()
    bundle = Path(args.bundle).resolve()
    out = Path(args.out).resolve()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.quick and not args.epochs:
        args.epochs = QUICK_EPOCHS
    for needed in ("project/spacenet/vegas.py", "data.tar.xz", "stubs/boto3"):
        if not (bundle / needed).exists():
            sys.exit(
                f"gpu_check: {bundle / needed} is missing: make the bundle with "
                "`python benchmarks/gpu_check.py prepare ...`"
            )
    shutil.rmtree(work / "data", ignore_errors=True)
    with tarfile.open(bundle / "data.tar.xz") as tar:
        tar.extractall(work / "data", filter="data")
    gpu = probe_gpu(child_env(bundle, "cuda", work))
    if gpu.get("cuda"):
        print(
            f"GPU: {gpu['name']} (torch {gpu['torch']}, bf16 {gpu['bf16']})", flush=True
        )
    else:
        print(
            f"GPU absent: torch.cuda.is_available() is False (torch {gpu.get('torch')}); "
            "the cuda rows are skipped"
            + (f"\n{gpu['error']}" if gpu.get("error") else ""),
            flush=True,
        )
    report = {
        "gpu": gpu,
        "epochs": args.epochs or "experiment default",
        "budget_s": args.budget,
        "rows": [],
    }
    plan = [
        (e, t, d) for d in args.devices for e in args.experiments for t in args.tasks
    ]
    for experiment, task, device in plan:
        elapsed = time.perf_counter() - start
        row = {"experiment": experiment, "task": task, "device": device}
        if device == "cuda" and not gpu.get("cuda"):
            row["status"] = "skipped: GPU absent (torch.cuda.is_available() is False)"
        elif elapsed > args.budget:
            row["status"] = f"skipped: past the {args.budget:.0f} s budget"
        else:
            print(f"[{elapsed:6.1f} s] {experiment} {task} on {device} ...", flush=True)
            row = run_one(
                experiment,
                task,
                device,
                args,
                work,
                bundle,
                limit=args.budget + args.grace - elapsed,
            )
            print(
                f"           {row['status']}: train {row['train_s']} s, predict "
                f"{row['predict_s']} s, F1 {row['f1']}, peak GPU MiB "
                f"{row['peak_gpu_mib']}",
                flush=True,
            )
            if "log_tail" in row:
                print(row["log_tail"][-1500:], flush=True)
        report["rows"].append(row)
        report["total_s"] = round(time.perf_counter() - start, 1)
        write_outputs(out, report, work)
    print()
    print(format_table(report["rows"]))
    print(
        f"\ntotal {report['total_s']} s; epochs: {report['epochs']}; written to {out}"
    )
    failed = [
        r for r in report["rows"] if not r["status"].startswith(("ok", "skipped"))
    ]
    return 1 if failed else 0


# --- making the bundle (here, with network)


def prepare(args) -> None:
    bundle = Path(args.bundle).resolve()
    wheels = bundle / "wheels"
    if not args.keep_wheels:
        shutil.rmtree(wheels, ignore_errors=True)
        wheels.mkdir(parents=True)
        platforms = [word for p in PLATFORMS for word in ("--platform", p)]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                "3.12",
                "--implementation",
                "cp",
                *platforms,
                "-d",
                str(wheels),
                *WHEELS,
            ],
            check=True,
        )
    stub = bundle / "stubs" / "boto3" / "__init__.py"
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text(BOTO3_STUB)
    project = bundle / "project"
    shutil.rmtree(project, ignore_errors=True)
    top = Path(args.project).resolve()
    skip_anywhere = {".git", "__pycache__", ".pytest_cache", ".ruff_cache"}
    skip_at_top = {".venv", "venv", "data", "out"}  # local runs and their data

    def ignore(folder, names):
        at_top = Path(folder).resolve() == top
        return [
            n
            for n in names
            if n in skip_anywhere
            or n.endswith(".egg-info")
            or (at_top and n in skip_at_top)
        ]

    shutil.copytree(top, project, ignore=ignore)
    data = Path(args.scratch) / "data"
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(bundle / "data", ignore_errors=True)
    shutil.copytree(args.neon, data / "neon")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from spacenet.sample_data import make_sample_data; "
            f"make_sample_data(sys.argv[1], num_scenes={args.vegas_scenes}, size=256, "
            "seed=0, targets=('buildings',), products=('PS-RGB',))",
            str(data / "vegas"),
        ],
        cwd=project,
        check=True,
    )
    with tarfile.open(bundle / "data.tar.xz", "w:xz") as tar:
        for name in ("vegas", "neon"):
            tar.add(data / name, arcname=name)
    shutil.rmtree(data)
    size = sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())
    print(f"bundle {bundle}: {size / 2**20:.1f} MiB")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        child(sys.argv[2:])
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "prepare":
        parser = argparse.ArgumentParser(prog="gpu_check.py prepare")
        parser.add_argument("--project", required=True, help="a baked pytorch project")
        parser.add_argument(
            "--neon", required=True, help="benchmarks/neon_data.py's output"
        )
        parser.add_argument("--bundle", default=str(REPO / ".gpu"))
        parser.add_argument("--vegas-scenes", type=int, default=VEGAS_SCENES)
        parser.add_argument("--keep-wheels", action="store_true")
        parser.add_argument("--scratch", default="/tmp/gpu_check_prepare")
        prepare(parser.parse_args(sys.argv[2:]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", default=str(REPO / ".gpu"))
    parser.add_argument("--out", default="gpu_check_out")
    parser.add_argument("--work", default="/tmp/gpu_check", help="run outputs")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument(
        "--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS)
    )
    parser.add_argument("--devices", nargs="+", choices=DEVICES, default=list(DEVICES))
    parser.add_argument("--epochs", type=int, help="ModelConfig.epochs of every run")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_EPOCHS} epochs")
    parser.add_argument(
        "--budget", type=float, default=330, help="start no run past this many seconds"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=45,
        help="a run started in budget is stopped this long after it",
    )
    return check(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
