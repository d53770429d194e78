"""Routes of the web console: the page shell, its static assets, and a JSON backend behind a login cookie.

- ``GET /console``: the single-page app; ``GET /console/static/...``: its CSS and JS (no CDN).
- ``POST /console/api/login`` ``{accessKeyId, accessKeySecret}`` → session cookie (HttpOnly,
  SameSite=Strict, signed with the key's secret); ``POST /console/api/logout`` clears it.
- Every other ``/console/api/...`` call needs the cookie (401 ``ConsoleLoginRequired`` otherwise)
  and answers errors as FC error JSON ``{ErrorCode, ErrorMessage}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from openfc.api import observe
from openfc.api.errors import fc_error
from openfc.api.state import Platform
from openfc.console import session, views
from openfc.errors import InvalidArgument, OpenFCError
from openfc.invoke import new_request_id

STATIC = Path(__file__).parent / "static"
MAX_BODY = 1024 * 1024
#: The shell and the API never load anything from elsewhere.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

Handler = Callable[[Request, Platform], Awaitable[Response]]


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"ErrorCode": code, "ErrorMessage": message}, status, headers=SECURITY_HEADERS)


def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Require a console session; map domain errors to FC error JSON."""

    async def run(request: Request) -> Response:
        platform: Platform = request.app.state.platform
        if session.verify(platform.verifier.keys, request.cookies.get(session.COOKIE)) is None:
            return _error(401, "ConsoleLoginRequired", "log in to the console with an access key")
        if request.method != "GET" and request.headers.get("content-type", "").split(";")[0] != "application/json":
            return _error(415, "UnsupportedMediaType", "console API calls send application/json")
        request.state.request_id = new_request_id()
        try:
            response = await handler(request, platform)
        except OpenFCError as error:
            response = fc_error(error, request.state.request_id)
        response.headers.update(SECURITY_HEADERS)
        return response

    return run


async def body_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidArgument(f"the request body is larger than {MAX_BODY} bytes")
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        raise InvalidArgument("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return value


def _json(data: Any, status: int = 200) -> Response:
    return JSONResponse(data, status)


# -- shell and session ----------------------------------------------------------------


async def shell(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS, media_type="text/html")


async def to_shell(request: Request) -> Response:
    return RedirectResponse("/console", 308)


async def login(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    try:
        body = await body_json(request)
    except InvalidArgument as error:
        return _error(400, error.code, error.message)
    key_id, secret = body.get("accessKeyId"), body.get("accessKeySecret")
    keys = platform.verifier.keys
    if not isinstance(key_id, str) or not isinstance(secret, str) or not session.check_login(keys, key_id, secret):
        return _error(401, "InvalidAccessKey", "the AccessKey ID or secret is not right")
    response = JSONResponse({"accessKeyId": key_id}, headers=SECURITY_HEADERS)
    response.set_cookie(
        session.COOKIE, session.issue(keys, key_id), max_age=session.TTL, path="/console",
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


async def logout(request: Request) -> Response:
    response = JSONResponse({}, headers=SECURITY_HEADERS)
    response.delete_cookie(session.COOKIE, path="/console", httponly=True, samesite="strict")
    return response


async def whoami(request: Request, p: Platform) -> Response:
    key_id = session.verify(p.verifier.keys, request.cookies.get(session.COOKIE))
    return _json({"accessKeyId": key_id, "region": p.settings.region})


# -- pages ------------------------------------------------------------------------------


def _fn(request: Request) -> tuple[str, str]:
    return request.path_params["service"], request.path_params["function"]


def _arn(request: Request) -> str:
    arn = request.query_params.get("arn")
    if not arn:
        raise InvalidArgument("arn is required")
    return arn


async def services(request: Request, p: Platform) -> Response:
    return _json(await views.services(p))


async def service(request: Request, p: Platform) -> Response:
    return _json(await views.service(p, request.path_params["service"]))


async def function(request: Request, p: Platform) -> Response:
    return _json(await views.function(p, *_fn(request)))


async def invoke(request: Request, p: Platform) -> Response:
    return _json(await views.invoke(p, *_fn(request), await body_json(request)))


async def charts(request: Request, p: Platform) -> Response:
    raw = request.query_params.get("minutes") or "60"
    if not raw.isdigit() or not 1 <= int(raw) <= 1440:
        raise InvalidArgument(f"minutes must be 1-1440, got '{raw}'")
    return _json(await views.charts(p, *_fn(request), int(raw)))


async def async_overview(request: Request, p: Platform) -> Response:
    return _json(await views.async_overview(p))


async def redrive(request: Request, p: Platform) -> Response:
    return _json(await views.redrive(p, request.path_params["letter"]), 202)


async def state_machines(request: Request, p: Platform) -> Response:
    return _json(await views.state_machines(p))


async def state_machine(request: Request, p: Platform) -> Response:
    return _json(await views.state_machine(p, _arn(request)))


async def execution(request: Request, p: Platform) -> Response:
    return _json(await views.execution(p, _arn(request)))


async def start_execution(request: Request, p: Platform) -> Response:
    body = await body_json(request)
    started = await p.workflows.start_execution(
        {"stateMachineArn": body.get("stateMachineArn"), "input": body.get("input") or "{}"}
    )
    return _json(started)


async def not_found(request: Request, p: Platform) -> Response:
    return _error(404, "NotFound", f"no console API at {request.method} {request.url.path}")


A = "/console/api"
F = A + "/services/{service}/functions/{function}"

routes = [
    Route("/console", shell, methods=["GET"]),
    Route("/console/", to_shell, methods=["GET"]),
    Mount("/console/static", app=StaticFiles(directory=STATIC), name="console-static"),
    Route(A + "/login", login, methods=["POST"]),
    Route(A + "/logout", logout, methods=["POST"]),
    Route(A + "/session", api(whoami), methods=["GET"]),
    Route(A + "/services", api(services), methods=["GET"]),
    Route(A + "/services/{service}", api(service), methods=["GET"]),
    Route(F, api(function), methods=["GET"]),
    Route(F + "/invoke", api(invoke), methods=["POST"]),
    Route(F + "/logs", api(observe.logs), methods=["GET"]),
    Route(F + "/records", api(observe.invocation_records), methods=["GET"]),
    Route(F + "/charts", api(charts), methods=["GET"]),
    Route(A + "/async", api(async_overview), methods=["GET"]),
    Route(A + "/dead-letters/{letter}/redrive", api(redrive), methods=["POST"]),
    Route(A + "/state-machines", api(state_machines), methods=["GET"]),
    Route(A + "/state-machine", api(state_machine), methods=["GET"]),
    Route(A + "/execution", api(execution), methods=["GET"]),
    Route(A + "/executions", api(start_execution), methods=["POST"]),
    Route(A + "/{rest:path}", api(not_found), methods=["GET", "POST"]),
]
