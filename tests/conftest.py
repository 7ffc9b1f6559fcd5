"""Fixtures shared by the template's tests.

Every test runs with HOME (and USERPROFILE) pointing at a fresh temporary folder,
so no test can read or write the real home directory, and without the
RV_* variables that would redirect Raster Vision's profile lookup.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
HOOKS = REPO / "hooks"
RV_VERSION = "0.31.1"
# Generated projects are installed into venvs under here, one per bake.
VENV_ROOT = REPO / ".cache" / "venvs"
# uv's and pip's download caches: kept in the repo, never in a home directory.
INSTALL_ENV = {
    "UV_CACHE_DIR": str(REPO / ".cache" / "uv"),
    "PIP_CACHE_DIR": str(REPO / ".cache" / "pip"),
}
# A pytorch bake's venv gets PyTorch's CPU build before anything else, from the
# local wheel folder: the exact local version (+cpu) matches no wheel on PyPI,
# so no install can take PyPI's torch, whose Linux wheels pull several GB of
# CUDA libraries. The project's torch>=2.4 then keeps it, as constraints.txt
# leaves torch unpinned for that choice.
CPU_TORCH = "torch==2.13.0+cpu"
TORCH_WHEELS = Path("/opt/wheels")

# Python on a user's machine caches compiled modules next to them; machines
# that set PYTHONDONTWRITEBYTECODE (as this project's CI machines do) would make
# every Raster Vision command in the test venvs, which uv installs without
# bytecode, compile Raster Vision and torch from source again: twice as slow.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# Each pytest-xdist worker gets its share of the cores for the OpenMP threads
# of torch and numpy in its subprocesses: more threads than cores spin against
# the other workers' (the pytorch bake's tests/test_vegas.py and test_model.py
# beside a busy core: 161 s with one thread, 206 s with two).
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))


def run_checked(args, *, cwd=None, env=None, check=True, timeout=600):
    """Run a command with no standard input, capturing its output.

    With ``check``, the test fails unless it succeeds, showing the command and
    the end of its output.
    """
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert result.returncode == 0, (
            f"{args}\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
        )
    return result


def load_module(path: Path):
    """Import the Python file ``path`` as a module named after it."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_hook(name):
    """Import hooks/<name>.py as a module (its Jinja line only runs as __main__)."""
    return load_module(HOOKS / f"{name}.py")


# Test files whose tests share module-scoped venvs (test_aws.py) or one podman
# store (test_containers.py): pytest-xdist hands each of them to one worker.
ONE_WORKER_FILES = {"tests/test_aws.py", "tests/test_containers.py"}


def pytest_xdist_make_scheduler(config, log):
    """xdist's load-by-scope scheduling with a test as the scope, except for
    ONE_WORKER_FILES, whose tests form one scope each. (Its loadgroup mode
    would do this with marks, but pytest 9 no longer lets it rename tests.)"""
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerFilesScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            path = nodeid.split("::", 1)[0]
            return path if path in ONE_WORKER_FILES else nodeid

    return OneWorkerFilesScheduling(config, log)


def pytest_collection_modifyitems(items):
    """``long`` tests first (in file order), so that the workers, which take
    tests in this order, do not end with one of them still in a long test:
    the longest (``long(longest=True)``) before the others, as the longest
    task first packs the workers best; last of them the ones marked
    ``long(after_setup=True)``, which wait for tests/run.sh's background set-up."""

    def order(item):
        long = item.get_closest_marker("long")
        if long is None:
            return 3
        if long.kwargs.get("longest"):
            return 0
        return 2 if long.kwargs.get("after_setup") else 1

    items.sort(key=order)


@pytest.fixture(autouse=True)
def fake_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    for name in ("RV_CONFIG_DIR", "RV_CONFIG", "RV_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    # Cookiecutter resolves ~ for its replay and clone folders when it is first
    # imported, i.e. in the real home: point it at the fake one explicitly.
    config = tmp_path / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {home / '.cookiecutters'}\n"
        f"replay_dir: {home / '.cookiecutter_replay'}\n"
    )
    monkeypatch.setenv("COOKIECUTTER_CONFIG", str(config))
    return home


@pytest.fixture
def bake(cookies):
    """Bake the template with some answers; assert it worked; return the path."""

    def _bake(**answers):
        result = cookies.bake(extra_context=answers)
        assert result.exit_code == 0, result.exception
        return Path(result.project_path)

    return _bake


def uv():
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    return found


def make_project_venv(project: Path, name: str, extras: str = "test") -> Path:
    """A venv with ``project`` installed as its README says, at RV's pins.

    For a pytorch bake, PyTorch's CPU build goes in first (``CPU_TORCH``), as
    its README says. uv lays down the heavy dependencies from its cache in seconds, with the
    project's constraints.txt; the project itself is then installed with the
    venv's own ``pip install -c constraints.txt -e '.[test]'``, the command
    users type, so the test proves that kind of install is discovered and
    resolves to the pins.
    """
    venv = VENV_ROOT / name
    if venv.exists():
        shutil.rmtree(venv)
    VENV_ROOT.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **INSTALL_ENV)
    subprocess.run([uv(), "venv", "--seed", "-q", str(venv)], check=True, env=env)
    python = venv / "bin" / "python"
    pytorch = needs_torch(project)
    if pytorch:
        # PyTorch's CPU build first, as the generated README says (see CPU_TORCH).
        subprocess.run(
            [
                uv(),
                "pip",
                "install",
                "-q",
                "--python",
                str(python),
                "--find-links",
                str(TORCH_WHEELS),
                CPU_TORCH,
            ],
            check=True,
            env=env,
        )
    subprocess.run(
        [
            uv(),
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "-c",
            str(project / "constraints.txt"),
            f"rastervision_core=={RV_VERSION}",
            "pytest",
        ],
        check=True,
        env=env,
    )
    subprocess.run(
        [
            str(venv / "bin" / "pip"),
            "install",
            "-q",
            "-c",
            "constraints.txt",
            "-e",
            f".[{extras}]",
        ],
        cwd=project,
        check=True,
        env=env,
    )
    if pytorch:
        # The install kept the CPU build and pulled no CUDA library.
        found = subprocess.run(
            [
                str(python),
                "-c",
                "from importlib import metadata as m; print(m.version('torch')); "
                "print(*sorted(d.metadata['Name'] for d in m.distributions()))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.splitlines()
        assert found[0] == CPU_TORCH.split("==")[1], found[0]
        cuda = [n for n in found[1].split() if n.lower().startswith("nvidia")]
        assert not cuda, f"CUDA libraries installed: {cuda}"
    return venv


def needs_torch(project: Path) -> bool:
    """Whether the baked project depends on torch (the pytorch starter model)."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    return any(
        Requirement(text).name == "torch"
        for text in pyproject["project"]["dependencies"]
    )


def venv_env(venv: Path, **extra) -> dict:
    """Environment in which ``python``/``rastervision`` are the venv's (as when
    activated): ``run local`` starts ``python`` from PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(venv)
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env
