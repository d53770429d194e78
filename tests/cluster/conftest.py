"""Three ``openfc serve`` nodes on loopback sharing one fresh PostgreSQL database (skipped without one,
failed under CI=true)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_SERVER, Server, pg_database, pg_drop

#: Short leases so a killed node's work, slots and leadership are taken over within seconds.
LEASE = "2"


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"openfc_cluster_{uuid.uuid4().hex[:10]}"
    url = pg_database(name)  # skips (fails under CI=true) when PostgreSQL is unreachable
    yield url
    pg_drop(name)


@pytest.fixture
def nodes(make_server, workdir: Path, pg_url: str) -> Callable[..., list[Server]]:
    """Start ``n`` nodes on the shared database (separate data dirs)."""

    def start(n: int = 3, **env: str) -> list[Server]:
        env = {"OPENFC_LEASE_SECONDS": LEASE, "OPENFC_IDLE_TIMEOUT": "60", **env}
        return [make_server(workdir / f"node-{uuid.uuid4().hex[:8]}", "--store", pg_url, **env) for _ in range(n)]

    return start


def pg_query(url: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    import asyncpg

    async def run() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A world-writable directory functions record into (instances run as other uids)."""
    path = Path("/tmp") / f"openfc-cluster-{uuid.uuid4().hex[:10]}"
    path.mkdir(mode=0o777)
    os.chmod(path, 0o777)
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


__all__ = ["PG_SERVER", "pg_query"]
