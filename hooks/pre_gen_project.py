"""Check every answer before cookiecutter writes a single file.

A rejected answer stops the bake with one line per problem, naming the question,
the value and the rule; cookiecutter then removes the (still empty) project
folder, and the profile hook never runs. The checks are plain functions so the
template's tests call them directly. Answers arrive as JSON data at the bottom
of this file, never as code: both as cookiecutter rendered them and as they were
given (``_cookiecutter``), so an answer that was Jinja markup is caught even
after cookiecutter evaluated it.
"""

import json
import keyword
import os
import re
import sys
from pathlib import Path

# Raster Vision's own plugins (and its examples) live in the same namespace.
RESERVED_SLUGS = frozenset(
    {
        "pipeline",
        "core",
        "pytorch_backend",
        "pytorch_learner",
        "aws_batch",
        "aws_s3",
        "aws_sagemaker",
        "gdal_vsi",
        "pipeline_example_plugin1",
        "pipeline_example_plugin2",
        "rastervision",
    }
)
LICENSES = ("MIT", "BSD-3-Clause", "Apache-2.0", "Proprietary")
PROFILE_CHOICES = ("yes", "no", "replace")
STARTER_MODELS = ("noop", "scikit-learn", "pytorch")

# PEP 440, Appendix B (the canonical public version pattern).
PEP440 = re.compile(
    r"""v?(?:(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*
    (?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?
    (?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?
    (?:[-_.]?dev[-_.]?[0-9]*)?)
    (?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?""",
    re.VERBOSE | re.IGNORECASE,
)
# Cookiecutter renders this file with Jinja: no double braces below this line
# but the one that hands over the answers.
# Docker's reference grammar (distribution/reference): [host[:port]/]path[:tag][@digest].
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_PATH = r"(?:[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)"
_NAME = "(?:" + _DOMAIN + "/)?" + _PATH + "(?:/" + _PATH + ")*"
_TAG = r"(?::\w[\w.-]{0,127})?"
_DIGEST = r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
IMAGE_NAME = re.compile(_NAME)
IMAGE_REFERENCE = re.compile(_NAME + _TAG + _DIGEST)
SLUG = re.compile(r"[a-z][a-z0-9_]*")
PROFILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
# AWS Batch job queue / job definition: a name, name:revision or an ARN.
BATCH_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:/.-]{0,254}")
# The HTML5 (WHATWG) e-mail address pattern, with at least one dot in the domain.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@" + _LABEL + r"(?:\." + _LABEL + ")+")
MAX_NAME = 100  # plugin_name; the default description adds ~35 characters
MAX_TEXT = 300
MAX_SLUG = 64
# Cookiecutter evaluates answers given as key=value (or extra_context) with
# Jinja, and cruft re-evaluates every stored answer on update: markup in an
# answer would not stay text. (Spelled in pieces: this file is rendered too.)
JINJA_MARKUP = ("{" + "{", "{" + "%", "{" + "#")
MARKUP_RULE = (
    "must not contain Jinja markup (" + ", ".join(JINJA_MARKUP) + "): cookiecutter "
    "evaluates it instead of keeping it as text"
)


def has_markup(value):
    return isinstance(value, str) and any(m in value for m in JINJA_MARKUP)


def check_text(value, limit=MAX_TEXT):
    """Free text for README, pyproject, LICENSE and a docstring: one line.

    Leading and trailing spaces are allowed; every place that shows the text
    strips them.
    """
    if not isinstance(value, str) or not value.strip():
        return "must not be empty"
    if not value.isprintable():
        return (
            "must be a single line of printable text (no newlines, tabs or "
            "control characters)"
        )
    if len(value) > limit:
        return f"must be at most {limit} characters"
    return None


def check_name(value):
    return check_text(value, MAX_NAME)


def check_slug(value):
    if not isinstance(value, str) or not SLUG.fullmatch(value) or value.endswith("_"):
        return (
            "must be a lowercase Python identifier: a-z, 0-9 and _, not "
            "starting with a digit or _ and not ending with _"
        )
    if len(value) > MAX_SLUG:
        return f"must be at most {MAX_SLUG} characters"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "must not be a Python keyword"
    if value in RESERVED_SLUGS:
        return f"is taken by a Raster Vision package (rastervision.{value})"
    return None


def check_backend_name(value):
    error = check_text(value)
    if error:
        return error
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9 _-]*", value.strip()) or len(value) > 64:
        return (
            "must start with a letter and use only letters, digits, spaces, "
            "- and _, at most 64 characters (it names classes and a module)"
        )
    return None


def check_pattern(pattern, rule):
    def check(value):
        if not isinstance(value, str) or not pattern.fullmatch(value):
            return rule
        return None

    return check


def check_image_name(value):
    if not isinstance(value, str) or not IMAGE_NAME.fullmatch(value):
        return (
            "must be a Docker image name without a tag: lowercase a-z, 0-9 and "
            "separators . _ -, optional registry host and / paths"
        )
    if len(value) > 250:
        return "must be at most 250 characters"
    return None


def check_profile(value):
    if not isinstance(value, str) or value in (".", "..") or not PROFILE.fullmatch(value):
        return (
            "must be a plain file name: letters, digits, . _ -, no path "
            "separators, not . or .., at most 64 characters"
        )
    return None


def check_choice(choices, rule=None):
    def check(value):
        if value not in choices:
            return rule or "must be one of " + ", ".join(choices)
        return None

    return check


def check_email(value):
    if not isinstance(value, str) or not EMAIL.fullmatch(value) or len(value) > 254:
        return (
            "must be an e-mail address such as name@example.com (ASCII, as an "
            "HTML form accepts it)"
        )
    return None


VERSION_RULE = "must be a PEP 440 version such as 0.1.0"
check_base_image = check_pattern(
    IMAGE_REFERENCE, "must be a Docker image reference such as repo/name:tag"
)
check_batch_name = check_pattern(
    BATCH_NAME, "must be an AWS Batch name or ARN: letters, digits, _ - : / ."
)
CHECKS = {
    "plugin_name": check_name,
    "plugin_slug": check_slug,
    "starter_model": check_choice(STARTER_MODELS),
    "backend_name": check_backend_name,
    "project_description": check_text,
    "author_name": check_text,
    "author_email": check_email,
    "version": check_pattern(PEP440, VERSION_RULE),
    "license": check_choice(LICENSES),
    "docker_image": check_image_name,
    # Replaced in validate() by the versions whose pins the template carries.
    "rv_version": check_pattern(PEP440, VERSION_RULE),
    "base_image": check_base_image,
    "rv_profile": check_profile,
    "write_profile": check_choice(PROFILE_CHOICES),
    **{
        f"batch_{kind}_job_{what}": check_batch_name
        for kind in ("cpu", "gpu")
        for what in ("queue", "def")
    },
}


def show(value, limit=80):
    """``repr`` of an answer for a message, shortened when very long."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(value)} characters)"


def template_dir(answers):
    """The template's folder, or None when it cannot be found.

    Cookiecutter passes ``_repo_dir`` as given: relative for ``cookiecutter .``,
    while this hook runs in the new project's folder. A relative path is taken
    from the folder cookiecutter was started in (the shell's ``PWD``).
    """
    repo_dir = answers.get("_repo_dir")
    if not isinstance(repo_dir, str) or not repo_dir:
        return None
    path = Path(os.environ.get("PWD", "."), repo_dir)
    return path if (path / "cookiecutter.json").is_file() else None


def template_defaults(answers):
    """The template's own cookiecutter.json values, or None if unreadable."""
    folder = template_dir(answers)
    try:
        return json.loads((folder / "cookiecutter.json").read_text(encoding="utf-8"))
    except (TypeError, OSError, ValueError):
        return None


def supported_rv_versions(folder):
    """The Raster Vision versions whose tested pins the template carries.

    One file per version in templates/rv-pins/, which becomes the generated
    constraints.txt; cookiecutter.json offers exactly these versions.
    """
    return tuple(sorted(p.stem for p in (folder / "templates" / "rv-pins").glob("*.txt")))


def check_rv_version(folder):
    """Supported versions when the template folder is known, else PEP 440."""
    if folder is None:
        return check_pattern(PEP440, VERSION_RULE)
    versions = supported_rv_versions(folder)
    rule = (
        "must be a Raster Vision version whose tested pins this template carries "
        "(templates/rv-pins/): " + ", ".join(versions)
    )
    return check_choice(versions, rule)


def validate(answers, given=None, defaults=None):
    """Return one message per bad answer: question, value and rule.

    ``given`` holds the answers as they were given, before cookiecutter rendered
    them, and ``defaults`` the template's cookiecutter.json: a given answer that
    is not the template's own default but holds Jinja markup is rejected even if
    cookiecutter already evaluated it to something harmless-looking.
    """
    errors = []
    checks = dict(CHECKS, rv_version=check_rv_version(template_dir(answers)))
    for field, check in checks.items():
        value = answers.get(field)
        raw = (given or {}).get(field)
        typed = defaults is not None and isinstance(raw, str) and raw != defaults.get(field)
        if typed and has_markup(raw):
            errors.append(f"{field} = {show(raw)} (evaluated to {show(value)}): {MARKUP_RULE}")
            continue
        if value is None:
            problem = "is missing"
        elif has_markup(value):
            problem = MARKUP_RULE
        else:
            problem = check(value)
        if problem:
            # Show the answer as given (Jinja turns \r\n into \n, for one).
            errors.append(f"{field} = {show(raw if typed else value)}: {problem}")
    return errors


def forget_replay(answers, replay_dir):
    """Remove the replay file cookiecutter wrote for this rejected bake.

    Cookiecutter saves every bake's answers to <replay_dir>/<name>.json before
    any hook runs: <name> is the template folder's name, or the replay file's
    when it replays one (``--replay-file``). A rejected bake should leave nothing
    in the user's home, so the file that holds exactly this bake's answers goes,
    and the folder too if that is then empty.
    """
    if not answers.get("_repo_dir") or not replay_dir or not os.path.isdir(replay_dir):
        return
    for name in sorted(os.listdir(replay_dir)):
        replay = os.path.join(replay_dir, name)
        try:
            with open(replay, encoding="utf-8") as f:
                saved = json.load(f).get("cookiecutter")
            if saved == answers:
                os.remove(replay)
        except (OSError, ValueError, AttributeError):
            pass
    try:
        if not os.listdir(replay_dir):
            os.rmdir(replay_dir)
    except OSError:
        pass


def user_replay_dir():
    """Cookiecutter's replay folder, as the running cookiecutter configures it."""
    try:
        from cookiecutter.config import get_user_config
    except ImportError:
        return None
    try:
        return get_user_config().get("replay_dir")
    except Exception:
        return None


def main(answers, given=None, replay_dir=None):
    if hasattr(sys.stderr, "reconfigure"):
        sys.stderr.reconfigure(errors="backslashreplace")
    defaults = template_defaults(answers) if given else None
    errors = validate(answers, given, defaults)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        forget_replay(answers, replay_dir or user_replay_dir())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(json.loads({{ cookiecutter | tojson | tojson }}), json.loads({{ _cookiecutter | default({}) | tojson | tojson }})))  # noqa: F821
