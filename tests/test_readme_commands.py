"""The README is the contract: its two commands must stay true."""

import json
import os
import re
import subprocess

from conftest import REPO

README = (REPO / "README.md").read_text()


def shell_blocks(text):
    return re.findall(r"```shell\n(.*?)```", text, flags=re.DOTALL)


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    blocks = [block.strip() for block in shell_blocks(README)]
    assert blocks[:2] == ["bash try.sh", "bash tests/run.sh"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "bash tests/run.sh" in ci


def test_try_script_generates_a_project_and_runs_the_vegas_experiment(
    tmp_path, fake_home
):
    """`bash try.sh` as a new user runs it: fresh venv, pip, the real CLI."""
    work = tmp_path / "try out"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        ["bash", str(REPO / "try.sh"), str(work)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    project = work / "noop_plugin"
    eval_json = project / "out/vegas/eval/validation_scenes/eval.json"
    assert json.loads(eval_json.read_text())["overall"]
    assert (project / "out/vegas/bundle/model-bundle.zip").is_file()
    assert str(eval_json) in result.stdout
    # It ends with each class's F1 from that eval.json.
    assert re.search(r"^building +\d\.\d{3}$", result.stdout, flags=re.MULTILINE)
    assert re.search(r"^background +(\d\.\d{3}|-)$", result.stdout, flags=re.MULTILINE)
    # The profile went to the (fake) home, as the hook promises.
    assert "[BATCH]" in (fake_home / ".rastervision" / "noop_plugin").read_text()


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
    assert "--model needs noop or scikit-learn" in result.stderr
    assert list(work.iterdir()) == []
