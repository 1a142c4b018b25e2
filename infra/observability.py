"""Saga observability: the audit trail, saga lifecycle metrics and the operations dashboard.

``SagaObservability`` takes what the stack already has (state machines, functions, the
function settings, the compensation dead-letter queue) and adds

- the **Audit** table (``saga_id`` / ``sk``; append-only: writers get ``PutItem`` alone and
  every put is conditional on ``attribute_not_exists``), encrypted, point-in-time recovery,
  retained when the stack is deleted;
- the **ActiveSagas** table (``id``): a counter per saga type and the last applied status of
  each execution (expires after 90 days);
- the **SagaEvents** function (``functions.handlers.saga_events``) and the EventBridge rule that
  sends it every execution status change of the stack's state machines
  (delivery retried for 6 hours, handling retried twice; then to its own dead-letter queue);
- ``AUDIT_TABLE`` on every given function (the ``lambda_handler`` wrapper writes step events,
  ``functions.control`` signal events) with ``dynamodb:PutItem`` on the Audit table;
- a CloudWatch dashboard: success rate, active sagas, p95 duration, compensation rate, step
  failures by step and error, throttles, dead-letter depth.

The dashboard is built with ``aws_cloudwatch`` directly rather than cdk-monitoring-constructs
(docs/OBSERVABILITY.md, "Dashboard": why).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from functions.common.names import (
    ENV_ACTIVE_SAGAS_TABLE,
    ENV_AUDIT_TABLE,
    ENV_SERVICE_NAME,
    ENV_STATE_MACHINE_PREFIX,
    EXECUTION_STATUS_CHANGE,
    METRIC_ACTIVE_SAGAS,
    METRIC_NAMESPACE,
    METRIC_SAGA_OUTCOMES,
    METRIC_STEP_FAILED,
)
from infra import defaults

HANDLER = "functions.handlers.saga_events.handler"
SERVICE = "SagaEvents"  # the function's service name: the "service" dimension of its metrics
PERIOD = Duration.minutes(5)


class SagaObservability(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machines: Mapping[str, sfn.IStateMachine],
        functions: Sequence[lambda_.Function],
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion] = (),
        environment: Mapping[str, str] | None = None,
        dead_letters: sqs.IQueue | None = None,
        state_machine_prefix: str = "",
        dashboard_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.state_machines = dict(state_machines)
        # The audit trail outlives the stack; the counters can be rebuilt.
        self.audit_table = defaults.table(self, "AuditTable", "saga_id", "sk", retain=True)
        self.active_table = defaults.table(self, "ActiveSagasTable", "id", None, ttl="expires")

        # Events EventBridge could not deliver, or the handler could not handle, end here.
        self.event_dead_letters = defaults.dead_letter_queue(self, "SagaEventsDeadLetterQueue")
        self.function = defaults.python_function(
            self,
            "SagaEventsFunction",
            logs_id="SagaEventsLogs",
            handler=HANDLER,
            code=code,
            layers=layers,
            timeout=Duration.seconds(30),
            environment={
                **(environment or {}),
                ENV_SERVICE_NAME: SERVICE,
                ENV_AUDIT_TABLE: self.audit_table.table_name,
                ENV_ACTIVE_SAGAS_TABLE: self.active_table.table_name,
                ENV_STATE_MACHINE_PREFIX: state_machine_prefix,
            },
            description="stepsaga saga lifecycle: audit outcome, active sagas, saga metrics",
            retry_attempts=2,  # the handler is idempotent; after that, the event goes to the queue
            dead_letter_queue=self.event_dead_letters,
        )
        self.audit_table.grant(self.function, "dynamodb:PutItem")
        self.active_table.grant(self.function, "dynamodb:UpdateItem", "dynamodb:GetItem")

        self.rule = events.Rule(
            self,
            "ExecutionStatusChangeRule",
            description="Every status change of the stack's saga executions, to the SagaEvents function",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[EXECUTION_STATUS_CHANGE],
                detail={"stateMachineArn": [m.state_machine_arn for m in self.state_machines.values()]},
            ),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.event_dead_letters,
                    max_event_age=Duration.hours(6),
                    retry_attempts=20,
                )
            ],
        )

        seen: set[str] = set()
        self.audited: list[lambda_.Function] = []
        for fn in functions:
            if fn.node.path in seen:
                continue
            seen.add(fn.node.path)
            fn.add_environment(ENV_AUDIT_TABLE, self.audit_table.table_name)
            self.audit_table.grant(fn, "dynamodb:PutItem")
            self.audited.append(fn)

        queues = [q for q in (dead_letters, self.event_dead_letters) if q is not None]
        self.dashboard = self._dashboard(dashboard_name, queues)

    def grant_audit_read(self, grantee: lambda_.IFunction) -> None:
        """For a reader of ``functions.audit.read`` (Query on the Audit table)."""
        self.audit_table.grant(grantee, "dynamodb:Query")

    # -- metrics -------------------------------------------------------------------------------
    @staticmethod
    def saga_metric(name: str, saga_type: str, statistic: str = "Sum") -> cw.Metric:
        return cw.Metric(
            namespace=METRIC_NAMESPACE,
            metric_name=name,
            dimensions_map={"saga_type": saga_type, "service": SERVICE},
            statistic=statistic,
            period=PERIOD,
        )

    def _rates(self) -> tuple[list[cw.IMetric], list[cw.IMetric]]:
        success: list[cw.IMetric] = []
        compensation: list[cw.IMetric] = []
        for j, name in enumerate(self.state_machines):
            ids = [f"s{j}o{i}" for i in range(len(METRIC_SAGA_OUTCOMES))]  # unique within a graph
            using = {ids[i]: self.saga_metric(metric, name) for i, metric in enumerate(METRIC_SAGA_OUTCOMES)}
            filled = [f"FILL({i}, 0)" for i in ids]
            finished = "(" + " + ".join(filled) + ")"
            success.append(
                cw.MathExpression(
                    expression=f"IF({finished} > 0, 100 * {filled[0]} / {finished}, 100)",
                    using_metrics=using,
                    label=name,
                    period=PERIOD,
                )
            )
            compensation.append(
                cw.MathExpression(
                    expression=f"IF({finished} > 0, 100 * ({filled[1]} + {filled[2]}) / {finished}, 0)",
                    using_metrics=using,
                    label=name,
                    period=PERIOD,
                )
            )
        return success, compensation

    def _dashboard(self, name: str | None, queues: list[sqs.IQueue]) -> cw.Dashboard:
        success, compensation = self._rates()
        machines = self.state_machines
        active = [self.saga_metric(METRIC_ACTIVE_SAGAS, n, "Maximum").with_(label=n) for n in machines]
        p95 = [m.metric_time(statistic="p95", period=PERIOD, label=n) for n, m in machines.items()]
        search = f'{{{METRIC_NAMESPACE},error,service,step}} MetricName="{METRIC_STEP_FAILED}"'
        step_failures = cw.MathExpression(
            expression=f"SEARCH('{search}', 'Sum', 300)",
            label="",
            period=PERIOD,
        )
        throttles: list[cw.IMetric] = [
            m.metric_throttled(period=PERIOD, statistic="Sum", label=f"states {n}")
            for n, m in machines.items()
        ]
        throttles += [
            fn.metric_throttles(period=PERIOD, statistic="Sum", label=f"lambda {fn.node.id}")
            for fn in [*self.audited, self.function]
        ]
        depth = [
            q.metric_approximate_number_of_messages_visible(period=Duration.minutes(1), statistic="Max")
            for q in queues
        ]

        def graph(title: str, metrics: Sequence[cw.IMetric], unit: str) -> cw.GraphWidget:
            axis = cw.YAxisProps(label=unit, show_units=False, min=0)
            return cw.GraphWidget(title=title, left=list(metrics), left_y_axis=axis, width=12, height=6)

        dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=name, default_interval=Duration.hours(3))
        dashboard.add_widgets(
            graph("Success rate (%)", success, "%"),
            graph("Active sagas", active, "sagas"),
        )
        dashboard.add_widgets(
            graph("Duration p95 (ExecutionTime)", p95, "ms"),
            graph("Compensation rate (%)", compensation, "%"),
        )
        dashboard.add_widgets(
            graph("Step failures by step and error", [step_failures], "failures"),
            graph("Throttles", throttles, "count"),
        )
        dashboard.add_widgets(graph("Dead-letter queue depth", depth, "messages"))
        return dashboard
