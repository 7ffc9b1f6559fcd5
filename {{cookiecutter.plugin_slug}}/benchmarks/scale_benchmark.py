"""How train time, predict time and peak memory grow with the data set.

Writes sample data sets of growing size (buildings, scenes of 650 px as real
SpaceNet tiles) and runs the Vegas pipeline (``-a test False``) on each in a
fresh process, as ``model_benchmark.py`` does. Prints per data set the seconds
of ``train`` and ``predict``, the peak memory (RSS), and their growth against
the smallest set: time should grow no faster than the scenes, memory not at all
beyond the model's bounded training sample.

Usage: python benchmarks/scale_benchmark.py [--scenes 10 100] [--size 650]
       [--task semantic_segmentation]
"""

import argparse
import tempfile

from model_benchmark import measure, show_f1, write_sample_data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--size", type=int, default=650, help="scene size, px")
    parser.add_argument(
        "--task",
        default="semantic_segmentation",
        choices=["chip_classification", "semantic_segmentation", "object_detection"],
    )
    args = parser.parse_args(argv)

    first = None
    print(f"buildings {args.task}, scenes of {args.size} px, -a test False")
    for scenes in args.scenes:
        with tempfile.TemporaryDirectory() as raw_uri:
            write_sample_data(raw_uri, scenes, args.size, targets=["buildings"])
            run = measure(raw_uri, "buildings", args.task)
        train, predict = run["seconds"]["train"], run["seconds"]["predict"]
        peak = run["peak_mib"]
        first = first or (scenes, train, predict, peak)
        growth = (
            f"x{scenes / first[0]:.1f} scenes: train x{train / first[1]:.2f}, "
            f"predict x{predict / first[2]:.2f}, peak x{peak / first[3]:.2f}"
        )
        print(
            f"{scenes} scenes: train {train:.2f} s, predict {predict:.2f} s, "
            f"peak {peak:.0f} MiB ({growth}); F1 {show_f1(run['f1'])}"
        )


if __name__ == "__main__":
    main()
