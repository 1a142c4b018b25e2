"""Every AWS price the cost models use, in one table: us-east-1, on-demand, past the free tier.

Pure data. Each price is dollars per ``per`` units of ``unit``, with the page it was read from
and the month its figure dates from. ``statemachines.tools.cost`` prices paths from these;
update a price here and nowhere else (``docs/ARCHITECTURE.md``, "Limits and prices", quotes the
Step Functions and Lambda ones, checked 2026-12). The others are the published prices as of
2024-11 (DynamoDB's on-demand cut of 2024-11-01 included), not re-read since: check ``source``.
"""

from __future__ import annotations

from dataclasses import dataclass

CHECKED = "2026-12"  # Step Functions and Lambda: read against their pages then
PUBLISHED = "2024-11"  # the other services' prices as published then


@dataclass(frozen=True)
class Price:
    usd: float  # dollars ...
    per: float  # ... per this many units
    unit: str
    source: str
    dated: str = PUBLISHED

    @property
    def each(self) -> float:
        """Dollars per one unit."""
        return round(self.usd / self.per, 12)  # 0.20 / 1e6 is 2e-07, not 2.0000000000000002e-07


_SFN = "https://aws.amazon.com/step-functions/pricing/"
_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_DYNAMODB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_S3 = "https://aws.amazon.com/s3/pricing/"
_SQS = "https://aws.amazon.com/sqs/pricing/"
_CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
_XRAY = "https://aws.amazon.com/xray/pricing/"

STANDARD_TRANSITION = Price(0.025, 1_000, "Standard state transition", _SFN, CHECKED)
EXPRESS_REQUEST = Price(1.00, 1_000_000, "Express request", _SFN, CHECKED)
EXPRESS_GB_SECOND = Price(0.00001667, 1, "Express GB-second (64 MB chunks, 100 ms steps)", _SFN, CHECKED)
LAMBDA_REQUEST = Price(0.20, 1_000_000, "Lambda request", _LAMBDA, CHECKED)
LAMBDA_GB_SECOND = Price(0.0000166667, 1, "Lambda GB-second (x86)", _LAMBDA, CHECKED)
# On-demand since the price cut of 2024-11-01; a transaction consumes twice the units.
DYNAMODB_WRITE_UNIT = Price(0.625, 1_000_000, "DynamoDB write request unit (1 KB)", _DYNAMODB)
DYNAMODB_READ_UNIT = Price(
    0.125, 1_000_000, "DynamoDB read request unit (4 KB strongly consistent)", _DYNAMODB
)
S3_PUT = Price(0.005, 1_000, "S3 Standard PUT, COPY, POST or LIST request", _S3)
S3_GET = Price(0.0004, 1_000, "S3 Standard GET or other request", _S3)
S3_DELETE = Price(0.0, 1_000, "S3 DELETE request (free)", _S3)
SQS_REQUEST = Price(0.40, 1_000_000, "SQS standard request (per 64 KB chunk)", _SQS)
# Lambda and Step Functions logs are vended logs: the first tier is the standard ingestion price.
LOGS_INGESTED_GB = Price(0.50, 1, "CloudWatch Logs ingested GB (vended, first 10 TB)", _CLOUDWATCH)
CUSTOM_METRIC_MONTH = Price(0.30, 1, "CloudWatch custom metric per month (first 10,000)", _CLOUDWATCH)
EVENTS_PUT = Price(
    1.00,
    1_000_000,
    "EventBridge custom event put (per 64 KB chunk)",
    "https://aws.amazon.com/eventbridge/pricing/",
)
XRAY_TRACE_RECORDED = Price(5.00, 1_000_000, "X-Ray trace recorded", _XRAY)

PRICES: dict[str, Price] = {
    "stepfunctions.transition": STANDARD_TRANSITION,
    "stepfunctions.express_request": EXPRESS_REQUEST,
    "stepfunctions.express_gb_second": EXPRESS_GB_SECOND,
    "lambda.request": LAMBDA_REQUEST,
    "lambda.gb_second": LAMBDA_GB_SECOND,
    "dynamodb.write_unit": DYNAMODB_WRITE_UNIT,
    "dynamodb.read_unit": DYNAMODB_READ_UNIT,
    "s3.put": S3_PUT,
    "s3.get": S3_GET,
    "s3.delete": S3_DELETE,
    "sqs.request": SQS_REQUEST,
    "logs.ingested_gb": LOGS_INGESTED_GB,
    "cloudwatch.custom_metric_month": CUSTOM_METRIC_MONTH,
    "events.put": EVENTS_PUT,
    "xray.trace": XRAY_TRACE_RECORDED,
}
