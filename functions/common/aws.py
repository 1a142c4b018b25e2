"""boto3 clients, created lazily and once per process (and per endpoint)."""

import os
import threading
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})


def client(service: str) -> Any:
    return _client(service, os.environ.get("AWS_ENDPOINT_URL", ""), os.environ.get("AWS_REGION", ""))


@lru_cache(maxsize=32)
def _client(service: str, endpoint: str, region: str) -> Any:
    with _lock:  # boto3's default session is not thread-safe while it creates clients
        return boto3.client(  # type: ignore[call-overload]
            service, endpoint_url=endpoint or None, region_name=region or None, config=_CONFIG
        )
