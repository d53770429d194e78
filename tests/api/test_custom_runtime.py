"""Custom runtime end to end: the user's own HTTP server in Python (http.server) and Node.js, via aliyun-fc2."""

from __future__ import annotations

import base64
import json
import os
import shutil

import fc2
import pytest

from tests.api.test_functions import zip_b64
from tests.api.test_layers import call
from tests.api.test_services import fc_error
from tests.conftest import wait_until
from tests.pool.custom_servers import NODE, PYTHON

SERVERS = {
    "python": ({"server.py": PYTHON}, {"command": ["python3"], "args": ["server.py"]}),
    "node": ({"server.js": NODE}, {"command": ["node", "server.js"]}),
}


@pytest.fixture(params=sorted(SERVERS))
def custom_fn(request, client: fc2.Client, service: str) -> str:
    """A custom-runtime function (created with a raw request: aliyun-fc2 2.5.2 has no customRuntimeConfig)."""
    if request.param == "node" and shutil.which("node") is None:
        pytest.skip("node is not installed")
    files, config = SERVERS[request.param]
    body = {"functionName": "fn", "runtime": "custom", "handler": "index.handler", "initializer": "index.init",
            "timeout": 2, "code": {"zipFile": zip_b64(files)}, "customRuntimeConfig": config}  # fmt: skip
    created = call(client, "POST", f"/2016-08-15/services/{service}/functions", body)
    assert created["customRuntimeConfig"]["command"] == config["command"]
    return "fn"


def state(client: fc2.Client, service: str, fn: str) -> dict:
    return json.loads(client.invoke_function(service, fn, payload=b"state").data)


def test_init_once_and_invoke(client: fc2.Client, service: str, custom_fn: str) -> None:
    first = state(client, service, custom_fn)
    second = state(client, service, custom_fn)
    assert (first["init"], first["calls"]) == (1, 1) and (second["init"], second["calls"]) == (1, 2)
    assert first["pid"] == second["pid"] and first["headers"]["x-fc-function-name"] == custom_fn
    echoed = client.invoke_function(service, custom_fn, payload=b"\x00\xffraw")
    assert echoed.data == b"\x00\xffraw" and echoed.headers["x-fc-request-id"]


def test_error_mapping(client: fc2.Client, service: str, custom_fn: str) -> None:
    before = state(client, service, custom_fn)
    err = fc_error(client.invoke_function, service, custom_fn, payload=b"fail")
    assert err.status_code == 200 and json.loads(err.message)["errorMessage"] in ("bad thing", "node failure")
    assert state(client, service, custom_fn)["pid"] == before["pid"]  # a 404 keeps the instance
    err = fc_error(client.invoke_function, service, custom_fn, payload=b"boom")
    assert err.status_code == 200 and "HTTP 500" in json.loads(err.message)["errorMessage"]
    after = state(client, service, custom_fn)
    assert after["pid"] != before["pid"] and after["init"] == 1  # a 500 restarts it


def test_timeout(client: fc2.Client, service: str, custom_fn: str) -> None:
    before = state(client, service, custom_fn)
    err = fc_error(client.invoke_function, service, custom_fn, payload=b"sleep 30")
    assert "timed out after 2 seconds" in json.loads(err.message)["errorMessage"]
    wait_until(lambda: not os.path.exists(f"/proc/{before['pid']}"), timeout=10)
    assert state(client, service, custom_fn)["pid"] != before["pid"]


def test_crash_recovery(client: fc2.Client, service: str, custom_fn: str) -> None:
    before = state(client, service, custom_fn)
    err = fc_error(client.invoke_function, service, custom_fn, payload=b"exit 3")
    assert "Process exited unexpectedly" in json.loads(err.message)["errorMessage"]
    after = state(client, service, custom_fn)
    assert after["pid"] != before["pid"] and (after["init"], after["calls"]) == (1, 1)


def test_log_tail(client: fc2.Client, service: str, custom_fn: str) -> None:
    result = client.invoke_function(service, custom_fn, payload=b"log", headers={"x-fc-log-type": "Tail"})
    log = base64.b64decode(result.headers["x-fc-log-result"]).decode()
    request_id = result.headers["x-fc-request-id"]
    assert f"FC Invoke Start RequestId: {request_id}" in log and f"FC Invoke End RequestId: {request_id}" in log
    assert "line one" in log or "node says hi" in log


def test_bootstrap_is_the_default_command(client: fc2.Client, service: str, code_dir) -> None:
    path = code_dir({"bootstrap": "#!/bin/sh\nexec python3 server.py\n", "server.py": PYTHON})
    os.chmod(os.path.join(path, "bootstrap"), 0o755)
    client.create_function(service, "boot", "custom", "index.handler", codeDir=path, caPort=9000)
    assert state(client, service, "boot")["calls"] == 1
