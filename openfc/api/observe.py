"""openfc's observability API (an extension beside FC's): invocation records, logs, usage, /metrics.

- ``GET /2016-08-15/services/{s}/functions/{f}/invocation-records`` ``?qualifier&versionId&status&requestId
  &startTime&endTime&limit&nextToken`` → ``{records: [...], nextToken}`` (newest first)
- ``GET /2016-08-15/services/{s}/functions/{f}/logs`` ``?requestId&text&startTime&endTime&limit&after&wait``
  → ``{logs: [{id, time, requestId, instanceId, traceId, message}], cursor}``; ``after=<cursor>&wait=<s>``
  long-polls for new lines (follow).
- ``GET /2016-08-15/usage`` ``?startDate&endDate&serviceName&functionName`` (YYYY-MM-DD, UTC, inclusive)
  → ``{usage: [...], totals, prices, estimate: {monthly, currency}}``
- ``GET /metrics``: Prometheus text format (unauthenticated, like ``/healthz``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openfc.api.fc import PREFIX, endpoint
from openfc.api.state import Platform
from openfc.control import validation
from openfc.errors import InvalidArgument
from openfc.observe import report
from openfc.store.observations import CallRecord, LogLine

MAX_WAIT = 30.0


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def time_param(request: Request, name: str) -> int | None:
    """``startTime``/``endTime``: epoch milliseconds or ISO 8601."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"{name} must be epoch milliseconds or ISO 8601, got '{raw}'") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1000)


def int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise InvalidArgument(f"{name} must be an integer, got '{raw}'")
    return int(raw)


def record_json(record: CallRecord) -> dict[str, object]:
    return {
        "requestId": record.request_id, "serviceName": record.service, "functionName": record.function,
        "qualifier": record.qualifier, "versionId": record.version_id, "startTime": iso(record.start_ms),
        "durationMs": record.duration_ms, "billedDurationMs": record.billed_ms, "memoryMB": record.memory_mb,
        "coldStart": record.cold_start, "status": str(record.status), "errorType": record.error_type,
        "bytesIn": record.bytes_in, "bytesOut": record.bytes_out, "traceId": record.trace_id,
        "invocationType": record.invocation_type, "instanceId": record.instance_id,
    }  # fmt: skip


async def invocation_records(request: Request, p: Platform) -> Response:
    service, function = request.path_params["service"], request.path_params["function"]
    await p.registry.function(service, function)
    q = request.query_params
    limit = validation.limit(q.get("limit"))
    await p.recorder.flush()
    rows = await p.store.records_query(
        service, function, qualifier=q.get("qualifier"), version_id=q.get("versionId"), status=q.get("status"),
        request_id=q.get("requestId"), start_ms=time_param(request, "startTime"),
        end_ms=time_param(request, "endTime"), before_id=int_param(request, "nextToken"), limit=limit + 1,
    )  # fmt: skip
    body: dict[str, object] = {"records": [record_json(r) for _, r in rows[:limit]]}
    if len(rows) > limit:
        body["nextToken"] = str(rows[limit - 1][0])
    return JSONResponse(body)


async def logs(request: Request, p: Platform) -> Response:
    service, function = request.path_params["service"], request.path_params["function"]
    await p.registry.function(service, function)
    q = request.query_params
    limit = validation.limit(q.get("limit"))
    after = int_param(request, "after")
    try:
        wait = min(float(q.get("wait") or 0), MAX_WAIT)
    except ValueError:
        raise InvalidArgument(f"wait must be a number of seconds, got '{q.get('wait')}'") from None

    async def fetch() -> Sequence[tuple[int, LogLine]]:
        return await p.store.logs_query(
            service, function, request_id=q.get("requestId"), text=q.get("text"),
            start_ms=time_param(request, "startTime"), end_ms=time_param(request, "endTime"),
            after_id=after, limit=limit,
        )  # fmt: skip

    rows = await fetch()
    deadline = asyncio.get_running_loop().time() + wait
    while not rows and after is not None and asyncio.get_running_loop().time() < deadline:
        # Wake on each flush, and at least every second to notice a client that went away.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(1.0, max(0.0, deadline - asyncio.get_running_loop().time()))):
                async with p.recorder.flushed:
                    await p.recorder.flushed.wait()
        if await request.is_disconnected():
            return Response(status_code=204)
        rows = await fetch()
    lines = [
        {"id": i, "time": iso(x.time_ms), "requestId": x.request_id, "instanceId": x.instance_id,
         "traceId": x.trace_id, "message": x.message}
        for i, x in rows
    ]  # fmt: skip
    cursor = rows[-1][0] if rows else (after or 0)
    return JSONResponse({"logs": lines, "cursor": cursor})


def day_param(request: Request, name: str, default: date) -> date:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidArgument(f"{name} must be a date YYYY-MM-DD, got '{raw}'") from None


async def usage(request: Request, p: Platform) -> Response:
    today = datetime.now(UTC).date()
    start = day_param(request, "startDate", today - timedelta(days=29))
    end = day_param(request, "endDate", today)
    if end < start:
        raise InvalidArgument("endDate is before startDate")
    start_ms = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() * 1000)
    end_ms = int(datetime(end.year, end.month, end.day, tzinfo=UTC).timestamp() * 1000) + 86_400_000
    await p.recorder.flush()
    rows = await p.store.usage_query(
        start_ms=start_ms, end_ms=end_ms, service=request.query_params.get("serviceName") or None,
        function=request.query_params.get("functionName") or None,
    )  # fmt: skip
    return JSONResponse(report(rows, p.prices, (end - start).days + 1))


async def metrics(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    platform.metrics.ops = await platform.store.operations()
    return Response(platform.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


F = PREFIX + "/services/{service}/functions/{function}"

routes = [
    Route(F + "/invocation-records", endpoint(invocation_records), methods=["GET"]),
    Route(F + "/logs", endpoint(logs), methods=["GET"]),
    Route(PREFIX + "/usage", endpoint(usage), methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
