"""The generated project's Docker side, in containers: scripts/build, scripts/console,
scripts/jupyter.

With the generated files unmodified and ``docker`` resolving to podman configured
by tests/containers/ (env.sh): build the CPU and GPU images ``FROM`` the local
stand-in for the Raster Vision image (the GPU one from a variant of it with a
``bash -l -c`` entrypoint), check that both run a command given as separate words
(Docker's argv form, which AWS Batch uses), run the generated README's Vegas
command inside a container through scripts/console, check what the image holds,
and time a rebuild after a backend edit (benchmarks/docker_rebuild.py). The
scripts' ``--dry-run`` tests are the generated project's own
(``tests/test_scripts.py``), run with its suite.

The container tests need root and ``tests/containers/setup.sh`` (podman and the
stand-in image); ``tests/run.sh`` runs that set-up in the background when it
runs as root (these tests wait for it: ``RV_CONTAINER_SETUP_LOG``) and sets
``RV_REQUIRE_CONTAINER_TESTS=1``, which turns a missing prerequisite into a
failure instead of a skip. ``RV_CONTAINER_TESTS=0`` skips them. Alone, as root::

    bash tests/run.sh tests/test_containers.py
"""

import functools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, load_module, run_checked

CONTAINERS = REPO / "tests" / "containers"
SETUP_SH = CONTAINERS / "setup.sh"
BENCHMARK = REPO / "benchmarks" / "docker_rebuild.py"
# One worker runs this file (tests/conftest.py's ONE_WORKER_FILES): its tests
# build and run images in one podman store.
pytestmark = pytest.mark.long(after_setup=True)
SLUG = "noop_plugin"
WORKDIR = f"/opt/src/{SLUG}"
BUILD_TIMEOUT = 900  # the install step reaches PyPI
RUN_TIMEOUT = 600
SETUP_TIMEOUT = 1800  # tests/run.sh's background set-up, on a fresh machine


podman_env = load_module(CONTAINERS / "podman_env.py").podman_env


# --- containers ----------------------------------------------------------------


def wait_for_setup(log: Path, timeout=SETUP_TIMEOUT):
    """Wait for tests/run.sh's background set-up (it writes its exit status
    beside its log); why it failed, or None."""
    status = log.with_name(log.name + ".status")
    deadline = time.monotonic() + timeout
    while not status.exists():
        if time.monotonic() > deadline:
            return f"{SETUP_SH.name} still running after {timeout} s: see {log}"
        time.sleep(5)
    if status.read_text().strip() != "0":
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-30:])
        return f"{SETUP_SH.name} failed ({log}):\n{tail}"
    return None


@functools.cache
def container_prerequisite_missing():
    """Why the container tests cannot run here, or None when they can."""
    if os.environ.get("RV_CONTAINER_TESTS") == "0":
        return "RV_CONTAINER_TESTS=0"
    setup_log = os.environ.get("RV_CONTAINER_SETUP_LOG")
    if setup_log:
        failed = wait_for_setup(Path(setup_log))
        if failed:
            return failed
    if os.geteuid() != 0:
        return (
            "container tests need root (podman runs rootful with the settings of "
            "tests/containers/): run `sudo bash tests/run.sh`, or as root "
            f"`bash {SETUP_SH.relative_to(REPO)}` then pytest"
        )
    for tool in ("/usr/bin/podman", "/usr/bin/docker"):
        if not os.access(tool, os.X_OK):
            return f"{tool} missing: run `bash {SETUP_SH.relative_to(REPO)}` as root"
    env = podman_env(dict(os.environ))
    image = env["RV_STANDIN_IMAGE"]
    exists = subprocess.run(
        ["podman", "image", "exists", image], env=env, capture_output=True, check=False
    )
    if exists.returncode != 0:
        return (
            f"the Raster Vision stand-in image {image} is not built: run "
            f"`bash {SETUP_SH.relative_to(REPO)}` as root"
        )
    return None


@pytest.fixture
def engine():
    """The environment in which `docker` is the tests' podman; skips (or, under
    tests/run.sh as root, fails) when that is not available."""
    reason = container_prerequisite_missing()
    if reason:
        if (
            os.environ.get("RV_REQUIRE_CONTAINER_TESTS") == "1"
            and reason != "RV_CONTAINER_TESTS=0"
        ):
            pytest.fail(f"RV_REQUIRE_CONTAINER_TESTS=1 but {reason}")
        pytest.skip(reason)
    return podman_env(dict(os.environ))


@pytest.fixture
def images(engine):
    """Tags built by a test, removed afterwards with the intermediate images of
    their builds (never the base image's own layers)."""
    built = []
    yield built
    base = set(image_history(engine["RV_STANDIN_IMAGE"], engine))
    chains = [image_history(tag, engine) for tag in built]
    for tag in built:
        docker(engine, "rmi", tag, check=False)
    for layer in (layer for chain in chains for layer in chain):
        if layer not in base:
            docker(engine, "rmi", layer, check=False)


def docker(env, *args, check=True, timeout=RUN_TIMEOUT):
    return run_checked(["docker", *args], env=env, check=check, timeout=timeout)


def image_history(tag, env):
    out = docker(env, "history", "-q", "--no-trunc", tag, check=False).stdout
    return [line for line in out.split() if "missing" not in line]


def run_script(project, env, *args, timeout=RUN_TIMEOUT):
    result = subprocess.run(
        [str(project / "scripts" / args[0]), *args[1:]],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"scripts/{' '.join(args)}\n{result.stdout[-6000:]}"
    return result.stdout


def unique_image():
    return f"rv-test-{uuid.uuid4().hex[:10]}"


def build(project, env, images, image, kind):
    run_script(project, env, "build", f"--{kind}", timeout=BUILD_TIMEOUT)
    images.append(f"{image}-{kind}")
    return f"{image}-{kind}"


CHECK_PINS = f"rastervision.{SLUG}.check_pins"
REGISTRY_CHECK = (
    "bash",
    "-c",
    "cd / && python -c 'from rastervision.pipeline import registry_; "
    "print(sorted(registry_.plugin_versions))'",
)


def readme_vegas_command(project):
    """The generated README's command that runs Vegas in a container, as argv."""
    blocks = re.findall(
        r"```shell\n(.*?)```", (project / "README.md").read_text(), flags=re.DOTALL
    )
    found = [b for b in blocks if b.startswith("scripts/console bash -c ")]
    assert len(found) == 1, blocks
    argv = shlex.split(found[0])
    assert argv[:3] == ["scripts/console", "bash", "-c"] and len(argv) == 4, argv
    assert "-a root_uri /opt/data/out" in argv[3], argv
    return argv


def build_string_entrypoint_base(env, images, tmp_path):
    """The stand-in with ENTRYPOINT ["bash", "-l", "-c"] (as Raster Vision's
    Dockerfile has had since 2025, in no release): a base the generated
    Dockerfile must not take that convention from."""
    context = tmp_path / "string-entrypoint-base"
    context.mkdir()
    (context / "Containerfile").write_text(
        f"FROM {env['RV_STANDIN_IMAGE']}\n"
        'ENTRYPOINT ["bash", "-l", "-c"]\n'
        'CMD ["bash"]\n'
    )
    tag = f"{unique_image()}-base:latest"
    docker(env, "build", "--pull=never", "-t", tag, str(context))
    images.append(tag)
    # The variant really takes one string: argv words after the first are lost.
    said = docker(env, "run", "--rm", tag, "echo", "lost").stdout
    assert said.strip() == "", said
    return tag


def test_build_both_images_and_run_vegas_through_console(
    bake, tmp_path, monkeypatch, engine, images
):
    home = tmp_path / "home dir"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    image = unique_image()
    env = podman_env(dict(os.environ))
    string_base = build_string_entrypoint_base(env, images, tmp_path)
    # The bake writes the profile ~/.rastervision/noop_plugin, used below via -p.
    baked = bake(docker_image=image)
    assert (home / ".rastervision" / SLUG).is_file()
    project = tmp_path / "my projects" / SLUG
    shutil.copytree(baked, project, symlinks=True)
    variant = bake(docker_image=image, base_image=string_base)

    # The CPU image builds FROM the stand-in (the default base_image), the GPU
    # one FROM the variant with a string entrypoint (a bake with that
    # base_image). Both run a command given as words, as AWS Batch gives it
    # (`python -m rastervision.pipeline.cli run_command ...`), default to a
    # shell, and have the plugin in Raster Vision's registry.
    for kind, source in (("cpu", project), ("gpu", variant)):
        tag = build(source, env, images, image, kind)
        said = docker(env, "run", "--rm", tag, "python", "-c", "print('ok')").stdout
        assert said == "ok\n", said
        config = json.loads(
            docker(env, "image", "inspect", "--format", "{{json .Config}}", tag).stdout
        )
        assert not config.get("Entrypoint"), config
        assert config["Cmd"] == ["bash"], config
        plugins = docker(env, "run", "--rm", tag, *REGISTRY_CHECK).stdout
        assert f"'rastervision.{SLUG}'" in plugins, plugins
    images.append(images.pop(images.index(string_base)))  # removed after its child

    # Raster Vision's dependencies in the image are at the project's pins (the
    # stand-in installs them as the real image does; the plugin's install must
    # not move them), and the segmentation vector outputs that crash on numpy 2
    # work there: the project's own test, run inside the image.
    cpu = f"{image}-cpu"
    pins = docker(env, "run", "--rm", cpu, "python", "-m", CHECK_PINS).stdout
    counts = re.search(r"(\d+) of (\d+) pinned Raster Vision dependencies", pins)
    assert counts and counts[1] == counts[2] and int(counts[2]) >= 20, pins
    docker(
        env,
        "run",
        "--rm",
        "-v",
        f"{project}/tests:{WORKDIR}/tests:ro",
        cpu,
        "bash",
        "-c",
        "pip install -q -c constraints.txt pytest hypothesis"
        " && python -m pytest -q tests/test_vector_outputs.py",
    )

    # The README's command, word for word.
    data = tmp_path / "rv data"
    data.mkdir()
    command = readme_vegas_command(project)
    run_script(
        project,
        {**env, "RASTER_VISION_DATA_DIR": str(data)},
        "console",
        *command[1:],
    )

    out = data / "out"
    evaluation = json.loads(
        (out / "eval" / "validation_scenes" / "eval.json").read_text()
    )
    assert evaluation
    assert zipfile.is_zipfile(out / "bundle" / "model-bundle.zip")
    # The run used the plugin's backend (found by Raster Vision in the image).
    config = json.loads((out / "pipeline-config.json").read_text())
    assert config["backend"]["type_hint"] == f"{SLUG}.backend"
    assert config["plugin_versions"][f"rastervision.{SLUG}"] == 0

    # Every task and every SpaceNet product of the sample data, in the image
    # (each product once, each task at least once beside the README's PS-RGB
    # chip classification; the generated suite runs every pair in a venv).
    runs = [
        ("PAN", "chip_classification"),
        ("PS-RGB", "semantic_segmentation"),
        ("MS", "object_detection"),
        ("PS-MS", "semantic_segmentation"),
    ]
    loop = " && ".join(
        f"rastervision run inprocess spacenet/vegas.py -a raw_uri /opt/data/sample"
        f" -a root_uri /opt/data/{product}/{task} -a product {product}"
        f" -a task_type {task} -a test True"
        for product, task in runs
    )
    run_script(
        project,
        {**env, "RASTER_VISION_DATA_DIR": str(data)},
        "console",
        "bash",
        "-c",
        loop,
    )
    for product, task in runs:
        eval_json = data / product / task / "eval" / "validation_scenes" / "eval.json"
        assert json.loads(eval_json.read_text())["overall"], (product, task)


def test_image_has_neither_git_nor_data(bake, engine, images):
    image = unique_image()
    project = bake(docker_image=image, write_profile="no")
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project, check=True)
    subprocess.run([*git, "add", "-A"], cwd=project, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "baked"], cwd=project, check=True)
    for folder in ("data", "out"):
        (project / folder).mkdir()
        (project / folder / "big.tif").write_bytes(b"\0" * 1024)
    tag = build(project, podman_env(dict(os.environ)), images, image, "cpu")
    checks = " && ".join(
        [
            f"test ! -e {WORKDIR}/{name}"
            for name in (".git", "data", "out", "tests", "scripts")
        ]
        + [
            f"test -f {WORKDIR}/src/rastervision/{SLUG}/backend.py",
            f"test -f {WORKDIR}/spacenet/vegas.py",
            "test -d /opt/notebooks",
        ]
    )
    docker(engine, "run", "--rm", tag, "bash", "-c", checks)


def test_backend_edit_rebuilds_in_seconds(engine):
    """benchmarks/docker_rebuild.py: first build vs rebuild after a backend edit;
    the rebuild must take the pip install step from the cache. (The script cleans
    up its images itself.)"""
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--json", "--rebuilds", "2"],
        env=os.environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(result.stdout)
    print(figures)
    assert figures["first_build_pip_step_cached"] is False
    assert figures["rebuild_pip_step_cached"] is True
    assert figures["rebuild_s"] < 30
    assert re.fullmatch(
        rf"src/rastervision/{SLUG}/backend\.py", figures["backend_module"]
    )


# --- Jupyter -------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url):
    """The HTTP status of a GET, or None when nothing answers (no proxy)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def test_jupyter_serves_on_loopback_with_a_token_and_runs_the_notebook(
    bake, tmp_path, engine, images
):
    """scripts/jupyter for real: the server answers its API on 127.0.0.1 with
    the token and refuses without it; the starter notebook runs in the image.

    These machines' podman uses host networking (tests/containers/containers.conf):
    the container shares the host's network, so `-p 127.0.0.1:N:N` is not
    applied (podman drops port mappings then) and the server listens on the
    host's port N directly. So this test shows the server and its token
    authentication, reached on 127.0.0.1; the loopback-only publishing that
    Docker's default bridge network applies is checked by the dry-run tests."""
    image = unique_image()
    project = bake(docker_image=image, write_profile="no")
    tag = build(project, engine, images, image, "cpu")
    data = tmp_path / "rv data"
    data.mkdir()
    port = free_port()
    token = uuid.uuid4().hex
    env = {**engine, "RASTER_VISION_DATA_DIR": str(data), "JUPYTER_TOKEN": token}
    log_path = tmp_path / "jupyter.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [str(project / "scripts" / "jupyter"), "--port", str(port)],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped below
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while http_status(f"{base}/api/status?token={token}") != 200:
            assert server.poll() is None, log_path.read_text()[-4000:]
            assert time.monotonic() < deadline, log_path.read_text()[-4000:]
            time.sleep(1)
        assert http_status(f"{base}/api/status") == 403  # no token, no access
        assert http_status(f"{base}/api/status?token=wrong") == 403
        assert f"open {base}/tree?token={token}" in log_path.read_text()

        # The starter notebook, executed inside the image (as from the server's
        # terminal): it writes the sample data, trains a bundle in test mode and
        # draws its figures; outputs land in the data folder.
        run_script(
            project,
            env,
            "console",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=600",
            "--output-dir",
            "/opt/data/executed",
            "/opt/notebooks/vegas_starter.ipynb",
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        # Any container of this test's image that outlived its client.
        left = docker(engine, "ps", "-aq", "--filter", f"ancestor={tag}").stdout.split()
        for container in left:
            docker(engine, "rm", "-f", container, check=False)
    assert http_status(f"{base}/api/status?token={token}") is None, "server stopped"

    executed = json.loads((data / "executed" / "vegas_starter.ipynb").read_text())
    pngs = [
        output
        for cell in executed["cells"]
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(pngs) == 2
    out = data / "out" / "notebook-buildings-semantic_segmentation"
    assert zipfile.is_zipfile(out / "bundle" / "model-bundle.zip")
    assert (data / "sample" / "spacenet").is_dir()
