"""The Function Compute 2.0 REST API (version 2016-08-15): routes over control and invoke."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openfc.api.errors import fc_error
from openfc.api.state import Platform
from openfc.control import Page, render, split_qualifier
from openfc.errors import EntityTooLarge, InvalidArgument, NotFound, OpenFCError
from openfc.invoke import Invocation, new_request_id
from openfc.store import Doc

PREFIX = "/2016-08-15"
#: Largest management request body: a 100 MB zip, base64-encoded, plus the JSON around it.
MAX_BODY = 140 * 1024 * 1024
CODE_URL_TTL = 3600

Handler = Callable[[Request, Platform], Awaitable[Response]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate with the FC signature, run ``handler``, map domain errors, tag the request id."""

    async def run(request: Request) -> Response:
        platform: Platform = request.app.state.platform
        headers = dict(request.headers.items())  # one pass over the raw headers; names are lower-case
        request_id = headers.get("x-fc-request-id") or new_request_id()
        request.state.request_id = request_id
        try:
            platform.verifier.verify(request.method, headers, request.scope["path"])
            response = await handler(request, platform)
        except OpenFCError as error:
            return fc_error(error, request_id)
        response.headers["x-fc-request-id"] = request_id
        return response

    return run


async def body_json(request: Request) -> dict[str, Any]:
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_BODY:
        raise EntityTooLarge(f"the request body is {length} bytes: at most {MAX_BODY // 2**20} MB is accepted")
    raw = await request.body()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise InvalidArgument(f"the request body is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return value


def doc_response(doc: Doc, status: int = 200) -> Response:
    return JSONResponse(render(doc), status, headers={"etag": doc.etag})


def page_response(key: str, page: Page) -> Response:
    body: dict[str, Any] = {key: page.items}
    if page.next_token:
        body["nextToken"] = page.next_token
    return JSONResponse(body)


def query(request: Request) -> dict[str, str]:
    return dict(request.query_params)


def if_match(request: Request) -> str | None:
    return request.headers.get("if-match")


def path_service(request: Request) -> tuple[str, str]:
    return split_qualifier(request.path_params["service"])


# -- account and services -----------------------------------------------------------------


async def account_settings(request: Request, p: Platform) -> Response:
    return JSONResponse({"availableAZs": [p.settings.region], "defaultRole": ""})


async def create_service(request: Request, p: Platform) -> Response:
    return doc_response(await p.registry.create_service(await body_json(request)))


async def list_services(request: Request, p: Platform) -> Response:
    return page_response("services", await p.registry.list_services(query(request)))


async def get_service(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    doc = await p.registry.service(service)
    await p.registry.check_qualifier(service, qualifier)
    return doc_response(doc)


async def update_service(request: Request, p: Platform) -> Response:
    service = request.path_params["service"]
    return doc_response(await p.registry.update_service(service, await body_json(request), if_match(request)))


async def delete_service(request: Request, p: Platform) -> Response:
    service = request.path_params["service"]
    await p.registry.delete_service(service, if_match(request))
    p.pool.retire(service)
    return Response(status_code=204)


# -- functions ----------------------------------------------------------------------------


async def create_function(request: Request, p: Platform) -> Response:
    service = request.path_params["service"]
    return doc_response(await p.registry.create_function(service, await body_json(request)))


async def list_functions(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    return page_response("functions", await p.registry.list_functions(service, qualifier, query(request)))


async def get_function(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    return doc_response(await p.registry.function_as_of(service, qualifier, request.path_params["function"]))


async def update_function(request: Request, p: Platform) -> Response:
    service, function = request.path_params["service"], request.path_params["function"]
    doc = await p.registry.update_function(service, function, await body_json(request), if_match(request))
    return doc_response(doc)


async def delete_function(request: Request, p: Platform) -> Response:
    service, function = request.path_params["service"], request.path_params["function"]
    await p.registry.delete_function(service, function, if_match(request))
    await p.async_configs.delete_function(service, function)
    await p.triggers.triggers.delete_function(service, function)
    p.pool.retire(service, function)
    return Response(status_code=204)


def code_signature(secret: str, digest: str, expires: int) -> str:
    return hmac.new(secret.encode(), f"{digest}\n{expires}".encode(), hashlib.sha256).hexdigest()


async def get_function_code(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    digest, checksum = await p.registry.function_code(service, qualifier, request.path_params["function"])
    expires = int(time.time()) + CODE_URL_TTL
    signature = code_signature(p.key.secret, digest, expires)
    url = f"{request.base_url}{PREFIX[1:]}/code/{digest}?expires={expires}&signature={signature}"
    return JSONResponse({"checksum": checksum, "url": url})


async def download_code(request: Request) -> Response:
    """The pre-signed code URL ``get_function_code`` hands out (no FC signature needed)."""
    platform: Platform = request.app.state.platform
    digest = request.path_params["digest"]
    try:
        expires = int(request.query_params.get("expires", "0"))
    except ValueError:
        expires = 0
    expected = code_signature(platform.key.secret, digest, expires)
    if expires < time.time() or not hmac.compare_digest(expected, request.query_params.get("signature", "")):
        return JSONResponse({"ErrorCode": "AccessDenied", "ErrorMessage": "the code URL is invalid or expired"}, 403)
    data = await platform.store.get_blob(digest)
    if data is None:
        return JSONResponse({"ErrorCode": "CodeNotFound", "ErrorMessage": "the code package is gone"}, 404)
    return Response(data, media_type="application/zip")


# -- versions and aliases -----------------------------------------------------------------


async def publish_version(request: Request, p: Platform) -> Response:
    service = request.path_params["service"]
    return doc_response(await p.registry.versions.publish(service, await body_json(request), if_match(request)))


async def list_versions(request: Request, p: Platform) -> Response:
    items, token = await p.registry.versions.list(request.path_params["service"], query(request))
    return page_response("versions", Page(items, token))


async def delete_version(request: Request, p: Platform) -> Response:
    await p.registry.versions.delete(request.path_params["service"], request.path_params["version"])
    return Response(status_code=204)


async def create_alias(request: Request, p: Platform) -> Response:
    service = request.path_params["service"]
    return doc_response(await p.registry.versions.create_alias(service, await body_json(request)))


async def list_aliases(request: Request, p: Platform) -> Response:
    return page_response(
        "aliases", await p.registry.versions.list_aliases(request.path_params["service"], query(request))
    )


async def get_alias(request: Request, p: Platform) -> Response:
    return doc_response(await p.registry.versions.alias(request.path_params["service"], request.path_params["alias"]))


async def update_alias(request: Request, p: Platform) -> Response:
    service, alias = request.path_params["service"], request.path_params["alias"]
    body = await body_json(request)
    return doc_response(await p.registry.versions.update_alias(service, alias, body, if_match(request)))


async def delete_alias(request: Request, p: Platform) -> Response:
    service, alias = request.path_params["service"], request.path_params["alias"]
    await p.registry.versions.delete_alias(service, alias, if_match(request))
    return Response(status_code=204)


# -- on-demand config ---------------------------------------------------------------------


async def put_on_demand(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    doc = await p.registry.put_on_demand(service, qualifier, request.path_params["function"], await body_json(request))
    return doc_response(doc)


async def get_on_demand(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    return doc_response(await p.registry.on_demand(service, qualifier, request.path_params["function"]))


async def delete_on_demand(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    await p.registry.delete_on_demand(service, qualifier, request.path_params["function"])
    return Response(status_code=204)


async def list_on_demand(request: Request, p: Platform) -> Response:
    return page_response("configs", await p.registry.list_on_demand(query(request)))


# -- invocation ---------------------------------------------------------------------------


async def invoke(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    kind = request.headers.get("x-fc-invocation-type", "Sync")
    if kind not in ("Sync", "Async"):
        raise InvalidArgument(f"x-fc-invocation-type must be 'Sync' or 'Async', got '{kind}'")
    log_type = request.headers.get("x-fc-log-type", "None")
    if log_type not in ("None", "Tail"):
        raise InvalidArgument(f"x-fc-log-type must be 'None' or 'Tail', got '{log_type}'")
    invocation = Invocation(
        service,
        qualifier,
        request.path_params["function"],
        await request.body(),
        request_id=request.state.request_id,
        trace_id=request.headers.get("x-fc-trace-id") or new_request_id(),
    )
    if kind == "Async":  # -- async invocation (openfc.queue): committed before the 202 --
        accepted = await p.async_invoker.submit(
            invocation, stateful_id=request.headers.get("x-fc-stateful-async-invocation-id") or None
        )
        async_headers = {"x-fc-request-id": accepted.request_id}
        if accepted.stateful_id is not None:
            async_headers["x-fc-stateful-async-invocation-id"] = accepted.stateful_id
        return Response(status_code=202, headers=async_headers)
    outcome = await p.invoker.run(invocation)
    result = outcome.result
    headers = {
        "x-fc-invocation-duration": str(int(result.duration_ms)),
        "x-fc-invocation-service-version": outcome.spec.version_id,
        "x-fc-max-memory-usage": f"{result.max_memory_mb:.2f}",
        "x-fc-code-checksum": outcome.target.code_checksum,
        "x-fc-instance-id": result.instance_id,
        "x-fc-trace-id": invocation.trace_id,
    }
    if log_type == "Tail":
        headers["x-fc-log-result"] = outcome.log_tail
    if result.error_type:
        headers["x-fc-error-type"] = result.error_type
    return Response(result.body, 200, headers=headers, media_type="application/octet-stream")


def not_found(request: Request, p: Platform) -> Awaitable[Response]:
    raise NotFound("Path", request.url.path, f"no API at {request.method} {request.url.path}")


S = PREFIX + "/services/{service}"
F = S + "/functions/{function}"

#: The hot path: the app matches it before every other route.
invoke_route = Route(F + "/invocations", endpoint(invoke), methods=["POST"])

routes = [
    Route(PREFIX + "/account-settings", endpoint(account_settings), methods=["GET"]),
    Route(PREFIX + "/services", endpoint(create_service), methods=["POST"]),
    Route(PREFIX + "/services", endpoint(list_services), methods=["GET"]),
    Route(S, endpoint(get_service), methods=["GET"]),
    Route(S, endpoint(update_service), methods=["PUT"]),
    Route(S, endpoint(delete_service), methods=["DELETE"]),
    Route(S + "/versions", endpoint(publish_version), methods=["POST"]),
    Route(S + "/versions", endpoint(list_versions), methods=["GET"]),
    Route(S + "/versions/{version}", endpoint(delete_version), methods=["DELETE"]),
    Route(S + "/aliases", endpoint(create_alias), methods=["POST"]),
    Route(S + "/aliases", endpoint(list_aliases), methods=["GET"]),
    Route(S + "/aliases/{alias}", endpoint(get_alias), methods=["GET"]),
    Route(S + "/aliases/{alias}", endpoint(update_alias), methods=["PUT"]),
    Route(S + "/aliases/{alias}", endpoint(delete_alias), methods=["DELETE"]),
    Route(S + "/functions", endpoint(create_function), methods=["POST"]),
    Route(S + "/functions", endpoint(list_functions), methods=["GET"]),
    Route(F, endpoint(get_function), methods=["GET"]),
    Route(F, endpoint(update_function), methods=["PUT"]),
    Route(F, endpoint(delete_function), methods=["DELETE"]),
    Route(F + "/code", endpoint(get_function_code), methods=["GET"]),
    Route(F + "/on-demand-config", endpoint(put_on_demand), methods=["PUT"]),
    Route(F + "/on-demand-config", endpoint(get_on_demand), methods=["GET"]),
    Route(F + "/on-demand-config", endpoint(delete_on_demand), methods=["DELETE"]),
    Route(PREFIX + "/on-demand-configs", endpoint(list_on_demand), methods=["GET"]),
    Route(PREFIX + "/code/{digest}", download_code, methods=["GET"]),
    Route(PREFIX + "/{rest:path}", endpoint(not_found), methods=["GET", "POST", "PUT", "DELETE"]),
]
