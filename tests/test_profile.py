"""The post-generation hook's profile writer: nothing lost, read back by RV.

Every case ends by asking Raster Vision itself (``RVConfig``, which reads
profiles with everett and configobj) for the values. Tests run as root here,
so "unwritable" is made of paths that fail for root too: a folder that is in
fact a regular file, or a profile that is a folder.
"""

import configparser
import os
import stat
import tempfile
import time
from pathlib import Path

import pytest
from conftest import load_hook
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

post = load_hook("post_gen_project")

ANSWERS = {
    "plugin_name": "Noop Plugin",
    "rv_profile": "noop_plugin",
    "write_profile": "yes",
    "batch_gpu_job_queue": "raster-vision-gpu",
    "batch_gpu_job_def": "raster-vision-gpu",
    "batch_cpu_job_queue": "raster-vision-cpu",
    "batch_cpu_job_def": "raster-vision-cpu",
}
SETTINGS = post.profile_settings(ANSWERS)
KEYS = list(SETTINGS["BATCH"])
OURS = dict(SETTINGS["BATCH"])
USER_PROFILE = """\
# my own notes: keep me
[AWS_S3]
requester_pays = True  # a comment of mine

[BATCH]
# the queue I really use
gpu_job_queue = my-queue
attempts = 3

[MINE]
x = 1
"""


@pytest.fixture(autouse=True)
def clean_rv_env(monkeypatch, tmp_path):
    """No BATCH_* variable may shadow the profile (everett reads the env first)."""
    for key in KEYS:
        monkeypatch.delenv(f"BATCH_{key.upper()}", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # RVConfig's tmp_dir_root
    monkeypatch.chdir(tmp_path)  # RV also reads ./.rastervision: keep it absent


def rv_reads(profile="noop_plugin"):
    """The [BATCH] values Raster Vision reads for ``profile`` (HOME, RV_CONFIG_DIR)."""
    from rastervision.pipeline.rv_config import RVConfig

    rv = RVConfig()
    rv.set_everett_config(profile=profile)
    return {key: rv.get_namespace_option("batch", key) for key in KEYS}


def configparser_reads(path):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(Path(path).read_text(encoding="utf-8"))
    return dict(parser["BATCH"])


def run_hook(home, capsys, environ=None, **answers):
    assert post.main({**ANSWERS, **answers}, environ=environ or {}, home=str(home)) == 0
    return capsys.readouterr().out


def listing(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def test_no_profile_is_written_private(fake_home, capsys):
    out = run_hook(fake_home, capsys)
    path = fake_home / ".rastervision" / "noop_plugin"
    assert f"Wrote Raster Vision profile {path}" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert listing(path.parent) == ["noop_plugin"]
    text = path.read_text(encoding="utf-8")
    assert text == post.render_profile("noop_plugin", "Noop Plugin", SETTINGS)
    assert configparser_reads(path) == OURS
    assert rv_reads() == OURS


def test_same_content_is_not_touched(fake_home, capsys):
    run_hook(fake_home, capsys)
    path = fake_home / ".rastervision" / "noop_plugin"
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.stat()
    out = run_hook(fake_home, capsys)
    assert "unchanged" in out
    assert path.stat().st_mtime_ns == before.st_mtime_ns == 1_000_000_000
    assert path.stat().st_ino == before.st_ino
    assert listing(path.parent) == ["noop_plugin"]
    assert rv_reads() == OURS


def test_user_file_with_every_setting_is_not_touched(fake_home, capsys):
    folder = fake_home / ".rastervision"
    folder.mkdir()
    path = folder / "noop_plugin"
    text = "[batch]  # mine\n" + "".join(
        f"  {k.upper()}={v}\n" for k, v in OURS.items()
    )
    path.write_text(text + "[OTHER]\nx = y\n")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    out = run_hook(fake_home, capsys, write_profile="replace")
    assert "unchanged" in out
    assert path.stat().st_mtime_ns == 1_000_000_000
    assert listing(folder) == ["noop_plugin"]
    assert rv_reads() == OURS


def test_different_content_keeps_everything_adds_the_rest(fake_home, capsys):
    folder = fake_home / ".rastervision"
    folder.mkdir()
    path = folder / "noop_plugin"
    path.write_text(USER_PROFILE)
    path.chmod(0o640)
    out = run_hook(fake_home, capsys)

    text = path.read_text()
    assert is_subsequence(USER_PROFILE.splitlines(), text.splitlines())
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    backups = [p for p in folder.iterdir() if p.name.startswith("noop_plugin.bak-")]
    assert len(backups) == 1 and backups[0].read_text() == USER_PROFILE
    assert f"your original: {backups[0]}" in out
    assert "added [BATCH] gpu_job_def = raster-vision-gpu" in out
    assert (
        "[BATCH] gpu_job_queue = my-queue (the template's answer: raster-vision-gpu)"
        in out
    )
    # The new keys went into the user's [BATCH], not a second section.
    assert text.count("[BATCH]") == 1
    expected = {**OURS, "gpu_job_queue": "my-queue"}
    assert configparser_reads(path) == {**expected, "attempts": "3"}  # theirs, kept
    assert rv_reads() == expected
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_replace_rewrites_only_the_differing_values(fake_home, capsys):
    folder = fake_home / ".rastervision"
    folder.mkdir()
    path = folder / "noop_plugin"
    path.write_text(
        USER_PROFILE.replace(
            "gpu_job_queue = my-queue", "gpu_job_queue = my-queue  # mine"
        )
    )
    out = run_hook(fake_home, capsys, write_profile="replace")
    text = path.read_text()
    assert "gpu_job_queue = raster-vision-gpu  # mine\n" in text
    assert "attempts = 3\n" in text  # a key of theirs only: kept
    assert (
        "# the queue I really use\n" in text
        and "requester_pays = True  # a comment of mine" in text
    )
    assert "replaced 'my-queue' with 'raster-vision-gpu'" in out
    assert rv_reads() == OURS


def test_crlf_bom_and_no_final_newline_are_kept(fake_home, capsys):
    folder = fake_home / ".rastervision"
    folder.mkdir()
    path = folder / "noop_plugin"
    original = "\ufeff[BATCH]\r\ngpu_job_queue = q\r\n[OTHER]\r\nx = 1".encode()
    path.write_bytes(original)
    run_hook(fake_home, capsys)
    data = path.read_bytes()
    assert data.startswith("\ufeff[BATCH]\r\ngpu_job_queue = q\r\n".encode())
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.endswith(b"x = 1")
    assert rv_reads()["gpu_job_queue"] == "q"
    assert rv_reads()["cpu_job_def"] == "raster-vision-cpu"


@pytest.mark.parametrize("victim", ["replace", "fsync", "replace-interrupt"])
@pytest.mark.parametrize("existing", [True, False])
def test_crash_mid_write_leaves_the_original(fake_home, monkeypatch, victim, existing):
    folder = fake_home / ".rastervision"
    folder.mkdir()
    path = folder / "noop_plugin"
    if existing:
        path.write_text(USER_PROFILE)
    error = KeyboardInterrupt if victim.endswith("interrupt") else OSError

    def crash(*args, **kwargs):
        raise error("simulated crash")

    text = post.render_profile("noop_plugin", "Noop Plugin", SETTINGS)
    with monkeypatch.context() as patch, pytest.raises(error):
        patch.setattr(post.os, victim.split("-")[0], crash)
        post.install_profile(path, text, SETTINGS)
    names = listing(folder)
    assert not [n for n in names if n.endswith(".tmp")]
    if existing:
        assert path.read_text() == USER_PROFILE
        assert rv_reads()["gpu_job_queue"] == "my-queue"
    else:
        assert names == []


def test_crash_in_a_bake_still_keeps_the_project_and_prints(
    fake_home, capsys, monkeypatch
):
    def crash(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(post.os, "replace", crash)
    out = run_hook(fake_home, capsys)
    assert (
        "Could not write the Raster Vision profile" in out and "simulated crash" in out
    )
    assert "[BATCH]\ngpu_job_queue = raster-vision-gpu\n" in out


def test_rv_config_dir_is_honoured(fake_home, tmp_path, capsys, monkeypatch):
    config_dir = tmp_path / "rv config dir"
    out = run_hook(fake_home, capsys, environ={"RV_CONFIG_DIR": str(config_dir)})
    assert str(config_dir / "noop_plugin") in out
    assert listing(fake_home) == []
    monkeypatch.setenv("RV_CONFIG_DIR", str(config_dir))
    assert rv_reads() == OURS


def test_rv_config_is_pointed_out(fake_home, capsys):
    out = run_hook(fake_home, capsys, environ={"RV_CONFIG": "/etc/rv.ini"})
    assert "RV_CONFIG is set (/etc/rv.ini)" in out
    assert rv_reads() == OURS


@pytest.mark.parametrize(
    "case", ["config-dir-is-a-file", "home-folder-is-a-file", "profile-is-a-folder"]
)
def test_unwritable_location_prints_the_text(fake_home, tmp_path, capsys, case):
    environ = {}
    if case == "config-dir-is-a-file":
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("x")
        environ["RV_CONFIG_DIR"] = str(blocker)
    elif case == "home-folder-is-a-file":
        (fake_home / ".rastervision").write_text("x")
    else:
        (fake_home / ".rastervision" / "noop_plugin").mkdir(parents=True)
    out = run_hook(fake_home, capsys, environ=environ)
    assert "Could not write the Raster Vision profile" in out
    assert any(
        r in out for r in ("Not a directory", "File exists", "not a regular file")
    )
    assert post.render_profile("noop_plugin", "Noop Plugin", SETTINGS) in out


def test_fifo_profile_is_not_read(fake_home, capsys):
    folder = fake_home / ".rastervision"
    folder.mkdir()
    os.mkfifo(folder / "noop_plugin")
    out = run_hook(fake_home, capsys)
    assert "not a regular file" in out
    assert listing(folder) == ["noop_plugin"]


def test_lone_cr_line_endings_are_left_alone(fake_home, capsys):
    """configobj splits lines at \\n only: to RV this file is one odd line."""
    folder = fake_home / ".rastervision"
    folder.mkdir()
    content = b"[BATCH]\rgpu_job_queue = q\r"
    (folder / "noop_plugin").write_bytes(content)
    out = run_hook(fake_home, capsys)
    assert "untouched" in out
    assert (folder / "noop_plugin").read_bytes() == content


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_prints_the_text(fake_home, capsys):
    folder = fake_home / ".rastervision"
    folder.mkdir(mode=0o500)
    try:
        out = run_hook(fake_home, capsys)
    finally:
        folder.chmod(0o700)
    assert (
        "Could not write the Raster Vision profile" in out
        and "Permission denied" in out
    )


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\xff binary",
        "caf\xe9 = 1\n".encode("latin-1"),
        b"; a configparser comment RV cannot read\n[BATCH]\nattempts = 2\n",
        b"[BATCH]\ngpu_job_queue: colon\n",
        b"[BATCH]\nx = 1\n[BATCH]\ny = 2\n",
        b"[BATCH]\nx = '''multi\nline'''\n",
        b"just some text\n",
    ],
    ids=["binary", "latin-1", "semicolon", "colon", "duplicate", "multiline", "text"],
)
def test_file_that_is_not_rv_ini_is_left_alone(fake_home, capsys, content):
    folder = fake_home / ".rastervision"
    folder.mkdir()
    path = folder / "noop_plugin"
    path.write_bytes(content)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    out = run_hook(fake_home, capsys, write_profile="replace")
    assert path.read_bytes() == content
    assert path.stat().st_mtime_ns == 1_000_000_000
    assert listing(folder) == ["noop_plugin"]
    assert "untouched" in out
    assert post.render_settings(SETTINGS) in out


def test_symlinked_profile_stays_a_symlink(fake_home, capsys):
    dotfiles = fake_home / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "rv-profile"
    target.write_text(USER_PROFILE)
    folder = fake_home / ".rastervision"
    folder.mkdir()
    link = folder / "noop_plugin"
    link.symlink_to(target)
    run_hook(fake_home, capsys)
    assert link.is_symlink() and link.resolve() == target
    assert is_subsequence(USER_PROFILE.splitlines(), target.read_text().splitlines())
    assert [p.name for p in dotfiles.iterdir() if ".bak-" in p.name]
    assert rv_reads()["gpu_job_def"] == "raster-vision-gpu"
    assert rv_reads()["gpu_job_queue"] == "my-queue"


def test_dangling_symlink_creates_its_target(fake_home, capsys):
    folder = fake_home / ".rastervision"
    folder.mkdir()
    link = folder / "noop_plugin"
    link.symlink_to(fake_home / "elsewhere" / "profile")
    run_hook(fake_home, capsys)
    assert link.is_symlink()
    assert rv_reads() == OURS


def test_write_profile_no_writes_nothing(fake_home, capsys):
    out = run_hook(fake_home, capsys, write_profile="no")
    assert listing(fake_home) == []
    assert "not touched" in out and "[BATCH]" in out


def test_backups_never_overwrite_each_other(fake_home, capsys):
    folder = fake_home / ".rastervision"
    folder.mkdir()
    path = folder / "noop_plugin"
    now = time.time()
    seen = []
    for queue in ("a", "b", "c"):
        original = f"[BATCH]\ngpu_job_queue = {queue}\n"
        path.write_text(original)
        post.install_profile(path, "", SETTINGS, replace=True, now=lambda: now)
        seen.append(original)
    backups = sorted(p for p in folder.iterdir() if ".bak-" in p.name)
    assert len(backups) == 3
    assert sorted(p.read_text() for p in backups) == sorted(seen)


def test_rerunning_the_hook_changes_nothing(fake_home, capsys):
    """cruft re-runs the hooks on every update: the second run is a no-op."""
    folder = fake_home / ".rastervision"
    folder.mkdir()
    (folder / "noop_plugin").write_text(USER_PROFILE)
    for choice in ("yes", "replace"):
        run_hook(fake_home, capsys, write_profile=choice)
        snapshot = {
            p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()
        }
        out = run_hook(fake_home, capsys, write_profile=choice)
        assert "unchanged" in out
        assert {
            p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()
        } == snapshot


def test_baking_twice_changes_nothing_the_second_time(bake, fake_home):
    bake()
    path = fake_home / ".rastervision" / "noop_plugin"
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    bake()
    assert path.stat().st_mtime_ns == 1_000_000_000
    assert listing(path.parent) == ["noop_plugin"]
    assert rv_reads() == OURS


def test_bake_with_unwritable_home_keeps_the_project(cookies, fake_home, capfd):
    (fake_home / ".rastervision").write_text("not a folder")
    result = cookies.bake()
    assert result.exit_code == 0, result.exception
    assert (Path(result.project_path) / "pyproject.toml").is_file()
    out = capfd.readouterr().out
    assert "Could not write the Raster Vision profile" in out
    assert "gpu_job_queue = raster-vision-gpu" in out


# -- Property-based: any profile RV can read, merged -----------------------------

SECTION_NAMES = ["BATCH", "batch", "Batch", "AWS_S3", "OTHER", "BATCH_GPU", "main"]
SUB_NAMES = ["gpu", "GPU", "cpu", "x"]
KEY_NAMES = KEYS + [
    "GPU_JOB_QUEUE",
    "Attempts",
    "job_queue",
    "job_def",
    "requester_pays",
    "other",
]
plain = st.text(alphabet="abcXYZ019-_:/. ", max_size=10).map(str.strip)
values = st.one_of(plain, plain.map(lambda v: f'"{v}"'), plain.map(lambda v: f"'{v}'"))
# Comments may hold anything but \\n, including \\r, \\x0c or \\u2028, which
# str.splitlines() would split at and configobj does not.
comments = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_categories=("Cs",), exclude_characters="\n"
    ),
    max_size=12,
).map(lambda c: "#" + c)
indent = st.sampled_from(["", "  ", "\t", "\x0c", "\u2028"])


@st.composite
def key_lines(draw, max_keys=4):
    keys = draw(st.lists(st.sampled_from(KEY_NAMES), unique=True, max_size=max_keys))
    lines = []
    for key in keys:
        for _ in range(draw(st.integers(0, 1))):
            lines.append(draw(st.one_of(comments, st.just(""))))
        sep = draw(st.sampled_from([" = ", "=", "  =  "]))
        tail = draw(st.one_of(st.just(""), comments.map(lambda c: "  " + c)))
        lines.append(draw(indent) + key + sep + draw(values) + tail)
    return lines


@st.composite
def profiles(draw):
    lines = [c for c in draw(st.lists(comments, max_size=2))]
    lines += draw(key_lines(2))
    for name in draw(st.lists(st.sampled_from(SECTION_NAMES), unique=True, max_size=4)):
        header = draw(st.sampled_from(["[{}]", "[ {} ]", "[{}]  # section"])).format(
            name
        )
        lines.append(draw(indent) + header)
        lines += draw(key_lines())
        for sub in draw(st.lists(st.sampled_from(SUB_NAMES), unique=True, max_size=2)):
            lines.append(draw(indent) + f"[[{sub}]]")
            lines += draw(key_lines(2))
        lines += draw(st.lists(st.just(""), max_size=1))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines)
    if lines and draw(st.booleans()):
        text += newline
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text


def everett_reads(text):
    """What Raster Vision's reader (everett's ConfigIniEnv) makes of ``text``."""
    from everett.ext.inifile import ConfigIniEnv

    with tempfile.NamedTemporaryFile("wb", suffix=".ini", delete=False) as f:
        f.write(text.encode("utf-8"))
    try:
        return ConfigIniEnv([f.name]).cfg
    finally:
        os.unlink(f.name)


def strip_ending(line):
    return line.rstrip("\r\n").removeprefix("\ufeff")


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=profiles(), replace=st.booleans())
def test_merge_invariants(text, replace):
    before = everett_reads(text)
    # The hook's model of the file is exactly what RV reads.
    assert {k: v for k, (v, _) in post.Ini(text).values.items()} == before

    merged, changes, _kept = post.merge_profile(text, SETTINGS, replace=replace)
    after = everett_reads(merged)  # configobj parses it: RV can read it
    ours = {f"BATCH_{k.upper()}": v for k, v in OURS.items()}
    for full, value in ours.items():
        if full in before and not replace:
            assert after[full] == before[full]
        else:
            assert after[full] == value
    assert {k: v for k, v in after.items() if k not in ours} == {
        k: v for k, v in before.items() if k not in ours
    }
    old_lines = [strip_ending(x) for x in post.split_lines(text)]
    new_lines = [strip_ending(x) for x in post.split_lines(merged)]
    if replace:
        # Replaced lines keep their indentation and key; everything else is kept.
        old_lines = [
            x for x in old_lines if not any(x.lstrip().startswith(k) for k in KEY_NAMES)
        ]
    assert is_subsequence(old_lines, new_lines)
    if merged != text:
        assert changes
    # Idempotent: a second run finds nothing to do.
    again, changes_again, _ = post.merge_profile(merged, SETTINGS, replace=replace)
    assert again == merged and changes_again == []
