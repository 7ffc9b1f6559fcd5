#!/usr/bin/env bash
# Run the template's whole test suite on a fresh machine: installs what it needs
# (a venv with tests/requirements.txt; podman and the Raster Vision stand-in image
# for the container tests when run as root), then runs pytest. Extra arguments
# go to pytest, e.g. `bash tests/run.sh -k profile`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The container tests (tests/test_containers.py) need podman and the stand-in
# Raster Vision image: set them up when we can (root on a Debian-like machine;
# about five minutes the first time, instant after). The set-up runs in the
# background, logged to RV_CONTAINER_SETUP_LOG, while the venv installs and the
# other tests run; the container tests wait for it. Then they must run:
# RV_REQUIRE_CONTAINER_TESTS=1 makes a missing prerequisite fail, not skip.
# Elsewhere they skip, saying why. RV_CONTAINER_TESTS=0 skips them anyway.
mkdir -p .cache
if [[ "${RV_CONTAINER_TESTS:-1}" == 0 ]]; then
    echo "tests/run.sh: RV_CONTAINER_TESTS=0: the container tests will skip" >&2
elif [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null; then
    export RV_CONTAINER_SETUP_LOG="$PWD/.cache/container-setup.log"
    rm -f "$RV_CONTAINER_SETUP_LOG.status"
    echo "tests/run.sh: container set-up in the background: $RV_CONTAINER_SETUP_LOG" >&2
    (
        status=0
        HOME="$(mktemp -d)" bash tests/containers/setup.sh \
            </dev/null >"$RV_CONTAINER_SETUP_LOG" 2>&1 || status=$?
        echo "$status" >"$RV_CONTAINER_SETUP_LOG.status"
    ) &
    container_setup=$!
    export RV_REQUIRE_CONTAINER_TESTS=1
else
    echo "tests/run.sh: not root (or no apt-get): the container tests will skip" >&2
fi

# The test venv, installed by uv (parallel downloads, bytecode compiled as pip
# would) into the download cache that the tests' own venvs use.
export UV_CACHE_DIR="$PWD/.cache/uv"
if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q "$(grep '^uv==' tests/requirements.txt)"
.venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python \
    -r tests/requirements.txt

status=0
.venv/bin/python -m pytest "$@" || status=$?
# A set-up still running (pytest was given tests that do not wait for it) ends
# before this script does.
if [[ -n "${container_setup:-}" ]]; then
    wait "$container_setup"
fi
exit "$status"
