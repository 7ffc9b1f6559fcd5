#!/usr/bin/env bash
# Generate a plugin project with every default answer and run its Vegas
# experiment on sample data, the way the generated README says:
#   bash try.sh [--model noop|scikit-learn] [WORK_DIR]   (default: ./try-out)
# --model picks the starter model behind the backend (the template's
# starter_model question; default noop, the constant model). WORK_DIR gets a
# venv, the generated project and the run's outputs. The template's
# post-generation hook writes the Raster Vision profile to
# ~/.rastervision/<profile> (or $RV_CONFIG_DIR), never overwriting yours.
# It ends by printing the F1 of each class from the run's eval.json.
set -euo pipefail
template="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
answers=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --model)
            [[ $# -ge 2 ]] || { echo "try.sh: --model needs noop or scikit-learn" >&2; exit 2; }
            answers=("starter_model=$2")
            shift 2
            ;;
        --model=*)
            answers=("starter_model=${1#--model=}")
            shift
            ;;
        -h | --help)
            sed -n '2,10p' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *)
            break
            ;;
    esac
done
work="$(mkdir -p "${1:-try-out}" && cd "${1:-try-out}" && pwd)"

python3 -m venv "${work}/.venv"
# shellcheck disable=SC1091
source "${work}/.venv/bin/activate"
pip install -q --upgrade pip
pip install -q "cookiecutter==2.7.1"

rm -rf "${work}/noop_plugin"
cookiecutter --no-input -o "${work}" "${template}" "${answers[@]}"
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
echo
echo "F1 per class (chip classification, -a test True: one validation scene):"
python benchmarks/compare_eval.py out/vegas
