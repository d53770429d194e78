"""Custom runtime: the user's HTTP server (Python http.server and Node.js) behind the FC custom runtime contract."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from openfc.errors import InstanceError
from openfc.pool import CallContext, FailureKind

from .custom_servers import NODE, PYTHON
from .util import pid_alive

SERVERS = {
    "python": ({"server.py": PYTHON}, ("python3",), ("server.py",)),
    "node": ({"server.js": NODE}, ("node",), ("server.js",)),
}


@pytest.fixture(params=sorted(SERVERS))
def server(request, harness):
    if request.param == "node" and shutil.which("node") is None:
        pytest.skip("node is not installed")
    files, command, args = SERVERS[request.param]
    spec = harness.spec(
        harness.code(files), runtime="custom", custom_command=command, custom_args=args,
        initializer="index.init", timeout=3,
    )  # fmt: skip
    return harness.pool(), spec


def state(harness, pool, spec, request_id="req-1"):
    result = harness.invoke(pool, spec, b"state", request_id=request_id)
    assert result.failure is None, result.body
    return json.loads(result.body), result


def test_init_once_then_invoke_with_fc_headers(harness, server):
    pool, spec = server
    first, result = state(harness, pool, spec, "rid-1")
    assert result.cold_start and result.init_duration_ms > 0
    assert first["init"] == 1 and first["calls"] == 1
    assert first["headers"]["x-fc-request-id"] == "rid-1" and first["headers"]["x-fc-function-name"] == "fn"
    second, again = state(harness, pool, spec, "rid-2")
    assert not again.cold_start and again.instance_id == result.instance_id
    assert second["init"] == 1 and second["calls"] == 2 and second["pid"] == first["pid"]
    assert harness.invoke(pool, spec, b"\x00binary\xff").body == b"\x00binary\xff"


def test_python_server_sees_the_contract_headers(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"server.py": PYTHON}), runtime="custom", custom_command=("python3", "server.py"))
    got, _ = state(harness, pool, spec)
    assert got["port"] == got["listen"] and int(got["port"]) != spec.ca_port
    headers = got["headers"]
    assert headers["x-fc-control-path"] == "/invoke" and headers["content-type"] == "application/octet-stream"
    assert headers["x-fc-function-handler"] == "index.handler" and headers["x-fc-function-memory"] == "256"
    assert headers["x-fc-function-timeout"] == "10" and headers["x-fc-qualifier"] == "LATEST"
    assert headers["x-fc-version-id"] == "LATEST" and headers["x-fc-region"] == "cn-test"
    assert headers["x-fc-account-id"] == "1234567890" and headers["x-fc-service-name"] == "svc"
    assert got["init"] == 0  # no initializer: /initialize is never sent


def test_each_instance_gets_its_own_port(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"server.py": PYTHON}), runtime="custom", custom_command=("python3", "server.py"))

    async def two():
        return await asyncio.gather(
            pool.invoke(spec, b"sleep 0.3", CallContext("a"), max_instances=5),
            pool.invoke(spec, b"sleep 0.3", CallContext("b"), max_instances=5),
        )

    a, b = harness.run(two())
    assert a.failure is None and b.failure is None and a.instance_id != b.instance_id

    async def states():
        return await asyncio.gather(*(pool.invoke(spec, b"state", CallContext(r), max_instances=2) for r in "ab"))

    ports = {json.loads(r.body)["port"] for r in harness.run(states())}
    assert len(ports) == 2 and len(pool.instances("svc", "fn")) == 2


def test_error_mapping(harness, server):
    pool, spec = server
    _, first = state(harness, pool, spec)
    failed = harness.invoke(pool, spec, b"fail")
    assert failed.failure is FailureKind.EXCEPTION and failed.error_type == "UnhandledInvocationError"
    assert json.loads(failed.body)["errorMessage"] in ("bad thing", "node failure")
    assert failed.instance_id == first.instance_id  # a function error keeps the instance
    boom = harness.invoke(pool, spec, b"boom")
    assert boom.failure is FailureKind.CRASH and "HTTP 500" in json.loads(boom.body)["errorMessage"]
    after, result = state(harness, pool, spec)
    assert result.cold_start and result.instance_id != first.instance_id and after["init"] == 1  # restarted


def test_text_errors_and_x_fc_status(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"server.py": PYTHON}), runtime="custom", custom_command=("python3", "server.py"))
    text = harness.invoke(pool, spec, b"fail-text")
    assert text.failure is FailureKind.EXCEPTION and json.loads(text.body) == {"errorMessage": "plain failure"}
    soft = harness.invoke(pool, spec, b"xstatus")
    assert soft.failure is FailureKind.EXCEPTION and json.loads(soft.body) == {"errorMessage": "soft failure"}


def test_timeout_kills_and_replaces(harness, server):
    pool, spec = server
    before, _ = state(harness, pool, spec)
    slow = harness.invoke(pool, spec, b"sleep 10")
    assert slow.failure is FailureKind.TIMEOUT
    assert json.loads(slow.body)["errorMessage"].startswith("Function timed out after 3 seconds")
    after, result = state(harness, pool, spec)
    assert result.cold_start and after["pid"] != before["pid"] and not pid_alive(before["pid"])


def test_crash_fails_the_call_and_recovers(harness, server):
    pool, spec = server
    before, _ = state(harness, pool, spec)
    crashed = harness.invoke(pool, spec, b"exit 3")
    assert crashed.failure is FailureKind.CRASH
    assert json.loads(crashed.body)["errorMessage"].startswith("Process exited unexpectedly before completing request")
    after, result = state(harness, pool, spec)
    assert result.cold_start and after["pid"] != before["pid"] and after["init"] == 1


def test_logs_are_attributed_by_markers(harness, server):
    pool, spec = server
    state(harness, pool, spec)
    logged = harness.invoke(pool, spec, b"log", request_id="log-1")
    lines = logged.log.decode().splitlines()
    assert lines[0] == "FC Invoke Start RequestId: log-1" and lines[-1] == "FC Invoke End RequestId: log-1"
    assert ("line one" in lines and "line two" in lines) or "node says hi" in lines
    assert sum("FC Invoke Start" in line for line in lines) == 1  # the server's own markers are not doubled


def test_init_failure_is_an_init_failure(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"server.py": PYTHON}), runtime="custom", custom_command=("python3", "server.py"),
                        initializer="index.init", environment={"FAIL_INIT": "1"})  # fmt: skip
    result = harness.invoke(pool, spec, b"state")
    assert result.failure is FailureKind.INIT and json.loads(result.body)["errorMessage"] == "init failed"


def test_server_that_exits_at_start_is_an_instance_error_with_its_output(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"server.py": "print('cannot start: no config')\nraise SystemExit(2)\n"}),
                        runtime="custom", custom_command=("python3", "server.py"))  # fmt: skip
    with pytest.raises(InstanceError, match="cannot start: no config"):
        harness.invoke(pool, spec, b"")


def test_default_command_is_bootstrap(harness):
    pool = harness.pool()
    bootstrap = "#!/bin/sh\nexec python3 server.py\n"
    digest = harness.code({"bootstrap": bootstrap, "server.py": PYTHON}, executable=("bootstrap",))
    spec = harness.spec(digest, runtime="custom")
    got, _ = state(harness, pool, spec)
    assert got["calls"] == 1


def test_http_calls_are_forwarded_as_is(harness, server):
    from openfc.pool.spec import HttpRequest

    pool, spec = server
    request = HttpRequest("PUT", "/a b/c", "x=1&y=2", (("Content-Type", "text/plain"), ("X-Custom", "1"),
                          ("X-Fc-Request-Id", "spoofed")), b"payload", "10.1.2.3")  # fmt: skip
    result = harness.run(pool.invoke_http(spec, request, CallContext("h-1"), max_instances=2))
    assert result.failure is None and result.status == 201
    assert ("x-echo", "yes") in [(k.lower(), v) for k, v in result.headers]
    echo = json.loads(result.body)
    assert echo["method"] == "PUT" and echo["path"] == "/a%20b/c?x=1&y=2" and echo["body"] == "payload"
    headers = dict(echo["headers"])
    assert headers["x-fc-control-path"] == "/http-invoke" and headers["x-fc-request-id"] == "h-1"
    assert headers["content-type"] == "text/plain" and headers["x-custom"] == "1"
