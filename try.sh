#!/usr/bin/env bash
# Generate a plugin project and run its Vegas experiment on sample data, the
# way the generated README says:
#   bash try.sh [--model noop|scikit-learn|pytorch] [WORK_DIR]   (default: ./try-out)
# --model picks the starter model behind the backend (the template's
# starter_model question; default noop, the constant model). Each model gets
# its own project name, package, profile and venv, so two runs share nothing:
#   noop          Noop Plugin     rastervision.noop_plugin     profile noop_plugin
#   scikit-learn  Sklearn Plugin  rastervision.sklearn_plugin  profile sklearn_plugin
#   pytorch       Torch Plugin    rastervision.torch_plugin    profile torch_plugin
# WORK_DIR gets the venv (.venv-<slug>), the generated project (<slug>) and the
# run's outputs. The template's post-generation hook writes the Raster Vision
# profile to ~/.rastervision/<profile> (or $RV_CONFIG_DIR), never overwriting
# yours. The run is a full one on the sample data (not test mode: every chip,
# the model's own settings), about a minute (pytorch: a few minutes on
# 2 cores, F1 1.000 for both classes); it ends by printing the F1 of each
# class from the run's eval.json.
# pytorch installs PyTorch's CPU build first, as its README says (pip install
# torch --index-url https://download.pytorch.org/whl/cpu); TORCH_PIP_ARGS
# replaces those pip arguments, e.g. with a CUDA build's index or a local wheel.
set -euo pipefail
template="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
model=noop
while [[ $# -gt 0 ]]; do
    case "$1" in
        --model)
            [[ $# -ge 2 ]] || { echo "try.sh: --model needs noop, scikit-learn or pytorch" >&2; exit 2; }
            model="$2"
            shift 2
            ;;
        --model=*)
            model="${1#--model=}"
            shift
            ;;
        -h | --help)
            sed -n '2,19p' "${BASH_SOURCE[0]}"
            exit 0
            ;;
        *)
            break
            ;;
    esac
done
case "${model}" in
    noop) name="Noop Plugin" slug=noop_plugin ;;
    scikit-learn) name="Sklearn Plugin" slug=sklearn_plugin ;;
    pytorch) name="Torch Plugin" slug=torch_plugin ;;
    *)
        echo "try.sh: --model must be noop, scikit-learn or pytorch, not '${model}'" >&2
        exit 2
        ;;
esac
work="$(mkdir -p "${1:-try-out}" && cd "${1:-try-out}" && pwd)"

python3 -m venv "${work}/.venv-${slug}"
# shellcheck disable=SC1090
source "${work}/.venv-${slug}/bin/activate"
pip install -q --upgrade pip
pip install -q "cookiecutter==2.7.1"

rm -rf "${work:?}/${slug}"
# The slug, profile and image name follow from the name (the defaults).
cookiecutter --no-input -o "${work}" "${template}" \
    "starter_model=${model}" "plugin_name=${name}"
cd "${work}/${slug}"
if [[ "${model}" == pytorch ]]; then
    # The CPU build before the project: its constraints.txt leaves torch
    # unpinned, so pip keeps this one instead of PyPI's CUDA build.
    read -r -a torch_args <<<"${TORCH_PIP_ARGS:-torch --index-url https://download.pytorch.org/whl/cpu}"
    pip install -q "${torch_args[@]}"
fi
pip install -q -c constraints.txt -e '.[test]'
python spacenet/sample_data.py data/sample
rastervision -p "${slug}" run local spacenet/vegas.py \
    -a raw_uri data/sample -a root_uri out/vegas \
    -a target buildings -a task_type chip_classification
echo
echo "Project: ${work}/${slug} (model: ${model}, profile: ${slug})"
echo "Venv: ${work}/.venv-${slug}"
echo "Evaluation: ${work}/${slug}/out/vegas/eval/validation_scenes/eval.json"
echo "Model bundle: ${work}/${slug}/out/vegas/bundle/model-bundle.zip"
echo
echo "F1 per class (chip classification, full run on the sample data's validation scenes):"
python benchmarks/compare_eval.py out/vegas
