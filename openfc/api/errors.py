"""Domain errors → the FC wire format ``{"ErrorCode", "ErrorMessage"}`` with the right status."""

from __future__ import annotations

import json

from starlette.responses import Response

from openfc.errors import (
    AuthError,
    Conflict,
    EntityTooLarge,
    InstanceError,
    InvalidArgument,
    NotFound,
    OpenFCError,
    PreconditionFailed,
    Throttled,
)

STATUS: list[tuple[type[OpenFCError], int]] = [
    (InvalidArgument, 400),
    (NotFound, 404),
    (Conflict, 409),
    (PreconditionFailed, 412),
    (EntityTooLarge, 413),
    (Throttled, 429),
    # Not 500: the SDK's urllib3 retries GET/PUT/DELETE five times on 500/502/504.
    (InstanceError, 503),
]


def status_of(error: OpenFCError) -> int:
    if isinstance(error, AuthError):
        return error.status
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def fc_error(error: OpenFCError, request_id: str) -> Response:
    body = json.dumps({"ErrorCode": error.code, "ErrorMessage": error.message, "RequestId": request_id})
    headers = {"x-fc-request-id": request_id}
    if isinstance(error, Throttled):
        headers["Retry-After"] = "1"
    return Response(body, status_of(error), headers=headers, media_type="application/json")
