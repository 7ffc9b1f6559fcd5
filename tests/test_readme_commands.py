"""The README is the contract: its two commands must stay true."""

import json
import os
import re
import subprocess

import pytest
from conftest import INSTALL_ENV, REPO
from test_project_tooling import check_workflow_runs

README = (REPO / "README.md").read_text()


def shell_blocks(text):
    return re.findall(r"```shell\n(.*?)```", text, flags=re.DOTALL)


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    blocks = [block.strip() for block in shell_blocks(README)]
    assert blocks[:2] == ["bash try.sh", "bash tests/run.sh"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "bash tests/run.sh" in ci


def run_try(work, tmp_path, *options):
    # pip's download cache is the test venvs' (not one in the fake home): the
    # two runs, like the other tests, download each wheel once.
    env = dict(os.environ, TMPDIR=str(tmp_path), **INSTALL_ENV)
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        ["bash", str(REPO / "try.sh"), *options, str(work)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


def printed_f1(stdout):
    """The F1 per class that try.sh prints last (None: never predicted)."""
    found = dict(
        re.findall(r"^(building|background) +(\d\.\d{3}|-)$", stdout, re.MULTILINE)
    )
    assert found.keys() == {"building", "background"}, stdout[-2000:]
    return {k: None if v == "-" else float(v) for k, v in found.items()}


# The longest test: two pip installs, two full runs and the default project's
# whole suite (as its CI workflow runs it).
@pytest.mark.long(longest=True)
def test_try_script_generates_a_project_and_runs_the_vegas_experiment(
    tmp_path, fake_home
):
    """`bash try.sh` and `--model scikit-learn` as a new user runs them (fresh
    venvs, pip, the real CLI) in one folder: each model has its own project,
    package, profile and venv, and the learning model beats the constant one.
    The default project's CI workflow steps then pass in its venv (the
    workflow installs with the README's pip command, which try.sh just ran)."""
    work = tmp_path / "try out"
    f1 = {}
    for model, slug in (("noop", "noop_plugin"), ("scikit-learn", "sklearn_plugin")):
        result = run_try(work, tmp_path, "--model", model)
        project = work / slug
        eval_json = project / "out/vegas/eval/validation_scenes/eval.json"
        assert json.loads(eval_json.read_text())["overall"]
        assert (project / "out/vegas/bundle/model-bundle.zip").is_file()
        assert str(eval_json) in result.stdout
        # A full run, not test mode: every validation scene is evaluated.
        config = json.loads((project / "out/vegas/pipeline-config.json").read_text())
        assert len(config["dataset"]["validation_scenes"]) > 1
        assert (project / "src/rastervision" / slug / "backend.py").is_file()
        assert (work / f".venv-{slug}" / "bin" / "rastervision").is_file()
        # It ends with each class's F1 from that eval.json.
        f1[model] = printed_f1(result.stdout)
        # The profile went to the (fake) home, as the hook promises.
        assert "[BATCH]" in (fake_home / ".rastervision" / slug).read_text()
        if model == "noop":
            # The default project's CI workflow passes in the venv try.sh made.
            check_workflow_runs(project, work / f".venv-{slug}", tmp_path)
    # Two projects side by side; each profile names its own queues.
    assert (work / "noop_plugin").is_dir()
    noop_profile = (fake_home / ".rastervision" / "noop_plugin").read_text()
    sklearn_profile = (fake_home / ".rastervision" / "sklearn_plugin").read_text()
    assert "raster-vision-gpu" in noop_profile
    assert "raster-vision-gpu" not in sklearn_profile
    for name in ("building", "background"):
        assert f1["scikit-learn"][name] > (f1["noop"][name] or 0), f1


def test_try_script_refuses_a_model_option_without_a_value(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        ["bash", str(REPO / "try.sh"), "--model"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--model needs noop, scikit-learn or pytorch" in result.stderr
    assert list(work.iterdir()) == []


def test_try_script_refuses_an_unknown_model(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        ["bash", str(REPO / "try.sh"), "--model", "tensorflow"],
        cwd=work,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert (
        "--model must be noop, scikit-learn or pytorch, not 'tensorflow'"
        in result.stderr
    )
    assert list(work.iterdir()) == []
