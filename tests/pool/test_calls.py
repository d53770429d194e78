"""Event calls through a real pool: results, context, environment, errors, initializer, logs."""

from __future__ import annotations

import asyncio
import json
import re

from openfc.pool import CallContext, FailureKind

HANDLERS = """
import os, json
def text(event, context): return "hé " + event.decode()
def raw(event, context): return b"\\x00\\xff"
def mapping(event, context): return {"a": [1, 2]}
def listing(event, context): return [1, "x"]
def nothing(event, context): return None
def number(event, context): return 42
def ctx(event, context):
    f, s = context.function, context.service
    return {
        "request_id": context.request_id,
        "credentials": [context.credentials.access_key_id, context.credentials.access_key_secret,
                        context.credentials.security_token],
        "function": [f.name, f.handler, f.memory_size, f.memory, f.timeout, f.initializer, f.initialization_timeout],
        "service": [s.name, s.qualifier, s.version_id, s.log_project, s.log_store],
        "region": context.region, "account_id": context.account_id,
        "has_loggers": callable(context.get_logger) and callable(context.getLogger),
        "tracing": context.tracing.span_context,
        "env": dict(os.environ), "cwd": os.getcwd(), "event": event.decode(),
    }
"""


def test_return_values_become_the_body(harness):
    pool = harness.pool()
    digest = harness.code({"index.py": HANDLERS})
    cases = {
        "text": "hé ev".encode(),
        "raw": b"\x00\xff",
        "mapping": b'{"a": [1, 2]}',
        "listing": b'[1, "x"]',
        "nothing": b"",
        "number": b"42",
    }
    for func, body in cases.items():
        result = harness.invoke(pool, harness.spec(digest, function=func, handler=f"index.{func}"), b"ev")
        assert result.failure is None, result.body
        assert result.body == body, func
        assert result.error_type is None


def test_context_fields_and_fc_environment(harness, monkeypatch):
    monkeypatch.setenv("OPENFC_ACCESS_KEY_SECRET", "do-not-leak")
    pool = harness.pool()
    digest = harness.code({"index.py": HANDLERS})
    spec = harness.spec(
        digest, handler="index.ctx", memory_size=512, timeout=7, environment={"MY_VAR": "1"}, version_id="3"
    )
    ctx = CallContext("rid-42", qualifier="prod", trace_id="trace-1")
    result = harness.run(pool.invoke(spec, b"payload", ctx, max_instances=1))
    assert result.failure is None, result.body
    got = json.loads(result.body)
    assert got["request_id"] == "rid-42"
    assert got["credentials"] == ["", "", ""]
    assert got["function"] == ["fn", "index.ctx", 512, 512, 7, "", 30]
    assert got["service"] == ["svc", "prod", "3", "", ""]
    assert (got["region"], got["account_id"]) == ("cn-test", "1234567890")
    assert got["has_loggers"] is True
    assert got["tracing"] == "trace-1"
    assert got["event"] == "payload"
    env = got["env"]
    assert env["FC_FUNC_CODE_PATH"] == got["cwd"]
    assert env["FC_FUNCTION_NAME"] == "fn"
    assert env["FC_FUNCTION_HANDLER"] == "index.ctx"
    assert env["FC_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["FC_FUNCTION_TIMEOUT"] == "7"
    assert env["FC_REGION"] == "cn-test"
    assert env["FC_ACCOUNT_ID"] == "1234567890"
    assert env["FC_SERVICE_NAME"] == "svc"
    assert env["FC_QUALIFIER"] == "prod"
    assert env["FC_FUNCTION_VERSION"] == "3"
    assert env["FC_INSTANCE_ID"] == result.instance_id
    assert env["FC_RUNTIME_VERSION"] == "python3.10"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["HOME"] == "/tmp"
    assert env["MY_VAR"] == "1"
    assert not [k for k in env if k.startswith("OPENFC")]


def test_user_modules_and_stdlib_import(harness):
    pool = harness.pool()
    digest = harness.code(
        {
            "index.py": "import helper, lib.util, json, sqlite3\ndef handler(e, c): return helper.X + lib.util.Y\n",
            "helper.py": "X = 'a'\n",
            "lib/__init__.py": "",
            "lib/util.py": "Y = 'b'\n",
        }
    )
    result = harness.invoke(pool, harness.spec(digest))
    assert (result.failure, result.body) == (None, b"ab")


def test_initializer_runs_once_and_state_persists(harness):
    pool = harness.pool()
    digest = harness.code(
        {
            "index.py": """
                counter = 0
                def init(context):
                    global counter
                    counter += 1
                    print("init for", context.request_id)
                def handler(event, context):
                    global counter
                    counter += 1
                    return str(counter)
            """
        }
    )
    spec = harness.spec(digest, initializer="index.init")
    first = harness.invoke(pool, spec, request_id="r1")
    second = harness.invoke(pool, spec, request_id="r2")
    third = harness.invoke(pool, spec, request_id="r3")
    assert [first.body, second.body, third.body] == [b"2", b"3", b"4"]
    assert first.cold_start and first.init_duration_ms > 0
    assert not second.cold_start and second.init_duration_ms == 0
    assert first.instance_id == second.instance_id == third.instance_id
    assert b"FC Initialize Start RequestId: r1\ninit for r1\nFC Initialize End RequestId: r1\n" in first.log
    assert b"Initialize" not in second.log


def test_initializer_failure_is_an_init_failure_and_retried(harness):
    pool = harness.pool()
    digest = harness.code({"index.py": "def init(c): raise RuntimeError('no db')\ndef handler(e, c): return 'x'\n"})
    spec = harness.spec(digest, initializer="index.init")
    result = harness.invoke(pool, spec)
    assert result.failure is FailureKind.INIT
    assert json.loads(result.body)["errorMessage"] == "no db"
    again = harness.invoke(pool, spec)
    assert again.failure is FailureKind.INIT
    assert again.instance_id != result.instance_id


def test_unhandled_exception_body(harness):
    pool = harness.pool()
    digest = harness.code(
        {"index.py": "def inner():\n    raise ValueError('boom')\n\ndef handler(event, context):\n    inner()\n"}
    )
    result = harness.invoke(pool, harness.spec(digest))
    assert result.failure is FailureKind.EXCEPTION
    assert result.error_type == "UnhandledInvocationError"
    body = json.loads(result.body)
    assert body["errorMessage"] == "boom"
    assert body["errorType"] == "ValueError"
    trace = body["stackTrace"]
    assert all(len(frame) == 4 and all(isinstance(p, str) for p in frame) for frame in trace)
    assert trace[-1][1:] == ["line 2", "in inner", "raise ValueError('boom')"]
    assert trace[-1][0].startswith('File "') and trace[-1][0].endswith('index.py"')
    assert [f[2] for f in trace] == ["in handler", "in inner"]
    # the instance survives a handled failure
    assert harness.invoke(pool, harness.spec(digest)).instance_id == result.instance_id


def test_import_errors_are_function_failures(harness):
    pool = harness.pool()
    digest = harness.code({"index.py": "def handler(e, c): return 'ok'\n", "broken.py": "import nonexistent_mod\n"})
    missing_module = harness.invoke(pool, harness.spec(digest, function="a", handler="nope.handler"))
    assert missing_module.failure is FailureKind.EXCEPTION
    assert "Unable to import module 'nope'" in json.loads(missing_module.body)["errorMessage"]
    missing_attr = harness.invoke(pool, harness.spec(digest, function="b", handler="index.missing"))
    assert missing_attr.failure is FailureKind.EXCEPTION
    assert "missing" in json.loads(missing_attr.body)["errorMessage"]
    broken = harness.invoke(pool, harness.spec(digest, function="c", handler="broken.handler"))
    body = json.loads(broken.body)
    assert body["errorType"] == "ModuleNotFoundError" and "nonexistent_mod" in body["errorMessage"]


def test_logs_are_captured_per_call(harness):
    pool = harness.pool()
    digest = harness.code(
        {
            "index.py": """
                import logging, sys
                def handler(event, context):
                    print("printed", event.decode())
                    logging.info("root %s", event.decode())
                    context.get_logger().warning("ctx %s", event.decode())
                    sys.stderr.write("err line\\n")
                    sys.stdout.write("partial")
                    return "ok"
            """
        }
    )
    spec = harness.spec(digest)
    result = harness.invoke(pool, spec, b"one", request_id="req-A")
    log = result.log.decode()
    lines = log.splitlines()
    assert lines[0] == "FC Invoke Start RequestId: req-A"
    assert lines[-1] == "FC Invoke End RequestId: req-A"
    assert "printed one" in lines
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z req-A \[INFO\] root one$", log, re.M)
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d req-A \[WARNING\] ctx one$", log, re.M)
    assert "err line" in lines and "partial" in lines
    other = harness.invoke(pool, spec, b"two", request_id="req-B").log.decode()
    assert "req-A" not in other and "printed two" in other


def test_concurrent_calls_logs_stay_apart(harness):
    pool = harness.pool()
    digest = harness.code(
        {
            "index.py": """
                import time
                def handler(event, context):
                    for i in range(5):
                        print("line", context.request_id, i)
                        time.sleep(0.02)
                    return context.request_id
            """
        }
    )
    spec = harness.spec(digest, instance_concurrency=4)

    async def run_all():
        calls = [pool.invoke(spec, b"", CallContext(f"rq{i}"), max_instances=1) for i in range(4)]
        return await asyncio.gather(*calls)

    results = harness.run(run_all())
    assert len({r.instance_id for r in results}) == 1
    for i, result in enumerate(results):
        assert result.body == f"rq{i}".encode()
        printed = [line for line in result.log.decode().splitlines() if line.startswith("line")]
        assert printed == [f"line rq{i} {n}" for n in range(5)]
