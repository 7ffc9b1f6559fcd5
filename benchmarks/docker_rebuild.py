#!/usr/bin/env python3
"""How long the generated project's Docker image takes to build, and to rebuild
after an edit of the backend module.

Bakes a project with the default answers (a unique image name, so the first
build finds no cached layer of an earlier run), then times, with the generated
files unmodified:

1. ``scripts/build --cpu``: the first build, on a base image already present
   (no pull: the real Raster Vision image is several GB to download once);
2. ``scripts/build --cpu`` again after appending a comment to
   ``src/rastervision/<slug>/<backend>.py``, ``--rebuilds`` times (a new comment
   each time), and reports the median.

It also reports whether the rebuild re-ran the ``pip install`` step (it should
not: the Dockerfile installs before it copies the source) and checks that the
edit is in the rebuilt image. The images are removed at the end (``--keep`` keeps
them).

On this repo's machines (no Docker engine) ``docker`` is podman with the settings
of tests/containers/, and the base is the local stand-in that
tests/containers/setup.sh builds; run as root::

    bash tests/containers/setup.sh
    .venv/bin/python benchmarks/docker_rebuild.py          # or --json

With a real Docker engine and the real base image: ``--engine docker``.
Needs cookiecutter in the running Python (tests/requirements.txt has it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONTAINERS = REPO / "tests" / "containers"
PIP_STEP = re.compile(r"RUN pip install")


def engine_env(engine: str) -> dict[str, str]:
    """Environment in which ``docker`` is the engine to measure."""
    if engine == "docker":
        return dict(os.environ)
    sys.path.insert(0, str(CONTAINERS))
    from podman_env import podman_env

    return podman_env(dict(os.environ))


def bake(out_dir: Path, image: str, home: Path) -> Path:
    """Generate a project with the default answers into ``out_dir``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "-o",
            str(out_dir),
            str(REPO),
            f"docker_image={image}",
            "write_profile=no",
        ],
        env={**os.environ, "HOME": str(home), "USERPROFILE": str(home)},
        stdin=subprocess.DEVNULL,
        check=True,
        capture_output=True,
    )
    (project,) = [p for p in out_dir.iterdir() if p.is_dir() and p != home]
    return project


def pip_step_cached(log: str) -> bool | None:
    """Whether the build log shows the ``RUN pip install`` step taken from the
    cache: podman/buildah (``--> Using cache``) or BuildKit (``CACHED``)."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if PIP_STEP.search(line):
            following = lines[i + 1 : i + 3]
            if re.match(
                r"#\d+ \[", line
            ):  # BuildKit: "#7 [3/6] RUN ..." then "#7 CACHED"
                step = line.split()[0]
                return any(line2.startswith(f"{step} CACHED") for line2 in lines)
            return any("Using cache" in line2 for line2 in following)
    return None


def build(project: Path, env: dict[str, str], kind: str = "cpu") -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(
        ["scripts/build", f"--{kind}"],
        check=False,
        cwd=project,
        env={**env, "BUILDKIT_PROGRESS": "plain"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"scripts/build --{kind} failed:\n{result.stdout[-5000:]}")
    return elapsed, result.stdout


def layer_ids(tag: str, env: dict[str, str]) -> list[str]:
    """The image IDs in ``tag``'s history (newest first), for clean-up."""
    out = subprocess.run(
        ["docker", "history", "-q", "--no-trunc", tag],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [line for line in out.split() if line and "missing" not in line]


def remove_images(
    tags: list[str], layers: list[str], keep: set[str], env: dict[str, str]
) -> None:
    """Remove ``tags``, then the intermediate images of their builds (newest
    first), leaving ``keep`` (the base image's own history) alone. Images still
    used by another image or a container are refused by the engine: left."""
    for tag in tags:
        subprocess.run(
            ["docker", "rmi", tag], env=env, capture_output=True, check=False
        )
    seen = set()
    for layer in layers:
        if layer in keep or layer in seen:
            continue
        seen.add(layer)
        subprocess.run(
            ["docker", "rmi", layer], env=env, capture_output=True, check=False
        )


def measure(rebuilds: int, engine: str, keep_images: bool) -> dict:
    env = engine_env(engine)
    image = f"rv-bench-{uuid.uuid4().hex[:10]}"
    tag = f"{image}-cpu"
    work = Path(tempfile.mkdtemp(prefix="rv-docker-rebuild-"))
    chains: list[list[str]] = []  # each build's image history, newest first
    base_layers: set[str] = set()
    try:
        home = work / "home"
        home.mkdir()
        project = bake(work, image, home)
        slug = project.name
        backend = project / "src" / "rastervision" / slug / "backend.py"
        base = re.search(
            r"^ARG BASE_IMAGE=(\S+)", (project / "Dockerfile").read_text(), re.MULTILINE
        )[1]
        base_layers = set(layer_ids(base, env))

        first, first_log = build(project, env)
        chains.append(layer_ids(tag, env))
        times, cached = [], []
        for i in range(rebuilds):
            marker = f"# rebuild benchmark edit {i} {uuid.uuid4().hex}"
            with backend.open("a") as f:
                f.write(f"{marker}\n")
            elapsed, log = build(project, env)
            chains.append(layer_ids(tag, env))
            times.append(elapsed)
            cached.append(pip_step_cached(log))
            in_image = f"/opt/src/{slug}/src/rastervision/{slug}/{backend.name}"
            check = subprocess.run(
                [
                    "docker",
                    "run",
                    "--rm",
                    tag,
                    "grep",
                    "-qF",
                    marker.split()[-1],
                    in_image,
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
            )
            if check.returncode != 0:
                sys.exit(
                    f"the edit of {backend.name} is not in the rebuilt image {tag}"
                )
        return {
            "engine": engine,
            "base_image": base,
            "backend_module": backend.relative_to(project).as_posix(),
            "first_build_s": round(first, 2),
            "first_build_pip_step_cached": pip_step_cached(first_log),
            "rebuild_s": round(statistics.median(times), 2),
            "rebuilds_s": [round(t, 2) for t in times],
            "rebuild_pip_step_cached": all(cached) if None not in cached else None,
        }
    finally:
        if not keep_images:
            newest_first = [layer for chain in reversed(chains) for layer in chain]
            remove_images([tag], newest_first, base_layers, env)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rebuilds", type=int, default=3, help="rebuilds to time (median)"
    )
    parser.add_argument(
        "--engine",
        choices=["podman", "docker"],
        default="podman",
        help="podman: tests/containers/ settings (default); docker: as on PATH",
    )
    parser.add_argument("--keep", action="store_true", help="keep the images built")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = measure(max(1, args.rebuilds), args.engine, args.keep)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    cached = {True: "cached", False: "RE-RUN", None: "unknown"}
    print(f"base image: {result['base_image']} ({result['engine']})")
    first = "first build (scripts/build --cpu):"
    rebuild = f"rebuild after editing {result['backend_module']}:"
    width = max(len(first), len(rebuild))
    print(f"{first:<{width}} {result['first_build_s']:5.1f} s")
    print(
        f"{rebuild:<{width}} {result['rebuild_s']:5.1f} s  (median of "
        f"{', '.join(f'{t:.1f}' for t in result['rebuilds_s'])}; "
        f"pip install step {cached[result['rebuild_pip_step_cached']]})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
