"""moto patched into an embedded stack that runs the deployed template, one module per patched
service or library.

``install()`` applies every patch, once per process (EmbeddedStack calls it; so do tests and
bench). Correctness patches close a gap between moto and AWS the sagas rely on, each saying
which in its docstring, tested in ``tests/functional/test_adapters.py`` or by the sagas; speed
patches change no answer and switch off with ``speed.SPEED`` (``STEPSAGA_SPEED=off``), tested in
``tests/functional/test_speed.py``. docs/ARCHITECTURE.md gives the overview. They touch moto
internals, which is why moto is pinned exactly in pyproject.toml: each module's ``PATCHED`` table
pins the source of every moto, botocore or werkzeug function it replaces or copies (``guard``), and
``tests/functional/test_upgrade_guard.py`` names what to re-check when an upgrade changes one.

    awslambda       in-process invoke, per-thread environment, the Lambda context
    stepfunctions   callbacks and task tokens, errors, aborts, nested executions, the clock, completion,
                    ast.parse one thread at a time (string literals, tracebacks)
    cloudformation  state machines with their substitutions, versions and aliases, change sets
    dynamodb        atomic transactions, serialised conditional writes, partition queries
    moto_core       request routing, request ids, WSGI environ (speed only)
    botocore        signatures and retry checks while moto answers here (speed only)
    stepfunctions_api  the API as clients of ``stepsaga up`` see it: versions, history pages, errors
"""

from __future__ import annotations

from stepsaga.embedded.patches import (
    awslambda,
    botocore,
    cloudformation,
    dynamodb,
    moto_core,
    speed,
    stepfunctions,
    stepfunctions_api,
)
from stepsaga.embedded.patches.once import LOCK, once


def install() -> None:
    """Every patch, in this order: the client cache replaces moto's client factory in the modules
    that the patches before it imported."""
    awslambda.install_thread_environ()
    awslambda.install_inprocess_invoke()
    cloudformation.install_state_machines()
    stepfunctions.install_time_skipping()
    stepfunctions.install_callback_races()
    stepfunctions.install_task_failure_cause()
    stepfunctions.install_time_scaling()
    stepfunctions.install_async_lambda_invoke()
    stepfunctions.install_token_per_attempt()
    stepfunctions.install_task_errors()
    stepfunctions.install_lambda_errors()
    stepfunctions.install_executions_with_environment()
    stepfunctions.install_branch_failures()
    stepfunctions.install_uncatchable_runtime_errors()
    stepfunctions.install_aborts()
    stepfunctions.install_serial_ast_parsing()
    _install_speedups()
    dynamodb.install_transactions()
    stepfunctions.install_completion_events()
    cloudformation.install_versions()
    cloudformation.install_change_sets()
    stepfunctions.install_nested_executions()
    stepfunctions.install_execution_names()
    dynamodb.install_partition_queries()
    stepfunctions_api.install_api()  # last: wraps the alias-aware start above


def _install_speedups() -> None:
    with LOCK:  # held while patching: no caller returns before every speed patch is in place
        if not once("speedups"):
            return
        speed.find_stubber()
        stepfunctions.install_programs_parsed_once()
        stepfunctions.install_clients_once()
        stepfunctions.install_jsonpath_once()
        stepfunctions.install_json_copies()
        dynamodb.install_wire_json()
        moto_core.install_method_names_once()
        moto_core.install_cheap_request_ids()
        moto_core.install_json_answers_unscanned()
        moto_core.install_json_errors_without_xml()
        botocore.install_fixed_signatures()
        dynamodb.install_expressions_once()
        dynamodb.install_update_validation_walks()
        dynamodb.install_new_items_validated_once()
        dynamodb.install_query_results_shallow()
        dynamodb.install_items_sized_once()
        moto_core.install_routes_once()
        moto_core.install_json_requests_without_environ_builder()
        botocore.install_no_retry_checks_on_success()
