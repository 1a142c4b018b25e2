"""``stepsaga up`` as a user runs it: a child process on free ports, one stack that boto3, the HTTP
API, the console and the other commands share, stopped by SIGINT with its ports freed.

The tests share one ``up`` (deploying costs ~10 s); the last one stops it."""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from functions.common.names import PARALLEL_TEST_GENERATION, TEST_GENERATION
from infra import names
from infra.api import STAGE
from stepsaga.cli import api_server, resume, running, saga, up, viewer
from stepsaga.cli.demo_site import DemoSite, demo_request
from stepsaga.embedded import EmbeddedStack
from stepsaga.embedded.stack import port_in_use
from tests.e2e.up_process import UpProcess

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
HINT = "stop what listens there or choose "


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    process = UpProcess(tmp_path_factory.mktemp("up"))
    process.start()
    yield process
    process.stop()  # already stopped by the last test, unless it failed first


@pytest.fixture(scope="module")
def state(started: UpProcess) -> running.Running:
    return running.Running(**json.loads((started.state_dir / running.STATE_FILE).read_text()))


def aws(state: running.Running, service: str) -> Any:
    """A boto3 client for the endpoint, as a user configures one: nothing else of the test's."""
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=state.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture(scope="module")
def outputs(state: running.Running) -> dict[str, str]:
    stack = aws(state, "cloudformation").describe_stacks(StackName=names.STACK_NAME)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def finish(state: running.Running, execution_arn: str, timeout: float = 120) -> dict[str, Any]:
    sfn = aws(state, "stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.1)
    raise TimeoutError(execution_arn)


def start(state: running.Running, machine_arn: str, document: dict[str, Any]) -> str:
    name = f"up-{uuid.uuid4().hex[:12]}"
    started = aws(state, "stepfunctions").start_execution(
        stateMachineArn=machine_arn, name=name, input=json.dumps(document)
    )
    return str(started["executionArn"])


@pytest.fixture(scope="module")
def finished(state: running.Running, outputs: dict[str, str], site: DemoSite) -> dict[str, Any]:
    """A saga started with boto3 only, on the test-generation machine, run to its end."""
    arn = start(
        state, outputs[names.state_machine_output(TEST_GENERATION)], {"request": demo_request(site.url)}
    )
    return finish(state, arn)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def test_a_saga_started_with_boto3_has_a_history_and_the_api_lists_it(
    state: running.Running, outputs: dict[str, str], finished: dict[str, Any]
) -> None:
    assert finished["status"] == "SUCCEEDED", finished
    sfn = aws(state, "stepfunctions")
    events = [
        event
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=finished["executionArn"])
        for event in page["events"]
    ]
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    assert "Execution" in entered and "Evolution" in entered
    # The API server and the endpoint share one state: the API lists and describes the saga.
    listed = get(f"{state.api}/sagas?limit=100")
    assert finished["name"] in {s["saga_id"] for s in listed["sagas"]}
    assert get(f"{state.api}/sagas/{finished['name']}")["status"] == "SUCCEEDED"
    # And the endpoint serves the same API at LocalStack's URL form, percent-encoding decoded once.
    on_endpoint = state.endpoint + api_server.user_request_path(outputs[names.OUT_API_ID], STAGE)
    encoded = finished["name"].replace("-", "%2D")
    assert get(f"{on_endpoint}/sagas/{encoded}")["status"] == "SUCCEEDED"
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(f"{on_endpoint}/sagas/{finished['name'].replace('-', '%252D')}")  # "%2D", not "-"
    assert refused.value.code == 422 and "saga_id" in refused.value.read().decode()


def test_the_endpoint_api_reads_a_chunked_body(
    state: running.Running, outputs: dict[str, str], site: DemoSite
) -> None:
    """A client that streams its body (``Transfer-Encoding: chunked``, no Content-Length) starts a
    saga as one that sends a length does; the body was read as empty."""
    path = api_server.user_request_path(outputs[names.OUT_API_ID], STAGE) + "/sagas"
    key = f"chunked-{uuid.uuid4().hex[:12]}"
    body = json.dumps({"request": demo_request(site.url)}).encode()
    connection = http.client.HTTPConnection(urlsplit(state.endpoint).netloc, timeout=30)
    try:
        connection.request(
            "POST",
            path,
            body=iter([body[:10], body[10:]]),
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
            encode_chunked=True,
        )
        answer = connection.getresponse()
        assert answer.status == 201, answer.read()
        assert json.loads(answer.read())["saga_id"] == key
    finally:
        connection.close()


def test_the_services_answer_the_aws_clients(
    state: running.Running, outputs: dict[str, str], finished: dict[str, Any]
) -> None:
    machines = {
        m["stateMachineArn"] for m in aws(state, "stepfunctions").list_state_machines()["stateMachines"]
    }
    deployed = {arn for key, arn in outputs.items() if key.endswith("StateMachineArn")}
    assert deployed and deployed <= machines
    table = outputs[f"{names.OUT_TABLE_PREFIX}Runs"]
    runs = aws(state, "dynamodb").scan(TableName=table)["Items"]
    assert finished["name"] in {item["saga_id"]["S"] for item in runs}
    keys = aws(state, "s3").list_objects_v2(
        Bucket=outputs[names.OUT_ARTIFACTS_BUCKET], Prefix=f"runs/{finished['name']}/"
    )
    assert keys["KeyCount"] > 0
    # A compensation invoked directly, for a saga of its own: it runs in the up process.
    own = f"up-{uuid.uuid4().hex[:12]}"
    event = {
        "saga": {"request": demo_request("http://127.0.0.1:9/")},
        "context": {
            "saga_id": own,
            "execution_arn": f"{outputs[names.state_machine_output(TEST_GENERATION)]}:{own}".replace(
                ":stateMachine:", ":execution:"
            ),
            "state": "CompensateRequirements",
            "attempt": 0,
        },
    }
    lam = aws(state, "lambda")
    function = next(
        f["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if "CompensateRequirementsFunction" in f["FunctionName"]
    )
    answer = lam.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    result = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, result
    assert result["undone"] == 0, result


def test_the_stepfunctions_calls_moto_lacked_answer_as_on_aws(
    state: running.Running, outputs: dict[str, str], finished: dict[str, Any], site: DemoSite
) -> None:
    sfn = aws(state, "stepfunctions")
    machine = outputs[names.state_machine_output(TEST_GENERATION)]
    versions = [
        v["stateMachineVersionArn"]
        for v in sfn.list_state_machine_versions(stateMachineArn=machine)["stateMachineVersions"]
    ]
    assert versions and all(v.startswith(f"{machine}:") for v in versions)

    alias = next(v for k, v in outputs.items() if k.startswith("TestGenerationLive"))
    through_alias = finish(state, start(state, alias, {"request": demo_request(site.url)}))
    assert through_alias["stateMachineAliasArn"] == alias
    assert through_alias["stateMachineVersionArn"] in versions
    assert "stateMachineAliasArn" not in sfn.describe_execution(executionArn=finished["executionArn"])

    arn = finished["executionArn"]
    everything = sfn.get_execution_history(executionArn=arn)["events"]
    first = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=2)
    assert [e["id"] for e in first["events"]] == [everything[-1]["id"], everything[-2]["id"]]
    following = sfn.get_execution_history(
        executionArn=arn, reverseOrder=True, maxResults=2, nextToken=first["nextToken"]
    )
    assert [e["id"] for e in following["events"]] == [everything[-3]["id"], everything[-4]["id"]]

    with pytest.raises(ClientError) as refused:
        sfn.redrive_execution(executionArn=arn)
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "UnsupportedOperation"
    assert "RedriveExecution is not supported" in error["Error"]["Message"]


def test_a_saga_whose_rollback_failed_is_resumed_by_the_cli(
    state: running.Running,
    started: UpProcess,
    outputs: dict[str, str],
    site: DemoSite,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    document = {"request": demo_request(site.url), "faults": resume.DEMO_FAULTS}
    failed = finish(state, start(state, outputs[names.state_machine_output(TEST_GENERATION)], document))
    assert (failed["status"], failed.get("error")) == ("FAILED", "CompensationFailed"), failed
    saga_id = failed["name"]
    letters = aws(state, "sqs").receive_message(
        QueueUrl=outputs[names.OUT_DEAD_LETTER_QUEUE], MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    assert saga_id in {json.loads(m["Body"]).get("saga_id") for m in letters.get("Messages", [])}

    monkeypatch.setenv("STEPSAGA_STATE_DIR", str(started.state_dir))  # attach through the state file
    assert resume.main([saga_id]) == 0, capsys.readouterr()
    assert "complete: True" in capsys.readouterr().out
    ledger = EmbeddedStack.attach(state.endpoint).items("ledger", saga_id)  # read as the stack reads it
    assert ledger and {entry["status"] for entry in ledger} == {"COMPENSATED"}


def test_resume_finds_the_machine_of_a_saga_by_its_id(
    state: running.Running,
    started: UpProcess,
    outputs: dict[str, str],
    site: DemoSite,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults = {"Analysis": {"mode": "permanent"}, "CompensateGeneration": {"mode": "permanent"}}
    document = {"request": demo_request(site.url), "faults": faults}
    arn = outputs[names.state_machine_output(PARALLEL_TEST_GENERATION)]
    failed = finish(state, start(state, arn, document))
    assert (failed["status"], failed.get("error")) == ("FAILED", "CompensationFailed"), failed

    monkeypatch.setenv("STEPSAGA_STATE_DIR", str(started.state_dir))
    assert resume.main([failed["name"]]) == 0, capsys.readouterr()  # no --machine
    assert f"saga {failed['name']} ({PARALLEL_TEST_GENERATION}): " in capsys.readouterr().out
    assert resume.main(["no-such-saga"]) == 1
    assert "no saga 'no-such-saga' on any of" in capsys.readouterr().err


def test_the_saga_cli_and_the_viewer_attach_to_it(
    state: running.Running, started: UpProcess, finished: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPSAGA_STATE_DIR", str(started.state_dir))
    monkeypatch.delenv("STEPSAGA_ENDPOINT", raising=False)
    out = io.StringIO()
    assert saga.main(["list", "--limit", "100"], out=out) == 0
    assert finished["name"] in out.getvalue()

    names_on_console = {e["name"] for e in get(f"{state.console}/api/executions")["executions"]}
    assert finished["name"] in names_on_console
    stack = EmbeddedStack.attach(state.endpoint)
    server, url = viewer.serve(stack.client, stack.state_machine_arn)
    try:
        page = get(f"{url}/api/executions/{finished['name']}")
    finally:
        server.shutdown()
        server.server_close()
    assert page["status"] == "SUCCEEDED" and page["outcomes"]["Execution"] == "succeeded"


def test_a_script_using_only_the_aws_cli_starts_a_saga_the_console_and_saga_list_show(
    state: running.Running, started: UpProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14's "done when", as its script: docs/examples/aws-cli-saga.sh."""
    aws_cli = shutil.which("aws")
    if aws_cli is None:
        pytest.skip("the AWS CLI is not installed (pip install awscli)")
    saga_id = f"cli-{uuid.uuid4().hex[:12]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"ENDPOINT": state.endpoint}
    with DemoSite() as site:
        ran = subprocess.run(
            [str(EXAMPLES / "aws-cli-saga.sh"), site.url, saga_id],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
            check=False,
        )
    assert ran.returncode == 0, ran.stderr
    assert "status SUCCEEDED" in ran.stdout, ran.stdout
    entered = ran.stdout.split("states ", 1)[1].split()
    assert entered == ["Requirements", "Generation", "Execution", "Observation", "Analysis", "Evolution"]

    monkeypatch.setenv("STEPSAGA_STATE_DIR", str(started.state_dir))
    monkeypatch.delenv("STEPSAGA_ENDPOINT", raising=False)
    out = io.StringIO()
    assert saga.main(["list", "--limit", "100"], out=out) == 0
    assert saga_id in out.getvalue()
    console = get(f"{state.console}/api/executions")["executions"]
    assert {"name": saga_id, "status": "SUCCEEDED"}.items() <= next(
        e for e in console if e["name"] == saga_id
    ).items()


def test_the_aws_cli_reads_every_service_of_the_stack(
    state: running.Running, outputs: dict[str, str], finished: dict[str, Any], tmp_path: Path
) -> None:
    """The README's AWS CLI commands, run as a user runs them (boto3 is tested above)."""
    if shutil.which("aws") is None:
        pytest.skip("the AWS CLI is not installed (pip install awscli)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    def cli(*arguments: str) -> Any:
        ran = subprocess.run(
            ["aws", "--endpoint-url", state.endpoint, "--output", "json", *arguments],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, (arguments, ran.stderr)
        return json.loads(ran.stdout) if ran.stdout.strip() else None

    runs = cli("dynamodb", "scan", "--table-name", outputs[f"{names.OUT_TABLE_PREFIX}Runs"])["Items"]
    assert finished["name"] in {item["saga_id"]["S"] for item in runs}
    listed = subprocess.run(
        ["aws", "--endpoint-url", state.endpoint, "s3", "ls", "--recursive",
         f"s3://{outputs[names.OUT_ARTIFACTS_BUCKET]}/runs/{finished['name']}/"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert listed.returncode == 0 and f"runs/{finished['name']}/" in listed.stdout, listed.stderr
    function = next(
        f["FunctionName"]
        for f in cli("lambda", "list-functions")["Functions"]
        if "CompensateRequirementsFunction" in f["FunctionName"]
    )
    own = f"up-{uuid.uuid4().hex[:12]}"
    machine = outputs[names.state_machine_output(TEST_GENERATION)]
    event = {
        "saga": {"request": demo_request("http://127.0.0.1:9/")},
        "context": {
            "saga_id": own,
            "execution_arn": f"{machine}:{own}".replace(":stateMachine:", ":execution:"),
            "state": "CompensateRequirements",
            "attempt": 0,
        },
    }
    (tmp_path / "event.json").write_text(json.dumps(event))
    answer = cli(  # fileb:// reads the payload as bytes in AWS CLI v1 and v2 alike
        "lambda", "invoke", "--function-name", function, "--payload", f"fileb://{tmp_path / 'event.json'}",
        str(tmp_path / "answer.json"),
    )  # fmt: skip
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer, answer
    assert json.loads((tmp_path / "answer.json").read_text())["undone"] == 0
    queue = outputs[names.OUT_DEAD_LETTER_QUEUE]
    letter = json.dumps({"saga_id": own, "note": "sent by the AWS CLI test"})
    cli("sqs", "send-message", "--queue-url", queue, "--message-body", letter,
        "--message-group-id", own, "--message-deduplication-id", own)  # fmt: skip
    received = cli("sqs", "receive-message", "--queue-url", queue, "--max-number-of-messages", "10",
                   "--visibility-timeout", "0")  # fmt: skip
    mine = [m for m in received["Messages"] if json.loads(m["Body"]).get("saga_id") == own]
    assert len(mine) == 1, received
    cli("sqs", "delete-message", "--queue-url", queue, "--receipt-handle", mine[0]["ReceiptHandle"])


def test_a_second_up_is_refused_before_deploying(
    started: UpProcess, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def deploy(*args: object) -> int:
        raise AssertionError("deployed")

    monkeypatch.setattr(up, "serve", deploy)
    monkeypatch.setenv("STEPSAGA_STATE_DIR", str(started.state_dir))
    assert up.main([]) == 2
    assert "already running" in capsys.readouterr().err


def test_a_busy_port_is_one_line_and_exit_2_before_deploying(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        def deploy(*args: object) -> int:
            raise AssertionError("deployed")

        monkeypatch.setattr(up, "serve", deploy)
        monkeypatch.setenv("STEPSAGA_STATE_DIR", str(tmp_path))
        assert up.main(["--console-port", str(port), "--api-port", "0", "--endpoint-port", "0"]) == 2
        said = capsys.readouterr().err
        assert api_server.main(["--port", str(port)]) == 2  # `stepsaga api` checks its port first too
        assert capsys.readouterr().err == f"stepsaga api: port {port} is in use: {HINT}--port\n"
        assert said == f"stepsaga up: port {port} (console) is in use: {HINT}--console-port\n"

        process = UpProcess(tmp_path / "cli", "--endpoint-port", str(port))
        command = [sys.executable, "-m", "stepsaga", "up", *process.options]
        done = subprocess.run(command, capture_output=True, text=True, env=process.environment(), timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"stepsaga up: port {port} (AWS endpoint) is in use: {HINT}--endpoint-port"
    ]


def test_sigint_stops_it_cleanly_and_frees_its_ports(started: UpProcess, state: running.Running) -> None:
    """Runs last: it stops the module's ``up``."""
    assert started.stop() == 0, started.output()
    ports = [int(url.rsplit(":", 1)[1]) for url in (state.endpoint, state.api, state.console)]
    assert [port for port in ports if port_in_use(port)] == []
    assert not (started.state_dir / running.STATE_FILE).exists()
    printed = (started.state_dir / "up.out").read_text() + (started.state_dir / "up.err").read_text()
    assert "stepsaga up: stopping" in printed
    assert "Traceback" not in printed
    assert "HTTP/1.1" not in printed  # moto's request log is off without --verbose
    assert '"level"' not in printed  # and the functions' JSON logs went to their file
    logged = Path(state.functions_log).read_text().splitlines()
    assert logged and all(json.loads(line)["service"] for line in logged)
