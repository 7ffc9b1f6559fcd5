"""How well and how fast the backend's model does on the sample data, per task.

For each task (buildings: chip classification, semantic segmentation, object
detection; roads: semantic segmentation) it writes the sample data, runs the
Vegas pipeline with ``-a test False`` in a fresh process and prints the F1 of
each class (from RV's eval.json; ``-`` when a class was never predicted), the
seconds of ``train`` and ``predict``, and the process's peak memory (RSS).
Run it after you change the model, to compare with the figures in docs/model.md.

Usage: python benchmarks/model_benchmark.py [--scenes N] [--size PX] [--repeat N]
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
TASKS = (
    ("buildings", "chip_classification"),
    ("buildings", "semantic_segmentation"),
    ("buildings", "object_detection"),
    ("roads", "semantic_segmentation"),
)
COMMANDS = ("analyze", "chip", "train", "predict", "eval")


def run_pipeline(raw_uri: str, root_uri: str, target: str, task_type: str) -> dict:
    """Run the pipeline in this process; return seconds per command, memory, F1."""
    sys.path.insert(0, str(PROJECT))
    from spacenet.vegas import get_config

    config = get_config(
        "inprocess",
        root_uri,
        raw_uri=raw_uri,
        target=target,
        task_type=task_type,
        test="False",
    )
    config.update()
    config.recursive_validate_config()
    seconds = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        pipeline = config.build(tmp_dir)
        for command in COMMANDS:
            start = time.perf_counter()
            getattr(pipeline, command)()
            seconds[command] = time.perf_counter() - start
    eval_json = Path(root_uri, "eval", "validation_scenes", "eval.json")
    overall = json.loads(eval_json.read_text())["overall"]
    return {
        "seconds": seconds,
        # ru_maxrss is in KiB on Linux.
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "f1": {m["class_name"]: m["metrics"]["f1"] for m in overall},
    }


def measure(raw_uri: str, target: str, task_type: str) -> dict:
    """:func:`run_pipeline` in a fresh Python process, so memory is its own."""
    with tempfile.TemporaryDirectory() as root_uri:
        return in_fresh_process(__file__, [raw_uri, root_uri, target, task_type])


def in_fresh_process(script: str, arguments: list) -> dict:
    """Run ``script --child <arguments as JSON>``; return the JSON it prints last.

    A fresh process per measurement, so its peak memory is its own.
    """
    result = subprocess.run(
        [sys.executable, script, "--child", json.dumps(arguments)],
        cwd=PROJECT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def write_sample_data(out_dir: str, scenes: int, size: int, targets=None) -> None:
    command = [sys.executable, "spacenet/sample_data.py", out_dir]
    # The experiment's default product only: all four would be 20 bands a scene.
    command += ["--scenes", str(scenes), "--size", str(size), "--products", "PS-RGB"]
    if targets:
        command += ["--targets", *targets]
    subprocess.run(command, cwd=PROJECT, check=True, capture_output=True)


def show_f1(f1: dict) -> str:
    return ", ".join(
        f"{name} {'-' if value is None else f'{value:.3f}'}"
        for name, value in f1.items()
        if name != "average"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenes", type=int, default=8, help="sample scenes per target"
    )
    parser.add_argument("--size", type=int, default=256, help="sample scene size, px")
    parser.add_argument("--repeat", type=int, default=1, help="runs per task (medians)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_pipeline(*json.loads(args.child))))
        return

    with tempfile.TemporaryDirectory() as raw_uri:
        write_sample_data(raw_uri, args.scenes, args.size)
        print(
            f"{args.scenes} sample scenes of {args.size} px, -a test False, "
            f"medians of {args.repeat} run(s)"
        )
        for target, task_type in TASKS:
            runs = [measure(raw_uri, target, task_type) for _ in range(args.repeat)]
            train = statistics.median(r["seconds"]["train"] for r in runs)
            predict = statistics.median(r["seconds"]["predict"] for r in runs)
            peak = statistics.median(r["peak_mib"] for r in runs)
            print(
                f"{target} {task_type}: F1 {show_f1(runs[0]['f1'])}; "
                f"train {train:.2f} s, predict {predict:.2f} s, peak {peak:.0f} MiB"
            )


if __name__ == "__main__":
    main()
