"""The HTTP API's Lambda handler (API Gateway REST, proxy integration): see ``functions.api.app``."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import content_types

from functions.api.app import app
from functions.api.settings import ApiSettings
from functions.audit.steps import lambda_handler


def _size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4  # close enough to decide against a limit, without decoding
    return len(body.encode())


def _content_type(event: dict[str, Any]) -> str:
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "content-type":
            return str(value or "").split(";")[0].strip().lower()
    return ""


def _refuse(status: int, error: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"error": error, "message": message}),
        "isBase64Encoded": False,
    }


@lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    limit = ApiSettings.from_env().max_body_bytes
    if _size(event) > limit:
        return _refuse(413, "PayloadTooLarge", f"body: larger than {limit // 1024} KB")
    content_type = _content_type(event)
    if (
        event.get("body")
        and content_type
        and not (content_type == "application/json" or content_type.endswith("+json"))
    ):
        # A body is JSON or nothing (curl's default form encoding included).
        return _refuse(
            415, "UnsupportedMediaType", f"Content-Type: send application/json, not {content_type}"
        )
    return app.resolve(event, context)
