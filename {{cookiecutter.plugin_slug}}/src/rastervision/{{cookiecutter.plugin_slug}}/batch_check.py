"""Check, before any work, that ``rastervision run batch`` can submit its jobs.

Raster Vision's batch runner reads the profile's ``[BATCH]`` settings and calls
AWS only as it submits each job. A missing setting then surfaces as a traceback
from inside everett, and a job queue or job definition that does not exist as
one from inside boto3, possibly after the first jobs (``analyze``, ``chip``) were
already submitted to the CPU queue. :func:`check_batch_setup` looks at all of
them first and fails with one message that says what to fix. Experiments call
it from ``get_config`` when ``runner == "batch"`` (see ``spacenet/vegas.py``).
"""

import importlib.metadata
import importlib.util
import logging
import os

BATCH = "BATCH"
JOB_SETTINGS = ("cpu_job_queue", "cpu_job_def", "gpu_job_queue", "gpu_job_def")
PROJECT_PROFILE = {{ cookiecutter.rv_profile | tojson }}
# Checked in rastervision_aws_batch 0.31.1: AWSBatchRunner.run never passes the
# profile's `attempts` to run_command, so every job gets retryStrategy attempts 1.
ATTEMPTS_IGNORED_IN = ("0.31.1",)

log = logging.getLogger(__name__)


class BatchSetupError(ValueError):
    """``run batch`` cannot work with this profile or AWS account."""


def profile_location(rv_config) -> str:
    """Where Raster Vision looks for the current profile (see RVConfig)."""
    if os.environ.get("RV_CONFIG"):
        return os.environ["RV_CONFIG"]
    base = os.environ.get("RV_CONFIG_DIR") or rv_config.rv_home
    return os.path.join(base, rv_config.profile)


def check_batch_setup(client=None) -> dict[str, str]:
    """Fail with :class:`BatchSetupError` unless ``run batch`` can submit jobs.

    Checks that the batch runner is installed, that the profile (or the
    ``BATCH_*`` environment variables) names both job queues and both job
    definitions, and that AWS Batch has them: the queues enabled, the job
    definitions active. Returns the settings. ``client`` is a boto3 Batch
    client; by default one for the current AWS credentials and region.
    """
    from rastervision.pipeline import rv_config_ as rv_config

    profile = rv_config.profile
    if importlib.util.find_spec("rastervision.aws_batch") is None:
        raise BatchSetupError(
            "The batch runner is not installed: pip install -c constraints.txt "
            "-e '.[aws]' (it adds rastervision_aws_batch and rastervision_aws_s3)"
        )
    settings = {
        key: (rv_config.get_namespace_option(BATCH, key) or "").strip()
        for key in JOB_SETTINGS
    }
    missing = [key for key, value in settings.items() if not value]
    if missing:
        hint = ""
        if profile != PROJECT_PROFILE:
            hint = (
                f" This project's profile is {PROJECT_PROFILE!r}: "
                f"rastervision -p {PROJECT_PROFILE} run batch ..."
            )
        raise BatchSetupError(
            f"The Raster Vision profile {profile!r} ({profile_location(rv_config)}) "
            f"has no [{BATCH}] {', '.join(missing)}: run batch needs the AWS Batch "
            f"job queues and job definitions there.{hint}"
        )
    _warn_if_attempts_ignored(rv_config.get_namespace_option(BATCH, "attempts"))

    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = client or boto3.client("batch")
        problems = _missing_queues(client, settings) + _missing_job_defs(
            client, settings
        )
    except (BotoCoreError, ClientError) as error:
        raise BatchSetupError(
            "Could not look up the AWS Batch job queues and job definitions "
            f"of the Raster Vision profile {profile!r}: {error}"
        ) from None
    if problems:
        region = client.meta.region_name
        raise BatchSetupError(
            f"AWS Batch in {region} cannot take the jobs of the Raster Vision "
            f"profile {profile!r} ({profile_location(rv_config)}): "
            + "; ".join(problems)
        )
    return settings


def _missing_queues(client, settings) -> list[str]:
    names = {settings["cpu_job_queue"], settings["gpu_job_queue"]}
    found = client.describe_job_queues(jobQueues=sorted(names))["jobQueues"]
    problems = []
    for key in ("cpu_job_queue", "gpu_job_queue"):
        name = settings[key]
        queue = next(
            (q for q in found if name in (q["jobQueueName"], q["jobQueueArn"])), None
        )
        if queue is None:
            problems.append(f"{key} {name!r} is not a job queue there")
        elif queue.get("state") != "ENABLED":
            problems.append(f"{key} {name!r} is {queue.get('state')}, not ENABLED")
    return problems


def _missing_job_defs(client, settings) -> list[str]:
    problems = []
    pages = client.get_paginator("describe_job_definitions")
    for key in ("cpu_job_def", "gpu_job_def"):
        value = settings[key]
        if value.startswith("arn:"):
            search = {"jobDefinitions": [value]}
            revision = ""
        else:  # name (Batch takes its latest active revision) or name:revision
            name, _, revision = value.partition(":")
            search = {"jobDefinitionName": name, "status": "ACTIVE"}
        found = [
            job_def
            for page in pages.paginate(**search)
            for job_def in page["jobDefinitions"]
            if job_def.get("status") == "ACTIVE"
            and (not revision or str(job_def.get("revision")) == revision)
        ]
        if not found:
            problems.append(f"{key} {value!r} is not an active job definition there")
    return problems


def _warn_if_attempts_ignored(attempts) -> None:
    try:
        version = importlib.metadata.version("rastervision_aws_batch")
    except importlib.metadata.PackageNotFoundError:
        return
    if attempts and attempts.strip() != "1" and version in ATTEMPTS_IGNORED_IN:
        log.warning(
            "[%s] attempts = %s is not used: rastervision_aws_batch %s submits "
            "every job with one attempt (retryStrategy attempts 1, which also "
            "overrides a retry strategy in the job definition). Rerun failed "
            "commands by naming them after the experiment file.",
            BATCH,
            attempts.strip(),
            version,
        )
