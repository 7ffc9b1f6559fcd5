"""Write the Raster Vision profile that ``rastervision -p <profile>`` reads.

The profile lives at ``$RV_CONFIG_DIR/<profile>`` when that is set, else at
``~/.rastervision/<profile>``, exactly where Raster Vision looks. A user's file
is never lost: missing settings are added, their own values, comments and
sections are kept (unless they answered ``replace``), the original is backed up
first, and every write goes to a temporary file that is then renamed over the
old one. The logic is plain functions so the template's tests call them directly.
Answers arrive as JSON data at the bottom of this file, never as code.
"""

import configparser
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

HEADER = """\
# Raster Vision profile "{profile}", written by the {plugin} template.
# Use it with: rastervision -p {profile} run ...
"""
FOOTER = """\
# Reading s3:// data from a requester-pays bucket? Uncomment:
# [AWS_S3]
# requester_pays = True
"""


def profile_settings(answers):
    """The sections and keys the profile must hold, from the answers."""
    return {
        "BATCH": {
            "gpu_job_queue": answers["batch_gpu_job_queue"],
            "gpu_job_def": answers["batch_gpu_job_def"],
            "cpu_job_queue": answers["batch_cpu_job_queue"],
            "cpu_job_def": answers["batch_cpu_job_def"],
            "attempts": str(answers["batch_attempts"]),
        }
    }


def profile_path(profile, environ, home):
    """Where Raster Vision reads profile ``profile`` (see RVConfig)."""
    config_dir = environ.get("RV_CONFIG_DIR")
    base = Path(config_dir) if config_dir else Path(home) / ".rastervision"
    return base / profile


def render_profile(profile, plugin, settings):
    """The text of a new profile file."""
    lines = [HEADER.format(profile=profile, plugin=plugin)]
    for section, keys in settings.items():
        lines.append(f"[{section}]\n")
        lines.extend(f"{key} = {value}\n" for key, value in keys.items())
        lines.append("\n")
    lines.append(FOOTER)
    return "".join(lines)


def parse_profile(text):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(text)
    return parser


def merge_profile(text, settings, replace=False):
    """Add missing settings to an existing profile's text.

    Returns the new text and a list of human-readable changes. Lines the user
    wrote are kept byte for byte; with ``replace`` a key whose value differs is
    rewritten in place. Raises ``configparser.Error`` if ``text`` is not INI.
    """
    parser = parse_profile(text)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    changes = []
    for section, keys in settings.items():
        if not parser.has_section(section):
            if lines and lines[-1].strip():
                lines.append("\n")
            lines.append(f"[{section}]\n")
            for key, value in keys.items():
                lines.append(f"{key} = {value}\n")
                changes.append(f"added [{section}] {key} = {value}")
            continue
        for key, value in keys.items():
            if not parser.has_option(section, key):
                at = _section_end(lines, section)
                lines.insert(at, f"{key} = {value}\n")
                changes.append(f"added [{section}] {key} = {value}")
            elif parser.get(section, key) != value and replace:
                at = _key_line(lines, section, key)
                lines[at] = f"{key} = {value}\n"
                changes.append(f"replaced [{section}] {key} with {value}")
    return "".join(lines), changes


def _section_bounds(lines, section):
    """Index of the header line of ``section`` and of the next section's header."""
    header = re.compile(r"\s*\[([^\]]+)\]")
    start, end = None, len(lines)
    for i, line in enumerate(lines):
        match = header.match(line)
        if match and start is None and match.group(1).strip() == section:
            start = i
        elif match and start is not None:
            end = i
            break
    return start, end


def _section_end(lines, section):
    """Where to insert a key: after the section's last non-blank line."""
    start, end = _section_bounds(lines, section)
    at = end
    while at - 1 > start and not lines[at - 1].strip():
        at -= 1
    return at


def _key_line(lines, section, key):
    start, end = _section_bounds(lines, section)
    pattern = re.compile(rf"\s*{re.escape(key)}\s*[=:]", re.IGNORECASE)
    return next(i for i in range(start + 1, end) if pattern.match(lines[i]))


def write_atomic(path, text, mode):
    """Write ``text`` to ``path`` through a temporary file and a rename.

    A crash mid-write leaves either the old file or the new one, never half.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def install_profile(path, new_text, settings, replace=False, now=time.time):
    """Create or update the profile at ``path``; return the lines to print."""
    path = Path(os.path.realpath(path))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, new_text, 0o600)
        return [f"Wrote Raster Vision profile {path}"]
    old_text = path.read_text(encoding="utf-8")
    merged, changes = merge_profile(old_text, settings, replace=replace)
    if merged == old_text:
        return [f"Raster Vision profile {path} already has these settings: unchanged"]
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now()))
    backup = path.with_name(f"{path.name}.bak-{stamp}")
    shutil.copy2(path, backup)
    write_atomic(path, merged, path.stat().st_mode & 0o777)
    return [f"Updated Raster Vision profile {path} (your original: {backup})"] + [
        f"  {change}" for change in changes
    ]


def main(answers, environ=os.environ, home=None):
    choice = str(answers["write_profile"]).lower()
    if choice == "no":
        return 0
    profile = answers["rv_profile"]
    settings = profile_settings(answers)
    text = render_profile(profile, answers["plugin_name"].strip(), settings)
    path = profile_path(profile, environ, home or os.path.expanduser("~"))
    try:
        report = install_profile(path, text, settings, replace=choice == "replace")
    except (OSError, UnicodeError, configparser.Error) as error:
        report = [
            f"Could not write the Raster Vision profile {path}: {error}",
            "The project was generated. Save this text there by hand:",
            "",
            text,
        ]
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads({{ cookiecutter | tojson | tojson }})))
