"""EmbeddedStack: deploy the synthesized template into moto and drive sagas on it.

    with EmbeddedStack() as stack:
        arn = stack.start(request)
        stack.wait(arn)
        print(stack.state_names(arn))

The template is the one ``cdk deploy`` would deploy: its assets go to the bootstrap bucket,
the bootstrap version parameter is put in SSM, and ``create_stack`` creates every resource.
Lambda handlers then run in-process (see ``stepsaga.embedded.patches``).
"""

from __future__ import annotations

import errno
import gc
import io
import json
import logging
import os
import socket
import threading
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from functions.api.routes import HANDLER as API_HANDLER
from functions.common.names import (
    ARTIFACTS_OF_SAGA,
    ENV_AUDIT_TABLE,
    REVIEWED_TEST_GENERATION,
    TEST_GENERATION,
)
from infra import names
from stepsaga.embedded import events, patches, synth
from stepsaga.embedded.account import ACCOUNT, REGION
from stepsaga.embedded.patches import awslambda, moto_core, stepfunctions

EMBEDDED_CONTEXT = {
    names.CTX_ALLOW_FAULT_INJECTION: True,
    # The demo site and test targets listen on loopback, which production refuses.
    names.CTX_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
}
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
COLLECT_EVERY = (20_000, 50, 50)  # gc thresholds while a stack is deployed (see deploy())
_TERMINAL_EVENTS = ("ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted")


def port_in_use(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (bound as the servers bind, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def _zip_directory(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
    return buffer.getvalue()


class EmbeddedStack:
    """The stepsaga stack on moto, in this process."""

    def __init__(
        self,
        *,
        context: dict[str, Any] | None = None,
        runtime_env: dict[str, str] | None = None,
        server_port: int | None = None,
    ) -> None:
        self.context = {**EMBEDDED_CONTEXT, **(context or {})}
        self.runtime_env = {
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            **(runtime_env or {}),
        }
        self.server_port = server_port
        # Where clients send requests: None under mock_aws (requests never leave the process).
        self.endpoint = f"http://127.0.0.1:{server_port}" if server_port else None
        self.outputs: dict[str, str] = {}
        self._mock: Any = None
        self._server: Any = None
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._thresholds: tuple[int, int, int] | None = None  # the collector's, before deploy()

    @classmethod
    def attach(cls, endpoint: str) -> EmbeddedStack:
        """The stack another process serves at ``endpoint`` (``stepsaga up``): clients and reads
        only, over HTTP; its outputs are the deployed stack's, from CloudFormation."""
        stack = cls()
        stack.endpoint = endpoint.rstrip("/")
        described = stack.client("cloudformation").describe_stacks(StackName=names.STACK_NAME)
        stack.outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
        return stack

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> EmbeddedStack:
        self.start_services()
        self.deploy()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_services()
        gc.unfreeze()
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None

    def start_services(self) -> None:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }.items():
            os.environ.setdefault(key, value)
        logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)
        # moto notes each resource type it skips (README lists them); keep the output readable.
        logging.getLogger("moto").setLevel(logging.ERROR)
        from moto import mock_aws

        if self.server_port is None:
            # Under mock_aws requests never leave the process: AWS_ENDPOINT_URL must not be set.
            os.environ.pop("AWS_ENDPOINT_URL", None)
            self._mock = mock_aws(
                config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
            )
            self._mock.start()
        else:
            self._start_server(self.server_port)
        patches.install()
        moto_core.forget_routes()  # routes learnt under an earlier mock's settings
        awslambda.RUNTIME_ENV.clear()
        awslambda.RUNTIME_ENV.update(self.runtime_env)

    def _start_server(self, port: int) -> None:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        if port_in_use(port):  # moto's server thread would die on it and start() wait forever
            raise OSError(errno.EADDRINUSE, f"port {port} is in use")
        # werkzeug logs every request to stderr at INFO unless its logger has a level of its own.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions calls back to this port
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        default_user_config["lambda"] = {"use_docker": False}
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        endpoint = f"http://127.0.0.1:{port}"
        os.environ["AWS_ENDPOINT_URL"] = endpoint  # handlers reach DynamoDB and S3 through it
        self.runtime_env["AWS_ENDPOINT_URL"] = endpoint

    def route_endpoint(self, wrap: Callable[[Any], Any]) -> None:
        """Put ``wrap(app)`` in front of the endpoint's WSGI app, so a request moto has no service
        for (``stepsaga up``'s API under ``/restapis/.../_user_request_``) is answered there."""
        if self._server is None:
            raise RuntimeError("no endpoint: the stack serves none (server_port=None) or has not started")
        server = self._server._server  # moto's werkzeug server; it reads .app for every request
        server.app = wrap(server.app)

    def stop_services(self) -> None:
        listener = events.listener_for(self)
        if listener is not None:
            events.uninstall(listener)
        from moto.stepfunctions.parser.utils import TMP_THREADS

        TMP_THREADS.clear()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if self._server is not None:
            self._server.stop()
            self._server = None
            os.environ.pop("AWS_ENDPOINT_URL", None)

    def client(self, service: str) -> Any:
        """One client per service (clients are thread-safe; creating one costs ~6 ms)."""
        with self._clients_lock:
            found = self._clients.get(service)
            if found is None:
                if self.endpoint is None:
                    found = boto3.client(service, region_name=REGION)  # type: ignore[call-overload]
                else:  # moto's endpoint: its own credentials, never the caller's AWS ones
                    found = boto3.client(  # type: ignore[call-overload]
                        service,
                        region_name=REGION,
                        endpoint_url=self.endpoint,
                        aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                    )
                self._clients[service] = found
            return found

    # -- deploy --------------------------------------------------------------------------
    def deploy(self) -> None:
        assembly = synth.cloud_assembly(self.context)
        template = (assembly / f"{names.STACK_NAME}.template.json").read_text()
        self._publish_assets(assembly)
        self.client("ssm").put_parameter(
            Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String", Overwrite=True
        )
        cfn = self.client("cloudformation")
        with warnings.catch_warnings():  # moto warns for each resource type it skips (see README)
            warnings.simplefilter("ignore", UserWarning)
            cfn.create_stack(
                StackName=names.STACK_NAME, TemplateBody=template, Capabilities=["CAPABILITY_IAM"]
            )
            stack = cfn.describe_stacks(StackName=names.STACK_NAME)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise RuntimeError(
                f"embedded deploy ended {stack['StackStatus']}: {stack.get('StackStatusReason')}"
            )
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        events.install(self)  # EventBridge's execution-status rule, in-process
        # The deployed heap (moto's backends, the template, every imported module: ~400,000
        # objects) lives as long as the stack: out of the collector's reach, a full collection
        # during a saga takes ~15 ms instead of ~400 ms (and `stepsaga up` exits without a 6 s
        # final sweep). Sagas then make and drop young objects by the million: collecting the
        # youngest generation every 700 allocations (CPython's default) took ~6 % of a happy
        # saga's CPU (interleaved, 40 rounds; ~10 % with 50 sagas at once), so it is collected
        # every 20,000. Only when and how often cycles are collected changes; ``__exit__``
        # hands the heap back and restores the process's thresholds.
        gc.freeze()
        if self._thresholds is None:  # a second deploy() must not take ours for the process's
            self._thresholds = gc.get_threshold()
        gc.set_threshold(*COLLECT_EVERY)

    def _publish_assets(self, assembly: Path) -> None:
        """Upload file assets to the bootstrap bucket, as ``cdk deploy`` does."""
        manifest = json.loads((assembly / f"{names.STACK_NAME}.assets.json").read_text())
        s3 = self.client("s3")
        bucket = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"
        s3.create_bucket(Bucket=bucket)
        for asset in manifest.get("files", {}).values():
            source = assembly / asset["source"]["path"]
            body = _zip_directory(source) if source.is_dir() else source.read_bytes()
            for destination in asset["destinations"].values():
                s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)

    # -- sagas -----------------------------------------------------------------------------
    @property
    def state_machine_arn(self) -> str:
        return self.outputs[names.OUT_STATE_MACHINE]

    def table(self, kind: str) -> str:
        return self.outputs[f"{names.OUT_TABLE_PREFIX}{kind.capitalize()}"]

    def machine_arn(self, machine: str = TEST_GENERATION) -> str:
        return self.outputs[names.state_machine_output(machine)]

    def start(
        self,
        request: dict[str, Any] | None,
        faults: dict[str, Any] | None = None,
        name: str | None = None,
        *,
        machine: str = TEST_GENERATION,
        document: dict[str, Any] | None = None,
    ) -> str:
        """Start a saga; ``document`` replaces the whole input (e.g. a parent's project list)."""
        if document is None:
            document = {"request": request}
            if faults:
                document["faults"] = faults
        response = self.client("stepfunctions").start_execution(
            stateMachineArn=self.machine_arn(machine),
            name=name or f"saga-{uuid.uuid4().hex[:12]}",
            input=json.dumps(document),
        )
        return str(response["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the execution is over and its last history event has landed."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        in_process = self._mock is not None or self._server is not None  # the backend is here
        if in_process and stepfunctions.wait_for_completion(execution_arn, timeout, ACCOUNT, REGION):
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in TERMINAL:  # the program has ended: its last event is written
                return dict(described)
        delay = 0.001
        while time.monotonic() < deadline:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in TERMINAL:
                last = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=1)
                if last["events"] and last["events"][0]["type"] in _TERMINAL_EVENTS:
                    return dict(described)
            time.sleep(delay)
            delay = min(delay * 1.5, 0.02)
        raise TimeoutError(f"{execution_arn} still running after {timeout} s")

    def run(
        self, request: dict[str, Any], faults: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        return self.wait(self.start(request, faults, **kwargs))

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            events.extend(page["events"])
        return events

    def state_names(self, execution_arn: str) -> list[str]:
        """The states the execution entered, in order (as the console's graph shows them)."""
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history(execution_arn)
            if e["type"].endswith("StateEntered")
        ]

    def settings(self) -> Any:
        """The function settings, as the deployed functions see them (for library calls)."""
        from functions.common.settings import Settings

        return Settings(
            **{
                f"{kind}_table": self.table(kind)
                for kind in ("ledger", "scenarios", "tests", "runs", "reports", "sagas")
            },
            artifacts_bucket=self.outputs[names.OUT_ARTIFACTS_BUCKET],
            dead_letter_queue_url=self.outputs[names.OUT_DEAD_LETTER_QUEUE],
        )

    def control(self, machine: str = REVIEWED_TEST_GENERATION) -> Any:
        """Signals and the status query for one saga state machine (``functions.control``)."""
        from functions.common.store import DynamoSagaStore
        from functions.control import SagaControl
        from functions.control.records import SagaRecords
        from statemachines.catalogue import SAGAS

        settings = self.settings()
        steps = [step.name for step in SAGAS[machine].steps if not step.gate]
        # Status learns which steps succeeded from the audit table, as the API function does.
        api = self.function_environment(API_HANDLER) or {}
        return SagaControl(
            self.machine_arn(machine),
            SagaRecords(settings.sagas_table),
            DynamoSagaStore(settings),
            steps,
            audit_table=api.get(ENV_AUDIT_TABLE),
        )

    def function_environment(self, handler: str) -> dict[str, str] | None:
        """The environment the stack deployed a function with (by handler), None if no function has it."""
        for page in self.client("lambda").get_paginator("list_functions").paginate():
            for function in page["Functions"]:
                if function.get("Handler") == handler:
                    return dict((function.get("Environment") or {}).get("Variables") or {})
        return None

    def items(self, kind: str, saga_id: str) -> list[dict[str, Any]]:
        from functions.common.store import LEDGER_BY_SAGA, from_item, merged_ledger

        paginator = self.client("dynamodb").get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table(kind),
            # The ledger is keyed <step>#<saga_id>: a saga's entries are found through its index.
            **({"IndexName": LEDGER_BY_SAGA} if kind == "ledger" else {}),
            KeyConditionExpression="saga_id = :s",
            ExpressionAttributeValues={":s": {"S": saga_id}},
        )
        found = [from_item(i) for page in pages for i in page["Items"]]
        # The ledger's chunks fold into their step's entry (functions.common.store).
        return list(merged_ledger(found).values()) if kind == "ledger" else found

    def artifact_keys(self, saga_id: str) -> list[str]:
        """Every artifact key of the saga: a page holds 1,000, a saga may have 3,000."""
        pages = (
            self.client("s3")
            .get_paginator("list_objects_v2")
            .paginate(
                Bucket=self.outputs[names.OUT_ARTIFACTS_BUCKET], Prefix=ARTIFACTS_OF_SAGA.format(saga_id)
            )
        )
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message on the compensation dead-letter queue, left visible for others."""
        sqs = self.client("sqs")
        url = self.outputs[names.OUT_DEAD_LETTER_QUEUE]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        count = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
        seen: dict[str, dict[str, Any]] = {}
        handles: list[str] = []
        for _ in range(count // 10 + 2):  # hide what was read, to page past the first ten
            response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30)
            for message in response.get("Messages", []):
                seen[message["MessageId"]] = json.loads(message["Body"])
                handles.append(message["ReceiptHandle"])
            if len(seen) >= count or not response.get("Messages"):
                break
        for handle in handles:  # and make it visible again for the next reader
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
        return list(seen.values())
