"""Synchronous invocation through aliyun-fc2: the Python runtime contract and the instance pool."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import fc2
import pytest

from tests.api.test_services import fc_error
from tests.conftest import Server, store_backend, wait_until


def test_seed_snippet_works_verbatim(server: Server, code_dir) -> None:
    # The example from the source document, with only the placeholders filled in.
    client = fc2.Client(endpoint=server.endpoint, accessKeyID="TESTKEYID0001", accessKeySecret="test-secret-for-openfc")
    client.create_service("service_name")
    client.create_function(
        "service_name",
        "function_name",
        "python3",
        "index.handler",
        codeDir=code_dir(index="def handler(event, context):\n    return 'hello world'\n"),
    )
    r = client.invoke_function("service_name", "function_name")
    assert r.data == b"hello world"
    assert r.headers["x-fc-request-id"]
    client.delete_function("service_name", "function_name")
    client.delete_service("service_name")


RETURNS = """
import json
def handler(event, context):
    kind = event.decode(errors="replace")
    if kind == "str": return "text"
    if kind == "bytes": return b"\\x00\\x01raw"
    if kind == "dict": return {"a": 1, "b": [1, 2]}
    if kind == "none": return None
    return event
"""


def test_return_values_become_the_body(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "ret", "python3", "index.handler", codeDir=code_dir(index=RETURNS))
    assert client.invoke_function(service, "ret", payload=b"str").data == b"text"
    assert client.invoke_function(service, "ret", payload=b"bytes").data == b"\x00\x01raw"
    assert json.loads(client.invoke_function(service, "ret", payload=b"dict").data) == {"a": 1, "b": [1, 2]}
    assert client.invoke_function(service, "ret", payload=b"none").data == b""
    echo = client.invoke_function(service, "ret", payload=b"\xff\xfe binary")
    assert echo.data == b"\xff\xfe binary"


CONTEXT = """
import os, sys, json
def handler(event, context):
    return json.dumps({
        "request_id": context.request_id,
        "function": {"name": context.function.name, "handler": context.function.handler,
                     "memory_size": context.function.memory_size, "timeout": context.function.timeout,
                     "initializer": context.function.initializer},
        "service": {"name": context.service.name, "qualifier": context.service.qualifier,
                    "version_id": context.service.version_id},
        "region": context.region, "account_id": context.account_id,
        "has_credentials": hasattr(context.credentials, "access_key_id"),
        "env": {k: v for k, v in os.environ.items()
                if k.startswith("FC_") or k in ("GREETING", "OPENFC_ACCESS_KEY_SECRET")},
        "cwd": os.getcwd(), "path0": sys.path[0],
        "event_type": type(event).__name__,
    })
def init(context):
    pass
"""


def test_context_and_environment(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "ctx", "python3", "index.handler", codeDir=code_dir(index=CONTEXT),
                           memorySize=256, timeout=20, initializer="index.init",
                           environmentVariables={"GREETING": "hi"})  # fmt: skip
    r = client.invoke_function(service, "ctx", payload=b"{}")
    out = json.loads(r.data)
    assert out["request_id"] == r.headers["x-fc-request-id"]
    assert out["function"] == {"name": "ctx", "handler": "index.handler", "memory_size": 256, "timeout": 20,
                               "initializer": "index.init"}  # fmt: skip
    assert out["service"] == {"name": service, "qualifier": "LATEST", "version_id": "LATEST"}
    assert out["region"] and out["account_id"] and out["has_credentials"]
    env = out["env"]
    assert env["GREETING"] == "hi"
    assert "OPENFC_ACCESS_KEY_SECRET" not in env, "the platform's secrets must not leak into functions"
    assert env["FC_FUNCTION_NAME"] == "ctx" and env["FC_FUNCTION_HANDLER"] == "index.handler"
    assert env["FC_FUNCTION_MEMORY_SIZE"] == "256" and env["FC_REGION"] == out["region"]
    assert env["FC_FUNC_CODE_PATH"] == out["cwd"] == out["path0"]
    assert out["event_type"] == "bytes"
    assert r.headers["x-fc-invocation-service-version"] == "LATEST"
    assert r.headers["x-fc-code-checksum"]


COUNTER = """
import os
count = 0
inits = 0
def init(context):
    global count, inits
    inits += 1
    count = 1
def handler(event, context):
    global count
    count += 1
    return f"{count} {inits} {os.getpid()}"
"""


def test_initializer_runs_once_and_instances_are_reused(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "counter", "python3", "index.handler", codeDir=code_dir(index=COUNTER),
                           initializer="index.init")  # fmt: skip
    first = client.invoke_function(service, "counter")
    second = client.invoke_function(service, "counter")
    count1, inits1, pid1 = first.data.decode().split()
    count2, inits2, pid2 = second.data.decode().split()
    assert (count1, count2) == ("2", "3"), "instance state persists between calls"
    assert inits1 == inits2 == "1", "the initializer ran once"
    assert pid1 == pid2 and first.headers["x-fc-instance-id"] == second.headers["x-fc-instance-id"]


def test_failing_initializer_is_a_function_error(client: fc2.Client, service: str, code_dir) -> None:
    src = "def init(context):\n    raise RuntimeError('init broke')\ndef handler(e, c):\n    return 'x'\n"
    client.create_function(service, "badinit", "python3", "index.handler", codeDir=code_dir(index=src),
                           initializer="index.init")  # fmt: skip
    err = fc_error(client.invoke_function, service, "badinit")
    assert err.status_code == 200 and "init broke" in err.message


UNHANDLED = """
def handler(event, context):
    helper()
def helper():
    raise ValueError("something went wrong")
"""


def test_unhandled_exception_is_fc_error_response(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "boom", "python3", "index.handler", codeDir=code_dir(index=UNHANDLED))
    err = fc_error(client.invoke_function, service, "boom")
    assert err.status_code == 200
    body = json.loads(err.message)
    assert body["errorMessage"] == "something went wrong"
    assert body["errorType"] == "ValueError"
    assert any("helper" in " ".join(frame) for frame in body["stackTrace"])


def test_missing_handler_module_is_a_clear_function_error(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "nomod", "python3", "missing.handler", codeDir=code_dir(index="x = 1"))
    err = fc_error(client.invoke_function, service, "nomod")
    assert err.status_code == 200 and "missing" in err.message


CRASH = """
import os, ctypes
def handler(event, context):
    if event == b"exit":
        os._exit(3)
    if event == b"segv":
        ctypes.string_at(0)
    return "alive"
"""


def test_crash_is_an_error_to_its_caller_only(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "crash", "python3", "index.handler", codeDir=code_dir(index=CRASH))
    for kind in (b"exit", b"segv"):
        err = fc_error(client.invoke_function, service, "crash", payload=kind)
        assert err.status_code == 200
        assert "Process exited unexpectedly" in json.loads(err.message)["errorMessage"]
        assert client.invoke_function(service, "crash").data == b"alive"


SLEEPY = """
import time, os
def handler(event, context):
    time.sleep(float(event or 0))
    return str(os.getpid())
"""


def test_timeout_kills_and_replaces_the_instance(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "slow", "python3", "index.handler", codeDir=code_dir(index=SLEEPY), timeout=1)
    pid = client.invoke_function(service, "slow", payload=b"0").data.decode()
    started = time.monotonic()
    err = fc_error(client.invoke_function, service, "slow", payload=b"30")
    assert time.monotonic() - started < 10
    assert "timed out after 1 seconds" in json.loads(err.message)["errorMessage"]
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10)
    assert client.invoke_function(service, "slow", payload=b"0").data.decode() != pid


HOG = """
def handler(event, context):
    blocks = []
    for _ in range(int(event)):
        blocks.append(bytearray(1024 * 1024))
    return str(len(blocks))
"""


def test_memory_limit_is_enforced(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "hog", "python3", "index.handler", codeDir=code_dir(index=HOG), memorySize=128)
    assert client.invoke_function(service, "hog", payload=b"32").data == b"32"
    err = fc_error(client.invoke_function, service, "hog", payload=b"400")
    assert "memory" in json.loads(err.message)["errorMessage"].lower()
    assert client.invoke_function(service, "hog", payload=b"16").data == b"16"


LOGGING = """
import logging, sys
def handler(event, context):
    print("printed line")
    print("to stderr", file=sys.stderr)
    logging.getLogger().info("root logger line")
    context.get_logger().info("context logger line")
    return "ok"
"""


def test_log_tail(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "logs", "python3", "index.handler", codeDir=code_dir(index=LOGGING))
    r = client.invoke_function(service, "logs", headers={"x-fc-log-type": "Tail"})
    log = base64.b64decode(r.headers["x-fc-log-result"]).decode()
    request_id = r.headers["x-fc-request-id"]
    for line in ("printed line", "to stderr", "root logger line", "context logger line"):
        assert line in log
    assert f"{request_id} [INFO] root logger line" in log
    assert f"{request_id} [INFO] context logger line" in log
    assert "x-fc-log-result" not in client.invoke_function(service, "logs").headers

    chatty = "def handler(e, c):\n    for i in range(2000):\n        print('line', i)\n    return 'ok'\n"
    client.create_function(service, "chatty", "python3", "index.handler", codeDir=code_dir(index=chatty))
    r = client.invoke_function(service, "chatty", headers={"x-fc-log-type": "Tail"})
    tail = base64.b64decode(r.headers["x-fc-log-result"])
    assert len(tail) <= 4096 and b"line 1999" in tail


def test_concurrent_slow_calls_run_in_parallel(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "par", "python3", "index.handler", codeDir=code_dir(index=SLEEPY), timeout=30)
    started = time.monotonic()
    with ThreadPoolExecutor(8) as ex:
        pids = list(ex.map(lambda _: client.invoke_function(service, "par", payload=b"2").data, range(8)))
    elapsed = time.monotonic() - started
    assert len(set(pids)) == 8, "each concurrent call got its own instance"
    assert elapsed < 8, f"8 calls of 2 s took {elapsed:.1f} s: they did not run in parallel"


def test_instance_concurrency_shares_one_instance(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "shared", "python3", "index.handler", codeDir=code_dir(index=SLEEPY),
                           instanceConcurrency=4, timeout=30)  # fmt: skip
    client.put_on_demand_config(service, "LATEST", "shared", 1)
    started = time.monotonic()
    with ThreadPoolExecutor(4) as ex:
        pids = list(ex.map(lambda _: client.invoke_function(service, "shared", payload=b"1").data, range(4)))
    assert len(set(pids)) == 1
    assert time.monotonic() - started < 4


def test_throttled_at_maximum_instance_count(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "cap", "python3", "index.handler", codeDir=code_dir(index=SLEEPY), timeout=30)
    client.put_on_demand_config(service, "LATEST", "cap", 1)
    gate = threading.Event()

    def slow() -> bytes:
        gate.set()
        return client.invoke_function(service, "cap", payload=b"4").data

    with ThreadPoolExecutor(1) as ex:
        busy = ex.submit(slow)
        gate.wait()
        wait_until(lambda: _throttled(client, service))
        assert busy.result()


def _throttled(client: fc2.Client, service: str) -> bool:
    try:
        client.invoke_function(service, "cap", payload=b"0")
    except fc2.fc_exceptions.FcError as err:
        assert err.status_code == 429 and err.err_code == "ResourceThrottled"
        return True
    return False


def test_update_serves_new_code(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "upd", "python3", "index.handler",
                           codeDir=code_dir(index="def handler(e, c):\n    return 'v1'\n"))  # fmt: skip
    assert client.invoke_function(service, "upd").data == b"v1"
    client.update_function(service, "upd", runtime="python3", handler="index.handler",
                           codeDir=code_dir(index="def handler(e, c):\n    return 'v2'\n"))  # fmt: skip
    assert client.invoke_function(service, "upd").data == b"v2"
    env_code = code_dir(index="import os\ndef handler(e, c):\n    return os.environ['X']\n")
    client.update_function(service, "upd", runtime="python3", handler="index.handler", environmentVariables={"X": "1"},
                           codeDir=env_code)  # fmt: skip
    assert client.invoke_function(service, "upd").data == b"1"


SNOOP = """
import json, os, socket
def handler(event, context):
    target = json.loads(event)
    out = {}
    for name, path in target["paths"].items():
        try:
            with open(path, "rb") as f:
                f.read(1)
            out[name] = "read"
        except OSError as e:
            out[name] = type(e).__name__
    try:
        socket.create_connection(("127.0.0.1", target["port"]), timeout=3).close()
        out["network"] = "ok"
    except OSError as e:
        out["network"] = type(e).__name__
    return out
"""


def test_sandbox_denies_the_data_dir(server: Server, client: fc2.Client, service: str, code_dir) -> None:
    if os.geteuid() != 0:
        pytest.skip("the sandbox switches users, which needs root")
    client.create_function(service, "snoop", "python3", "index.handler", codeDir=code_dir(index=SNOOP))
    client.create_function(
        service,
        "other",
        "python3",
        "index.handler",
        codeDir=code_dir(index="SECRET = 1\ndef handler(e, c):\n    return 'x'\n"),
    )
    client.invoke_function(service, "other")
    other_digest = [p for p in (server.data_dir / "code").iterdir() if (p / "index.py").exists()
                    and "SECRET" in (p / "index.py").read_text()][0]  # fmt: skip
    if store_backend() == "postgresql":  # scale-out: store and blobs live in PostgreSQL; probe a private file
        private = server.data_dir / "private-probe"
        private.write_text("node secret")
        os.chmod(private, 0o600)
        paths = {"store": str(private), "other_code": str(other_digest / "index.py"), "blobs": str(private)}
    else:
        paths = {
            "store": str(server.data_dir / "openfc.db"),
            "other_code": str(other_digest / "index.py"),
            "blobs": str(next((server.data_dir / "blobs").rglob("*[0-9a-f]"))),
        }
    out = json.loads(client.invoke_function(service, "snoop", payload=json.dumps(
        {"paths": paths, "port": server.port}).encode()).data)  # fmt: skip
    assert out["store"] == "PermissionError"
    assert out["other_code"] == "PermissionError"
    assert out["blobs"] == "PermissionError"
    assert out["network"] == "ok", "functions can still reach services on the host's loopback"


def test_sync_payload_over_limit_is_413(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "big", "python3", "index.handler", codeDir=code_dir(index=RETURNS))
    err = fc_error(client.invoke_function, service, "big", payload=b"x" * (32 * 1024 * 1024 + 1))
    assert err.status_code == 413 and err.err_code == "EntityTooLarge"


def test_invoke_missing_function_is_404(client: fc2.Client, service: str) -> None:
    err = fc_error(client.invoke_function, service, "ghost")
    assert err.status_code == 404 and err.err_code == "FunctionNotFound"


def test_restart_keeps_metadata_and_shutdown_leaves_no_instances(make_server, code_dir) -> None:
    node = make_server()
    client = node.client()
    client.create_service("persist")
    client.create_function("persist", "pid", "python3", "index.handler", codeDir=code_dir(index=SLEEPY))
    client.put_on_demand_config("persist", "LATEST", "pid", 3)
    pid = int(client.invoke_function("persist", "pid", payload=b"0").data)
    assert node.stop() in (0, -15), "graceful shutdown on SIGTERM"
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), timeout=10)

    again = make_server(node.data_dir)
    client = again.client()
    assert client.get_function("persist", "pid").data["handler"] == "index.handler"
    assert client.get_on_demand_config("persist", "LATEST", "pid").data["maximumInstanceCount"] == 3
    assert int(client.invoke_function("persist", "pid", payload=b"0").data) != pid


def test_generated_root_key_is_kept_private(make_server, workdir) -> None:
    node = make_server(None, OPENFC_ACCESS_KEY_ID="", OPENFC_ACCESS_KEY_SECRET="")
    credentials = node.data_dir / "credentials.json"
    assert credentials.stat().st_mode & 0o777 == 0o600
    stored = json.loads(credentials.read_text())
    assert stored["accessKeySecret"] in node.log(), "the generated key is printed once"
    client = fc2.Client(endpoint=node.endpoint, accessKeyID=stored["accessKeyId"],
                        accessKeySecret=stored["accessKeySecret"])  # fmt: skip
    assert client.list_services().data["services"] == []
