"""Hostile and quirky answers: rejected cleanly, or rendered so the project works.

Each answer set is baked the way ``cookiecutter --no-input <template> key=value``
does it (extra_context), with HOME in a fresh folder. A rejected set must leave
no project folder and nothing in that home; an accepted one must give a project
whose Python compiles, whose pyproject.toml, profile and Markdown show each value
exactly, and whose shell scripts pass ``bash -n`` and shellcheck and never run a
value. Named cases first, then hypothesis over the free-text answers.
"""

import ast
import email.utils
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
import warnings
from pathlib import Path

import pytest
from conftest import REPO, load_hook, uv
from cookiecutter.environment import StrictEnvironment
from cookiecutter.main import cookiecutter
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from packaging.metadata import Metadata
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pre = load_hook("pre_gen_project")
DEFAULTS = json.loads((REPO / "cookiecutter.json").read_text())
SHELLCHECK = shutil.which("shellcheck") or str(
    Path(os.sys.executable).with_name("shellcheck")
)
SCRIPTS = ("build", "console", "jupyter")
BATCH_KEYS = (
    "gpu_job_queue",
    "gpu_job_def",
    "cpu_job_queue",
    "cpu_job_def",
)
MARKER = "@MARKER@"  # replaced by a path in the test's tmp folder
PAYLOADS = [
    f"$(touch {MARKER})",
    f"`touch {MARKER}`",
    f"'; touch {MARKER}; '",
    '"$HOME"',
]
_shellchecked = set()


@pytest.fixture(autouse=True)
def clean_rv_env(monkeypatch, tmp_path):
    for key in BATCH_KEYS:
        monkeypatch.delenv(f"BATCH_{key.upper()}", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)


class Baker:
    """Bakes into numbered folders under tmp_path, each with its own HOME."""

    def __init__(self, tmp_path, monkeypatch):
        self.root = tmp_path
        self.monkeypatch = monkeypatch
        self.count = 0
        # Short: the payloads carrying it must fit the length limits.
        self.marker = Path(tempfile.mkdtemp(prefix="rvm")) / "m"

    def arm(self, answers):
        return {
            k: v.replace(MARKER, str(self.marker)) if isinstance(v, str) else v
            for k, v in answers.items()
        }

    def __call__(self, **answers):
        self.count += 1
        where = self.root / f"bake{self.count}"
        home, out = where / "home", where / "out"
        home.mkdir(parents=True)
        out.mkdir()
        config = where / "cookiecutter.yaml"
        config.write_text(
            f"cookiecutters_dir: {json.dumps(str(where / 'cc'))}\n"
            f"replay_dir: {json.dumps(str(where / 'replay'))}\n"
        )
        self.monkeypatch.setenv("HOME", str(home))
        answers = self.arm(answers)
        try:
            project = cookiecutter(
                str(REPO),
                no_input=True,
                extra_context=answers,
                output_dir=str(out),
                config_file=str(config),
            )
        except Exception as error:  # noqa: BLE001 - the test inspects it
            return Bake(answers, None, error, home, out, where)
        return Bake(answers, Path(project), None, home, out, where)


class Bake:
    def __init__(self, answers, project, error, home, out, where):
        self.answers, self.project, self.error = answers, project, error
        self.home, self.out, self.where = home, out, where

    def context(self):
        """The answers cookiecutter used, from its replay file (valid JSON)."""
        return json.loads((self.where / "replay" / f"{REPO.name}.json").read_text())[
            "cookiecutter"
        ]


@pytest.fixture
def baker(tmp_path, monkeypatch):
    baker = Baker(tmp_path, monkeypatch)
    yield baker
    shutil.rmtree(baker.marker.parent)


def assert_rejected(bake, capfd, field=None):
    """Nothing left behind; the hook's message names field, value and rule."""
    assert bake.error is not None, "expected the bake to be rejected"
    assert list(bake.out.iterdir()) == [], "a project folder was left behind"
    assert list(bake.home.iterdir()) == [], "something was written in the home"
    err = capfd.readouterr().err
    if field:
        lines = [x for x in err.splitlines() if x.startswith(f"ERROR: {field} = ")]
        assert len(lines) == 1, err
        if field in bake.answers:
            assert lines[0].startswith(
                f"ERROR: {field} = {pre.show(bake.answers[field])}"
            )
        assert "must" in lines[0].split(": ", 2)[-1]


def markdown_texts(readme):
    """The plain text of the README's first heading and first paragraph."""
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    tokens = md.parse(readme)
    found = {}
    for i, token in enumerate(tokens):
        if token.type in ("heading_open", "paragraph_open") and token.type not in found:
            children = tokens[i + 1].children
            assert all(c.type in ("text", "softbreak") for c in children), children
            found[token.type] = "".join(c.content for c in children)
        if len(found) == 2:
            break
    assert tokens[0].type == "heading_open" and tokens[0].tag == "h1"
    return found["heading_open"], found["paragraph_open"]


def rv_reads(profile, home):
    from rastervision.pipeline.rv_config import RVConfig

    os.environ["HOME"] = str(home)
    rv = RVConfig()
    rv.set_everett_config(profile=profile)
    return {key: rv.get_namespace_option("batch", key) for key in BATCH_KEYS}


def run_script(project, name, *args, env):
    return subprocess.run(
        ["bash", str(project / "scripts" / name), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        check=False,
        timeout=30,
    )


def check_scripts(project, ctx, tmp):
    script_home = tmp / "script-home"
    data = tmp / "data"
    script_home.mkdir(exist_ok=True)
    data.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(script_home),
        "RASTER_VISION_DATA_DIR": str(data),
    }
    for path in sorted((project / "scripts").iterdir()):
        name = path.name
        content = path.read_bytes()
        assert os.access(path, os.X_OK) and path.stat().st_mode & 0o111 == 0o111, name
        assert b"\r" not in content, name
        subprocess.run(["bash", "-n", str(path)], check=True)
        digest = hashlib.sha256(content).hexdigest()
        if digest not in _shellchecked:
            result = subprocess.run(
                [SHELLCHECK, str(path)], capture_output=True, text=True, check=False
            )
            assert result.returncode == 0, result.stdout
            _shellchecked.add(digest)
    image = ctx["docker_image"]
    build = run_script(project, "build", "--dry-run", env=env)
    assert build.returncode == 0, build.stderr
    assert build.stdout.splitlines() == [
        f"docker build --build-arg BASE_IMAGE={ctx['base_image']} -t {image}-{kind} . "
        for kind in ("cpu", "gpu")
    ]
    console = run_script(project, "console", "--dry-run", "echo", "$(id)", env=env)
    assert console.returncode == 0, console.stderr
    assert f" {image}-cpu " in console.stdout
    jupyter = run_script(project, "jupyter", "--dry-run", env=env)
    assert jupyter.returncode == 0, jupyter.stderr


def check_python(project, ctx):
    for path in project.rglob("*.py"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # invalid escapes are SyntaxWarnings
            tree = compile(
                path.read_text(encoding="utf-8"), str(path), "exec", ast.PyCF_ONLY_AST
            )
        compile(tree, str(path), "exec")
    init = project / "src" / "rastervision" / ctx["plugin_slug"] / "__init__.py"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
    assert (
        docstring.splitlines()[0]
        == f"{ctx['plugin_name'].strip()}: a Raster Vision backend plugin."
    )


def check_pyproject(project, ctx):
    meta = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]
    assert meta["description"] == ctx["project_description"].strip()
    assert meta["authors"] == [
        {"name": ctx["author_name"].strip(), "email": ctx["author_email"]}
    ]
    assert canonicalize_name(meta["name"], validate=True)
    assert str(Version(meta["version"])) == str(Version(ctx["version"]))
    for requirement in meta["dependencies"]:
        Requirement(requirement)


def check_project(bake, tmp):
    """Everything an accepted answer set must give."""
    assert bake.error is None, repr(bake.error)
    project, ctx = bake.project, bake.context()
    for key, value in bake.answers.items():
        if (
            isinstance(value, str)
            and key in ctx
            and not isinstance(DEFAULTS.get(key), list)
        ):
            assert ctx[key] == value, key  # taken literally, not evaluated
            # ...and stays so when cruft re-renders the stored answers.
            assert (
                StrictEnvironment().from_string(value).render(cookiecutter={}) == value
            )
    check_python(project, ctx)
    check_pyproject(project, ctx)
    title, description = markdown_texts(
        (project / "README.md").read_text(encoding="utf-8")
    )
    assert title == ctx["plugin_name"].strip()
    assert description == ctx["project_description"].strip()
    if ctx["license"] != "Proprietary":
        assert ctx["author_name"].strip() in (project / "LICENSE").read_text(
            encoding="utf-8"
        )
    check_scripts(project, ctx, tmp)
    dockerfile = (project / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={ctx['base_image']}\n" in dockerfile
    if ctx["write_profile"] != "no":
        profile = bake.home / ".rastervision" / ctx["rv_profile"]
        import configparser

        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(profile.read_text(encoding="utf-8"))
        expected = {key: str(ctx[f"batch_{key}"]) for key in BATCH_KEYS}
        assert dict(parser["BATCH"]) == expected
        assert rv_reads(ctx["rv_profile"], bake.home) == expected


# -- Named cases ------------------------------------------------------------------

ACCEPTED = {
    "quotes": {
        "plugin_name": "O'Brien's \"Best\" Plugin",
        "plugin_slug": "obrien",
        "project_description": "It's \"quoted\" and 'single' and ''' and \"\"\" too",
        "author_name": 'Miles O\'Brien "Chief"',
    },
    "backslashes": {
        "plugin_name": "C:\\new\\table \\N \\x \\u12 end\\",
        "plugin_slug": "backslash",
        "project_description": "trailing backslash \\",
        "author_name": 'Back\\Slash \\"',
    },
    "docstring-breakers": {
        "plugin_name": 'Ends with a quote"',
        "plugin_slug": "quote_end",
        "project_description": '"""triple"""',
        "author_name": "'''",
    },
    "non-ascii": {
        "plugin_name": "Éclair für Zoë — 東京 😀",
        "plugin_slug": "eclair",
        "project_description": "Ångström-scale “quotes” and emoji 🛰️",
        "author_name": "José Ñúñez-Ångström 😀",
        "author_email": "jose@example.com",
    },
    "shell": {
        "plugin_name": "$HOME $(touch @MARKER@) `touch @MARKER@`",
        "plugin_slug": "shell",
        "project_description": "'; touch @MARKER@; echo ' && rm -rf / || $(reboot)",
        "author_name": "${IFS}$(touch @MARKER@)",
    },
    "markdown": {
        "plugin_name": "*bold* _it_ [link](http://x) <b>hi</b> &amp; `code` ~~s~~ | $x$ #",
        "plugin_slug": "markdown",
        "project_description": "1. starts like a list <!-- html --> \\*",
        "author_name": "[x]: http://example.com",
    },
    "markdown-block-starts": {
        "plugin_name": "- dash",
        "plugin_slug": "dash",
        "project_description": "> quote",
    },
    "markdown-thematic": {
        "plugin_name": "+ plus",
        "plugin_slug": "plus",
        "project_description": "---",
    },
    "markdown-ordered": {
        "plugin_name": "2) two",
        "plugin_slug": "two",
        "project_description": "123456789. nine digits",
    },
    "spaces": {
        "plugin_name": "   Spaced Plugin   ",
        "project_description": "  padded  ",
        "author_name": "  Padded Author ",
    },
    "lone-braces-and-percent": {
        "plugin_name": "{ not } jinja %(x)s %s",
        "plugin_slug": "braces",
        "project_description": "{x} {} }} %",
        "author_name": "50% {",
    },
    "long": {
        "plugin_name": "L" * 100,
        "plugin_slug": "l" * 64,
        "project_description": "d" * 300,
        "author_name": "a" * 300,
    },
    "odd-but-valid": {
        "plugin_slug": "noop__plugin2",
        "backend_name": "  my-fancy_backend 2 ",
        "version": "1.0.0rc1+local.7",
        "author_email": "o'connor+rv@mail.example.co.uk",
        "docker_image": "registry.example.com:5000/team/noop-plugin",
        "base_image": "localhost:5000/rv@sha256:" + "a" * 64,
        "rv_profile": "Noop.Plugin-2",
        "license": "Apache-2.0",
        "write_profile": "replace",
        "batch_gpu_job_queue": "arn:aws:batch:us-east-1:123456789012:job-queue/gpu",
        "batch_cpu_job_def": "cpu-def:3",
    },
}


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_accepted_answers_render_safely(name, baker, tmp_path):
    bake = baker(**ACCEPTED[name])
    check_project(bake, tmp_path)
    assert not baker.marker.exists(), "a value was executed"


REJECTED = {
    # field named in the message, answers
    "newline-in-name": (
        "plugin_name",
        {"plugin_name": "two\nlines", "plugin_slug": "ok"},
    ),
    "crlf-in-description": ("project_description", {"project_description": "a\r\nb"}),
    "nul-in-author": ("author_name", {"author_name": "nul\x00"}),
    "too-long-name": ("plugin_name", {"plugin_name": "x" * 101, "plugin_slug": "ok"}),
    "very-long-description": (
        "project_description",
        {"project_description": "y" * 10_000},
    ),
    "case-in-slug": ("plugin_slug", {"plugin_slug": "Noop_Plugin"}),
    "separator-in-slug": (
        "plugin_slug",
        {"plugin_slug": "noop-plugin", "docker_image": "x"},
    ),
    "case-in-image": ("docker_image", {"docker_image": "Noop-Plugin"}),
    "shell-in-image": ("docker_image", {"docker_image": "x$(touch @MARKER@)"}),
    "shell-in-base-image": (
        "base_image",
        {"base_image": "rv:'$(touch @MARKER@)'"},
    ),
    "home-in-profile": ("rv_profile", {"rv_profile": "$HOME"}),
    "path-in-profile": ("rv_profile", {"rv_profile": "../../.bashrc"}),
    "comment-in-queue": ("batch_gpu_job_queue", {"batch_gpu_job_queue": "q # x"}),
    "newline-in-queue": ("batch_gpu_job_queue", {"batch_gpu_job_queue": "q\n[EVIL]"}),
    "evaluated-markup": (
        "author_name",
        {"author_name": "{{ cookiecutter.plugin_name }}"},
    ),
    "evaluated-arithmetic": (
        "project_description",
        {"project_description": "{{ 7 * 7 }}"},
    ),
    "evaluated-raw-block": (
        "plugin_name",
        {"plugin_name": "{% raw %}x{% endraw %}", "plugin_slug": "ok"},
    ),
    "email-with-shell": (
        "author_email",
        {"author_email": "$(touch @MARKER@)@example.com"},
    ),
}


@pytest.mark.parametrize("name", list(REJECTED))
def test_rejected_answers_leave_nothing(name, baker, capfd):
    field, answers = REJECTED[name]
    bake = baker(**answers)
    assert_rejected(bake, capfd, field)
    assert not baker.marker.exists()
    assert not (bake.where.parent / "escape").exists()


@pytest.mark.parametrize(
    "answers",
    [
        {"plugin_name": "{% if %}"},
        {"plugin_name": "{# unclosed comment"},
        {"project_description": "{{ nope }}"},
        {"author_name": "{{ cookiecutter.__class__.__name__ }}"},
        {"license": "GPL-3.0"},
        {"write_profile": "sometimes"},
        {"plugin_slug": "s" * 300},
    ],
    ids=[
        "syntax-error",
        "open-comment",
        "undefined",
        "attribute",
        "bad-choice",
        "bad-choice-2",
        "name-too-long",
    ],
)
def test_cookiecutter_errors_leave_nothing(answers, baker, capfd):
    """Cookiecutter itself stops on these before the pre-gen hook, or the hook does."""
    bake = baker(**answers)
    assert_rejected(bake, capfd)


@pytest.mark.parametrize("slug", ["a/b", "a\\b", "../escape"])
def test_slug_with_a_path_separator_leaves_nothing(slug, baker, capfd):
    """cookiecutter.json's __slug_guard stops these before any folder is made,
    with an error that names the question and the rule."""
    bake = baker(plugin_slug=slug)
    assert_rejected(bake, capfd)
    assert "plugin_slug_must_be_a_lowercase_python_identifier" in str(bake.error)
    assert not (bake.where.parent / "escape").exists()


def test_names_differing_by_case_or_separator_give_the_same_package(baker):
    """Spellings of one name give one slug and module; class names keep the
    capitals as typed (XGBoost stays XGBoost) and drop a trailing "backend"."""
    expected_class = {
        "my backend": "MyBackend",
        "My-Backend": "MyBackend",
        "MY_BACKEND": "MYBackend",
    }
    projects = []
    for name, backend in [
        ("My Plugin", "my backend"),
        ("my-plugin", "My-Backend"),
        ("MY_PLUGIN", "MY_BACKEND"),
    ]:
        bake = baker(plugin_name=name, backend_name=backend, project_description="same")
        ctx = bake.context()
        assert ctx["plugin_slug"] == "my_plugin"
        assert ctx["__backend_class"] == expected_class[backend]
        projects.append(bake.project)
    trees = [
        {p.relative_to(root) for p in sorted(root.rglob("*")) if p.is_file()}
        for root in projects
    ]
    assert trees[0] == trees[1] == trees[2]
    first, second = (
        {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        for root in projects[:2]
    )
    differing = {k for k in first if first[k] != second[k]}
    assert differing <= {
        Path("README.md"),
        Path("src/rastervision/my_plugin/__init__.py"),
    }


def test_re_rendering_stored_answers_gives_the_same_project(baker, tmp_path):
    """cruft re-renders with the stored answers as extra_context: same bytes."""
    first = baker(**ACCEPTED["markdown"], author_email="x@example.com")
    check_project(first, tmp_path)
    stored = {k: v for k, v in first.context().items() if not k.startswith("_")}
    second = baker(**stored)
    assert second.error is None, second.error
    for path in first.project.rglob("*"):
        if path.is_file():
            assert (
                second.project / path.relative_to(first.project)
            ).read_bytes() == path.read_bytes()


def test_build_backend_writes_valid_metadata(baker, tmp_path):
    """What pip sees: the core metadata hatchling builds from the hostile text."""
    answers = {
        **ACCEPTED["non-ascii"],
        "write_profile": "no",
        "author_name": ' José Ñúñez, O\'Brien "Chief" <x> \\ 😀 ',
        "project_description": 'Ångström """ \\ <b> 🛰️ ',
        "author_email": "o'connor+rv@mail.example.co.uk",
    }
    bake = baker(**answers)
    project = bake.project
    requires = tomllib.loads((project / "pyproject.toml").read_text())["build-system"][
        "requires"
    ]
    venv = tmp_path / "build-venv"
    python = venv / "bin" / "python"
    made = subprocess.run(
        [uv(), "venv", "-q", str(venv)], check=False
    ).returncode == 0 and (
        subprocess.run(
            [uv(), "pip", "install", "-q", "--python", str(python), *requires],
            check=False,
        ).returncode
        == 0
    )
    if not made:
        pytest.skip("cannot install the build backend here")
    out = tmp_path / "metadata"
    out.mkdir()
    built = subprocess.run(
        [
            str(python),
            "-c",
            "import sys; from hatchling.build import "
            "prepare_metadata_for_build_wheel as p; print(p(sys.argv[1]))",
            str(out),
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    raw = (out / built / "METADATA").read_text(encoding="utf-8")
    meta = Metadata.from_email(raw, validate=True)
    assert meta.summary == answers["project_description"].strip()
    assert email.utils.getaddresses([meta.author_email]) == [
        (answers["author_name"].strip(), answers["author_email"])
    ]


# -- Line endings and modes --------------------------------------------------------


def git_attr(repo, attr, path):
    out = subprocess.run(
        ["git", "-C", str(repo), "check-attr", attr, "--", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.rsplit(": ", 1)[1].strip()


@pytest.mark.parametrize("name", ["default", "non-ascii", "odd-but-valid"])
def test_scripts_keep_run_bit_and_lf(name, baker):
    bake = baker(**({} if name == "default" else ACCEPTED[name]))
    project = bake.project
    scripts = sorted((project / "scripts").iterdir())
    assert {p.name for p in scripts} >= set(SCRIPTS)
    for path in scripts:
        assert path.stat().st_mode & 0o111 == 0o111
        assert b"\r\n" not in path.read_bytes()
        assert path.read_bytes().startswith(b"#!/usr/bin/env bash\n")
    assert b"\r\n" not in (project / "Dockerfile").read_bytes()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    for path in [*(f"scripts/{p.name}" for p in scripts), "Dockerfile", "README.md"]:
        assert git_attr(project, "eol", path) == "lf"


def test_template_repo_keeps_scripts_lf_and_executable():
    """Cookiecutter copies line endings and modes from the template's checkout."""
    slug_dir = "{{cookiecutter.plugin_slug}}"
    for path in (REPO / slug_dir / "scripts").iterdir():
        assert git_attr(REPO, "eol", f"{slug_dir}/scripts/{path.name}") == "lf"
        assert path.stat().st_mode & 0o111 == 0o111, path
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-s", "--", f"{slug_dir}/scripts"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert listed and all(line.startswith("100755 ") for line in listed), listed


# -- Property-based: free-text answers --------------------------------------------

FRAGMENTS = [
    "'",
    '"',
    "\\",
    "`",
    "$HOME",
    "$(",
    ")",
    "${IFS}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    "{",
    "}",
    "%",
    "*",
    "_",
    "[",
    "](",
    "<",
    ">",
    "&amp;",
    "&",
    "~~",
    "|",
    "#",
    "- ",
    "1. ",
    "é",
    "Ñ",
    "東京",
    "😀",
    "\u200d",
    "\u00a0",
    "\n",
    "\t",
    " ",
    "  ",
    '"""',
    "'''",
] + PAYLOADS


def text_strategy(fragments, characters):
    return st.lists(
        st.one_of(
            st.sampled_from(fragments),
            st.text(characters, min_size=1, max_size=6),
            st.text("abcdefgh XYZ", min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=8,
    ).map("".join)


any_text = text_strategy(FRAGMENTS, st.characters(exclude_categories=("Cs",)))
printable_text = text_strategy(
    [f for f in FRAGMENTS if f.isprintable() and not pre.has_markup(f)],
    st.characters(
        codec="utf-8",
        exclude_categories=("Cs", "Cc", "Cf", "Co", "Cn", "Zs", "Zl", "Zp"),
    ),
)


def free_text_bake(baker, tmp_path, capfd, name, description, author, must_pass):
    answers = {
        "plugin_name": name,
        "plugin_slug": "hypo_plugin",
        "project_description": description,
        "author_name": author,
    }
    full = {k: (v[0] if isinstance(v, list) else v) for k, v in DEFAULTS.items()}
    full.update(
        baker.arm(answers),
        docker_image="hypo-plugin",
        rv_profile="hypo_plugin",
        backend_name="noop_plugin",
        batch_gpu_job_queue="raster-vision-gpu",
        batch_gpu_job_def="raster-vision-gpu",
        __backend_class="NoopPluginBackend",
        base_image="quay.io/azavea/raster-vision:pytorch-0.31.1",
    )
    expect_ok = not pre.validate(full)
    if must_pass:
        assume(expect_ok)  # only length limits and a stray "{" + "{" get here
    event("accepted" if expect_ok else "rejected")
    bake = baker(**answers)
    if expect_ok:
        check_project(bake, tmp_path)
    else:
        assert_rejected(bake, capfd)
    assert not baker.marker.exists()
    capfd.readouterr()


SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings(SETTINGS, max_examples=30)
@given(name=printable_text, description=printable_text, author=printable_text)
def test_printable_free_text_renders_safely(
    baker, tmp_path, capfd, name, description, author
):
    free_text_bake(baker, tmp_path, capfd, name, description, author, must_pass=True)


@settings(SETTINGS, max_examples=30)
@given(name=any_text, description=any_text, author=any_text)
def test_any_free_text_is_rejected_or_rendered_safely(
    baker, tmp_path, capfd, name, description, author
):
    free_text_bake(baker, tmp_path, capfd, name, description, author, must_pass=False)


def test_markdown_escaping_matches_commonmark():
    """The README macro's escaping: each text answer shows as itself."""
    env = StrictEnvironment()
    source = (REPO / "{{cookiecutter.plugin_slug}}" / "README.md").read_text()
    macro = source[: source.index("{%- endmacro -%}") + len("{%- endmacro -%}")]
    template = env.from_string(macro + "# {{ md(a) }}\n\n{{ md(b) }}\n")
    for value in [
        "*a*",
        "1) x",
        "10. y",
        "123",
        "- z",
        "+ w",
        "# h",
        "> q",
        "\\",
        "a\\",
        "&copy;",
        "<a href=x>",
        "`c`",
        "[l]: /u",
        "~~s~~",
        "***",
        "___",
        "$x$",
        "<!-- c -->",
    ]:
        assert markdown_texts(template.render(a=value, b=value)) == (value, value), (
            value
        )
    assert re.search(
        r"^# Noop Plugin$", template.render(a="Noop Plugin", b="x"), re.MULTILINE
    )


@pytest.mark.parametrize(
    "plugin_name, slug",
    [
        ("O'Brien's Plugin", "o_brien_s_plugin"),
        ("Éclair", "eclair"),
        ("Crop Mapper v2.0", "crop_mapper_v2_0"),
    ],
)
def test_slug_derived_from_any_name_is_a_valid_package(baker, plugin_name, slug):
    """The default slug is slugified: quotes, accents and dots need no retyping."""
    bake = baker(plugin_name=plugin_name)
    assert bake.error is None
    assert bake.context()["plugin_slug"] == slug
    assert (bake.project / "src" / "rastervision" / slug / "__init__.py").is_file()
