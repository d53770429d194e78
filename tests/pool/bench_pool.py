"""Cold-start and warm-call numbers for the pool: ``/work/venv/bin/python -m tests.pool.bench_pool``.

Not collected by pytest (see ``test_cold_start_and_warm_calls_are_fast`` for the asserted bounds).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from openfc.pool import CallContext, FunctionSpec, Pool

from .conftest import build_zip


async def bench(sandbox: bool, colds: int = 30, warms: int = 5000) -> str:
    data = build_zip({"index.py": "def handler(event, context):\n    return event\n"})
    digest = hashlib.sha256(data).hexdigest()

    async def fetch(_: str) -> bytes:
        return data

    root = Path(tempfile.mkdtemp(prefix="openfc-bench-"))
    os.chmod(root, 0o711)
    pool = Pool(data_dir=root / "data", fetch_code=fetch, idle_timeout=600, throttle_wait=1, region="local",
                account_id="0", sandbox=sandbox)  # fmt: skip
    await pool.start()
    try:
        await pool.invoke(FunctionSpec("s", "unpack", "LATEST", "r", "python3", "index.handler", digest), b"",
                          CallContext("r"), max_instances=1)  # fmt: skip
        cold = []
        for i in range(colds):
            spec = FunctionSpec("s", f"f{i}", "LATEST", "r", "python3", "index.handler", digest)
            started = time.perf_counter()
            result = await pool.invoke(spec, b"x", CallContext("r"), max_instances=1)
            cold.append((time.perf_counter() - started) * 1000)
            assert result.cold_start and result.body == b"x"
        spec = FunctionSpec("s", "f0", "LATEST", "r", "python3", "index.handler", digest)
        warm = []
        cpu = time.process_time()
        for _ in range(warms):
            started = time.perf_counter()
            await pool.invoke(spec, b"x", CallContext("r"), max_instances=1)
            warm.append((time.perf_counter() - started) * 1e6)
        cpu_us = (time.process_time() - cpu) / warms * 1e6
    finally:
        await pool.close()
        shutil.rmtree(root, ignore_errors=True)
    warm.sort()
    return (
        f"sandbox={sandbox}: cold start p50 {statistics.median(cold):.1f} ms, max {max(cold):.1f} ms; "
        f"warm round trip p50 {statistics.median(warm):.0f} us, p99 {warm[int(len(warm) * 0.99)]:.0f} us, "
        f"platform CPU {cpu_us:.0f} us/call"
    )


if __name__ == "__main__":
    for sandbox in (True, False):
        print(asyncio.run(bench(sandbox)))
