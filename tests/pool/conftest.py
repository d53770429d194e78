"""Fixtures driving a real ``Pool``: code zips built in memory, a loop per test, pools closed after."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shutil
import tempfile
import textwrap
import zipfile
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from openfc.pool import CallContext, CallResult, FunctionSpec, Pool


def build_zip(files: dict[str, str | bytes], executable: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o755 if name in executable else 0o644) << 16
            z.writestr(info, textwrap.dedent(content) if isinstance(content, str) else content)
    return buf.getvalue()


class PoolHarness:
    """Builds code packages and pools, runs coroutines on one event loop, cleans everything up."""

    def __init__(self, tmp_path: Path) -> None:
        # sandbox uids must be able to traverse every parent of data_dir; pytest's tmp_path is 0700
        self.tmp_path = Path(tempfile.mkdtemp(prefix="openfc-pool-"))
        os.chmod(self.tmp_path, 0o711)
        self.blobs: dict[str, bytes] = {}
        self.fetches: list[str] = []
        self.runner = asyncio.Runner()
        self.pools: list[Pool] = []
        self._n = 0

    def code(self, files: dict[str, str | bytes], executable: tuple[str, ...] = ()) -> str:
        data = build_zip(files, executable)
        digest = hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return digest

    async def fetch(self, digest: str) -> bytes:
        self.fetches.append(digest)
        await asyncio.sleep(0)
        return self.blobs[digest]

    def pool(self, **overrides: Any) -> Pool:
        self._n += 1
        kwargs: dict[str, Any] = {
            "data_dir": self.tmp_path / f"data{self._n}",
            "fetch_code": self.fetch,
            "idle_timeout": 60.0,
            "throttle_wait": 0.5,
            "region": "cn-test",
            "account_id": "1234567890",
            "sandbox": True,
        }
        kwargs.update(overrides)
        pool = Pool(**kwargs)
        self.run(pool.start())
        self.pools.append(pool)
        return pool

    def spec(self, digest: str, **overrides: Any) -> FunctionSpec:
        kwargs: dict[str, Any] = {
            "service": "svc",
            "function": "fn",
            "version_id": "LATEST",
            "revision": "r1",
            "runtime": "python3.10",
            "handler": "index.handler",
            "code_checksum": digest,
            "timeout": 10,
        }
        kwargs.update(overrides)
        return FunctionSpec(**kwargs)

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self.runner.run(coro)

    def invoke(
        self, pool: Pool, spec: FunctionSpec, payload: bytes = b"", request_id: str = "req-1", **kw: Any
    ) -> CallResult:
        kw.setdefault("max_instances", 10)
        return self.run(pool.invoke(spec, payload, CallContext(request_id, qualifier="LATEST"), **kw))

    def close(self) -> None:
        for pool in self.pools:
            self.run(pool.close())
        self.runner.close()
        shutil.rmtree(self.tmp_path, ignore_errors=True)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[PoolHarness]:
    h = PoolHarness(tmp_path)
    try:
        yield h
    finally:
        h.close()
