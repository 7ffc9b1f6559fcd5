"""Print the F1 of each class of one or two Raster Vision evaluations side by side.

Usage::

    python benchmarks/compare_eval.py out/noop out/mine
    python benchmarks/compare_eval.py out/mine/eval/validation_scenes/eval.json

Each argument is an ``eval.json`` file or a run's ``root_uri`` (its
``eval/validation_scenes/eval.json`` is read). Raster Vision writes ``null``
for the F1 of a class that was never predicted (and never there): it is shown
as ``-``, and counts as 0 in the difference.
"""

import argparse
import json
from pathlib import Path

EVAL_PATH = Path("eval") / "validation_scenes" / "eval.json"


def read_f1(path: str) -> dict[str, float | None]:
    """F1 per class name, in eval.json's order (with its "average")."""
    eval_file = Path(path)
    if eval_file.is_dir():
        eval_file = eval_file / EVAL_PATH
    overall = json.loads(eval_file.read_text())["overall"]
    return {entry["class_name"]: entry["metrics"]["f1"] for entry in overall}


def show(f1: float | None) -> str:
    return "-" if f1 is None else f"{f1:.3f}"


def compare(paths: list[str]) -> str:
    """The table: one row per class, one column per evaluation, and the difference."""
    runs = [read_f1(path) for path in paths]
    classes = list(dict.fromkeys(name for run in runs for name in run))
    header = ["class", *(f"F1 {label}" for label in "AB"[: len(runs)])]
    if len(runs) == 2:
        header.append("B - A")
    rows = [header]
    for name in classes:
        values = [run.get(name) for run in runs]
        row = [name, *(show(value) for value in values)]
        if len(runs) == 2:
            row.append(f"{(values[1] or 0) - (values[0] or 0):+.3f}")
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    legend = [f"{label}: {path}" for label, path in zip("AB", paths, strict=False)]
    return "\n".join(lines + legend + ["-: never predicted (null in eval.json)"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "evaluations", nargs="+", metavar="EVAL", help="eval.json or root_uri"
    )
    args = parser.parse_args(argv)
    if len(args.evaluations) > 2:
        parser.error("give one or two evaluations")
    print(compare(args.evaluations))


if __name__ == "__main__":
    main()
