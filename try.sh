#!/usr/bin/env bash
# Generate a plugin project with every default answer and run its Vegas
# experiment on sample data, the way the generated README says:
#   bash try.sh [WORK_DIR]      (default: ./try-out)
# WORK_DIR gets a venv, the generated project and the run's outputs. The
# template's post-generation hook writes the Raster Vision profile to
# ~/.rastervision/<profile> (or $RV_CONFIG_DIR), never overwriting yours.
set -euo pipefail
template="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mkdir -p "${1:-try-out}" && cd "${1:-try-out}" && pwd)"

python3 -m venv "${work}/.venv"
# shellcheck disable=SC1091
source "${work}/.venv/bin/activate"
pip install -q --upgrade pip
pip install -q "cookiecutter==2.7.1"

rm -rf "${work}/noop_plugin"
cookiecutter --no-input -o "${work}" "${template}"
cd "${work}/noop_plugin"
pip install -q -c constraints.txt -e '.[test]'
python spacenet/sample_data.py data/sample
rastervision -p noop_plugin run local spacenet/vegas.py \
    -a raw_uri data/sample -a root_uri out/vegas \
    -a target buildings -a task_type chip_classification -a test True
echo
echo "Project: ${work}/noop_plugin"
echo "Evaluation: ${work}/noop_plugin/out/vegas/eval/validation_scenes/eval.json"
echo "Model bundle: ${work}/noop_plugin/out/vegas/bundle/model-bundle.zip"
