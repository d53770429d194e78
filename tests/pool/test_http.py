"""HTTP calls to Python functions: WSGI per FC (environ, start_response, binary-safe bodies, repeated headers)."""

from __future__ import annotations

import json

from openfc.pool import CallContext, FailureKind
from openfc.pool.spec import HttpRequest

WSGI = """
import json
def handler(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if environ["PATH_INFO"] == "/raise":
        raise RuntimeError("wsgi boom")
    info = {k: v for k, v in environ.items() if isinstance(v, str)}
    info["request_id"] = environ["fc.context"].request_id
    info["body_hex"] = body.hex()
    start_response("207 Multi-Status", [("Content-Type", "application/json"), ("Set-Cookie", "a=1"),
                                        ("Set-Cookie", "b=2")])
    yield json.dumps(info).encode()
    yield b"\\n\\x00\\xff"
"""


def call(harness, pool, spec, request):
    return harness.run(pool.invoke_http(spec, request, CallContext("http-1", qualifier="prod"), max_instances=2))


def test_wsgi_environ_and_response(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": WSGI}))
    request = HttpRequest(
        "POST", "/path/with space", "a=1&b=%20", (("Content-Type", "application/octet-stream"), ("Host", "fn.local"),
        ("Cookie", "x=1"), ("Cookie", "y=2"), ("X-Multi", "1"), ("X-Multi", "2")), b"\x00\x01\xfe", "192.0.2.7",
    )  # fmt: skip
    result = call(harness, pool, spec, request)
    assert result.failure is None and result.status == 207 and result.cold_start
    assert result.headers == [("Content-Type", "application/json"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    head, tail = result.body.split(b"\n", 1)
    assert tail == b"\x00\xff"
    env = json.loads(head)
    assert env["REQUEST_METHOD"] == "POST" and env["PATH_INFO"] == "/path/with space"
    assert env["QUERY_STRING"] == "a=1&b=%20" and env["CONTENT_TYPE"] == "application/octet-stream"
    assert env["CONTENT_LENGTH"] == "3" and env["SERVER_PROTOCOL"] == "HTTP/1.1" and env["REMOTE_ADDR"] == "192.0.2.7"
    assert env["HTTP_COOKIE"] == "x=1; y=2" and env["HTTP_X_MULTI"] == "1,2" and env["HTTP_HOST"] == "fn.local"
    assert env["fc.request_uri"] == "/path/with%20space?a=1&b=%20" and env["request_id"] == "http-1"
    assert env["body_hex"] == "0001fe"
    again = call(harness, pool, spec, HttpRequest("GET", "/"))
    assert again.status == 207 and not again.cold_start and again.instance_id == result.instance_id


def test_wsgi_exception_is_a_function_error(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": WSGI}))
    result = call(harness, pool, spec, HttpRequest("GET", "/raise"))
    assert result.failure is FailureKind.EXCEPTION and result.status == 502
    assert json.loads(result.body)["errorMessage"] == "wsgi boom"
    assert result.error_type == "UnhandledInvocationError"


def test_http_calls_share_instances_with_event_calls(harness):
    pool = harness.pool()
    code = WSGI + "\ndef event(event, context):\n    return 'event'\n"
    spec = harness.spec(harness.code({"index.py": code}), instance_concurrency=4)
    assert call(harness, pool, spec, HttpRequest("GET", "/")).status == 207
