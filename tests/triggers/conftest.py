"""Fixtures of the trigger tests: the shared node with object storage, fresh services, observations."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import fc2
import pytest

from tests.conftest import Server, function_factory, s3_client
from tests.queue.conftest import Observations

#: Appends its event (one line) to ``{log}``.
APPENDER = """
def handler(event, context):
    with open({log!r}, "a") as f:
        f.write(event.decode().replace("\\n", " ") + "\\n")
    return "ok"
"""


@pytest.fixture
def tclient(s3_server: Server) -> fc2.Client:
    return s3_server.client()


def drop_service(client: fc2.Client, name: str) -> None:
    for fn in client.list_functions(name).data["functions"]:
        for trigger in client.list_triggers(name, fn["functionName"]).data["triggers"]:
            client.delete_trigger(name, fn["functionName"], trigger["triggerName"])
        client.delete_function(name, fn["functionName"])
    client.delete_service(name)


@pytest.fixture
def tservice(tclient: fc2.Client) -> Iterator[str]:
    name = f"tsvc_{uuid.uuid4().hex[:10]}"
    tclient.create_service(name, description="trigger test service")
    yield name
    drop_service(tclient, name)


@pytest.fixture
def obs() -> Iterator[Observations]:
    observations = Observations()
    yield observations
    for child in observations.dir.iterdir():
        child.unlink()
    observations.dir.rmdir()


@pytest.fixture
def deploy(tclient: fc2.Client, tservice: str, code_dir) -> Callable[..., str]:
    """Create a function from source formatted with ``fmt``; returns its name."""
    return function_factory(tclient, tservice, code_dir)


@pytest.fixture
def s3(s3_server: Server):
    return s3_client(s3_server)


@pytest.fixture
def bucket(s3) -> Iterator[str]:
    """A fresh bucket, emptied and deleted afterwards."""
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)
