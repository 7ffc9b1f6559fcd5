"""The hooks as files, and the pre-generation checks as functions.

Cookiecutter renders each hook with Jinja before running it: the only markup in
a hook is its last line, which hands over the answers as JSON. These tests
render that line the way cookiecutter does and check that any answer arrives
intact, then check the answer rules one by one.
"""

import json
import re

import pytest
from conftest import HOOKS, REPO, load_hook
from cookiecutter.environment import StrictEnvironment
from hypothesis import given, settings
from hypothesis import strategies as st

pre = load_hook("pre_gen_project")
MARKUP = re.compile(r"\{\{|\{%|\{#")
DEFAULTS = json.loads((REPO / "cookiecutter.json").read_text())

GOOD = {
    "plugin_name": "Noop Plugin",
    "plugin_slug": "noop_plugin",
    "starter_model": "noop",
    "backend_name": "noop_plugin",
    "__backend_class": "NoopPluginBackend",
    "project_description": "A Raster Vision backend plugin: Noop Plugin.",
    "author_name": "Your Name",
    "author_email": "you@example.com",
    "version": "0.1.0",
    "license": "MIT",
    "docker_image": "noop-plugin",
    "rv_version": "0.31.1",
    "base_image": "quay.io/azavea/raster-vision:pytorch-0.31.1",
    "rv_profile": "noop_plugin",
    "write_profile": "yes",
    "batch_cpu_job_queue": "raster-vision-cpu",
    "batch_cpu_job_def": "raster-vision-cpu",
    "batch_gpu_job_queue": "raster-vision-gpu",
    "batch_gpu_job_def": "raster-vision-gpu",
}


@pytest.mark.parametrize("hook", ["pre_gen_project", "post_gen_project"])
def test_only_the_last_line_is_jinja(hook):
    lines = (HOOKS / f"{hook}.py").read_text().splitlines()
    assert [i for i, line in enumerate(lines) if MARKUP.search(line)] == [
        len(lines) - 1
    ]
    assert lines[-2] == 'if __name__ == "__main__":'


def render_hook_call(hook, context):
    """The arguments a hook's main() receives once cookiecutter rendered it."""
    last = (HOOKS / f"{hook}.py").read_text().splitlines()[-1]
    rendered = StrictEnvironment(context=context).from_string(last).render(**context)
    call = rendered.strip().removesuffix("  # noqa: F821")
    assert call.startswith("sys.exit(main(") and call.endswith("))")
    return eval("(" + call[len("sys.exit(main(") : -2] + ",)", {"json": json})


any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(value=any_text)
def test_answers_reach_the_hooks_as_data(value):
    answers = {**GOOD, "plugin_name": value, "author_name": value + "'''\"\"\""}
    for hook in ("pre_gen_project", "post_gen_project"):
        args = render_hook_call(
            hook, {"cookiecutter": answers, "_cookiecutter": {"x": value}}
        )
        assert args[0] == answers
        if hook == "pre_gen_project":
            assert args[1] == {"x": value}


def test_pre_gen_without_given_answers_still_renders():
    """cruft calls generate_files without _cookiecutter: the hook must render."""
    args = render_hook_call("pre_gen_project", {"cookiecutter": GOOD})
    assert args == (GOOD, {})


def test_defaults_pass():
    assert pre.validate(GOOD) == []


def test_template_defaults_are_read_from_the_repo():
    assert pre.template_defaults({"_repo_dir": str(REPO)}) == DEFAULTS
    assert pre.template_defaults({}) is None


def test_rv_version_must_be_one_whose_pins_the_template_carries():
    answers = {**GOOD, "_repo_dir": str(REPO)}
    assert pre.validate(answers) == []
    assert pre.validate({**answers, "rv_version": "0.30.0"}) == [
        "rv_version = '0.30.0': must be a Raster Vision version whose tested pins "
        "this template carries (templates/rv-pins/): 0.31.1"
    ]


def test_cookiecutter_offers_exactly_the_pinned_versions():
    assert sorted(DEFAULTS["rv_version"]) == list(pre.supported_rv_versions(REPO))


def test_cookiecutter_offers_exactly_the_starter_models_the_template_has():
    """The hook accepts the choices cookiecutter.json offers, each with its
    files in templates/starter_models/<choice>/, and each with its prompt."""
    assert tuple(DEFAULTS["starter_model"]) == pre.STARTER_MODELS
    prompts = DEFAULTS["__prompts__"]["starter_model"]
    for choice in pre.STARTER_MODELS:
        folder = REPO / "templates" / "starter_models" / choice
        for name in ("model.py", "test_model.py", "README.md"):
            assert (folder / name).is_file(), folder / name
        assert prompts[choice].startswith(f"{choice}: "), prompts[choice]


def test_a_relative_repo_dir_is_found_from_where_cookiecutter_started(
    monkeypatch, tmp_path
):
    """``cookiecutter .`` passes ``_repo_dir`` as ".", the hook runs elsewhere."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", str(REPO.parent))
    assert pre.template_dir({"_repo_dir": REPO.name}) == REPO
    assert pre.template_defaults({"_repo_dir": REPO.name}) == DEFAULTS
    monkeypatch.setenv("PWD", str(tmp_path))
    assert pre.template_dir({"_repo_dir": REPO.name}) is None


REJECTED = [
    ("plugin_name", "", "must not be empty"),
    ("plugin_name", "   ", "must not be empty"),
    ("plugin_name", "two\nlines", "single line of printable text"),
    ("plugin_name", "tab\there", "single line of printable text"),
    ("plugin_name", "nul\x00", "single line of printable text"),
    ("plugin_name", "bidi \u202e override", "single line of printable text"),
    ("plugin_name", "x" * 101, "at most 100 characters"),
    ("project_description", "y" * 301, "at most 300 characters"),
    ("author_name", "line\u2028separator", "single line of printable text"),
    ("author_name", "{{ cookiecutter.plugin_name }}", "Jinja markup"),
    ("project_description", "{% raw %}", "Jinja markup"),
    ("project_description", "a {# comment", "Jinja markup"),
    ("plugin_slug", "Noop_Plugin", "lowercase Python identifier"),
    ("plugin_slug", "noop-plugin", "lowercase Python identifier"),
    ("plugin_slug", "noop plugin", "lowercase Python identifier"),
    ("plugin_slug", "_noop", "not starting with a digit or _"),
    ("plugin_slug", "noop_", "not ending with _"),
    ("plugin_slug", "1noop", "not starting with a digit"),
    ("plugin_slug", "a/b", "lowercase Python identifier"),
    ("plugin_slug", "../escape", "lowercase Python identifier"),
    ("plugin_slug", "é", "lowercase Python identifier"),
    ("plugin_slug", "a" * 65, "at most 64 characters"),
    ("plugin_slug", "class", "Python keyword"),
    ("plugin_slug", "match", "Python keyword"),
    ("plugin_slug", "core", "taken by a Raster Vision package"),
    ("plugin_slug", "pytorch_backend", "taken by a Raster Vision package"),
    ("backend_name", "2fast", "must start with a letter"),
    ("backend_name", "Noop!", "must start with a letter"),
    ("backend_name", "Nöop", "must start with a letter"),
    ("backend_name", "N" * 65, "at most 64 characters"),
    ("author_email", "no-at-sign", "e-mail address"),
    ("author_email", "a@b", "e-mail address"),
    ("author_email", "a b@example.com", "e-mail address"),
    ("author_email", '"quoted"@example.com', "e-mail address"),
    ("author_email", "x@example.com\n", "e-mail address"),
    ("author_email", "$(touch /tmp/x)@example.com", "e-mail address"),
    ("author_email", "zoë@example.com", "e-mail address"),
    ("version", "one", "PEP 440"),
    ("version", " 0.1.0", "PEP 440"),
    ("version", "0.1.0\n", "PEP 440"),
    ("rv_version", "0.31.1; rm -rf /", "PEP 440"),
    ("license", "GPL", "must be one of"),
    ("write_profile", "maybe", "must be one of"),
    ("starter_model", "tensorflow", "must be one of"),
    ("docker_image", "Noop", "Docker image name"),
    ("docker_image", "noop:latest", "Docker image name"),
    ("docker_image", "noop'$(id)'", "Docker image name"),
    ("base_image", "image name with spaces", "Docker image reference"),
    ("base_image", "quay.io/x:tag`id`", "Docker image reference"),
    ("rv_profile", "..", "plain file name"),
    ("rv_profile", "a/b", "plain file name"),
    ("rv_profile", ".hidden", "plain file name"),
    ("rv_profile", "$HOME", "plain file name"),
    ("batch_gpu_job_queue", "queue with space", "AWS Batch name"),
    ("batch_cpu_job_def", "q#comment", "AWS Batch name"),
    ("batch_cpu_job_def", "%(interpolated)s", "AWS Batch name"),
]


@pytest.mark.parametrize(("field", "value", "rule"), REJECTED)
def test_rejected_answers_name_field_value_and_rule(field, value, rule):
    errors = pre.validate({**GOOD, field: value})
    assert len(errors) == 1, errors
    label = field.lstrip("_")
    assert errors[0].startswith(f"{label} = {pre.show(value)}: ")
    assert rule in errors[0]


def test_missing_answer():
    answers = dict(GOOD)
    del answers["author_email"]
    assert pre.validate(answers) == ["author_email = None: is missing"]


def test_long_values_are_shortened_in_messages():
    [error] = pre.validate({**GOOD, "author_name": "z" * 5000})
    assert len(error) < 200 and "(5000 characters)" in error


ACCEPTED = [
    ("plugin_name", "  Noop Plugin  "),
    ("plugin_name", 'O\'Brien "Quoted" \\ back\\slash'),
    ("plugin_name", "Éclair für Zoë 東京 😀"),
    ("plugin_name", "$HOME $(touch /tmp/x) `id` ; rm -rf / #"),
    ("plugin_name", "{ single } braces %s %(x)s"),
    ("author_name", "José Ñúñez-O'Connor"),
    ("author_email", "o'connor+rv@mail.example.co.uk"),
    ("version", "1.0.0rc1+local.7"),
    ("docker_image", "registry.example.com:5000/team/noop-plugin"),
    ("base_image", "quay.io/azavea/raster-vision@sha256:" + "a" * 64),
    ("rv_profile", "Noop.Plugin-2"),
    ("batch_gpu_job_queue", "arn:aws:batch:us-east-1:123456789012:job-queue/gpu"),
    ("plugin_slug", "noop__plugin2"),
    ("backend_name", "  my-fancy_backend 2 "),
]


@pytest.mark.parametrize(("field", "value"), ACCEPTED)
def test_accepted_answers(field, value):
    assert pre.validate({**GOOD, field: value}) == []


def test_markup_that_cookiecutter_already_evaluated_is_caught():
    """key=value answers are rendered before the hook runs: check what was given."""
    given = {**DEFAULTS, "author_name": "{{ cookiecutter.plugin_name }}"}
    answers = {**GOOD, "author_name": "Noop Plugin"}
    [error] = pre.validate(answers, given, DEFAULTS)
    assert error.startswith(
        "author_name = '{{ cookiecutter.plugin_name }}' (evaluated to 'Noop Plugin'): "
    )
    assert "Jinja markup" in error
    # The template's own derived defaults are markup too, and are fine.
    assert pre.validate(GOOD, DEFAULTS, DEFAULTS) == []


def test_main_prints_one_line_per_problem(capsys):
    assert pre.main({**GOOD, "plugin_slug": "Bad Slug", "version": "one"}) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        (
            "ERROR: plugin_slug = 'Bad Slug': must be a lowercase Python identifier: a-z, "
            "0-9 and _, not starting with a digit or _ and not ending with _"
        ),
        "ERROR: version = 'one': must be a PEP 440 version such as 0.1.0",
    ]
