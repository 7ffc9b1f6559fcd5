"""AWS Batch resources for ``run batch`` to submit to, on moto.

Shared by tests/test_batch_check.py (moto in this process) and the template's
own Batch tests (a moto server): only boto3 clients come in, so it imports
nothing of Raster Vision or of this plugin.
"""


def create_batch_resources(batch, iam, queues, job_defs):
    """An unmanaged compute environment, enabled job queues, active job definitions."""
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")
    environment = batch.create_compute_environment(
        computeEnvironmentName="rv-compute",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=role["Role"]["Arn"],
    )["computeEnvironmentArn"]
    for queue in queues:
        batch.create_job_queue(
            jobQueueName=queue,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
        )
    for job_def in job_defs:
        batch.register_job_definition(
            jobDefinitionName=job_def,
            type="container",
            containerProperties={"image": "rv-plugin:cpu", "vcpus": 1, "memory": 512},
        )
