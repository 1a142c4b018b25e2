"""botocore's request signing and retry checks, skipped while moto answers in this process (speed only).

A request to LocalStack or AWS is signed and checked as usual: ``speed.answered_in_process`` is
looked up on every call (tests stand in for it).
"""

from __future__ import annotations

import math
from typing import Any

from stepsaga.embedded.patches import speed
from stepsaga.embedded.patches.guard import Pinned, replace
from stepsaga.embedded.patches.once import once

# --- speed (off with SPEED: the same answers, computed once) --------------------------------------
FIXED_SIGNATURE = "0" * 64


def install_fixed_signatures() -> None:
    if not once("fixed-signatures"):
        return
    from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth, get_current_datetime  # type: ignore[attr-defined]
    from botocore.exceptions import NoCredentialsError
    from moto import settings

    stock = SigV4Auth.add_auth
    header_signature = SigV4Auth._inject_signature_to_request  # type: ignore[attr-defined]

    def add_auth(self: Any, request: Any) -> None:
        # Only a signature in the Authorization header (a presigned URL carries its own in the
        # query), and only while moto does not check signatures (it does once IAM checks are on).
        if not (
            speed.SPEED.enabled
            and speed.answered_in_process()
            and type(self)._inject_signature_to_request is header_signature
            and math.isinf(settings.INITIAL_NO_AUTH_ACTION_COUNT)
        ):
            return stock(self, request)
        if self.credentials is None:
            raise NoCredentialsError()
        timestamp = request.context["timestamp"] = get_current_datetime().strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)  # date, token and payload-hash headers
        # The credential scope as botocore writes it (moto reads the account from the key);
        # which headers were signed matters to no one.
        scope = f"{self.credentials.access_key}/{timestamp[:8]}/{self._region_name}/{self._service_name}"
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={scope}/aws4_request, SignedHeaders=host;x-amz-date, "
            f"Signature={FIXED_SIGNATURE}"
        )
        return None

    replace(SigV4Auth, "add_auth", add_auth)


def install_no_retry_checks_on_success() -> None:
    if not once("no-retry-checks-on-success"):
        return
    from botocore.retries.standard import RetryPolicy

    # botocore's standard retry mode runs its whole chain of checkers on every answer,
    # successful or not (~3 % of a saga). A 2xx from moto is never retried: the one checker
    # that could want it (a DynamoDB CRC32 mismatch) checks a header moto computes from the
    # very body it sends.
    stock = RetryPolicy.should_retry

    def should_retry(self: Any, context: Any) -> bool:
        response = context.http_response
        if (
            speed.SPEED.enabled
            and speed.answered_in_process()
            and context.caught_exception is None
            and response is not None
            and 200 <= response.status_code < 300
        ):
            return False
        return bool(stock(self, context))

    replace(RetryPolicy, "should_retry", should_retry)


# --- upgrade guard: what the patches here replace or copy, as written against guard.VERSIONS ---
PATCHED = {
    "botocore.auth.SigV4Auth.add_auth": Pinned(
        "0a37f12b13c3d758df9c2da72b712444ef4b93e3c0543cd7c499a80726b69a66",
        "install_fixed_signatures",
        "the headers botocore adds before signing and the Authorization header's credential scope",
    ),
    "botocore.retries.standard.RetryPolicy.should_retry": Pinned(
        "c8207cf1f444f5660356a644e4a7b553719351fbb8cb47d0685d106938d95361",
        "install_no_retry_checks_on_success",
        "which checkers could retry a 2xx answer",
    ),
}
