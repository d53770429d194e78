"""Fixtures for end-to-end workflow tests: boto3 Step Functions clients and counting functions."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Server, wait_until


def sfn_client(server: Server, **config: object):
    return boto3.client(
        "stepfunctions",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=ACCESS_KEY_SECRET,
        # StartSyncExecution's "sync-" host prefix cannot resolve against an IP endpoint.
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}, **config),  # type: ignore[arg-type]
    )


@pytest.fixture
def sfn(server: Server):
    return sfn_client(server)


@pytest.fixture
def machine(sfn) -> Iterator[Callable[..., str]]:
    """Create a state machine from a definition dict; deleted afterwards."""
    made: list[str] = []

    def create(definition: dict, name: str | None = None) -> str:
        arn = sfn.create_state_machine(
            name=name or f"sm-{uuid.uuid4().hex[:10]}",
            definition=json.dumps(definition),
            roleArn="arn:aws:iam::0:role/r",
        )["stateMachineArn"]
        made.append(arn)
        return arn

    yield create
    for arn in made:
        sfn.delete_state_machine(stateMachineArn=arn)


@pytest.fixture
def counts() -> Iterator[Path]:
    """A world-writable directory where test functions record each invocation (one line per call)."""
    path = Path(tempfile.mkdtemp(prefix="openfc-wf-counts-"))
    os.chmod(path, 0o777)
    yield path


def finished(sfn, arn: str, timeout: float = 30.0) -> dict:
    def done():
        info = sfn.describe_execution(executionArn=arn)
        return info if info["status"] != "RUNNING" else None

    return wait_until(done, timeout=timeout)  # type: ignore[return-value]


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def resource(service: str, function: str, callback: bool = False) -> str:
    return f"acs:fc:::services/{service}.LATEST/functions/{function}" + (".waitForTaskToken" if callback else "")


#: A function that records its call in ``<counts>/<name>`` and fails on demand.
COUNTING = """
import json, os

class PaymentDeclined(Exception):
    pass

def handler(event, context):
    event = json.loads(event)
    name = os.environ["NAME"]
    path = os.path.join(os.environ["COUNTS"], name + "-" + str(event.get("key", "")))
    with open(path, "a") as f:
        f.write(str(event.get("i", "x")) + "\\n")
    calls = len(open(path).read().split())
    if event.get("fail_first", 0) >= calls:
        raise RuntimeError("transient failure %d" % calls)
    if event.get("declined"):
        raise PaymentDeclined("card declined")
    if event.get("sleep"):
        import time
        time.sleep(event["sleep"])
    return {"fn": name, "calls": calls, "echo": event.get("echo")}
"""


@pytest.fixture
def counting(client, service, code_dir, counts) -> Callable[[str], str]:
    """Create a counting function ``name`` in the test's service; returns its Task resource ARN."""

    def create(name: str, *, timeout: int = 30) -> str:
        client.create_function(
            service,
            name,
            "python3",
            "index.handler",
            codeDir=code_dir(index=COUNTING),
            timeout=timeout,
            environmentVariables={"NAME": name, "COUNTS": str(counts)},
        )
        return resource(service, name)

    return create
