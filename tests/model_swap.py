"""Swap the scikit-learn starter's classifier as the generated docs show.

"Swap in another scikit-learn classifier" in the generated docs/model.md gives the lines that
change in model.py for gradient boosting and for a linear model. Each swap is
applied to a baked project, editing model.py only, and then the project's
contract tests (train, predict, save and load to the same predictions, crafted
bundles refused) and the Vegas experiment of every task must pass.
tests/test_generation.py runs :func:`check_docs_swaps` on its scikit-learn
bake, in that bake's venv, after the project's own suite.
"""

import ast
import re

from conftest import run_checked, venv_env

SWAP_HEADING = "### Swap in another scikit-learn classifier"
# The swaps' classifiers, in their order in docs/model.md.
EXPECTED_CLASSIFIERS = ["HistGradientBoostingClassifier", "Pipeline"]


def swaps_in(doc: str) -> list[str]:
    """The Python blocks of the swap section of docs/model.md."""
    section = doc.split(SWAP_HEADING, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def apply_swap(module: str, swap: str) -> str:
    """``module`` with each top-level definition that ``swap`` makes replaced by it."""
    replacements = {}
    for node in ast.parse(swap).body:
        name = node.name if hasattr(node, "name") else node.targets[0].id
        replacements[name] = ast.get_source_segment(swap, node)
    lines = module.splitlines(keepends=True)
    found = set()
    for node in reversed(ast.parse(module).body):
        name = getattr(node, "name", None)
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        if name in replacements:
            first = min(
                [node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]
            )
            lines[first - 1 : node.end_lineno] = [replacements[name] + "\n"]
            found.add(name)
    assert found == set(replacements), f"model.py lacks {set(replacements) - found}"
    return "".join(lines)


def check_docs_swaps(project, venv, tmp_path):
    """Each swap of docs/model.md, applied to ``project``'s model.py, passes the
    contract tests and runs Vegas; model.py is restored after."""
    swaps = swaps_in((project / "docs" / "model.md").read_text())
    assert len(swaps) == len(EXPECTED_CLASSIFIERS), swaps
    python = str(venv / "bin" / "python")
    env = venv_env(venv, TMPDIR=str(tmp_path), FUZZ_CASES="60")
    [model] = (project / "src" / "rastervision").glob("*/model.py")
    package = f"rastervision.{model.parent.name}"
    original = model.read_text()
    try:
        for swap, classifier in zip(swaps, EXPECTED_CLASSIFIERS, strict=True):
            model.write_text(apply_swap(original, swap))
            check_swap(python, package, project, env, classifier)
    finally:
        model.write_text(original)


def check_swap(python, package, project, env, classifier):
    """model.py now makes ``classifier``, and the contract holds with it."""
    used = run_checked(
        [
            python,
            "-c",
            f"from {package}.model import ModelConfig, make_estimator;"
            "print(type(make_estimator(ModelConfig(), False)).__name__)",
        ],
        cwd=project,
        env=env,
    )
    assert used.stdout.strip() == classifier
    result = run_checked(
        [python, "-m", "pytest", "-q", "-x", "-p", "no:randomly"]
        + ["tests/test_contract.py", "tests/test_vegas.py"]
        + ["-k", "test_contract or inprocess_run_completes"],
        cwd=project,
        env=env,
        timeout=1200,
    )
    assert re.search(r"\d+ passed", result.stdout)
    assert "failed" not in result.stdout
