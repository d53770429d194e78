"""Shared fixtures: real ``openfc serve`` processes on loopback, driven by real clients."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import fc2
import pytest
import requests

ACCESS_KEY_ID = "TESTKEYID0001"
ACCESS_KEY_SECRET = "test-secret-for-openfc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.02) -> object:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


@dataclass
class Server:
    """One running ``openfc serve`` node."""

    data_dir: Path
    port: int
    env: dict[str, str]
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> fc2.Client:
        return fc2.Client(
            endpoint=self.endpoint, accessKeyID=ACCESS_KEY_ID, accessKeySecret=ACCESS_KEY_SECRET, **kwargs
        )

    def start(self) -> Server:
        self.log_path = self.data_dir.parent / f"server-{self.port}.log"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "openfc", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--data-dir", str(self.data_dir), *store_args(self.data_dir), *self.extra_args],  # scale-out
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()

        def healthy() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"openfc serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                return requests.get(self.endpoint + "/healthz", timeout=1).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(healthy, timeout=30)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """kill -9 the server process only (its instances are in their own process groups)."""
        self.stop(signal.SIGKILL)


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENFC_")}
    env.update({"OPENFC_ACCESS_KEY_ID": ACCESS_KEY_ID, "OPENFC_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET, **extra})
    return env


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="openfc-test-"))
    os.chmod(path, 0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def make_server(workdir: Path) -> Iterator[Callable[..., Server]]:
    """Factory for extra servers (restart and kill tests); all are stopped afterwards."""
    started: list[Server] = []

    def make(data_dir: Path | None = None, *args: str, **env: str) -> Server:
        directory = data_dir or workdir / f"data-{uuid.uuid4().hex[:8]}"
        server = Server(directory, free_port(), server_env(**env), tuple(args)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def server(workdir: Path) -> Iterator[Server]:
    """The shared node for tests that don't restart or kill it."""
    node = Server(workdir / "data-shared", free_port(), server_env(OPENFC_IDLE_TIMEOUT="60")).start()
    yield node
    node.stop()


@pytest.fixture
def client(server: Server) -> fc2.Client:
    return server.client()


@pytest.fixture
def service(client: fc2.Client) -> Iterator[str]:
    """A fresh service for one test; its functions and itself are deleted afterwards."""
    name = f"svc_{uuid.uuid4().hex[:10]}"
    client.create_service(name, description="test service")
    yield name
    for fn in client.list_functions(name).data["functions"]:
        client.delete_function(name, fn["functionName"])
    client.delete_service(name)


def function_factory(client: fc2.Client, service: str, code_dir: Callable[..., str]) -> Callable[..., str]:
    """``make(source, *, name=None, max_instances=None, **fmt)`` creates a function from ``source``
    formatted with ``fmt`` (and caps its instances) and returns its name."""

    def make(source: str, *, name: str | None = None, max_instances: int | None = None, **fmt: str) -> str:
        name = name or f"fn_{uuid.uuid4().hex[:8]}"
        client.create_function(
            service, name, "python3", "index.handler", codeDir=code_dir(index=source.format(**fmt)), timeout=30
        )
        if max_instances is not None:
            client.put_on_demand_config(service, "LATEST", name, max_instances)
        return name

    return make


@pytest.fixture
def code_dir(tmp_path: Path) -> Callable[..., str]:
    """Write a code directory from ``{filename: source}`` and return its path (for ``codeDir=``)."""

    def write(files: dict[str, str] | None = None, **named: str) -> str:
        directory = tmp_path / f"code-{uuid.uuid4().hex[:8]}"
        directory.mkdir()
        for name, source in {**(files or {}), **{f"{k}.py": v for k, v in named.items()}}.items():
            path = directory / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source)
        return str(directory)

    return write


# -- triggers, gateway and object storage (tests/triggers, tests/objects, tests/api/test_gateway.py) --


def s3_port_of(node: Server) -> int:
    """The ``--s3-port`` a node was started with."""
    return int(node.extra_args[node.extra_args.index("--s3-port") + 1])


def s3_client(node: Server, **kwargs: object):
    """A real ``boto3`` S3 client (path-style, SigV4) for a node's object storage."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{s3_port_of(node)}", aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=kwargs.pop("secret", ACCESS_KEY_SECRET), region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **kwargs),
    )  # fmt: skip


@pytest.fixture(scope="session")
def s3_server(workdir: Path) -> Iterator[Server]:
    """A node with object storage (``--s3-port``) and fast async retries, shared by trigger tests."""
    env = server_env(OPENFC_IDLE_TIMEOUT="60", OPENFC_ASYNC_RETRY_BASE="0.05")
    node = Server(workdir / "data-s3", free_port(), env, ("--s3-port", str(free_port()))).start()
    yield node
    node.stop()


# -- end triggers --


# -- scale-out: the store backend of test servers --
# ``OPENFC_TEST_STORE=postgresql`` runs every server on PostgreSQL (``OPENFC_TEST_PG``, default
# ``postgresql://postgres@127.0.0.1:5432``): one database per data dir, created on first start (a
# restart reuses it) and dropped at the end of the session. Unreachable: skipped, or failed under CI=true.

PG_SERVER = os.environ.get("OPENFC_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
_pg_databases: set[str] = set()


def store_backend() -> str:
    """The backend test servers use: ``sqlite`` or ``postgresql``."""
    return os.environ.get("OPENFC_TEST_STORE", "sqlite")


def pg_admin(*statements: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(f"{PG_SERVER}/postgres", timeout=5)
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def pg_database(name: str) -> str:
    """The URL of database ``name``, created if it does not exist yet."""
    import asyncpg

    if name not in _pg_databases:
        try:
            pg_admin(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            pass
        except (OSError, asyncpg.PostgresError) as error:
            message = f"PostgreSQL at {PG_SERVER} is unreachable: {error!r}"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        _pg_databases.add(name)
    return f"{PG_SERVER}/{name}"


def pg_drop(name: str) -> None:
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_databases.discard(name)


def store_args(data_dir: Path) -> tuple[str, ...]:
    """``--store`` for a server on ``data_dir``: none for SQLite (its file in the data dir)."""
    if store_backend() != "postgresql":
        return ()
    digest = hashlib.sha1(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return ("--store", pg_database(f"openfc_t_{digest}"))


def store_query(node: Server, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Rows of a read-only query on ``node``'s store, whichever the backend (``?`` placeholders)."""
    if store_backend() != "postgresql":
        import sqlite3

        db = sqlite3.connect(node.data_dir / "openfc.db")
        try:
            return [tuple(r) for r in db.execute(sql, args).fetchall()]
        finally:
            db.close()
    import asyncpg

    parts = sql.split("?")
    numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
    url = store_args(node.data_dir)[1]

    async def run() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(numbered, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    for name in sorted(_pg_databases):
        try:
            pg_drop(name)
        except Exception as error:  # never hide the tests' own outcome
            print(f"could not drop test database {name}: {error!r}", file=sys.stderr)


# -- end scale-out --
