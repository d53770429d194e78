"""The HTTP gateway: HTTP triggers at ``/2016-08-15/proxy/{service}[.{qualifier}]/{function}/{path}``
and custom domains (by ``Host``), with per-trigger rate limits, body limits, CORS and an access log.

A request runs the function behind the qualifier's ``http`` trigger. ``authType: function`` needs
the FC signature over the path and sorted query (FC_API.md §1); ``methods`` bounds the verbs (405).
Python functions get the request as WSGI (``handler(environ, start_response)``), custom runtimes
as-is; with the openfc extension ``triggerConfig.handlerType: "event"`` an event function gets FC's
HTTP event JSON instead and may answer ``{statusCode, headers, body, isBase64Encoded}``.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import sys
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from openfc.api.errors import fc_error
from openfc.api.fc import PREFIX
from openfc.api.state import Platform
from openfc.control import LATEST, split_qualifier
from openfc.control.domains import match
from openfc.errors import EntityTooLarge, InvalidArgument, NotFound, OpenFCError, Throttled
from openfc.invoke import Invocation, new_request_id
from openfc.pool.spec import HttpRequest
from openfc.store import JSON, Doc
from openfc.triggers.config import DEFAULT_MAX_BODY

HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
#: How long a node trusts its cache of a function's HTTP triggers (changes here apply at once).
TRIGGER_CACHE_TTL = 2.0


def access_logger() -> logging.Logger:
    """``openfc.access``: one line per gateway request, to stderr unless logging is configured."""
    logger = logging.getLogger("openfc.access")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> float:
        """0 if a token was taken, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Gateway:
    """Per-node gateway state: trigger cache and rate-limit buckets."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._buckets: dict[str, tuple[tuple[float, int], TokenBucket]] = {}
        self._triggers: dict[tuple[str, str, str], tuple[float, Doc | None]] = {}
        self.log = access_logger()
        self.platform.triggers.triggers.listen(self._forget)

    async def _forget(self, key: str, doc: Doc | None) -> None:
        self._triggers.clear()

    async def trigger(self, service: str, qualifier: str, function: str) -> Doc:
        cache_key = (service, qualifier, function)
        cached = self._triggers.get(cache_key)
        if cached is None or time.monotonic() - cached[0] > TRIGGER_CACHE_TTL:
            docs = await self.platform.triggers.triggers.of_function(service, function)
            found = [d for d in docs if d.body["triggerType"] == "http" and d.body["qualifier"] == qualifier]
            if not found and not docs:
                await self.platform.registry.function(service, function)  # 404 FunctionNotFound
            cached = (time.monotonic(), found[0] if found else None)
            self._triggers[cache_key] = cached
        if cached[1] is None:
            raise NotFound("Trigger", "http", f"function '{service}.{qualifier}/{function}' has no HTTP trigger")
        return cached[1]

    def throttle(self, key: str, config: JSON) -> None:
        rate = config.get("rateLimit")
        if not rate:
            return
        limits = (float(rate["requestsPerSecond"]), int(rate["burst"]))
        entry = self._buckets.get(key)
        if entry is None or entry[0] != limits:
            entry = (limits, TokenBucket(*limits))
            self._buckets[key] = entry
        wait = entry[1].take()
        if wait:
            error = Throttled(f"the HTTP trigger's rate limit ({limits[0]:g}/s, burst {limits[1]}) is exceeded")
            error.retry_after = max(1, math.ceil(wait))  # type: ignore[attr-defined]
            raise error

    async def serve(self, request: Request, *, service: str, qualifier: str, function: str, path: str) -> Response:
        request_id = request.headers.get("x-fc-request-id") or new_request_id()
        started = time.perf_counter()
        trigger_name = "-"
        cors: JSON | None = None
        try:
            trigger = await self.trigger(service, qualifier, function)
            trigger_name = trigger.body["triggerName"]
            config = trigger.body["triggerConfig"]
            cors = config.get("cors")
            if request.method == "OPTIONS" and cors and "access-control-request-method" in request.headers:
                response = preflight(request, cors)
            else:
                response = await self._call(request, trigger, config, service, qualifier, function, path, request_id)
        except OpenFCError as error:
            response = fc_error(error, request_id)
            retry_after = getattr(error, "retry_after", None)
            if retry_after is not None:
                response.headers["Retry-After"] = str(retry_after)
        response.headers["x-fc-request-id"] = request_id
        if cors:
            add_cors(request, cors, response)
        client = request.client.host if request.client else "-"
        self.log.info(
            '%s "%s %s" %d %s %.1fms host=%s function=%s.%s/%s trigger=%s request_id=%s', client, request.method,
            request.url.path, response.status_code, response.headers.get("content-length", "-"),
            (time.perf_counter() - started) * 1000, request.headers.get("host", "-"), service, qualifier, function,
            trigger_name, request_id,
        )  # fmt: skip
        return response

    async def _call(self, request: Request, trigger: Doc, config: JSON, service: str, qualifier: str, function: str,
                    path: str, request_id: str) -> Response:  # fmt: skip
        p = self.platform
        if request.method not in config["methods"]:
            allowed = ", ".join(config["methods"])
            message = f"method {request.method} is not allowed: the trigger allows {allowed}"
            return JSONResponse({"ErrorCode": "MethodNotAllowed", "ErrorMessage": message}, 405, {"Allow": allowed})
        limit = int(config.get("maxBodyBytes", DEFAULT_MAX_BODY))
        if int(request.headers.get("content-length") or 0) > limit:
            raise EntityTooLarge(f"the request body is larger than the trigger's limit of {limit} bytes")
        if config["authType"] == "function":
            pairs = parse_qsl(request.url.query, keep_blank_values=True)
            p.verifier.verify(request.method, request.headers, request.url.path, query=pairs)
        self.throttle(trigger.key, config)
        body = await request.body()
        if len(body) > limit:
            raise EntityTooLarge(f"the request body is larger than the trigger's limit of {limit} bytes")
        client_ip = request.client.host if request.client else ""
        if request.headers.get("x-fc-invocation-type", "").lower() == "async":
            if config.get("handlerType") != "event":
                raise InvalidArgument("X-Fc-Invocation-Type: Async needs an event function (handlerType: event)")
            event = http_event(request, path, body, request_id, client_ip)
            invocation = Invocation(service, qualifier, function, json.dumps(event).encode(), request_id=request_id,
                                    trace_id=request.headers.get("x-fc-trace-id") or new_request_id())  # fmt: skip
            await p.async_invoker.submit(invocation)
            return Response(status_code=202)
        if config.get("handlerType") == "event":
            return await self._call_event(request, service, qualifier, function, path, body, request_id, client_ip)
        http = HttpRequest(
            request.method, path, request.url.query,
            tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw), body, client_ip,
        )  # fmt: skip
        trace_id = request.headers.get("x-fc-trace-id") or new_request_id()
        invocation = Invocation(
            service, qualifier, function, body, request_id=request_id, trace_id=trace_id, kind="HTTP"
        )
        result = await p.invoker.run_http(invocation, http, wait=p.settings.throttle_wait)
        response = Response(result.body, result.status)
        response.raw_headers = [h for h in response.raw_headers if h[0] == b"content-length"]
        for name, value in result.headers:
            if name.lower() not in HOP_BY_HOP:
                response.raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        if result.error_type:
            response.headers["x-fc-error-type"] = result.error_type
        return response

    async def _call_event(self, request: Request, service: str, qualifier: str, function: str, path: str,
                          body: bytes, request_id: str, client_ip: str) -> Response:  # fmt: skip
        event = http_event(request, path, body, request_id, client_ip)
        trace_id = request.headers.get("x-fc-trace-id") or new_request_id()
        invocation = Invocation(
            service,
            qualifier,
            function,
            json.dumps(event).encode(),
            request_id=request_id,
            trace_id=trace_id,
            kind="HTTP",
        )
        outcome = await self.platform.invoker.run(invocation, wait=self.platform.settings.throttle_wait)
        result = outcome.result
        if result.error_type:
            return Response(result.body, 502, headers={"x-fc-error-type": result.error_type},
                            media_type="application/json")  # fmt: skip
        return event_response(result.body)


def http_event(request: Request, path: str, body: bytes, request_id: str, client_ip: str) -> JSON:
    """FC's HTTP trigger event for event functions."""
    try:
        text, encoded = body.decode(), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = time.time()
    return {
        "version": "v1",
        "rawPath": path,
        "headers": {k.title(): v for k, v in request.headers.items()},
        "queryParameters": dict(parse_qsl(request.url.query, keep_blank_values=True)),
        "body": text,
        "isBase64Encoded": encoded,
        "requestContext": {
            "requestId": request_id,
            "domainName": request.headers.get("host", ""),
            "http": {
                "method": request.method,
                "path": path,
                "protocol": f"HTTP/{request.scope.get('http_version')}",
                "sourceIp": client_ip,
                "userAgent": request.headers.get("user-agent", ""),
            },  # fmt: skip
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": str(int(now * 1000)),
        },
    }


def event_response(body: bytes) -> Response:
    """An event function's answer: ``{statusCode, headers, body, isBase64Encoded}``, else the raw body."""
    try:
        value: Any = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict) or "statusCode" not in value:
        return Response(body, 200)
    content = value.get("body", "")
    if not isinstance(content, str):
        content = json.dumps(content)
    data = base64.b64decode(content) if value.get("isBase64Encoded") else content.encode()
    headers = {str(k): str(v) for k, v in (value.get("headers") or {}).items()}
    return Response(data, int(value["statusCode"]), headers=headers)


def _origin_allowed(request: Request, cors: JSON) -> str | None:
    origin = request.headers.get("origin")
    if not origin:
        return None
    allowed = cors["allowOrigins"]
    if "*" in allowed:
        return "*" if not cors["allowCredentials"] else origin
    return origin if origin in allowed else None


def preflight(request: Request, cors: JSON) -> Response:
    origin = _origin_allowed(request, cors)
    if origin is None:
        return JSONResponse({"ErrorCode": "AccessDenied", "ErrorMessage": "CORS: origin not allowed"}, 403)
    methods = cors["allowMethods"] or [request.headers["access-control-request-method"]]
    headers = {
        "Access-Control-Allow-Methods": ", ".join(methods),
        "Access-Control-Max-Age": str(cors["maxAge"]),
    }
    asked = request.headers.get("access-control-request-headers")
    allow_headers = ", ".join(cors["allowHeaders"]) if cors["allowHeaders"] else asked
    if allow_headers:
        headers["Access-Control-Allow-Headers"] = allow_headers
    return Response(status_code=204, headers=headers)


def add_cors(request: Request, cors: JSON, response: Response) -> None:
    origin = _origin_allowed(request, cors)
    if origin is None:
        return
    response.headers["Access-Control-Allow-Origin"] = origin
    if origin != "*":
        response.headers["Vary"] = "Origin"
    if cors["allowCredentials"]:
        response.headers["Access-Control-Allow-Credentials"] = "true"
    if cors["exposeHeaders"]:
        response.headers["Access-Control-Expose-Headers"] = ", ".join(cors["exposeHeaders"])


# -- routes -------------------------------------------------------------------------------


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def proxy(request: Request) -> Response:
    service, qualifier = split_qualifier(request.path_params["service"])
    path = "/" + request.path_params.get("path", "")
    return await gateway_of(request).serve(request, service=service, qualifier=qualifier,
                                           function=request.path_params["function"], path=path)  # fmt: skip


METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]
routes = [
    Route(PREFIX + "/proxy/{service}/{function}/{path:path}", proxy, methods=METHODS),
    Route(PREFIX + "/proxy/{service}/{function}", proxy, methods=METHODS),
]


class DomainRouter:
    """ASGI middleware: requests whose ``Host`` is a custom domain go to the gateway by route."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway
        self.platform = gateway.platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        routes = await self.platform.domains.routes(host) if host else None
        if routes is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self._serve(request, routes)
        await response(scope, receive, send)

    async def _serve(self, request: Request, routes: list[Any]) -> Response:
        route = match(routes, request.url.path)
        if route is None:
            message = f"no route of this domain matches '{request.url.path}'"
            return fc_error(NotFound("Route", request.url.path, message), new_request_id())
        if route.methods and request.method not in route.methods and request.method != "OPTIONS":
            message = f"method {request.method} is not allowed on this route"
            return JSONResponse({"ErrorCode": "MethodNotAllowed", "ErrorMessage": message}, 405)
        return await self.gateway.serve(request, service=route.service, qualifier=route.qualifier or LATEST,
                                         function=route.function, path=request.url.path)  # fmt: skip
