"""invoke, logs, usage, versions, alias (incl. the canary ``shift``) and dead-letters, end to end."""

from __future__ import annotations

import email.utils
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator

import fc2
import httpx
import pytest

from openfc.auth import authorization
from tests.cli.conftest import Run
from tests.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, wait_until

ECHO = """
import json
def handler(event, context):
    print("handling", event.decode())
    if event == b"fail":
        raise RuntimeError("asked to fail")
    return json.dumps({"got": event.decode(), "version": context.service.version_id})
"""
FAILS = "def handler(event, context):\n    raise RuntimeError('version two is broken')\n"


def test_invoke_sync_log_async_and_errors(cli: Run, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "echo", "python3", "index.handler", codeDir=code_dir(index=ECHO))
    result = cli("invoke", f"{service}/echo", "--payload", "hello")
    assert json.loads(result.stdout) == {"got": "hello", "version": "LATEST"}
    assert "request id " in result.stderr

    logged = cli("invoke", f"{service}/echo", "-p", "tail-me", "--log")
    assert json.loads(logged.stdout)["got"] == "tail-me"
    assert "handling tail-me" in logged.stderr and "handling" not in logged.stdout

    failed = cli("invoke", f"{service}/echo", "-p", "fail", ok=False)
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["errorMessage"] == "asked to fail"
    assert "UnhandledInvocationError" in failed.stderr

    accepted = cli("invoke", f"{service}/echo", "--async", "-p", "later")
    assert accepted.stdout.strip() and "accepted" in accepted.stderr

    missing = cli("invoke", f"{service}/nope", ok=False)
    assert missing.exit_code == 1 and "FunctionNotFound" in missing.output and "Traceback" not in missing.output
    bad = cli("invoke", "no-slash", ok=False)
    assert bad.exit_code == 2 and "SERVICE/FUNCTION" in bad.output


def test_versions_and_alias_commands(cli: Run, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "echo", "python3", "index.handler", codeDir=code_dir(index=ECHO))
    assert cli("versions", "publish", service, "-d", "first").stdout.strip() == "1"
    assert cli("versions", "publish", service).stdout.strip() == "2"
    listed = cli("versions", "list", service).stdout
    assert "first" in listed and "│ 2 " in listed

    cli("alias", "create", f"{service}/prod", "--version", "1", "-d", "production")
    cli("alias", "create", "canary", "--service", service, "--version", "1", "--weight", "2=0.25")
    assert client.get_alias(service, "canary").data["additionalVersionWeight"] == {"2": 0.25}
    listed = cli("alias", "list", service).stdout
    assert "prod" in listed and "production" in listed and "2=0.25" in listed
    cli("alias", "update", f"{service}/canary", "--weight", "none", "--version", "2")
    canary = client.get_alias(service, "canary").data
    assert canary["versionId"] == "2" and canary["additionalVersionWeight"] == {}
    out = json.loads(cli("invoke", f"{service}/echo", "-q", "canary", "-p", "x").stdout)
    assert out["version"] == "2"
    in_use = cli("versions", "delete", service, "2", ok=False)
    assert in_use.exit_code == 1 and "VersionInUse" in in_use.output
    cli("alias", "delete", f"{service}/canary")
    cli("versions", "delete", service, "2")
    assert [v["versionId"] for v in client.list_versions(service).data["versions"]] == ["1"]
    assert "which service" in cli("alias", "delete", "prod", ok=False).output


@pytest.fixture
def traffic(server) -> Iterator[Callable[[str, str, str], None]]:
    """Start calling ``service.qualifier/function`` in a loop (results ignored) until the test ends."""
    stop = threading.Event()
    threads = []

    def start(service: str, qualifier: str, function: str) -> None:
        # httpx with trust_env=False: CliRunner rewrites os.environ while the CLI runs, and a client
        # that reads the environment (requests does, for proxies) would race with it.
        path = f"/2016-08-15/services/{service}.{qualifier}/functions/{function}/invocations"

        def loop() -> None:
            with httpx.Client(base_url=server.endpoint, trust_env=False, timeout=30) as http:
                while not stop.is_set():
                    headers = {"date": email.utils.formatdate(usegmt=True), "content-type": "application/octet-stream"}
                    headers["authorization"] = authorization(ACCESS_KEY_ID, ACCESS_KEY_SECRET, "POST", headers, path)
                    http.post(path, content=b"x", headers=headers)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(30)


def two_versions(client: fc2.Client, service: str, code_dir, second: str) -> None:
    client.create_function(service, "fn", "python3", "index.handler", codeDir=code_dir(index=ECHO))
    client.publish_version(service)
    client.update_function(service, "fn", codeDir=code_dir(index=second))
    client.publish_version(service)
    client.create_alias(service, "prod", "1")


def test_alias_shift_moves_traffic_step_by_step(cli: Run, client: fc2.Client, service: str, code_dir, traffic) -> None:
    two_versions(client, service, code_dir, ECHO.replace("got", "saw"))
    traffic(service, "prod", "fn")
    result = cli("alias", "shift", f"{service}/prod", "--to", "2", "--steps", "20,60", "--interval", "0.5s")
    out = result.stdout
    assert "20% → version 2" in out and "60% → version 2" in out and "100% → version 2" in out
    assert "Done" in out
    alias = client.get_alias(service, "prod").data
    assert alias["versionId"] == "2" and alias["additionalVersionWeight"] == {}


def test_alias_shift_rolls_back_when_the_new_version_fails(
    cli: Run, client: fc2.Client, service: str, code_dir, traffic
) -> None:
    two_versions(client, service, code_dir, FAILS)
    client.update_alias(service, "prod", "1", additionalVersionWeight={"2": 0.0})
    before = client.get_alias(service, "prod").data
    traffic(service, "prod", "fn")
    result = cli("alias", "shift", f"{service}/prod", "--to", "2", "--steps", "100", "--interval", "1s",
                 "--max-error-rate", "0.1", ok=False)  # fmt: skip
    assert result.exit_code == 1
    assert "rolled back" in result.output and "above --max-error-rate 10.0%" in result.output
    alias = client.get_alias(service, "prod").data
    assert alias["versionId"] == "1" and alias["additionalVersionWeight"] == before["additionalVersionWeight"]


def test_logs_and_usage(cli: Run, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "echo", "python3", "index.handler", codeDir=code_dir(index=ECHO))
    marker = uuid.uuid4().hex
    request_id = client.invoke_function(service, "echo", payload=marker.encode()).headers["x-fc-request-id"]
    client.invoke_function(service, "echo", payload=b"other")

    def lines(*extra: str) -> str:
        return cli("logs", f"{service}/echo", *extra).stdout

    found = wait_until(lambda: marker in (out := lines("--text", marker)) and out)
    assert f"{request_id} handling {marker}" in str(found) and "handling other" not in str(found)
    by_request = lines("--request-id", request_id)
    assert f"handling {marker}" in by_request and "handling other" not in by_request
    assert marker not in lines("--since", "2030-01-01T00:00:00Z")

    report = cli("usage", "--service", service).stdout
    assert service in report and "echo" in report and "Estimated monthly cost" in report
    assert "total" in report


def test_dead_letters_list_and_redrive(cli: Run, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "echo", "python3", "index.handler", codeDir=code_dir(index=ECHO))
    client.put_function_async_invoke_config(service, "LATEST", "echo", {"maxAsyncRetryAttempts": 0})
    async_call = {"x-fc-invocation-type": "Async"}
    request_id = client.invoke_function(service, "echo", payload=b"fail", headers=async_call).headers["x-fc-request-id"]
    listed = wait_until(lambda: request_id in (out := cli("dead-letters", "list", f"{service}/echo").stdout) and out)
    assert "asked to fail" in str(listed)
    assert "fail" in cli("dead-letters", "list", f"{service}/echo", "--payload").stdout
    redriven = cli("dead-letters", "redrive", f"{service}/echo", "--all")
    assert "redriven:" in redriven.stdout
    assert cli("dead-letters", "redrive", f"{service}/echo", ok=False).exit_code == 2


def test_logs_follow_prints_new_lines(cli_env, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "echo", "python3", "index.handler", codeDir=code_dir(index=ECHO))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFC_")}
    env.update({k: v for k, v in cli_env.items() if v is not None})
    process = subprocess.Popen([sys.executable, "-m", "openfc", "logs", "-f", f"{service}/echo", "--since", "1m"],
                               env=env, stdout=subprocess.PIPE, text=True)  # fmt: skip
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        for marker in (uuid.uuid4().hex, uuid.uuid4().hex):
            client.invoke_function(service, "echo", payload=marker.encode())
            wait_until(lambda m=marker: any(f"handling {m}" in line for line in seen))
    finally:
        process.terminate()
        process.wait(10)
        reader.join(10)


def test_layers_commands(cli: Run, tmp_path) -> None:
    name = f"lib_{uuid.uuid4().hex[:8]}"
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "helper.py").write_text("VALUE = 1\n")
    arn = cli("layers", "publish", name, "--code-dir", str(tmp_path), "--compatible-runtime", "python3",
              "-d", "helpers").stdout.strip()  # fmt: skip
    assert arn.endswith(f"layers/{name}/versions/1")
    assert cli("layers", "publish", name, "--code-dir", str(tmp_path), "--compatible-runtime", "python3").stdout.strip()
    assert name in cli("layers", "list").stdout
    versions = cli("layers", "list", name).stdout
    assert "helpers" in versions and f"{name}/versions/2" in versions
    cli("layers", "delete", name, "1")
    assert f"{name}/versions/1" not in cli("layers", "list", name).stdout
    missing = cli("layers", "delete", name, "1", ok=False)
    assert missing.exit_code == 1 and "LayerNotFound" in missing.output
