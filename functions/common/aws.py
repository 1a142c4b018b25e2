"""boto3 clients, created lazily and once per process (and per endpoint).

boto3 is imported on the first ``client()`` call, not when this module is imported: it is
about half of a handler's import time (``import boto3`` pulls in botocore, s3transfer and
urllib3), so a handler's Init phase does not pay for it and its first invocation does.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()


def client(service: str) -> Any:
    return _client(service, os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_REGION", ""))


@lru_cache(maxsize=32)
def _client(service: str, endpoint: str, region: str) -> Any:
    with _lock:  # boto3's default session is not thread-safe while it creates clients
        import boto3
        from botocore.config import Config

        return boto3.client(  # type: ignore[call-overload]
            service,
            endpoint_url=endpoint or None,
            region_name=region or None,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )
