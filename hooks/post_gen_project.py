"""Write the Raster Vision profile that ``rastervision -p <profile>`` reads.

The profile lives at ``$RV_CONFIG_DIR/<profile>`` when that is set, else at
``~/.rastervision/<profile>``, exactly where Raster Vision looks. Guarantees:

- no profile yet: it is written (the folder is created), readable by you only;
- the same settings already there: the file is not touched, not even its mtime;
- different content: every line you wrote is kept in order; missing settings
  are added; your values win unless you answered ``replace``; the original is
  copied to ``<profile>.bak-<time>`` first; what changed is printed;
- a file Raster Vision could not read, or one this hook does not fully
  understand, is left untouched and the settings are printed instead;
- every write goes to a temporary file in the same folder that is then
  renamed over the old one: never a half-written profile;
- any failure still leaves the generated project in place and prints the
  profile text with the reason.

Raster Vision reads profiles with everett, which uses configobj and flattens
``[SECTION] key`` (and nested ``[[sub]]`` sections) to ``SECTION_KEY`` in upper
case; the merge below follows those rules. The logic is plain functions that
the template's tests call directly. Answers arrive as JSON data at the bottom
of this file, never as code.
"""

import contextlib
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

HEADER = """\
# Raster Vision profile "{profile}", written when the {plugin} project was generated.
# Use it with: rastervision -p {profile} run ...
"""
FOOTER = """\
# Reading s3:// data from a requester-pays bucket? Uncomment:
# [AWS_S3]
# requester_pays = True
"""

# The parts of configobj's grammar this hook understands (configobj 5, as used
# by everett's ConfigIniEnv with list_values=False). A line matching none of
# them makes the file one the hook leaves alone.
SECTION = re.compile(r"^\s*((?:\[\s*)+)([^'\"\s].*?)((?:\s*\])+)\s*(#.*)?$")
KEY = re.compile(r"^(\s*)([^'\"=\s\[#][^=]*?)\s*=\s*(.*)$")
VALUE = re.compile(r"""^((?:".*?")|(?:'.*?')|(?:[^'"#].*?)|(?:))\s*(#.*)?$""")


class ProfileError(ValueError):
    """An existing profile this hook will not edit (RV may not read it either)."""

    def __init__(self, line_no, line, reason):
        super().__init__(f"line {line_no}: {reason}: {line.rstrip()!r}")
        self.line_no = line_no


def profile_settings(answers):
    """The sections and keys the profile must hold, from the answers."""
    return {
        "BATCH": {
            "gpu_job_queue": answers["batch_gpu_job_queue"],
            "gpu_job_def": answers["batch_gpu_job_def"],
            "cpu_job_queue": answers["batch_cpu_job_queue"],
            "cpu_job_def": answers["batch_cpu_job_def"],
        }
    }


def profile_path(profile, environ, home):
    """Where Raster Vision reads profile ``profile`` (see RVConfig)."""
    config_dir = environ.get("RV_CONFIG_DIR")
    base = Path(config_dir) if config_dir else Path(home) / ".rastervision"
    return base / profile


def render_settings(settings, newline="\n"):
    lines = []
    for section, keys in settings.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in keys.items())
    return "".join(line + newline for line in lines)


def render_profile(profile, plugin, settings):
    """The text of a new profile file."""
    header = HEADER.format(profile=profile, plugin=plugin)
    return header + "\n" + render_settings(settings) + "\n" + FOOTER


class Ini:
    """What everett would read from a profile, and where each part is.

    ``values`` maps ``SECTION_KEY`` (upper case) to ``(value, line index)`` in
    the order everett fills its dict, so the last writer wins as in RV.
    ``sections`` lists ``(line index, depth, path)`` of every section header.
    """

    def __init__(self, text):
        self.lines = split_lines(text)
        self.sections = []
        self.scalars = {}  # section path -> [(key, value, line index)]
        self.children = {(): []}  # section path -> child section paths
        self._scan()
        self.values = {}
        self._flatten(())

    def _scan(self):
        path = ()
        self.scalars[path] = []
        for i, line in enumerate(self.lines):
            body = line.rstrip("\r\n")
            if i == 0:
                body = body.removeprefix("\ufeff")
            stripped = body.strip()
            if not stripped or stripped.startswith("#"):
                continue
            match = SECTION.match(body)
            if match:
                depth = match.group(1).count("[")
                if depth != match.group(3).count("]"):
                    raise ProfileError(i + 1, line, "unbalanced section brackets")
                if depth > len(path) + 1:
                    raise ProfileError(i + 1, line, "section nested too deep")
                parent = path[: depth - 1]
                name = match.group(2)
                if any(p[-1] == name for p in self.children[parent]):
                    raise ProfileError(i + 1, line, "duplicate section")
                path = parent + (name,)
                self.children[parent].append(path)
                self.children[path] = []
                self.scalars[path] = []
                self.sections.append((i, depth, path))
                continue
            match = KEY.match(body)
            value = VALUE.match(match.group(3)) if match else None
            if not value:
                raise ProfileError(i + 1, line, "not a section, key = value or # comment")
            if value.group(1)[:3] in ('"""', "'''"):
                raise ProfileError(i + 1, line, "multi-line values are not supported")
            key = match.group(2)
            if any(k == key for k, _, _ in self.scalars[path]):
                raise ProfileError(i + 1, line, "duplicate key")
            self.scalars[path].append((key, value.group(1), i))

    def _flatten(self, path):
        for key, value, i in self.scalars[path]:
            self.values["_".join(path + (key,)).upper()] = (value, i)
        for child in self.children[path]:
            self._flatten(child)

    def insert_at(self, path):
        """Where a new key of section ``path`` goes: after its own last key.

        (Keys after a nested ``[[sub]]`` header would belong to the subsection.)
        """
        if self.scalars[path]:
            return self.scalars[path][-1][2] + 1
        return next(i for i, _, p in self.sections if p == path) + 1


def split_lines(text):
    """Lines as configobj sees them: split at \\n only, each with its ending."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _newline(lines):
    """The file's own line ending, for the lines this hook adds."""
    return "\r\n" if lines and lines[0].endswith("\r\n") else "\n"


def _with_value(line, value):
    """``line`` (a ``key = value`` line) with its value replaced, comment kept."""
    body = line.rstrip("\r\n")
    match = KEY.match(body)
    old = VALUE.match(match.group(3))
    start = match.start(3)
    return body[:start] + value + body[start + old.end(1) :] + line[len(body) :]


def merge_profile(text, settings, replace=False):
    """Add missing settings to an existing profile's text.

    Returns ``(new_text, changes, kept)``: ``changes`` says what was added or
    replaced, ``kept`` which of the user's values differ from the answers and
    were left alone. Lines the user wrote stay byte for byte and in order; with
    ``replace`` only the value of a differing line is rewritten. Raises
    ``ProfileError`` for a file outside the grammar this hook understands.
    """
    ini = Ini(text)
    lines = list(ini.lines)
    newline = _newline(lines)
    changes, kept, expected = [], [], {}
    inserts = {}  # line index -> lines to insert before it
    for section, keys in settings.items():
        own = [p for _, depth, p in ini.sections if depth == 1 and p[0].upper() == section]
        target = next((p for p in own if p[0] == section), own[0] if own else None)
        new_section = []
        for key, value in keys.items():
            full = f"{section}_{key}".upper()
            if full in ini.values:
                current, at = ini.values[full]
                if current == value:
                    expected[full] = value
                elif replace:
                    lines[at] = _with_value(lines[at], value)
                    changes.append(f"replaced {current!r} with {value!r} for [{section}] {key} (line {at + 1})")
                    expected[full] = value
                else:
                    kept.append(f"[{section}] {key} = {current} (the template's answer: {value})")
                    expected[full] = current
                continue
            expected[full] = value
            changes.append(f"added [{section}] {key} = {value}")
            if target is None:
                new_section.append(f"{key} = {value}")
                continue
            indent = ""
            if ini.scalars[target]:
                indent = KEY.match(ini.lines[ini.scalars[target][-1][2]].rstrip("\r\n")).group(1)
            inserts.setdefault(ini.insert_at(target), []).append(f"{indent}{key} = {value}")
        if new_section:
            block = ([""] if lines and lines[-1].strip() else []) + [f"[{section}]"] + new_section
            inserts.setdefault(len(lines), []).extend(block)
    if not changes:
        return text, changes, kept
    out = []
    for i in range(len(lines) + 1):
        added = inserts.get(i, [])
        if added and out and not out[-1].endswith("\n"):
            out[-1] += newline
        out.extend(line + newline for line in added)
        if i < len(lines):
            out.append(lines[i])
    merged = "".join(out)
    _check_merge(ini, Ini(merged), expected)
    return merged, changes, kept


def _check_merge(before, after, expected):
    """Refuse a merge that would change anything but the expected values."""
    wanted = {k: v for k, (v, _) in before.values.items()}
    wanted.update(expected)
    got = {k: v for k, (v, _) in after.values.items()}
    if got != wanted:  # pragma: no cover - a bug guard, never expected
        raise ProfileError(0, "", "internal check failed: the merge would change other settings")


def write_atomic(path, text, mode, owner=None):
    """Write ``text`` to ``path`` through a temporary file and a rename.

    A crash mid-write leaves either the old file or the new one, never half,
    and no temporary file behind (unless the process is killed outright).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if owner is not None and owner != (os.getuid(), os.getgid()):
            with contextlib.suppress(OSError):
                os.chown(tmp, *owner)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder):
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_backup(path, data, now=time.time):
    """Copy ``data`` (the original bytes) to a new ``<path>.bak-<time>[-n]``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now()))
    for n in itertools.count():
        backup = path.with_name(f"{path.name}.bak-{stamp}" + (f"-{n}" if n else ""))
        try:
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        shutil.copymode(path, backup)
        return backup


def install_profile(path, new_text, settings, replace=False, now=time.time):
    """Create or update the profile at ``path``; return the lines to print.

    A symlinked profile is written through (the link stays a link).
    """
    path = Path(os.path.realpath(path))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, new_text, 0o600)
        return [f"Wrote Raster Vision profile {path}"]
    if not path.is_file():
        raise OSError(f"not a regular file: {path}")
    data = path.read_bytes()
    old_text = data.decode("utf-8")
    merged, changes, kept = merge_profile(old_text, settings, replace=replace)
    report = []
    if merged == old_text:
        report.append(f"Raster Vision profile {path} already has these settings: unchanged")
    else:
        st = path.stat()
        backup = write_backup(path, data, now)
        write_atomic(path, merged, st.st_mode & 0o7777, (st.st_uid, st.st_gid))
        report.append(f"Updated Raster Vision profile {path} (your original: {backup})")
        report.extend(f"  {change}" for change in changes)
    if kept:
        report.append("Kept your own values (answer write_profile=replace to overwrite them):")
        report.extend(f"  {line}" for line in kept)
    return report


def main(answers, environ=os.environ, home=None):
    """Never fails: a profile problem must not cost the user the project."""
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="backslashreplace")
    choice = str(answers["write_profile"]).lower()
    profile = answers["rv_profile"]
    settings = profile_settings(answers)
    text = render_profile(profile, answers["plugin_name"].strip(), settings)
    path = profile_path(profile, environ, home or os.path.expanduser("~"))
    if choice == "no":
        report = [f"write_profile is no: {path} not touched. The profile would be:", "", text]
    else:
        try:
            report = install_profile(path, text, settings, replace=choice == "replace")
        except (ProfileError, UnicodeDecodeError) as error:
            report = [
                f"Left the Raster Vision profile {path} untouched: this hook does "
                + f"not edit it ({error}). Add these settings to it by hand:",
                "",
                render_settings(settings),
            ]
        except Exception as error:  # noqa: BLE001 - any failure must keep the project
            report = [
                f"Could not write the Raster Vision profile {path}: {error}",
                "The project was generated. Save this text there by hand:",
                "",
                text,
            ]
    if environ.get("RV_CONFIG"):
        report.append(
            f"Note: RV_CONFIG is set ({environ['RV_CONFIG']}): while it is, Raster "
            "Vision reads that file instead of this profile."
        )
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads({{ cookiecutter | tojson | tojson }})))  # noqa: F821
