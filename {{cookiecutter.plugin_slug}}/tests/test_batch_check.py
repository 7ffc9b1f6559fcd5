"""batch_check.py against AWS Batch on moto: ``run batch`` stops before its
first job, with one message, when the profile or the account cannot take them.

Needs the ``aws`` extra (``pip install -c constraints.txt -e '.[test,aws]'``) and
skips without it. moto stands in for AWS inside this process: no request leaves it.
"""

import logging

import boto3
import pytest
from batch_resources import create_batch_resources
from botocore.stub import Stubber

pytest.importorskip(
    "rastervision.aws_batch",
    reason="needs the aws extra: pip install -c constraints.txt -e '.[test,aws]'",
)
moto = pytest.importorskip("moto")

from rastervision.pipeline import rv_config_ as rv_config  # noqa: E402

from rastervision.{{ cookiecutter.plugin_slug }}.batch_check import (  # noqa: E402
    JOB_SETTINGS,
    PROJECT_PROFILE,
    BatchSetupError,
    check_batch_setup,
)

REGION = "us-east-1"
SETTINGS = {key: key.replace("_", "-") for key in JOB_SETTINGS}


@pytest.fixture
def batch(monkeypatch, tmp_path):
    """A Batch client on moto, with fake credentials and no ``BATCH_*`` overrides."""
    fake_aws = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    for name, value in fake_aws.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for key in JOB_SETTINGS:
        monkeypatch.delenv(f"BATCH_{key.upper()}", raising=False)
    with moto.mock_aws():
        yield boto3.client("batch")


@pytest.fixture
def use_profile(monkeypatch, tmp_path):
    """``use_profile(settings, name)``: Raster Vision reads a profile in tmp_path
    holding ``settings`` under [BATCH]; the profile in use is put back after."""
    saved = rv_config.profile, rv_config.rv_home, rv_config.config
    monkeypatch.setenv("RV_CONFIG_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # Raster Vision reads ./.rastervision too

    def use(settings=SETTINGS, name=PROJECT_PROFILE):
        lines = ["[BATCH]", *(f"{key} = {value}" for key, value in settings.items())]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
        rv_config.set_everett_config(profile=name)
        return tmp_path / name

    yield use
    rv_config.profile, rv_config.rv_home, rv_config.config = saved


QUEUES = (SETTINGS["cpu_job_queue"], SETTINGS["gpu_job_queue"])
JOB_DEFS = (SETTINGS["cpu_job_def"], SETTINGS["gpu_job_def"])


def create_resources(batch, queues=QUEUES, job_defs=JOB_DEFS):
    create_batch_resources(batch, boto3.client("iam"), queues, job_defs)


def test_a_complete_setup_passes_and_gives_the_settings(batch, use_profile):
    create_resources(batch)
    use_profile()
    assert check_batch_setup() == SETTINGS


@pytest.mark.parametrize(
    "queues, job_defs, problem",
    [
        (
            QUEUES[:1],
            JOB_DEFS,
            "gpu_job_queue 'gpu-job-queue' is not a job queue there",
        ),
        (
            QUEUES,
            JOB_DEFS[1:],
            "cpu_job_def 'cpu-job-def' is not an active job definition",
        ),
        (
            (),
            (),
            "cpu_job_queue 'cpu-job-queue' is not a job queue there; gpu_job_queue",
        ),
    ],
    ids=["gpu-queue", "cpu-job-def", "everything"],
)
def test_a_missing_resource_is_named(batch, use_profile, queues, job_defs, problem):
    create_resources(batch, queues, job_defs)
    profile = use_profile()
    with pytest.raises(BatchSetupError) as error:
        check_batch_setup()
    assert str(error.value).startswith(
        f"AWS Batch in {REGION} cannot take the jobs of the Raster Vision profile "
        f"{PROJECT_PROFILE!r} ({profile}): "
    )
    assert problem in str(error.value)


def test_a_disabled_queue_is_named(batch, use_profile):
    create_resources(batch)
    batch.update_job_queue(jobQueue=QUEUES[0], state="DISABLED")
    use_profile()
    with pytest.raises(
        BatchSetupError, match="cpu_job_queue 'cpu-job-queue' is DISABLED"
    ):
        check_batch_setup()


def test_missing_settings_are_named_with_the_profile_file(batch, use_profile):
    create_resources(batch)
    settings = {k: v for k, v in SETTINGS.items() if k != "gpu_job_queue"}
    profile = use_profile(settings)
    with pytest.raises(BatchSetupError) as error:
        check_batch_setup()
    assert (
        f"The Raster Vision profile {PROJECT_PROFILE!r} ({profile}) has no [BATCH] "
        "gpu_job_queue: run batch needs"
    ) in str(error.value)
    assert "This project's profile is" not in str(error.value)


def test_another_profile_gets_a_hint_to_this_projects(batch, use_profile):
    use_profile({}, name="default")
    with pytest.raises(BatchSetupError) as error:
        check_batch_setup()
    message = str(error.value)
    assert (
        "has no [BATCH] cpu_job_queue, cpu_job_def, gpu_job_queue, gpu_job_def"
        in message
    )
    assert f"rastervision -p {PROJECT_PROFILE} run batch" in message


def test_arns_revisions_and_environment_overrides_are_taken(
    batch, use_profile, monkeypatch
):
    create_resources(batch)
    use_profile()
    queue = batch.describe_job_queues(jobQueues=[QUEUES[1]])["jobQueues"][0]
    gpu_def = batch.describe_job_definitions(jobDefinitionName=JOB_DEFS[1])
    gpu_def_arn = gpu_def["jobDefinitions"][0]["jobDefinitionArn"]
    monkeypatch.setenv("BATCH_GPU_JOB_QUEUE", queue["jobQueueArn"])
    monkeypatch.setenv("BATCH_GPU_JOB_DEF", gpu_def_arn)
    monkeypatch.setenv("BATCH_CPU_JOB_DEF", f"{JOB_DEFS[0]}:1")
    settings = check_batch_setup()
    assert settings["gpu_job_queue"] == queue["jobQueueArn"]
    assert settings["gpu_job_def"] == gpu_def_arn
    assert settings["cpu_job_def"] == f"{JOB_DEFS[0]}:1"

    # A deregistered revision is refused, by ARN and by name:revision.
    batch.deregister_job_definition(jobDefinition=gpu_def_arn)
    monkeypatch.setenv("BATCH_CPU_JOB_DEF", f"{JOB_DEFS[1]}:1")
    with pytest.raises(BatchSetupError) as error:
        check_batch_setup()
    assert f"gpu_job_def {gpu_def_arn!r} is not an active job definition" in str(
        error.value
    )
    assert f"cpu_job_def '{JOB_DEFS[1]}:1' is not an active" in str(error.value)


def test_an_aws_error_is_reported_as_a_setup_error(batch, use_profile):
    use_profile()
    with Stubber(batch) as stub:
        stub.add_client_error("describe_job_queues", "AccessDeniedException")
        with pytest.raises(BatchSetupError, match="Could not look up .*AccessDenied"):
            check_batch_setup(batch)


def test_attempts_in_the_profile_are_warned_about(batch, use_profile, caplog):
    create_resources(batch)
    use_profile({**SETTINGS, "attempts": "3"})
    with caplog.at_level(logging.WARNING):
        check_batch_setup()
    assert "[BATCH] attempts = 3 is not used" in caplog.text
