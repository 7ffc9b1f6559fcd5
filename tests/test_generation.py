"""Bake the template with several answer sets and check what comes out.

In the spirit of cookiecutter-django's generation tests: the exact file set,
no Jinja left anywhere, linters on every generated file, bad answers stopped
before anything is written, and the generated project's own tests passing in a
fresh venv with Raster Vision installed the way its README says.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import REPO, make_project_venv, run_checked, venv_env
from model_swap import check_docs_swaps
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

BIN = Path(sys.executable).parent
DEFAULTS = {"slug": "noop_plugin", "backend_class": "NoopPluginBackend"}
COMBINATIONS = {
    "defaults": ({}, DEFAULTS),
    "custom": (
        {
            "plugin_name": "Crop Mapper",
            "backend_name": "Random Forest",
            "license": "Apache-2.0",
            "write_profile": "no",
            "docker_image": "registry.example.com:5000/team/crop-mapper",
            "rv_profile": "crops.dev",
        },
        {"slug": "crop_mapper", "backend_class": "RandomForestBackend"},
    ),
    "short-names": (
        {"plugin_name": "x", "backend_name": "a", "license": "BSD-3-Clause"},
        {"slug": "x", "backend_class": "ABackend"},
    ),
    "proprietary": (
        {"plugin_slug": "zz_top", "license": "Proprietary", "write_profile": "replace"},
        {"slug": "zz_top", "backend_class": "ZzTopBackend"},
    ),
    "scikit-learn": (
        {"starter_model": "scikit-learn", "plugin_name": "Roof Finder"},
        {"slug": "roof_finder", "backend_class": "RoofFinderBackend"},
    ),
    "pytorch": (
        {"starter_model": "pytorch", "plugin_name": "Tree Finder"},
        {"slug": "tree_finder", "backend_class": "TreeFinderBackend"},
    ),
}
# Names only the code of one starter model has: a bake of the other must not
# hold them in any Python or TOML file.
STARTER_MODEL_MARKERS = {
    "noop": ("predict_class_id", "class_counts"),
    "scikit-learn": (
        "make_estimator",
        "TRUSTED_TYPES",
        "skops",
        "RandomForestClassifier",
        "pixels_per_chip",
        "feature_scales",
    ),
    "pytorch": ("safetensors", "lightning", "networks"),
}
# Package modules only some starter models have.
MODEL_MODULES = {"pytorch": ("networks.py", "training.py")}
# "}}" alone is left out: it closes nested dict literals in Python.
JINJA = re.compile(r"\{\{|\{%|%\}|\{#|cookiecutter\.")


def starter_model_of(combination):
    return COMBINATIONS[combination][0].get("starter_model", "noop")


def expected_files(slug, backend_class, starter_model="noop"):
    """Every file a bake writes, for a given slug and starter model."""
    package = f"src/rastervision/{slug}"
    modules = {f"{package}/{name}" for name in MODEL_MODULES.get(starter_model, ())}
    return modules | {
        ".dockerignore",
        ".gitattributes",
        ".gitignore",
        "Dockerfile",
        "LICENSE",
        "README.md",
        "constraints.txt",
        "docs/aws-batch.md",
        "docs/dependencies.md",
        "docs/docker.md",
        "docs/model.md",
        "docs/performance.md",
        "docs/tooling.md",
        "docs/vegas.md",
        "pyproject.toml",
        "benchmarks/chips_benchmark.py",
        "benchmarks/compare_eval.py",
        "benchmarks/model_benchmark.py",
        "benchmarks/scale_benchmark.py",
        "benchmarks/vegas_speed.py",
        "notebooks/README.md",
        "scripts/build",
        "scripts/console",
        "scripts/jupyter",
        "scripts/publish",
        "spacenet/layout.py",
        "spacenet/sample_data.py",
        "spacenet/vegas.py",
        f"{package}/__init__.py",
        f"{package}/backend.py",
        f"{package}/config.py",
        f"{package}/model.py",
        f"{package}/contract.py",
        f"{package}/chips.py",
        f"{package}/progress.py",
        f"{package}/label_sources.py",
        f"{package}/label_stores.py",
        f"{package}/batch_check.py",
        f"{package}/check_pins.py",
        "tests/conftest.py",
        "tests/test_environment.py",
        "tests/test_model.py",
        "tests/test_contract.py",
        "tests/fuzz_worker.py",
        "tests/test_plugin.py",
        "tests/test_predict.py",
        "tests/test_sample_data.py",
        "tests/test_publish.py",
        "tests/test_scripts.py",
        "tests/test_batch_check.py",
        "tests/batch_resources.py",
        "tests/test_vector_outputs.py",
        "tests/test_vegas.py",
        # CI, pre-commit and the starter notebook (issue 11).
        ".github/workflows/ci.yml",
        ".pre-commit-config.yaml",
        "notebooks/vegas_starter.ipynb",
        "tests/test_notebook.py",
    }


def files_of(project: Path):
    return {
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def run(*args, cwd):
    return run_checked(args, cwd=cwd)


@pytest.fixture(params=COMBINATIONS, ids=list(COMBINATIONS))
def baked(request, bake):
    answers, names = COMBINATIONS[request.param]
    return request.param, bake(**answers), names


def test_exact_file_set(baked):
    name, project, names = baked
    assert files_of(project) == expected_files(
        **names, starter_model=starter_model_of(name)
    )
    assert project.name == names["slug"]


def test_no_unrendered_jinja(baked):
    _, project, _ = baked
    for path in project.rglob("*"):
        assert not JINJA.search(path.name), path
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for number, line in enumerate(text.splitlines(), 1):
                assert not JINJA.search(line), f"{path}:{number}: {line}"


def test_python_passes_ruff(baked):
    name, project, _ = baked
    run(str(BIN / "ruff"), "check", "--no-cache", ".", cwd=project)
    if name in ("defaults", "scikit-learn", "pytorch"):
        # Formatting depends on name lengths; each starter model's bake with
        # its README's example names must be exactly formatted (its CI checks).
        run(str(BIN / "ruff"), "format", "--no-cache", "--check", ".", cwd=project)


def test_no_code_of_the_starter_model_not_chosen(baked):
    name, project, _ = baked
    chosen = starter_model_of(name)
    code = {
        path: path.read_text()
        for path in project.rglob("*")
        if path.suffix in (".py", ".toml")
    }
    for model, markers in STARTER_MODEL_MARKERS.items():
        for marker in markers:
            holding = [str(path) for path, text in code.items() if marker in text]
            if model == chosen:
                assert holding, f"{marker} of the chosen {model} model is missing"
            else:
                assert not holding, f"{marker} of the {model} model is in {holding}"


def test_shell_scripts_pass_bash_n_and_shellcheck(baked):
    _, project, _ = baked
    scripts = sorted(str(p) for p in (project / "scripts").iterdir())
    for script in scripts:
        run("bash", "-n", script, cwd=project)
        assert os.access(script, os.X_OK), f"{script} lost its run bit"
    run(str(BIN / "shellcheck"), *scripts, cwd=project)


def test_dockerfile_passes_hadolint(baked):
    _, project, _ = baked
    run(str(BIN / "hadolint"), "Dockerfile", cwd=project)


def test_names_reach_every_file(baked):
    name, project, names = baked
    answers = COMBINATIONS[name][0]
    slug = names["slug"]
    pyproject = (project / "pyproject.toml").read_text()
    assert '"rastervision_core>=0.31.1,<0.32"' in pyproject
    init = (project / f"src/rastervision/{slug}/__init__.py").read_text()
    assert f'PLUGIN_NAME = "rastervision.{slug}"' in init
    config = (project / f"src/rastervision/{slug}/config.py").read_text()
    assert f'@register_config("{slug}.backend")' in config
    assert f"class {names['backend_class']}Config(BackendConfig):" in config
    image = answers.get("docker_image", slug.replace("_", "-"))
    assert f"IMAGE='{image}'" in (project / "scripts/build").read_text()
    profile = answers.get("rv_profile", slug)
    assert f"rastervision -p {profile} run local" in (project / "README.md").read_text()


def test_profile_written_only_when_asked(baked, fake_home):
    name, _, names = baked
    answers = COMBINATIONS[name][0]
    profile = fake_home / ".rastervision" / answers.get("rv_profile", names["slug"])
    if answers.get("write_profile") == "no":
        assert not (fake_home / ".rastervision").exists()
    else:
        assert "[BATCH]" in profile.read_text()
        assert profile.stat().st_mode & 0o777 == 0o600


BAD_ANSWERS = [
    ({"plugin_slug": "Bad-Slug"}, "plugin_slug", "lowercase Python identifier"),
    ({"plugin_slug": "class"}, "plugin_slug", "keyword"),
    ({"plugin_slug": "core"}, "plugin_slug", "taken by a Raster Vision package"),
    ({"plugin_slug": "pytorch_backend"}, "plugin_slug", "taken by a Raster Vision"),
    ({"plugin_slug": "9lives"}, "plugin_slug", "not starting with a digit"),
    ({"backend_name": "2fast"}, "backend_name", "start with a letter"),
    ({"backend_name": "bad/name"}, "backend_name", "start with a letter"),
    ({"docker_image": "Upper/Case"}, "docker_image", "Docker image name"),
    ({"docker_image": "image:tag"}, "docker_image", "without a tag"),
    ({"base_image": "not an image"}, "base_image", "image reference"),
    ({"rv_profile": "../escape"}, "rv_profile", "plain file name"),
    ({"rv_profile": ".."}, "rv_profile", "plain file name"),
    ({"rv_profile": "a/b"}, "rv_profile", "plain file name"),
    ({"version": "one"}, "version", "PEP 440"),
    ({"batch_cpu_job_queue": "queue name"}, "batch_cpu_job_queue", "AWS Batch"),
    ({"author_email": "nobody"}, "author_email", "name@example.com"),
]


@pytest.mark.parametrize(
    "answers, field, rule",
    BAD_ANSWERS,
    ids=[
        f"{field}={next(iter(answers.values()))}" for answers, field, _ in BAD_ANSWERS
    ],
)
def test_bad_answer_stops_the_bake_and_leaves_nothing(
    tmp_path, capfd, fake_home, answers, field, rule
):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(REPO), no_input=True, extra_context=answers, output_dir=str(output_dir)
        )
    errors = [
        line
        for line in capfd.readouterr().err.splitlines()
        if line.startswith("ERROR: ")
    ]
    value = next(iter(answers.values()))
    assert errors[0] == f"ERROR: {field} = {value!r}: " + errors[0].split(": ", 2)[2]
    assert rule in errors[0]
    assert list(output_dir.iterdir()) == []
    assert list(fake_home.iterdir()) == []


@pytest.mark.parametrize(
    "answers",
    [
        {"license": "GPL"},
        {"write_profile": "maybe"},
        {"rv_version": "0.30.0"},
        {"starter_model": "tensorflow"},
    ],
    ids=str,
)
def test_answer_outside_its_choices_is_refused_by_cookiecutter(
    tmp_path, fake_home, answers
):
    """Cookiecutter checks choice answers itself, before any hook runs."""
    field, value = next(iter(answers.items()))
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    with pytest.raises(
        ValueError, match=f"{value} provided for choice variable {field}"
    ):
        cookiecutter(
            str(REPO), no_input=True, extra_context=answers, output_dir=str(output_dir)
        )
    assert list(output_dir.iterdir()) == []
    assert list(fake_home.iterdir()) == []


def test_replayed_unsupported_rv_version_is_refused_by_the_hook(
    tmp_path, capfd, fake_home
):
    """A replay (or a stored answer) skips cookiecutter's own choice check."""
    # The answers of a real bake, as cookiecutter saves them, then made old.
    cookiecutter(
        str(REPO),
        no_input=True,
        extra_context={"write_profile": "no"},
        output_dir=str(tmp_path / "first"),
    )
    [saved] = (fake_home / ".cookiecutter_replay").iterdir()
    answers = json.loads(saved.read_text())
    shutil.rmtree(fake_home / ".cookiecutter_replay")
    answers["cookiecutter"]["rv_version"] = "0.30.0"
    replay = tmp_path / "old-answers.json"
    replay.write_text(json.dumps(answers))
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    with pytest.raises(FailedHookException):
        cookiecutter(str(REPO), replay=str(replay), output_dir=str(output_dir))
    errors = [
        line for line in capfd.readouterr().err.splitlines() if line.startswith("ERROR")
    ]
    assert errors == [
        "ERROR: rv_version = '0.30.0': must be a Raster Vision version whose tested "
        "pins this template carries (templates/rv-pins/): 0.31.1"
    ]
    assert list(output_dir.iterdir()) == []
    assert list(fake_home.iterdir()) == []


def test_constraints_are_the_pins_of_the_chosen_version(bake):
    project = bake()
    pins = (REPO / "templates" / "rv-pins" / "0.31.1.txt").read_text()
    assert (project / "constraints.txt").read_text() == pins
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert pyproject["requires-python"] == ">=3.10,<3.13"
    assert "numpy==1.26.4" in pins.splitlines()


def test_pytorch_constraints_are_the_pins_but_torch_and_torchvision(bake):
    """The pytorch bake leaves RV's torch pins out (the torch installed first
    stays), says why where they were, and keeps every other line in order."""
    project = bake(starter_model="pytorch", plugin_name="Tree Finder")
    pins = (REPO / "templates" / "rv-pins" / "0.31.1.txt").read_text().splitlines()
    dropped = ["torch==2.4.0", "torchvision==0.19.0"]
    lines = (project / "constraints.txt").read_text().splitlines()
    assert [line for line in lines if line in pins] == [
        line for line in pins if line not in dropped
    ]
    added = [line for line in lines if line not in pins]
    assert added and all(line.startswith("# ") for line in added), added
    note = " ".join(added)
    assert "torch==2.4.0 and torchvision==0.19.0" in note
    assert "torch>=2.4" in note
    # The line before the note is the pin before torch's, as in RV's file.
    at = lines.index(added[0])
    assert lines[at - 1] == pins[pins.index(dropped[0]) - 1]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert {"torch>=2.4", "lightning>=2.4,<3", "safetensors>=0.4"} <= set(
        pyproject["dependencies"]
    )
    assert pyproject["requires-python"] == ">=3.10,<3.13"
    readme = (project / "README.md").read_text()
    assert (
        "pip install torch --index-url https://download.pytorch.org/whl/cpu" in readme
    )


# Each starter model's whole generated suite runs once: noop's (the defaults) in
# its CI workflow's steps, pytest last, in try.sh's project
# (tests/test_readme_commands.py with test_project_tooling.check_workflow_runs).
# The learning models' suites leave out one test that is the same for every
# model: `run local` in split jobs (a process per command and split, eight
# Raster Vision start-ups), plumbing that reaches the model only through its
# bundle, which these suites load in a new process (`rastervision predict`).
# The renamed bake ("custom") runs what its names reach: discovery, the config's
# JSON round trip and bundle, the scripts' docker commands (its image name has a
# registry and port), and `rastervision predict` of each task, in a new process
# too, which builds the saved config by its type hints. (`run local` with a renamed
# package is try.sh's --model scikit-learn run, in tests/test_readme_commands.py.)
SAME_FOR_EVERY_MODEL = [
    "--deselect",
    "tests/test_vegas.py::test_run_local_with_a_profile_in_two_jobs",
]
GENERATED_SUITES = {
    "pytorch": SAME_FOR_EVERY_MODEL,
    "scikit-learn": SAME_FOR_EVERY_MODEL,
    "custom": [
        "tests/test_plugin.py",
        "tests/test_publish.py",
        "tests/test_scripts.py",
        "tests/test_vegas.py::test_predict_command_on_the_bundle",
        "tests/test_vegas.py::test_predict_command_in_a_new_process",
    ],
}


@pytest.mark.long
@pytest.mark.parametrize("combination", list(GENERATED_SUITES))
def test_generated_project_tests_pass(bake, combination, tmp_path):
    answers, _ = COMBINATIONS[combination]
    project = bake(**answers)
    venv = make_project_venv(project, f"generated-{combination}")
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:randomly"]
        + GENERATED_SUITES[combination],
        cwd=project,
        env=venv_env(venv, TMPDIR=str(tmp_path)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
    if combination == "scikit-learn":
        # The model benchmarks print their figures; here on a tiny data set.
        benchmarks = {
            "model_benchmark.py": (
                ["--scenes", "3", "--size", "128"],
                r"train \d+\.\d\d s, predict \d+\.\d\d s, peak \d+ MiB",
                4,
            ),
            "scale_benchmark.py": (
                ["--mpx", "0.1", "0.4"],
                r"Mpx/s, [+-]\d+\.\d bytes per pixel",
                1,
            ),
        }
        for script, (options, figures, lines) in benchmarks.items():
            result = subprocess.run(
                [str(venv / "bin" / "python"), f"benchmarks/{script}", *options],
                cwd=project,
                env=venv_env(venv, TMPDIR=str(tmp_path)),
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, result.stderr[-3000:]
            assert len(re.findall(figures, result.stdout)) == lines, result.stdout
        check_timed_rastervision(project, venv, tmp_path)
        # The classifier swaps that the project's docs/model.md gives.
        check_docs_swaps(project, venv, tmp_path)


def check_timed_rastervision(project, venv, tmp_path):
    """benchmarks/timed_rastervision.py runs a Vegas test run, timing each command.

    The manual PyTorch benchmark runs every experiment through it.
    """
    python = str(venv / "bin" / "python")
    env = venv_env(venv, TMPDIR=str(tmp_path))
    raw = tmp_path / "timed-raw"
    subprocess.run(
        [python, "spacenet/sample_data.py", str(raw)], cwd=project, env=env, check=True
    )
    seconds_json = tmp_path / "seconds.json"
    vegas = ["spacenet/vegas.py", "-a", "raw_uri", str(raw), "-a", "test", "True"]
    vegas += ["-a", "root_uri", str(tmp_path / "timed")]
    result = subprocess.run(
        [python, str(REPO / "benchmarks" / "timed_rastervision.py"), str(seconds_json)]
        + ["run", "inprocess", *vegas],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seconds = json.loads(seconds_json.read_text())
    assert set(seconds) == {"analyze", "chip", "train", "predict", "eval", "bundle"}
    assert all(0 < value < 60 for value in seconds.values()), seconds
