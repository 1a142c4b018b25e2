"""Resume a saga that ended ``CompensationFailed``, on the embedded stack, step by step.

The usual way, on any stack and AWS alike, is the API's ``POST /sagas/{id}/resume``
(``stepsaga saga resume <id>``), which runs the saga's rollback machine. This is the
direct one, for the embedded stack: when that rollback itself failed (the embedded stack has
no RedriveExecution to re-run it), or to see each compensation's result. It does by hand what
the rest of the rollback would have done: for every compensable
step, latest first, whose ledger entry is not COMPENSATED, it invokes the step's deployed
compensation function with the event the state machine sends (state ``Compensate<Step>``,
attempt 0). Compensations are idempotent (the ledger's COMPENSATING -> COMPENSATED
transition), so resuming twice does nothing the second time.

    stepsaga resume SAGA_ID [--machine test-generation] [--endpoint URL]

resumes that saga on the stack a running ``stepsaga up`` serves (found by its state file, or the
AWS endpoint ``--endpoint``) and prints what it did. Without a saga id,

    stepsaga resume

runs the demo on an embedded stack of its own: a saga whose Generation compensation fails for
good, its dead letter, then the resume, with the ledger before and after.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Container, Mapping
from typing import Any

from functions.common import arns
from functions.common.store import COMPENSATED
from functions.control.resume import RESUMABLE
from infra import names
from statemachines.catalogue import SAGAS, TEST_GENERATION
from statemachines.saga import Saga, Step
from stepsaga.cli.demo_site import DemoSite, demo_request
from stepsaga.embedded import EmbeddedStack

DEMO_FAULTS = {"Execution": {"mode": "permanent"}, "CompensateGeneration": {"mode": "permanent"}}


UNDO = "undo"


def disposition(step: Step, ledger: Mapping[str, Mapping[str, Any]], entered: Container[str]) -> str:
    """What a resume does with a compensable step: ``already_compensated`` (its ledger entry says
    so), ``not_run`` (no entry and the saga never entered it), else ``undo``."""
    entry = ledger.get(step.name)
    if entry is not None and entry.get("status") == COMPENSATED:
        return "already_compensated"
    if entry is None and step.name not in entered:
        return "not_run"
    return UNDO


def steps_to_compensate(stack: EmbeddedStack, saga_id: str, saga: Saga, entered: Container[str]) -> list[str]:
    """The steps a resume of ``saga_id`` would still compensate, latest first (none: complete)."""
    ledger = {entry["step"]: entry for entry in stack.items("ledger", saga_id)}
    return [step.name for step in reversed(saga.compensable) if disposition(step, ledger, entered) == UNDO]


def execution_arn(stack: EmbeddedStack, saga_id: str, saga: Saga = TEST_GENERATION) -> str:
    """The saga's execution: the saga id is the execution name."""
    return arns.execution_arn(stack.machine_arn(saga.name), saga_id)


def function_name(stack: EmbeddedStack, state: str) -> str:
    """The deployed function behind ``state``: the one whose logical id starts ``<state>Function``."""
    pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(state)}Function")
    found = [
        f["FunctionName"]
        for page in stack.client("lambda").get_paginator("list_functions").paginate()
        for f in page["Functions"]
        if pattern.search(f["FunctionName"])
    ]
    if len(found) != 1:
        raise LookupError(f"expected one function for {state}, found {found}")
    return found[0]


def _sweep_dead_letters(
    stack: EmbeddedStack, remove: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Every dead letter once (received with a visibility timeout, so each page is new), then
    the ones ``remove`` picks deleted and the others visible again, in their order."""
    sqs = stack.client("sqs")
    url = stack.outputs[names.OUT_DEAD_LETTER_QUEUE]
    received: dict[str, tuple[str, dict[str, Any]]] = {}
    while True:
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        if not page.get("Messages"):
            break
        for message in page["Messages"]:
            received[message["MessageId"]] = (message["ReceiptHandle"], json.loads(message["Body"]))
    kept = [(handle, body) for handle, body in received.values() if not remove(body)]
    for handle, body in received.values():
        if remove(body):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    for start in range(0, len(kept), 10):
        entries = [
            {"Id": str(n), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for n, (handle, _) in enumerate(kept[start : start + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
    return [body for _, body in received.values()]


def dead_letters(stack: EmbeddedStack, saga_id: str | None = None) -> list[dict[str, Any]]:
    """The dead letters on the queue (of one saga, if given), all left on the queue.

    ``EmbeddedStack.dead_letters`` receives with VisibilityTimeout 0, so moto answers every
    page with the same first ten messages; this reads them all.
    """
    found = _sweep_dead_letters(stack, lambda body: False)
    return [m for m in found if saga_id is None or m.get("saga_id") == saga_id]


def remove_dead_letters(stack: EmbeddedStack, remove: Callable[[dict[str, Any]], bool]) -> int:
    """Delete the dead letters ``remove`` picks; how many it deleted."""
    return sum(map(remove, _sweep_dead_letters(stack, remove)))


def resume(
    stack: EmbeddedStack,
    saga_id: str,
    *,
    document: dict[str, Any] | None = None,
    saga: Saga = TEST_GENERATION,
) -> dict[str, Any]:
    """Compensate what the saga's rollback left undone; returns what it did.

    A step is compensated when its ledger entry exists and is not COMPENSATED, or when the
    execution entered the step but it left no entry (it wrote nothing and was never fenced:
    its compensation fences it). Compensations run latest step first and stop at the first
    one that fails (``failed`` says which); run ``resume`` again once its cause is fixed.
    The compensations read ``document``, by default the saga document the execution started
    with minus its ``faults`` (an injected fault must not fail the resume too). Once every
    step is compensated, the saga's dead letters are deleted: nothing is left to undo.
    """
    arn = execution_arn(stack, saga_id, saga)
    sfn = stack.client("stepfunctions")
    described = sfn.describe_execution(executionArn=arn)
    if described["status"] not in RESUMABLE:
        raise ValueError(
            f"saga {saga_id} is {described['status']}: only a saga that ended unsuccessfully resumes"
        )
    if document is None:
        document = {k: v for k, v in json.loads(described["input"]).items() if k != "faults"}
    ledger = {entry["step"]: entry for entry in stack.items("ledger", saga_id)}
    entered = {
        event["stateEnteredEventDetails"]["name"]
        for event in stack.history(arn)
        if event["type"].endswith("StateEntered")
    }
    report: dict[str, Any] = {
        "saga_id": saga_id,
        "execution_arn": arn,
        "execution": f"{described['status']} ({described.get('error', '-')})",
        "compensated": [],
        "already_compensated": [],
        "not_run": [],
        "failed": None,
    }
    client = stack.client("lambda")
    for step in reversed(saga.compensable):
        found = disposition(step, ledger, entered)
        if found != UNDO:
            report[found].append(step.name)
            continue
        event = {
            "saga": document,
            "context": {
                "saga_id": saga_id,
                "execution_arn": arn,
                "state": step.compensation_state,
                "attempt": 0,
            },
        }
        response = client.invoke(
            FunctionName=function_name(stack, step.compensation_state),
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode(),
        )
        result = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            report["failed"] = {"step": step.name, "state": step.compensation_state, "error": result}
            break
        report["compensated"].append({"step": step.name, "state": step.compensation_state, "result": result})
    report["complete"] = report["failed"] is None
    report["dead_letters_removed"] = (
        remove_dead_letters(stack, lambda m: m.get("saga_id") == saga_id) if report["complete"] else 0
    )
    return report


# --- the demo -----------------------------------------------------------------------------------
def ledger_lines(stack: EmbeddedStack, saga_id: str) -> list[str]:
    lines = []
    for entry in sorted(stack.items("ledger", saga_id), key=lambda e: e["step"]):
        made = ", ".join(f"{len(v)} {k[8:]}" for k, v in sorted(entry.items()) if k.startswith("created_"))
        count = entry.get("compensation_count", 0)
        lines.append(
            f"  {entry['step']:<12} {entry['status']:<12} compensated {count}x  {made or 'nothing created'}"
        )
    return lines


def data_line(stack: EmbeddedStack, saga_id: str) -> str:
    tests = stack.items("tests", saga_id)
    runs = stack.items("runs", saga_id)
    statuses = sorted({t["status"] for t in tests})
    return (
        f"  data: {len(stack.items('scenarios', saga_id))} scenarios, {len(tests)} tests {statuses}, "
        f"{len(runs)} runs, {len(stack.artifact_keys(saga_id))} artifacts"
    )


def letter_lines(letter: dict[str, Any]) -> list[str]:
    try:
        cause = json.loads(letter.get("cause") or "{}").get("errorMessage", "")
    except ValueError:
        cause = letter.get("cause") or ""
    left = "; ".join(
        f"{step}: " + ", ".join(f"{len(ids)} {kind}" for kind, ids in kinds.items())
        for step, kinds in sorted(letter.get("left_to_undo", {}).items())
    )
    return [f"  error: {letter.get('error')}: {cause}", f"  left to undo: {left or 'nothing'}"]


def report_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        f"  {c['state']}: undone {c['result'].get('undone')} item(s)"
        + (" (already compensated)" if c["result"].get("already_compensated") else "")
        for c in report["compensated"]
    ]
    if report["already_compensated"]:
        lines.append(f"  already compensated, skipped: {', '.join(report['already_compensated'])}")
    if report["failed"]:
        lines.append(f"  stopped: {report['failed']['state']} failed: {report['failed']['error']}")
    lines.append(f"  complete: {report['complete']}; dead letters removed: {report['dead_letters_removed']}")
    return lines


def demo(stack: EmbeddedStack, request: dict[str, Any], out: Any = sys.stdout) -> dict[str, Any]:
    """Fail a saga's rollback for good, show its dead letter, resume it, resume it again."""

    def say(*lines: str) -> None:
        print(*lines, sep="\n", file=out)

    described = stack.run(request, faults=DEMO_FAULTS)
    saga_id = described["executionArn"].rsplit(":", 1)[-1]
    say(f"saga {saga_id} with faults {json.dumps(DEMO_FAULTS)}")
    say(f"  -> {described['status']} ({described.get('error')})", "")
    for letter in dead_letters(stack, saga_id):
        say("dead letter:", *letter_lines(letter), "")
    say("ledger before resume:", *ledger_lines(stack, saga_id), data_line(stack, saga_id), "")
    first = resume(stack, saga_id)
    say("resume (faults cleared):", *report_lines(first), "")
    say("ledger after resume:", *ledger_lines(stack, saga_id), data_line(stack, saga_id), "")
    second = resume(stack, saga_id)
    say("resume again (idempotent):", *report_lines(second))
    return {"saga_id": saga_id, "first": first, "second": second}


def find_saga(stack: EmbeddedStack, saga_id: str) -> Saga:
    """The saga whose machine ran an execution named ``saga_id`` (as the API finds one)."""
    import botocore.exceptions

    for saga in SAGAS.values():
        try:
            stack.client("stepfunctions").describe_execution(executionArn=execution_arn(stack, saga_id, saga))
        except botocore.exceptions.ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                continue
            raise
        return saga
    raise LookupError(f"no saga {saga_id!r} on any of {', '.join(sorted(SAGAS))}")


def resume_on(endpoint: str, saga_id: str, machine: str | None = None) -> int:
    """Resume ``saga_id`` on the stack at the AWS ``endpoint``; 0 once nothing is left to undo."""
    import botocore.exceptions

    try:
        stack = EmbeddedStack.attach(endpoint)
        saga = SAGAS[machine] if machine else find_saga(stack, saga_id)
        report = resume(stack, saga_id, saga=saga)
    except (ValueError, LookupError) as error:
        print(f"stepsaga resume: {error}", file=sys.stderr)
        return 1
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        print(f"stepsaga resume: {saga_id} on {endpoint}: {error}", file=sys.stderr)
        return 1
    print(f"saga {saga_id} ({saga.name}): {report['execution']}", *report_lines(report), sep="\n")
    return 0 if report["complete"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="stepsaga resume",
        description="Resume a saga that ended CompensationFailed by invoking its compensations "
        "directly (without a saga id: the demo).",
        epilog="A saga id resumes on the stack of a running `stepsaga up`, or the one at --endpoint. "
        "Prefer `stepsaga saga resume <id>` (the API's rollback machine, on any stack, AWS too); use "
        "this one on the embedded stack when that rollback itself failed, or to see each step.",
    )
    parser.add_argument("saga_id", nargs="?", help="the saga to resume (default: run the demo)")
    parser.add_argument(
        "--machine", choices=sorted(SAGAS), help="the saga's machine (found by id if omitted)"
    )
    parser.add_argument("--endpoint", help="the AWS endpoint of the stack (default: stepsaga up's)")
    args = parser.parse_args(argv)
    if args.saga_id:
        from stepsaga.cli import running

        found = running.read()
        endpoint = args.endpoint or (found.endpoint if found else None)
        if endpoint is None:
            print(
                "stepsaga resume: no stack to resume on: start `stepsaga up` or give --endpoint",
                file=sys.stderr,
            )
            return 2
        return resume_on(endpoint, args.saga_id, args.machine)
    started = time.perf_counter()
    with DemoSite() as site, EmbeddedStack() as stack:
        print(f"embedded stack deployed in {time.perf_counter() - started:.1f} s\n")
        outcome = demo(stack, demo_request(site.url))
    print(f"\ndone in {time.perf_counter() - started:.1f} s")
    return 0 if outcome["first"]["complete"] and not outcome["second"]["compensated"] else 1


if __name__ == "__main__":
    sys.exit(main())
