"""Environment for running `docker` (= podman) in tests, read from env.sh.

env.sh is the single source of the settings; this module sources it in bash and
returns the resulting environment, e.g. for a pytest fixture::

    import os, subprocess
    from podman_env import podman_env
    env = podman_env(dict(os.environ))
    subprocess.run(["docker", "run", "--rm", env["RV_STANDIN_IMAGE"], "rastervision", "--help"],
                   env=env, check=True)
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV_SH = HERE / "env.sh"
SETUP_SH = HERE / "setup.sh"

# Variables bash itself sets in any shell; never taken from the sourced environment.
_BASH_OWN = frozenset({"_", "SHLVL", "PWD", "OLDPWD"})


def podman_env(base_env: Mapping[str, str]) -> dict[str, str]:
    """Return a copy of ``base_env`` with env.sh's exports applied.

    With the result, ``docker`` on PATH is podman-docker's wrapper, configured by
    tests/containers/containers.conf and storage.conf (CONTAINERS_CONF,
    CONTAINERS_STORAGE_CONF, BUILDAH_ISOLATION=chroot, ...), and
    ``RV_STANDIN_IMAGE`` names the local Raster Vision stand-in image.
    """
    base = {str(k): str(v) for k, v in base_env.items()}
    out = subprocess.run(
        ["bash", "-c", 'source "$1" && env -0', "podman_env", str(ENV_SH)],
        env=base,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
    ).stdout.decode()
    env = dict(base)
    for entry in out.split("\0"):
        if not entry:
            continue
        key, sep, value = entry.partition("=")
        if sep and key not in _BASH_OWN:
            env[key] = value
    return env


if __name__ == "__main__":  # pragma: no cover - manual check
    import os

    new = podman_env(dict(os.environ))
    for k in sorted(new):
        if os.environ.get(k) != new[k]:
            print(f"{k}={new[k]}")
