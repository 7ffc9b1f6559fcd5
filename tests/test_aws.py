"""The generated project on AWS: Batch submissions and S3 data.

moto, in server mode on 127.0.0.1, stands in for AWS. Raster Vision runs in a
venv that holds a baked project with its ``[aws]`` extra and reaches moto
through ``AWS_ENDPOINT_URL`` with fake credentials, as boto3 does for every
service. Assertions are on what moto received and holds, not on log text.
``scripts/publish`` (ECR) is tested by the generated project itself
(``tests/test_publish.py``, with fake ``aws`` and ``docker``).
"""

import base64
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import numpy as np
import pytest
import rasterio
from conftest import (
    INSTALL_ENV,
    REPO,
    load_module,
    make_project_venv,
    run_checked,
    venv_env,
)
from cookiecutter.main import cookiecutter

REGION = "us-east-1"
RAW_BUCKET = "raw-data"
OUT_BUCKET = "rv-output"
# RVPipeline's commands in order, and those it runs on a GPU: ALL_COMMANDS and
# GPU_COMMANDS in rastervision/core/rv_pipeline/rv_pipeline.py (0.31.1).
ALL_COMMANDS = ["analyze", "chip", "train", "predict", "eval", "bundle"]
GPU_COMMANDS = {"train", "predict"}
JOB_STATUSES = (
    "SUBMITTED",
    "PENDING",
    "RUNNABLE",
    "STARTING",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
)
RUN_TIMEOUT = 120

BATCH_ANSWERS = {
    "rv_profile": "vegas-on-batch",
    "batch_cpu_job_queue": "test-cpu-queue",
    "batch_cpu_job_def": "test-cpu-jobdef",
    "batch_gpu_job_queue": "test-gpu-queue",
    "batch_gpu_job_def": "test-gpu-jobdef",
}
PROFILE = BATCH_ANSWERS["rv_profile"]
ROOT_URI = f"s3://{OUT_BUCKET}/vegas"
EVAL_KEY = "vegas/eval/validation_scenes/eval.json"
QUEUES = (BATCH_ANSWERS["batch_cpu_job_queue"], BATCH_ANSWERS["batch_gpu_job_queue"])
JOB_DEFS = (BATCH_ANSWERS["batch_cpu_job_def"], BATCH_ANSWERS["batch_gpu_job_def"])


# --- moto ---------------------------------------------------------------------


class Moto:
    """A moto server on 127.0.0.1 and boto3 clients pointed at it."""

    def __init__(self, url):
        self.url = url

    def client(self, service):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def api(self, path, body=None, method="POST"):
        """Call moto's own API (reset, config, recorder)."""
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(
            f"{self.url}/moto-api/{path}",
            data=data if method == "POST" else None,
            method=method,
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()

    def env(self, tmp_path):
        """What a subprocess needs to reach this moto and no real AWS account."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def start_recording(self):
        self.api("recorder/reset-recording")
        self.api("recorder/start-recording")

    def submit_job_requests(self):
        """The bodies of the SubmitJob requests moto received while recording."""
        self.api("recorder/stop-recording")
        recording = self.api("recorder/download-recording", method="GET").decode()
        bodies = []
        for line in recording.splitlines():
            entry = json.loads(line)
            if entry["url"].split("?")[0].rstrip("/").endswith("/v1/submitjob"):
                body = entry["body"]
                if entry.get("body_encoded"):
                    body = base64.b64decode(body).decode()
                bodies.append(json.loads(body))
        return bodies


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory):
    """``moto_server`` in its own process, listening on 127.0.0.1 only."""
    port = free_port()
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("AWS_")
    }
    moto_dir = tmp_path_factory.mktemp("moto")
    env["MOTO_RECORDER_FILEPATH"] = str(moto_dir / "recording")
    env["HOME"] = str(moto_dir)
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("moto_server")),
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    moto = Moto(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            moto.api("data.json", method="GET")
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"moto_server did not start on 127.0.0.1:{port}")
            time.sleep(0.1)
    yield moto
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def moto(moto_server, sample_data):
    """moto emptied, Batch jobs that never start a container, the sample data
    in s3://RAW_BUCKET/spacenet/... and an empty s3://OUT_BUCKET."""
    moto_server.api("reset")
    moto_server.api("config", {"batch": {"use_docker": False}})
    s3 = moto_server.client("s3")
    s3.create_bucket(Bucket=RAW_BUCKET)
    s3.create_bucket(Bucket=OUT_BUCKET)
    for path in sorted(sample_data.rglob("*")):
        if path.is_file():
            s3.upload_file(
                str(path), RAW_BUCKET, path.relative_to(sample_data).as_posix()
            )
    return moto_server


def create_batch_resources(aws_venv, moto, queues=QUEUES, job_defs=JOB_DEFS):
    """The project's own tests/batch_resources.py, on the moto server."""
    module = load_module(aws_venv[1] / "tests" / "batch_resources.py")
    batch = moto.client("batch")
    module.create_batch_resources(batch, moto.client("iam"), queues, job_defs)
    return batch


def jobs_in(batch, queues):
    """Every job in the queues, described."""
    ids = []
    for queue in queues:
        for status in JOB_STATUSES:
            listed = batch.list_jobs(jobQueue=queue, jobStatus=status)["jobSummaryList"]
            ids += [job["jobId"] for job in listed]
    return batch.describe_jobs(jobs=ids)["jobs"] if ids else []


def keys_in(moto, bucket):
    listed = moto.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return {item["Key"] for item in listed}


# --- the project --------------------------------------------------------------


def baked_venv(tmp_path_factory, answers, name):
    """Bake ``answers`` into a temporary folder and install it into a venv.

    HOME points away from the real one meanwhile. Returns (venv, project).
    """
    out = tmp_path_factory.mktemp(name)
    home = out / "home"
    # Cookiecutter's replay folder too, or it would write in the real home.
    config = out / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {home / '.cookiecutters'}\n"
        f"replay_dir: {home / '.cookiecutter_replay'}\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        project = Path(
            cookiecutter(
                str(REPO),
                no_input=True,
                output_dir=str(out),
                config_file=str(config),
                extra_context={**answers, "write_profile": "no"},
            )
        )
        venv = make_project_venv(project, name, extras="test,aws")
    return venv, project


@pytest.fixture(scope="module")
def aws_venv(tmp_path_factory):
    """A venv with a project installed by ``pip install -e '.[test,aws]'``.

    One for the module: a venv takes seconds, a bake almost nothing. The tests
    bake their own projects with the same answers (:func:`bake_project`), so
    the installed plugin is theirs, and run their own spacenet/vegas.py and
    profile.
    """
    return baked_venv(tmp_path_factory, BATCH_ANSWERS, "aws-extra")


@pytest.fixture(scope="module")
def sample_data(aws_venv, tmp_path_factory):
    """The project's sample data, buildings only: 6 PS-RGB scenes of 256 x 256 pixels."""
    venv, project = aws_venv
    out = tmp_path_factory.mktemp("sample")
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "spacenet/sample_data.py",
            str(out),
            "--scenes",
            "6",
            "--targets",
            "buildings",
            "--products",
            "PS-RGB",
        ],
        cwd=project,
        check=True,
        capture_output=True,
    )
    return out


def bake_project(bake, aws_venv, answers=BATCH_ANSWERS):
    """Bake with ``answers`` (the profile lands in the fake HOME); check that
    the plugin installed in the venv is this project's."""
    project = bake(**answers)
    installed = aws_venv[1] / "src"
    for path in (project / "src").rglob("*.py"):
        assert (
            path.read_text()
            == (installed / path.relative_to(project / "src")).read_text()
        )
    return project


def rastervision(aws_venv, project, tmp_path, moto, *args):
    """Run ``rastervision ARGS`` in ``project`` as a user would, against moto."""
    venv, _ = aws_venv
    env = venv_env(venv, TMPDIR=str(tmp_path), **moto.env(tmp_path))
    for name in list(env):
        if name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "RV_PROFILE") or (
            name.startswith(("AWS_ENDPOINT_URL_", "BATCH_", "AWS_S3_"))
        ):
            del env[name]
    return subprocess.run(
        [str(venv / "bin" / "rastervision"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def run_vegas(aws_venv, project, tmp_path, moto, runner, *options, splits=1):
    """``rastervision [OPTIONS] run RUNNER spacenet/vegas.py`` on the S3 sample data."""
    args = (
        f"run {runner} spacenet/vegas.py -a raw_uri s3://{RAW_BUCKET}/ "
        f"-a root_uri {ROOT_URI} -a test True --splits {splits}"
    )
    return rastervision(aws_venv, project, tmp_path, moto, *options, *args.split())


def command_of(job):
    """The pipeline command a batch job runs (`... run_command CFG COMMAND ...`)."""
    cmd = job["container"]["command"]
    return cmd[cmd.index("run_command") + 2]


# --- rastervision run batch ---------------------------------------------------


def test_run_batch_submits_one_job_per_command_in_order(
    bake, aws_venv, moto, tmp_path, fake_home
):
    project = bake_project(bake, aws_venv)
    # A retry setting of the user's own, which Raster Vision 0.31.1 ignores.
    profile = fake_home / ".rastervision" / PROFILE
    profile.write_text(
        profile.read_text().replace("[BATCH]\n", "[BATCH]\nattempts = 3\n")
    )
    # With decoys: the jobs must go where the profile says, not anywhere.
    queues, job_defs = QUEUES + ("other-queue",), JOB_DEFS + ("other-jobdef",)
    batch = create_batch_resources(aws_venv, moto, queues, job_defs)
    moto.start_recording()
    result = run_vegas(aws_venv, project, tmp_path, moto, "batch", "-p", PROFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    requests = moto.submit_job_requests()

    jobs = {job["jobId"]: job for job in jobs_in(batch, queues)}
    assert len(jobs) == len(requests) == len(ALL_COMMANDS)
    # Follow dependsOn from the job that depends on nothing.
    roots = [job for job in jobs.values() if not job.get("dependsOn")]
    assert len(roots) == 1
    chain = [roots[0]]
    while True:
        children = [
            job
            for job in jobs.values()
            if [d["jobId"] for d in job.get("dependsOn", [])] == [chain[-1]["jobId"]]
        ]
        if not children:
            break
        assert len(children) == 1
        chain.append(children[0])
    assert [command_of(job) for job in chain] == ALL_COMMANDS

    config_uri = f"{ROOT_URI}/pipeline-config.json"
    for job in chain:
        command = command_of(job)
        kind = "gpu" if command in GPU_COMMANDS else "cpu"
        queue = BATCH_ANSWERS[f"batch_{kind}_job_queue"]
        job_def = BATCH_ANSWERS[f"batch_{kind}_job_def"]
        assert job["jobQueue"].endswith(f":job-queue/{queue}"), (
            command,
            job["jobQueue"],
        )
        assert job["jobDefinition"].endswith(f":job-definition/{job_def}:1"), command
        cmd = job["container"]["command"]
        assert cmd[:3] == ["python", "-m", "rastervision.pipeline.cli"]
        assert cmd[cmd.index("run_command") :] == [
            "run_command",
            config_uri,
            command,
            "--runner",
            "batch",
        ]
        assert "arrayProperties" not in job or not job["arrayProperties"].get("size")
    # The jobs read the config the submitting machine wrote.
    assert "vegas/pipeline-config.json" in keys_in(moto, OUT_BUCKET)

    # What moto received, in order. Raster Vision 0.31.1 submits every job with
    # one attempt, whatever the profile's `attempts` says (the README says so).
    assert [r["jobName"].split("-")[2] for r in requests] == ALL_COMMANDS
    assert [r["jobQueue"] for r in requests] == [
        QUEUES[command in GPU_COMMANDS] for command in ALL_COMMANDS
    ]
    assert [r["jobDefinition"] for r in requests] == [
        JOB_DEFS[command in GPU_COMMANDS] for command in ALL_COMMANDS
    ]
    assert {json.dumps(r["retryStrategy"]) for r in requests} == {'{"attempts": 1}'}
    assert "attempts = 3 is not used" in result.stderr + result.stdout


def test_run_batch_splits_chip_and_predict_into_array_jobs(
    bake, aws_venv, moto, tmp_path
):
    """`--splits 2`: chip and predict become Batch array jobs of two.

    Each array child reads its index from AWS_BATCH_JOB_ARRAY_INDEX; that the
    split runs give the unsplit run's results is tested in the generated
    project (`run local --splits 2`).
    """
    project = bake_project(bake, aws_venv)
    batch = create_batch_resources(aws_venv, moto, QUEUES, JOB_DEFS)
    result = run_vegas(
        aws_venv, project, tmp_path, moto, "batch", "-p", PROFILE, splits=2
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # An array job's children, if moto lists them, are "<parent id>:<index>".
    parents = [job for job in jobs_in(batch, QUEUES) if ":" not in job["jobId"]]
    jobs = {command_of(job): job for job in parents}
    assert sorted(jobs) == sorted(ALL_COMMANDS) and len(parents) == len(jobs)
    for command, job in jobs.items():
        size = job.get("arrayProperties", {}).get("size")
        if command in ("chip", "predict"):
            assert size == 2, command
            assert job["container"]["command"][-2:] == ["--num-splits", "2"]
        else:
            assert not size, command


# The scikit-learn starter model needs no GPU: its default answers send train
# and predict to the CPU queue and job definition too.
SKLEARN_BATCH_ANSWERS = {
    "starter_model": "scikit-learn",
    "rv_profile": "sklearn-on-batch",
    "batch_cpu_job_queue": "test-cpu-queue",
    "batch_cpu_job_def": "test-cpu-jobdef",
}


@pytest.fixture
def install_over_aws_venv(bake, aws_venv):
    """Bake answers and install that project in aws_venv's place (``pip install
    --no-deps -e``), for one test; aws_venv's own project goes back after.

    The starter models' own dependencies (skops, torch) are not needed to
    submit jobs: model.py imports them only to train, predict or load, and no
    ``rastervision`` command imports them before that.
    """
    venv, own_project = aws_venv

    def install(project):
        run_checked(
            [venv / "bin" / "pip", "install", "-q", "--no-deps", "-e", project],
            env=venv_env(venv, **INSTALL_ENV),
        )

    def bake_and_install(answers):
        project = bake(**answers)
        install(project)
        return project

    yield bake_and_install
    install(own_project)


def test_scikit_learn_run_batch_sends_no_job_to_a_gpu_queue(
    install_over_aws_venv, aws_venv, moto, tmp_path, fake_home
):
    project = install_over_aws_venv(SKLEARN_BATCH_ANSWERS)
    profile = (fake_home / ".rastervision" / "sklearn-on-batch").read_text()
    assert "gpu_job_queue = test-cpu-queue" in profile
    assert "gpu_job_def = test-cpu-jobdef" in profile
    # Only CPU resources exist: nothing may need a GPU queue or job definition.
    batch = create_batch_resources(
        aws_venv, moto, ["test-cpu-queue"], ["test-cpu-jobdef"]
    )
    moto.start_recording()
    result = run_vegas(
        aws_venv, project, tmp_path, moto, "batch", "-p", "sklearn-on-batch"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    requests = moto.submit_job_requests()
    assert [r["jobName"].split("-")[2] for r in requests] == ALL_COMMANDS
    assert {r["jobQueue"] for r in requests} == {"test-cpu-queue"}
    assert {r["jobDefinition"] for r in requests} == {"test-cpu-jobdef"}
    assert len(jobs_in(batch, ["test-cpu-queue"])) == len(ALL_COMMANDS)


# The pytorch starter model trains on a GPU: its default answers keep Raster
# Vision's GPU queue and job definition for train and predict. Submitting needs
# no torch (model.py imports it lazily): the venv has none.
TORCH_BATCH_ANSWERS = {
    "starter_model": "pytorch",
    "rv_profile": "torch-on-batch",
    "batch_cpu_job_queue": "test-cpu-queue",
    "batch_cpu_job_def": "test-cpu-jobdef",
}


def test_pytorch_run_batch_sends_train_and_predict_to_the_gpu_queue(
    install_over_aws_venv, aws_venv, moto, tmp_path, fake_home
):
    project = install_over_aws_venv(TORCH_BATCH_ANSWERS)
    profile = (fake_home / ".rastervision" / "torch-on-batch").read_text()
    assert "gpu_job_queue = raster-vision-gpu" in profile
    assert "gpu_job_def = raster-vision-gpu" in profile
    queues = ("test-cpu-queue", "raster-vision-gpu")
    job_defs = ("test-cpu-jobdef", "raster-vision-gpu")
    batch = create_batch_resources(aws_venv, moto, queues, job_defs)
    moto.start_recording()
    result = run_vegas(
        aws_venv, project, tmp_path, moto, "batch", "-p", "torch-on-batch"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    requests = moto.submit_job_requests()
    assert [r["jobName"].split("-")[2] for r in requests] == ALL_COMMANDS
    assert [r["jobQueue"] for r in requests] == [
        queues[command in GPU_COMMANDS] for command in ALL_COMMANDS
    ]
    assert [r["jobDefinition"] for r in requests] == [
        job_defs[command in GPU_COMMANDS] for command in ALL_COMMANDS
    ]
    assert len(jobs_in(batch, queues)) == len(ALL_COMMANDS)


# --- rastervision run inprocess on S3 -----------------------------------------


def test_run_inprocess_reads_and_writes_s3(bake, aws_venv, moto, tmp_path):
    project = bake_project(bake, aws_venv)
    result = run_vegas(aws_venv, project, tmp_path, moto, "inprocess", "-p", PROFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    keys = keys_in(moto, OUT_BUCKET)
    assert "vegas/bundle/model-bundle.zip" in keys
    assert EVAL_KEY in keys
    eval_json = moto.client("s3").get_object(Bucket=OUT_BUCKET, Key=EVAL_KEY)
    body = eval_json["Body"].read()
    assert json.loads(body)["overall"]


def test_a_scene_on_s3_with_other_bands_stops_the_run_with_one_line(
    bake, aws_venv, moto, tmp_path
):
    """Image headers on S3 are checked too, through the endpoint boto3 uses."""
    project = bake_project(bake, aws_venv)
    s3 = moto.client("s3")
    two_bands = tmp_path / "two-bands.tif"
    profile = dict(
        driver="GTiff",
        width=32,
        height=32,
        count=2,
        dtype="uint16",
        crs="EPSG:4326",
        transform=rasterio.transform.from_origin(-115.3, 36.2, 1e-5, 1e-5),
    )
    with rasterio.open(two_bands, "w", **profile) as image:
        image.write(np.ones((2, 32, 32), dtype=np.uint16))
    for key in keys_in(moto, RAW_BUCKET):
        if key.endswith(".tif"):
            s3.upload_file(str(two_bands), RAW_BUCKET, key)
    result = run_vegas(aws_venv, project, tmp_path, moto, "inprocess", "-p", PROFILE)
    assert result.returncode != 0, result.stdout + result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"s3://{RAW_BUCKET}/spacenet/\S+/PS-RGB/\S+_img\d+\.tif: 2 band\(s\) uint16 "
        r"in EPSG:4326; expected 3 band\(s\) \(PS-RGB\) uint16 in EPSG:4326",
        last_line,
    ), result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert keys_in(moto, OUT_BUCKET) == set()


# --- bad profile values: a clear error before any job ---------------------------


def assert_clear_failure(result, message):
    """Failed with ``message`` as the last word, raised outside boto3 and everett."""
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in result.stderr.strip().splitlines()[-1], output
    for package in ("boto3", "botocore", "everett", "s3transfer"):
        assert f"site-packages/{package}/" not in output, output


def assert_nothing_done(moto):
    assert jobs_in(moto.client("batch"), list_queues(moto)) == []
    assert keys_in(moto, OUT_BUCKET) == set()


def list_queues(moto):
    queues = moto.client("batch").describe_job_queues()["jobQueues"]
    return [queue["jobQueueName"] for queue in queues]


def test_unknown_profile_is_raster_visions_error(bake, aws_venv, moto, tmp_path):
    project = bake_project(bake, aws_venv)
    create_batch_resources(aws_venv, moto)
    result = run_vegas(
        aws_venv, project, tmp_path, moto, "batch", "-p", "no-such-profile"
    )
    assert_clear_failure(result, "Configuration Profile no-such-profile not found")
    assert_nothing_done(moto)


def test_forgotten_profile_option_names_the_projects_profile(
    bake, aws_venv, moto, tmp_path
):
    project = bake_project(bake, aws_venv)
    create_batch_resources(aws_venv, moto)
    result = run_vegas(aws_venv, project, tmp_path, moto, "batch")
    assert_clear_failure(
        result,
        "has no [BATCH] cpu_job_queue, cpu_job_def, gpu_job_queue, gpu_job_def",
    )
    assert "rastervision -p vegas-on-batch run batch" in result.stderr
    assert_nothing_done(moto)


def test_missing_batch_resource_stops_before_any_job(bake, aws_venv, moto, tmp_path):
    # Without the check, analyze and chip would be on the CPU queue already
    # when submitting train to the missing GPU queue failed inside boto3. The
    # check's other refusals are the project's own tests/test_batch_check.py.
    project = bake_project(bake, aws_venv)
    create_batch_resources(aws_venv, moto, queues=QUEUES[:1])
    result = run_vegas(aws_venv, project, tmp_path, moto, "batch", "-p", PROFILE)
    assert_clear_failure(result, f"AWS Batch in {REGION} cannot take the jobs")
    assert "gpu_job_queue 'test-gpu-queue' is not a job queue there" in result.stderr
    assert_nothing_done(moto)


def test_the_projects_batch_check_tests_pass_with_the_aws_extra(
    bake, aws_venv, tmp_path
):
    """tests/test_batch_check.py skips without the aws extra: here it has it."""
    venv, _ = aws_venv
    project = bake_project(bake, aws_venv)
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-rs"]
        + ["tests/test_batch_check.py"],
        cwd=project,
        env=venv_env(venv, TMPDIR=str(tmp_path)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert re.search(r"\b1\d passed", result.stdout), result.stdout
    assert "skipped" not in result.stdout, result.stdout
