"""Check every answer before cookiecutter writes a single file.

A rejected answer stops the bake with one line per problem, naming the question,
the value and the rule; cookiecutter then removes the half-made project folder.
The checks are plain functions so the template's tests call them directly.
Answers arrive as JSON data at the bottom of this file, never as code.
"""

import json
import keyword
import re
import sys

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
SLUG = re.compile(r"[a-z_][a-z0-9_]*")
PROFILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")
# AWS Batch job queue / job definition: a name, name:revision or an ARN.
BATCH_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_:/.-]{0,254}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_TEXT = 200


def check_text(value):
    """Free text that lands in README, pyproject and docstrings: one line."""
    if not isinstance(value, str) or not value.strip():
        return "must not be empty"
    if any(ch in value for ch in "\r\n\x00") or not value.isprintable():
        return "must be a single line of printable text"
    if len(value) > MAX_TEXT:
        return f"must be at most {MAX_TEXT} characters"
    return None


def check_slug(value):
    if not SLUG.fullmatch(value):
        return (
            "must be a lowercase Python identifier: a-z, 0-9 and _, "
            "not starting with a digit"
        )
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "must not be a Python keyword"
    if value in RESERVED_SLUGS:
        return "is taken by a Raster Vision package (rastervision.%s)" % value
    return None


def check_identifier(value):
    if not (value.isidentifier() and value.isascii()) or keyword.iskeyword(value):
        return "must give a valid ASCII Python identifier that is not a keyword"
    return None


def check_backend_name(value):
    error = check_text(value)
    if error:
        return error
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9 _-]*", value.strip()):
        return (
            "must start with a letter and use only letters, digits, spaces, "
            "- and _ (it names classes and a module)"
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
    if value in (".", "..") or not PROFILE.fullmatch(value or ""):
        return (
            "must be a plain file name: letters, digits, . _ -, no path "
            "separators, not . or .., at most 64 characters"
        )
    return None


def check_attempts(value):
    if not re.fullmatch(r"[0-9]{1,2}", str(value)) or not 1 <= int(value) <= 10:
        return "must be a whole number from 1 to 10 (AWS Batch's limit)"
    return None


def check_choice(choices):
    def check(value):
        if value not in choices:
            return "must be one of " + ", ".join(choices)
        return None

    return check


def check_email(value):
    if not isinstance(value, str) or not EMAIL.fullmatch(value) or len(value) > MAX_TEXT:
        return "must look like name@example.com"
    return None


VERSION_RULE = "must be a PEP 440 version such as 0.1.0"
CHECKS = {
    "plugin_name": check_text,
    "plugin_slug": check_slug,
    "backend_name": check_backend_name,
    "__backend_class": check_identifier,
    "__backend_module": check_identifier,
    "project_description": check_text,
    "author_name": check_text,
    "author_email": check_email,
    "version": check_pattern(PEP440, VERSION_RULE),
    "license": check_choice(LICENSES),
    "docker_image": check_image_name,
    "rv_version": check_pattern(PEP440, VERSION_RULE),
    "cpu_base_image": check_pattern(
        IMAGE_REFERENCE, "must be a Docker image reference such as repo/name:tag"
    ),
    "gpu_base_image": check_pattern(
        IMAGE_REFERENCE, "must be a Docker image reference such as repo/name:tag"
    ),
    "rv_profile": check_profile,
    "write_profile": check_choice(PROFILE_CHOICES),
    "batch_cpu_job_queue": check_pattern(
        BATCH_NAME, "must be an AWS Batch name or ARN: letters, digits, _ - : / ."
    ),
    "batch_cpu_job_def": check_pattern(
        BATCH_NAME, "must be an AWS Batch name or ARN: letters, digits, _ - : / ."
    ),
    "batch_gpu_job_queue": check_pattern(
        BATCH_NAME, "must be an AWS Batch name or ARN: letters, digits, _ - : / ."
    ),
    "batch_gpu_job_def": check_pattern(
        BATCH_NAME, "must be an AWS Batch name or ARN: letters, digits, _ - : / ."
    ),
    "batch_attempts": check_attempts,
}


def validate(answers):
    """Return one message per bad answer: question, value and rule."""
    errors = []
    for field, check in CHECKS.items():
        value = answers.get(field)
        problem = check(value) if value is not None else "is missing"
        if problem:
            label = field.lstrip("_")
            errors.append(f"{label} = {value!r}: {problem}")
    return errors


def main(answers):
    errors = validate(answers)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(json.loads({{ cookiecutter | tojson | tojson }})))
