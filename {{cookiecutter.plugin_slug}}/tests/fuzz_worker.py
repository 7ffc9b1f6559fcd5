"""Loads the model bundles named on standard input and says what happened.

One line in (a folder that Model.save wrote, then mutated), one line out:
``loaded`` (it loaded and its predictions keep the contract), ``refused: ...``
(ModelBundleError) or ``error: ...`` (anything else). A crash ends the process
with no line. tests/test_contract.py starts it with the task as its argument.
"""

import sys

import numpy as np
from conftest import spec_for, synthetic_samples

from rastervision.{{ cookiecutter.plugin_slug }}.contract import (
    ModelBundleError,
    Task,
    check_predictions,
)
from rastervision.{{ cookiecutter.plugin_slug }}.model import Model, ModelConfig


def main() -> None:
    spec = spec_for(Task(sys.argv[1]))
    settings = ModelConfig.for_test_run()
    chips = np.stack([s.chip for s in synthetic_samples(spec, 3, seed=5)])
    for line in sys.stdin:
        try:
            model = Model.load(line.strip(), spec, settings)
            check_predictions(spec, chips, model.predict(chips))
            outcome = "loaded"
        except ModelBundleError as error:
            outcome = f"refused: {error}"
        except Exception as error:
            outcome = f"error: {type(error).__name__}: {error}"
        print(" ".join(outcome.split())[:500], flush=True)


if __name__ == "__main__":
    main()
