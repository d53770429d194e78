"""Fixtures of the async queue tests: a node with fast retries, observation files, brokers.

Server knob used here: ``OPENFC_ASYNC_RETRY_BASE`` (seconds before the first async retry; the
default 1.0 is shortened to 0.05 so retry tests take milliseconds).
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import fc2
import pytest

from tests.conftest import Server, function_factory, server_env, wait_until

RETRY_BASE = "0.05"


@pytest.fixture(scope="session")
def async_server(workdir: Path) -> Iterator[Server]:
    """A node with short async retry delays, shared by the queue tests that don't kill it."""
    node = Server(
        workdir / "data-async", _free_port(), server_env(OPENFC_IDLE_TIMEOUT="60", OPENFC_ASYNC_RETRY_BASE=RETRY_BASE)
    ).start()
    yield node
    node.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def aclient(async_server: Server) -> fc2.Client:
    return async_server.client()


@pytest.fixture
def aservice(aclient: fc2.Client) -> Iterator[str]:
    name = f"asvc_{uuid.uuid4().hex[:10]}"
    aclient.create_service(name, description="async test service")
    yield name
    for fn in aclient.list_functions(name).data["functions"]:
        aclient.delete_function(name, fn["functionName"])
    aclient.delete_service(name)


class Observations:
    """A world-writable directory where functions append lines (instances may run as another uid)."""

    def __init__(self) -> None:
        self.dir = Path("/tmp") / f"openfc-obs-{uuid.uuid4().hex[:10]}"
        self.dir.mkdir(mode=0o777)
        os.chmod(self.dir, 0o777)

    def path(self, name: str) -> str:
        path = self.dir / name
        if not path.exists():
            path.touch()
            os.chmod(path, 0o666)
        return str(path)

    def lines(self, name: str) -> list[str]:
        path = self.dir / name
        return path.read_text().splitlines() if path.exists() else []

    def events(self, name: str) -> list[dict]:
        return [json.loads(line) for line in self.lines(name)]

    def wait_lines(self, name: str, count: int, timeout: float = 20.0) -> list[str]:
        wait_until(lambda: len(self.lines(name)) >= count, timeout=timeout)
        return self.lines(name)


@pytest.fixture
def obs() -> Iterator[Observations]:
    observations = Observations()
    yield observations
    for child in observations.dir.iterdir():
        child.unlink()
    observations.dir.rmdir()


#: A function that appends its event to ``{log}``, then sleeps ``sleep:<s>`` or fails on ``fail``.
RECORDER = """
import os, time

def handler(event, context):
    with open({log!r}, "a") as f:
        f.write(event.decode() + "\\n")
    text = event.decode()
    if text.startswith("sleep:"):
        time.sleep(float(text.split(":")[1]))
    if text.startswith("gate:"):  # hold the instance until the test creates the file
        deadline = time.monotonic() + 60
        while not os.path.exists(text[5:]) and time.monotonic() < deadline:
            time.sleep(0.01)
    if text.startswith("fail"):
        raise RuntimeError("it failed on purpose: " + text)
    return "done " + text
"""

#: A destination function: appends the destination event it receives (one JSON line).
SINK = """
import json

def handler(event, context):
    with open({log!r}, "a") as f:
        f.write(json.dumps(json.loads(event)) + "\\n")
    return "ok"
"""


@pytest.fixture
def make_function(aclient: fc2.Client, aservice: str, code_dir) -> Callable[..., str]:
    """Create a function from ``RECORDER``/``SINK``-style source formatted with ``fmt``; returns its name."""
    return function_factory(aclient, aservice, code_dir)


def signed_request(client: fc2.Client, method: str, path: str, params: dict | None = None, body: dict | None = None):
    """A raw signed FC request for APIs aliyun-fc2 2.5.2 lacks (stateful invocations, dead letters)."""
    headers = client._build_common_headers(method, path, {})
    data = json.dumps(body).encode() if body is not None else None
    return client._do_request(method, path, headers, params=params, body=data)


def require_broker(name: str, port: int) -> None:
    """Skip when the broker is not on loopback, except under CI=true, where that is a failure."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return
    except OSError as error:
        message = f"{name} is not reachable on 127.0.0.1:{port} ({error})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {message}: the broker tests must run in CI")
    pytest.skip(message)
