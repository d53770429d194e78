"""``openfc flows`` and ``openfc executions`` through the Step Functions API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.cli.conftest import Run
from tests.conftest import wait_until

PASS = """
StartAt: Hello
States:
  Hello: {Type: Pass, Result: {greeting: hi}, ResultPath: $.out, End: true}
"""
WAIT = '{"StartAt": "Nap", "States": {"Nap": {"Type": "Wait", "Seconds": 600, "End": true}}}'


def test_flow_lifecycle_and_executions(cli: Run, tmp_path: Path) -> None:
    name = f"hello-{uuid.uuid4().hex[:8]}"
    definition = tmp_path / "hello.yaml"
    definition.write_text(PASS)
    arn = cli("flows", "create", name, str(definition)).stdout.strip()
    assert arn.startswith("arn:") and arn.endswith(name)
    assert name in cli("flows", "list").stdout
    described = cli("flows", "describe", name).stdout
    assert f"name: {name}" in described and '"Type": "Pass"' in described
    assert cli("flows", "create", name, str(definition)).stdout.strip() == arn  # same definition: idempotent
    definition.write_text(PASS.replace("greeting: hi", "greeting: hello"))
    again = cli("flows", "create", name, str(definition), ok=False)
    assert again.exit_code == 1 and "AlreadyExists" in again.output
    assert cli("flows", "create", name, str(definition), "--update").stdout.strip() == arn

    execution = cli("executions", "start", name, "--input", '{"who": "me"}').stdout.strip()
    done = wait_until(lambda: "status: SUCCEEDED" in (out := cli("executions", "describe", execution).stdout) and out)
    output = next(line for line in str(done).splitlines() if line.startswith("output: "))
    assert json.loads(output.removeprefix("output: ")) == {"who": "me", "out": {"greeting": "hello"}}
    history = cli("executions", "history", execution).stdout
    assert "ExecutionStarted" in history and "ExecutionSucceeded" in history
    assert "SUCCEEDED" in cli("executions", "list", name).stdout
    assert "SUCCEEDED" in cli("executions", "list", name, "--status", "SUCCEEDED").stdout

    bad = cli("executions", "start", name, "--input", "{not json", ok=False)
    assert bad.exit_code == 2 and "not JSON" in bad.output
    cli("flows", "delete", name)
    gone = cli("flows", "describe", name, ok=False)
    assert gone.exit_code == 1 and "StateMachineDoesNotExist" in gone.output


def test_stop_an_execution(cli: Run, tmp_path: Path) -> None:
    name = f"nap-{uuid.uuid4().hex[:8]}"
    (tmp_path / "nap.json").write_text(WAIT)
    cli("flows", "create", name, str(tmp_path / "nap.json"))
    execution = cli("executions", "start", name, "--name", "first").stdout.strip()
    assert execution.endswith(":first")
    assert "RUNNING" in cli("executions", "list", name, "--status", "RUNNING").stdout
    cli("executions", "stop", execution, "--error", "Manual", "--cause", "test")
    described = wait_until(
        lambda: "status: ABORTED" in (out := cli("executions", "describe", execution).stdout) and out
    )
    assert "Manual" in str(described)
