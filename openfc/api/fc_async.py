"""FC API routes of async invocation: async invoke configs, stateful async invocations, dead letters.

- ``PUT|GET|DELETE /2016-08-15/services/{s}.{q}/functions/{f}/async-invoke-config``
- ``GET /2016-08-15/services/{s}/functions/{f}/async-invoke-configs`` → ``{configs, nextToken}``
- ``GET …/services/{s}[.{q}]/functions/{f}/stateful-async-invocations`` (``qualifier``,
  ``invocationIdPrefix``, ``status``, ``startedTimeBegin``/``startedTimeEnd`` epoch ms,
  ``sortOrderByTime`` asc|desc, ``includePayload``, ``limit``, ``nextToken``) → ``{invocations, nextToken}``
- ``GET …/stateful-async-invocations/{id}``; stop: ``PUT …/{id}`` or ``PUT|POST …/{id}:stop``
  (already finished → 412 StatefulAsyncInvocationAlreadyCompleted). Also under ``/2021-04-06``.
- openfc extension, dead letters of a function: ``GET …/services/{s}[.{q}]/functions/{f}/dead-letters``
  (``limit``, ``nextToken``, ``includePayload``) → ``{deadLetters, nextToken}``; ``GET|DELETE
  …/dead-letters/{id}``; ``POST …/dead-letters/{id}/redrive`` → the letter, back in the queue.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openfc.api.fc import PREFIX, body_json, doc_response, endpoint, path_service, query
from openfc.api.state import Platform
from openfc.errors import InvalidArgument, NotFound
from openfc.queue import FunctionRef, parse_target
from openfc.store.queue import DeadLetter, InvocationRecord, InvocationStatus


def _ref(request: Request) -> FunctionRef:
    service, qualifier = path_service(request)
    return FunctionRef(service, qualifier, request.path_params["function"])


# -- async invoke config ------------------------------------------------------------------


async def put_config(request: Request, p: Platform) -> Response:
    return doc_response(await p.async_configs.put(*_ref(request), await body_json(request)))


async def get_config(request: Request, p: Platform) -> Response:
    return doc_response(await p.async_configs.get(*_ref(request)))


async def delete_config(request: Request, p: Platform) -> Response:
    await p.async_configs.delete(*_ref(request))
    return Response(status_code=204)


async def list_configs(request: Request, p: Platform) -> Response:
    ref = _ref(request)
    page = await p.async_configs.list(ref.service, ref.function, query(request))
    return JSONResponse({"configs": page.items, "nextToken": page.next_token or ""})


# -- stateful async invocations -----------------------------------------------------------


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", "replace")


def render_invocation(record: InvocationRecord, *, include_payload: bool = True) -> dict[str, Any]:
    service, _, function = record.function.partition("/")
    out: dict[str, Any] = {
        "invocationId": record.id,
        "serviceName": service,
        "functionName": function,
        "qualifier": record.qualifier,
        "status": record.status.value,
        "startedTime": _ms(record.created),
        "endTime": _ms(record.ended),
        "durationMs": None if record.ended is None else _ms(record.ended - record.created),
        "destinationStatus": "",
        "invocationErrorMessage": record.error,
        "returnPayload": _text(record.response),
        "alreadyRetriedTimes": max(record.attempts - 1, 0),
        "requestId": record.request_id,
        "instanceId": "",
        "events": [{"eventId": i + 1, **e} for i, e in enumerate(record.events)],
    }
    if include_payload:
        out["invocationPayload"] = _text(record.payload)
    return out


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes")


def _number(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer (epoch milliseconds or a count), got '{raw}'") from None


async def list_invocations(request: Request, p: Platform) -> Response:
    params = query(request)
    ref = _ref(request)
    qualifier = params.get("qualifier") or (ref.qualifier if "." in request.path_params["service"] else None)
    status = params.get("status") or None
    if status is not None and status not in {s.value for s in InvocationStatus}:
        raise InvalidArgument(f"status must be one of {', '.join(s.value for s in InvocationStatus)}, got '{status}'")
    order = (params.get("sortOrderByTime") or "desc").lower()
    if order not in ("asc", "desc"):
        raise InvalidArgument(f"sortOrderByTime must be 'asc' or 'desc', got '{order}'")
    limit = _number(params, "limit") or 50
    if not 1 <= limit <= 1000:
        raise InvalidArgument(f"limit must be between 1 and 1000, got {limit}")
    offset = _number(params, "nextToken") or 0
    begin, end = _number(params, "startedTimeBegin"), _number(params, "startedTimeEnd")
    records = await p.queue.invocations(
        ref.record_function, qualifier=qualifier, status=status, prefix=params.get("invocationIdPrefix", ""),
        created_from=None if begin is None else begin / 1000, created_to=None if end is None else end / 1000,
        descending=order == "desc", offset=offset, limit=limit + 1,
    )  # fmt: skip
    include = _flag(params.get("includePayload"))
    body: dict[str, Any] = {"invocations": [render_invocation(r, include_payload=include) for r in records[:limit]]}
    if len(records) > limit:
        body["nextToken"] = str(offset + limit)
    return JSONResponse(body)


async def invocation(request: Request, p: Platform) -> Response:
    invocation_id = request.path_params["invocation"]
    if request.method == "POST" and not invocation_id.endswith(":stop"):
        raise NotFound("Path", request.url.path, f"no API at POST {request.url.path}: use PUT or POST …/{{id}}:stop")
    if request.method in ("PUT", "POST"):
        record = await p.queue.stop_invocation(_ref(request).record_function, invocation_id.removesuffix(":stop"))
    else:
        record = await p.queue.invocation(_ref(request).record_function, invocation_id)
    return JSONResponse(render_invocation(record))


# -- dead letters (openfc extension) ------------------------------------------------------


def render_dead_letter(letter: DeadLetter, *, include_payload: bool = True) -> dict[str, Any]:
    owner = parse_target(letter.owner)
    out: dict[str, Any] = {
        "id": letter.id,
        "requestId": letter.request_id,
        "serviceName": owner.service if owner else "",
        "qualifier": owner.qualifier if owner else "",
        "functionName": owner.function if owner else "",
        "target": letter.target,
        "status": letter.status.value,
        "errorMessage": letter.error,
        "attempts": letter.attempts,
        "enqueuedTime": _ms(letter.created),
        "failedTime": _ms(letter.failed),
    }
    if include_payload:
        out["payload"] = _text(letter.payload)
    return out


async def list_dead_letters(request: Request, p: Platform) -> Response:
    params = query(request)
    limit = _number(params, "limit") or 100
    if not 1 <= limit <= 1000:
        raise InvalidArgument(f"limit must be between 1 and 1000, got {limit}")
    letters = await p.queue.dead_letters(_ref(request).target, start=params.get("nextToken", ""), limit=limit + 1)
    include = _flag(params.get("includePayload"))
    body: dict[str, Any] = {"deadLetters": [render_dead_letter(x, include_payload=include) for x in letters[:limit]]}
    if len(letters) > limit:
        body["nextToken"] = letters[limit].id
    return JSONResponse(body)


async def _own_letter(request: Request, p: Platform) -> DeadLetter:
    letter = await p.queue.dead_letter(request.path_params["letter"])
    if letter.owner != _ref(request).target:
        raise NotFound("DeadLetter", letter.id, f"dead letter '{letter.id}' does not belong to {_ref(request).target}")
    return letter


async def get_dead_letter(request: Request, p: Platform) -> Response:
    return JSONResponse(render_dead_letter(await _own_letter(request, p)))


async def delete_dead_letter(request: Request, p: Platform) -> Response:
    await p.queue.delete_dead_letter((await _own_letter(request, p)).id)
    return Response(status_code=204)


async def redrive_dead_letter(request: Request, p: Platform) -> Response:
    letter = await p.queue.redrive((await _own_letter(request, p)).id)
    return JSONResponse(render_dead_letter(letter), 202)


F = PREFIX + "/services/{service}/functions/{function}"
F2021 = "/2021-04-06/services/{service}/functions/{function}"

routes = [
    Route(F + "/async-invoke-config", endpoint(put_config), methods=["PUT"]),
    Route(F + "/async-invoke-config", endpoint(get_config), methods=["GET"]),
    Route(F + "/async-invoke-config", endpoint(delete_config), methods=["DELETE"]),
    Route(F + "/async-invoke-configs", endpoint(list_configs), methods=["GET"]),
    *(
        route
        for base in (F, F2021)
        for route in (
            Route(base + "/stateful-async-invocations", endpoint(list_invocations), methods=["GET"]),
            Route(
                base + "/stateful-async-invocations/{invocation}", endpoint(invocation), methods=["GET", "PUT", "POST"]
            ),  # fmt: skip
        )
    ),
    Route(F + "/dead-letters", endpoint(list_dead_letters), methods=["GET"]),
    Route(F + "/dead-letters/{letter}", endpoint(get_dead_letter), methods=["GET"]),
    Route(F + "/dead-letters/{letter}", endpoint(delete_dead_letter), methods=["DELETE"]),
    Route(F + "/dead-letters/{letter}/redrive", endpoint(redrive_dead_letter), methods=["POST"]),
]
