#!/usr/bin/env bash
# Run the template's whole test suite on a fresh machine: installs what it needs
# (a venv with tests/requirements.txt; podman and the Raster Vision stand-in image
# for the container tests when run as root), then runs pytest. Extra arguments
# go to pytest, e.g. `bash tests/run.sh -k profile`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r tests/requirements.txt

exec .venv/bin/python -m pytest "$@"
