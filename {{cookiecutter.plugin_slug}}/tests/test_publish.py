"""scripts/publish with fake aws and docker on PATH: the commands it runs (or
prints with ``--dry-run``), in order, its settings from options or the
environment, and one clear line when a tool fails, is missing, or an argument
is wrong. No AWS account or Docker needed.
"""

import os
import shutil
import subprocess

import pytest
from conftest import CPU_IMAGE, GPU_IMAGE, PROJECT

# The ECR tags: the image's name without its registry or path.
CPU_TAG = "{{ cookiecutter.docker_image.split('/')[-1] }}-cpu"
GPU_TAG = "{{ cookiecutter.docker_image.split('/')[-1] }}-gpu"

FAKE_AWS = r"""#!/bin/bash
# A fake AWS CLI: logs its arguments, fails when FAKE_FAIL starts them.
printf '%s\n' "aws $*" >> "$FAKE_LOG"
if [[ -n "${FAKE_FAIL:-}" && "aws $*" == "$FAKE_FAIL"* ]]; then
    echo "aws: fake failure" >&2
    exit 254
fi
case "$1 $2" in
    "sts get-caller-identity") echo 210987654321 ;;
    "ecr get-login-password") echo fake-password ;;
    *) echo "fake aws: unexpected arguments: $*" >&2; exit 99 ;;
esac
"""
FAKE_DOCKER = r"""#!/bin/bash
# A fake docker: logs its arguments (and what login reads), fails when FAKE_FAIL starts them.
line="docker $*"
if [[ "$1" == login ]]; then
    read -r password || true
    line="${line} <<< ${password}"
fi
printf '%s\n' "${line}" >> "$FAKE_LOG"
if [[ -n "${FAKE_FAIL:-}" && "docker $*" == "$FAKE_FAIL"* ]]; then
    echo "docker: fake failure" >&2
    exit 1
fi
"""
REGISTRY = "210987654321.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.fixture
def publish(tmp_path):
    """Run scripts/publish with fake aws and docker on PATH."""
    home = tmp_path / "home"
    home.mkdir()
    # PATH holds bash, cat (for --help) and the fakes asked for: nothing else.
    bash_dir = tmp_path / "bash-and-cat"
    bash_dir.mkdir()
    for tool in ("bash", "cat"):
        (bash_dir / tool).symlink_to(shutil.which(tool))
    fakes = tmp_path / "fakes"
    fakes.mkdir()
    for name, text in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER)):
        (fakes / name).write_text(text)
        (fakes / name).chmod(0o755)
    log = tmp_path / "calls.log"

    def _publish(*args, tools=("aws", "docker"), **env):
        path = [str(bash_dir)]
        if tools:
            only = tmp_path / ("only-" + "-".join(tools))
            if not only.exists():
                only.mkdir()
                for tool in tools:
                    (only / tool).symlink_to(fakes / tool)
            path.insert(0, str(only))
        log.unlink(missing_ok=True)
        result = subprocess.run(
            [str(PROJECT / "scripts" / "publish"), *args],
            env={
                "PATH": os.pathsep.join(path),
                "HOME": str(home),
                "FAKE_LOG": str(log),
                **env,
            },
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        result.calls = log.read_text().splitlines() if log.exists() else []
        return result

    return _publish


def test_publish_dry_run_prints_the_exact_commands(publish):
    result = publish(
        "--dry-run",
        "--region",
        "eu-west-1",
        "--repository",
        "team/vegas",
        "--account",
        "210987654321",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        (
            "aws ecr get-login-password --region eu-west-1 | "
            f"docker login --username AWS --password-stdin {REGISTRY}"
        ),
        f"docker tag {CPU_IMAGE} {REGISTRY}/team/vegas:{CPU_TAG}",
        f"docker push {REGISTRY}/team/vegas:{CPU_TAG}",
        f"docker tag {GPU_IMAGE} {REGISTRY}/team/vegas:{GPU_TAG}",
        f"docker push {REGISTRY}/team/vegas:{GPU_TAG}",
    ]
    assert result.calls == []


def test_publish_dry_run_takes_settings_from_the_environment(publish):
    result = publish(
        "--dry-run",
        "--gpu",
        "--tag",
        "aliceVegas",
        AWS_REGION="eu-west-1",
        ECR_REPOSITORY="vegas",
        AWS_ACCOUNT_ID="210987654321",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        f"docker tag {GPU_IMAGE} {REGISTRY}/vegas:aliceVegas",
        f"docker push {REGISTRY}/vegas:aliceVegas",
    ]
    # Without an account id, the dry run shows where it would come from.
    result = publish(
        "--dry-run", "--cpu", AWS_DEFAULT_REGION="eu-west-1", ECR_REPOSITORY="vegas"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "aws sts get-caller-identity --query Account --output text"
    assert lines[1].endswith(
        "--password-stdin ACCOUNT_ID.dkr.ecr.eu-west-1.amazonaws.com"
    )
    assert result.calls == []


PUBLISH_ARGS = ("--region", "eu-west-1", "--repository", "team/vegas")
PUBLISH_CALLS = [
    "aws sts get-caller-identity --query Account --output text",
    f"docker image inspect {CPU_IMAGE}",
    f"docker image inspect {GPU_IMAGE}",
    "aws ecr get-login-password --region eu-west-1",
    f"docker login --username AWS --password-stdin {REGISTRY} <<< fake-password",
    f"docker tag {CPU_IMAGE} {REGISTRY}/team/vegas:{CPU_TAG}",
    f"docker push {REGISTRY}/team/vegas:{CPU_TAG}",
    f"docker tag {GPU_IMAGE} {REGISTRY}/team/vegas:{GPU_TAG}",
    f"docker push {REGISTRY}/team/vegas:{GPU_TAG}",
]


def test_publish_calls_aws_and_docker_in_order(publish):
    result = publish(*PUBLISH_ARGS)
    assert result.returncode == 0, result.stderr
    assert result.calls == PUBLISH_CALLS
    # The dry run printed these very commands.
    dry = publish("--dry-run", *PUBLISH_ARGS, "--account", "210987654321")
    printed = [part for line in dry.stdout.splitlines() for part in line.split(" | ")]
    run = [call.split(" <<< ")[0] for call in PUBLISH_CALLS[1:]]
    assert printed == [call for call in run if not call.startswith("docker image")]


@pytest.mark.parametrize(
    "fail, message, last_call",
    [
        (
            "aws sts",
            (
                "'aws sts get-caller-identity --query Account --output text' failed: "
                "are AWS credentials set"
            ),
            0,
        ),
        (
            f"docker image inspect {GPU_IMAGE}",
            f"no local image {GPU_IMAGE}: build it first with scripts/build",
            2,
        ),
        (
            "aws ecr",
            (
                "'aws ecr get-login-password --region eu-west-1' failed (exit 254): "
                "check your AWS credentials"
            ),
            4,  # docker login still ran, on an empty pipe
        ),
        (
            "docker login",
            f"'docker login --username AWS --password-stdin {REGISTRY}' failed (exit 1)",
            4,
        ),
        (
            "docker tag",
            f"'docker tag {CPU_IMAGE} {REGISTRY}/team/vegas:{CPU_TAG}' failed",
            5,
        ),
        ("docker push", "does the ECR repository team/vegas exist in eu-west-1?", 6),
    ],
    ids=["sts", "no-image", "ecr-password", "login", "tag", "push"],
)
def test_publish_stops_with_a_clear_message_when_a_tool_fails(
    publish, fail, message, last_call
):
    result = publish(*PUBLISH_ARGS, FAKE_FAIL=fail)
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("scripts/publish: ") and message in last_line, (
        result.stderr
    )
    expected = PUBLISH_CALLS[: last_call + 1]
    if fail == "aws ecr":
        expected[-1] = expected[-1].replace("fake-password", "")
    assert result.calls == expected


@pytest.mark.parametrize(
    "tools, message",
    [
        (("docker",), "the AWS CLI (aws) is not on PATH: install AWS CLI v2"),
        (("aws",), "docker is not on PATH"),
    ],
)
def test_publish_says_which_tool_is_missing(publish, tools, message):
    result = publish(*PUBLISH_ARGS, tools=tools)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.calls == []


@pytest.mark.parametrize(
    "args, message",
    [
        (("--repository", "vegas"), "no region: give --region or set AWS_REGION"),
        (
            ("--region", "eu-west-1"),
            "no ECR repository: give --repository or set ECR_REPOSITORY",
        ),
        (PUBLISH_ARGS + ("--tag", "x"), "--tag names one image: add --cpu or --gpu"),
        (PUBLISH_ARGS + ("--account", "12"), "not an AWS account id (12 digits): 12"),
        (
            (
                "--region",
                "eu-west-1",
                "--repository",
                "123.dkr.ecr.eu-west-1.amazonaws.com/vegas",
            ),
            "give the ECR repository's name, not its URI: vegas",
        ),
        (
            ("--region", "eu-west-1", "--repository", "Team/Vegas"),
            "not an ECR repository name: Team/Vegas",
        ),
        (
            ("--region", "eu-west-1a", "--repository", "vegas"),
            "not an AWS region: eu-west-1a",
        ),
        (("--push-everything",), "unknown argument: --push-everything"),
    ],
)
def test_publish_refuses_bad_arguments(publish, args, message):
    result = publish(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.calls == []


def test_publish_help(publish):
    result = publish("--help", tools=())
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: scripts/publish")
    assert f"{CPU_IMAGE} and {GPU_IMAGE}" in result.stdout
