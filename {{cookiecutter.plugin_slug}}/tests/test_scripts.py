"""scripts/console and scripts/jupyter, by their ``--dry-run``: no Docker needed.

The docker command each prints, as argv: its mounts (paths with spaces), the
variables passed by name only, the loopback-only port, the TTY flag (only on a
terminal), the command's words passed on unchanged, and the errors when
``RASTER_VISION_DATA_DIR`` is unset or missing.
"""

import os
import pty
import re
import shlex
import shutil
import subprocess

import pytest
from conftest import CPU_IMAGE, GPU_IMAGE, PROJECT

SLUG = "{{ cookiecutter.plugin_slug }}"
PACKAGE = f"src/rastervision/{SLUG}"
WORKDIR = f"/opt/src/{SLUG}"


@pytest.fixture
def spaced(tmp_path, monkeypatch):
    """A copy of what the scripts use, HOME and a data folder, all at paths with
    spaces."""
    home = tmp_path / "home dir"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    project = tmp_path / "my projects" / SLUG
    for folder in ("scripts", "notebooks", "spacenet", PACKAGE):
        shutil.copytree(
            PROJECT / folder,
            project / folder,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    data = tmp_path / "rv data"
    data.mkdir()
    return home, project, data


def script(project, name, *args, env=None, stdin=subprocess.DEVNULL):
    return subprocess.run(
        [str(project / "scripts" / name), *args],
        cwd=project,
        env={**os.environ, **(env or {})},
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def dry_run(project, name, *args, env=None):
    """The docker command a script prints with --dry-run, as argv."""
    result = script(project, name, "--dry-run", *args, env=env)
    assert result.returncode == 0, result.stderr
    argv = shlex.split(result.stdout)
    assert argv[:3] == ["docker", "run", "--rm"], argv
    return argv


def options(argv, flag):
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


def test_console_dry_run_mounts(spaced):
    home, project, data = spaced
    argv = dry_run(project, "console", env={"RASTER_VISION_DATA_DIR": str(data)})
    assert set(options(argv, "-v")) == {
        f"{home}/.aws:/root/.aws:ro",
        f"{home}/.rastervision:/root/.rastervision",
        f"{project}/notebooks:/opt/notebooks",
        f"{project}/{PACKAGE}:{WORKDIR}/{PACKAGE}",
        f"{project}/spacenet:{WORKDIR}/spacenet",
        f"{data}:/opt/data",
    }
    assert options(argv, "-e") == ["AWS_PROFILE"]
    assert argv[-1] == CPU_IMAGE  # no command: the image's default shell
    assert "-t" not in argv  # stdin is not a terminal here
    assert "--gpus" not in argv
    # A dry run changes nothing: the mount sources are only made for real runs.
    assert not (home / ".aws").exists()


def test_console_dry_run_gpu_port_command_and_repo_dir(spaced, tmp_path):
    _, project, data = spaced
    repo = tmp_path / "raster vision"
    for name in ("rastervision_core", "rastervision_pipeline", "docs"):
        (repo / name).mkdir(parents=True)
    (repo / "rastervision_notes.txt").write_text("not a package folder")
    command = ["python", "-c", "print('it''s a $HOME & \"more\"')", "a b"]
    argv = dry_run(
        project,
        "console",
        "--gpu",
        "--port",
        "8899",
        *command,
        env={"RASTER_VISION_DATA_DIR": str(data), "RASTER_VISION_REPO_DIR": str(repo)},
    )
    mounts = options(argv, "-v")
    assert f"{repo}/rastervision_core:/opt/src/rastervision_core" in mounts
    assert f"{repo}/rastervision_pipeline:/opt/src/rastervision_pipeline" in mounts
    assert not any("docs" in m or "notes" in m for m in mounts)
    assert options(argv, "--gpus") == ["all"]
    # Published on the loopback address only.
    assert options(argv, "-p") == ["127.0.0.1:8899:8899"]
    # The image has no entrypoint: the command's words go to docker unchanged.
    assert argv[-len(command) - 1 :] == [GPU_IMAGE, *command]


def test_console_relative_data_dir_is_made_absolute(spaced):
    _, project, _ = spaced
    (project / "data").mkdir()
    argv = dry_run(project, "console", env={"RASTER_VISION_DATA_DIR": "data"})
    assert f"{project}/data:/opt/data" in options(argv, "-v")


def test_console_asks_for_a_tty_only_on_a_terminal(spaced):
    _, project, data = spaced
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(project / "scripts" / "console"), "--dry-run"],
            cwd=project,
            env={**os.environ, "RASTER_VISION_DATA_DIR": str(data)},
            stdin=secondary,
            stdout=secondary,
            stderr=subprocess.PIPE,
        )
        os.close(secondary)
        output = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=60) == 0, process.stderr.read()
    finally:
        os.close(primary)
    argv = shlex.split(output.decode())
    assert argv[:5] == ["docker", "run", "--rm", "-i", "-t"], argv


@pytest.mark.parametrize("name", ["console", "jupyter"])
def test_scripts_refuse_unset_or_missing_data_dir(spaced, name):
    _, project, data = spaced
    env = {k: v for k, v in os.environ.items() if k != "RASTER_VISION_DATA_DIR"}
    result = subprocess.run(
        [str(project / "scripts" / name), "--dry-run"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "set RASTER_VISION_DATA_DIR" in result.stderr
    missing = data / "not here"
    result = script(
        project, name, "--dry-run", env={"RASTER_VISION_DATA_DIR": str(missing)}
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"RASTER_VISION_DATA_DIR is not a folder: {missing}" in result.stderr


def test_console_passes_named_variables_by_name_only(spaced):
    _, project, data = spaced
    env = {"RASTER_VISION_DATA_DIR": str(data), "MY_SECRET": "s3cr3t"}
    result = script(project, "console", "--dry-run", "--env", "MY_SECRET", env=env)
    assert result.returncode == 0, result.stderr
    argv = shlex.split(result.stdout)
    assert options(argv, "-e") == ["MY_SECRET", "AWS_PROFILE"]
    assert "s3cr3t" not in result.stdout
    for bad in ("A=b", "1X", "--dry-run"):
        result = script(project, "console", "--env", bad, "--dry-run", env=env)
        assert result.returncode == 2 and "--env needs a variable name" in result.stderr


def jupyter_url(stderr):
    found = re.findall(r"open (http://\S+)", stderr)
    assert len(found) == 1, stderr
    return found[0]


def test_jupyter_dry_run(spaced):
    home, project, data = spaced
    env = {"RASTER_VISION_DATA_DIR": str(data)}
    argv = dry_run(project, "jupyter", env=env)
    # Loopback only; the token goes to the container by name, never as a value.
    assert options(argv, "-p") == ["127.0.0.1:8888:8888"]
    assert options(argv, "-e") == ["JUPYTER_TOKEN", "AWS_PROFILE"]
    result = script(project, "jupyter", "--dry-run", env=env)
    again = script(project, "jupyter", "--dry-run", env=env)
    url, other = jupyter_url(result.stderr), jupyter_url(again.stderr)
    assert re.fullmatch(r"http://127\.0\.0\.1:8888/tree\?token=[0-9a-f]{48}", url)
    assert url != other, "a new random token each time"
    token = url.rsplit("=", 1)[1]
    assert token not in result.stdout
    given = script(project, "jupyter", "--dry-run", env={**env, "JUPYTER_TOKEN": "t0k"})
    assert jupyter_url(given.stderr).endswith("?token=t0k")
    assert "t0k" not in given.stdout
    assert f"{home}/.aws:/root/.aws:ro" in options(argv, "-v")
    assert f"{project}/notebooks:/opt/notebooks" in options(argv, "-v")
    command = argv[argv.index(CPU_IMAGE) + 1 :]
    assert command[:2] == ["jupyter", "notebook"]
    assert command[command.index("--port") + 1] == "8888"
    assert command[command.index("--notebook-dir") + 1] == "/opt/notebooks"
    argv = dry_run(project, "jupyter", "--gpu", "--port", "9999", env=env)
    assert options(argv, "-p") == ["127.0.0.1:9999:9999"]
    assert options(argv, "--gpus") == ["all"]
    command = argv[argv.index(GPU_IMAGE) + 1 :]
    assert command[command.index("--port") + 1] == "9999"
