"""Async invocation: enqueue rate (202s/s over HTTP) and drain rate (completions/s) vs Celery on Redis.

    python bench/async.py [--events 5000] [--connections 32] [--workers 2] [--redis redis://127.0.0.1:6379]
                          [--store postgresql://postgres@127.0.0.1/bench]  (an empty database; default SQLite)

Every figure comes from this one run on this machine; Celery runs the same no-op task beside openfc.

- openfc enqueue: ``--events`` signed ``x-fc-invocation-type: Async`` POSTs over ``--connections``
  keep-alive connections to a function whose drain is parked (one instance, busy), so only the
  intake (validate, group-commit to SQLite, 202) is measured.
- Celery enqueue: ``--events`` ``task.delay()`` calls from one client to Redis with no worker.
- drain: ``--events`` calls of a no-op function, timed from the first submit to the last
  completion, with ``--workers`` instances (openfc maximumInstanceCount) / worker processes
  (Celery prefork concurrency). openfc completions are read from its queue table, Celery's from
  its Redis result backend.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import fc2
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import KEY_ID, SECRET, Node, drive, signed

NOOP = "def handler(event, context):\n    return ''\n"
PARKED = "import time\n\ndef handler(event, context):\n    time.sleep(3600)\n"
CELERY_APP = textwrap.dedent(
    """
    import os
    from celery import Celery

    app = Celery("bench", broker=os.environ["BENCH_BROKER"], backend=os.environ["BENCH_BACKEND"])
    app.conf.worker_prefetch_multiplier = 16

    @app.task
    def noop(payload):
        return ""
    """
)


async def post_async(port: int, path: str, n: int, connections: int) -> float:
    """Seconds to get ``n`` 202s from ``connections`` keep-alive connections (signed async calls)."""
    return await drive(port, path, lambda: signed("POST", path, {"x-fc-invocation-type": "Async"}), n,
                       connections, expect=202)  # fmt: skip


def queued(db: Path | str, target: str) -> int:
    if isinstance(db, str):  # scale-out: a PostgreSQL store URL
        import asyncpg

        async def count() -> int:
            conn = await asyncpg.connect(db)
            try:
                return int(await conn.fetchval("SELECT COUNT(*) FROM queue WHERE target=$1", target))
            finally:
                await conn.close()

        return asyncio.run(count())
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM queue WHERE target=?", (target,)).fetchone()[0])


def wait(predicate, timeout: float = 600.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark did not finish")
        time.sleep(interval)


def bench_openfc(events: int, connections: int, workers: int, store: str = "") -> tuple[float, float]:
    node = Node(*(("--store", store) if store else ()))
    try:
        client = fc2.Client(endpoint=node.endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET)
        client.create_service("bench")
        for name, source, cap in (("parked", PARKED, 1), ("noop", NOOP, workers)):
            code = Path(tempfile.mkdtemp(prefix="openfc-bench-code-"))
            (code / "index.py").write_text(source)
            client.create_function("bench", name, "python3", "index.handler", codeDir=str(code), timeout=3600)
            client.put_on_demand_config("bench", "LATEST", name, cap)
        client.invoke_function("bench", "noop")  # instances warm, as Celery's worker processes are

        parked = asyncio.run(post_async(node.port, "/2016-08-15/services/bench/functions/parked/invocations",
                                        events, connections))  # fmt: skip
        db: Path | str = store or node.data_dir / "openfc.db"
        assert queued(db, "services/bench.LATEST/functions/parked") >= events - 2, "events were lost"

        start = time.perf_counter()
        asyncio.run(post_async(node.port, "/2016-08-15/services/bench/functions/noop/invocations", events,
                               connections))  # fmt: skip
        wait(lambda: queued(db, "services/bench.LATEST/functions/noop") == 0)
        drained = time.perf_counter() - start
    finally:
        node.stop()
    return events / parked, events / drained


def bench_celery(events: int, workers: int, redis_url: str) -> tuple[float, float]:
    directory = Path(tempfile.mkdtemp(prefix="openfc-bench-celery-"))
    (directory / "bench_celery.py").write_text(CELERY_APP)
    env = {**os.environ, "BENCH_BROKER": f"{redis_url}/14", "BENCH_BACKEND": f"{redis_url}/15"}
    os.environ.update(BENCH_BROKER=env["BENCH_BROKER"], BENCH_BACKEND=env["BENCH_BACKEND"])
    sys.path.insert(0, str(directory))
    import bench_celery  # type: ignore[import-not-found]

    broker, backend = redis.Redis.from_url(env["BENCH_BROKER"]), redis.Redis.from_url(env["BENCH_BACKEND"])
    broker.flushdb()
    backend.flushdb()

    start = time.perf_counter()
    for i in range(events):
        bench_celery.noop.delay(i)
    enqueue = events / (time.perf_counter() - start)
    broker.flushdb()

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench_celery", "worker", "--pool=prefork",
         f"--concurrency={workers}", "--loglevel=WARNING", "--without-gossip", "--without-mingle",
         "--without-heartbeat"],
        cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait(lambda: bool(bench_celery.app.control.ping(timeout=0.5)), timeout=60)
        backend.flushdb()
        start = time.perf_counter()
        for i in range(events):
            bench_celery.noop.delay(i)
        wait(lambda: backend.dbsize() >= events)
        drained = events / (time.perf_counter() - start)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        broker.flushdb()
        backend.flushdb()
    return enqueue, drained


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="instances (openfc) = prefork processes (Celery)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    parser.add_argument("--store", default="", help="openfc store URL (an empty PostgreSQL database)")
    args = parser.parse_args()

    fc_enqueue, fc_drain = bench_openfc(args.events, args.connections, args.workers, args.store)
    celery_enqueue, celery_drain = bench_celery(args.events, args.workers, args.redis)

    print(f"async invocation, {args.events} events, {args.workers} instances / worker processes, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"{'':<44} {'openfc':>10} {'Celery':>10} {'ratio':>7}")
    print(f"{'enqueue (openfc: HTTP 202/s, Celery: delay()/s)':<44} {fc_enqueue:10.0f} {celery_enqueue:10.0f} "
          f"{fc_enqueue / celery_enqueue:7.2f}")  # fmt: skip
    print(f"{'drain, no-op (completions/s)':<44} {fc_drain:10.0f} {celery_drain:10.0f} "
          f"{fc_drain / celery_drain:7.2f}")  # fmt: skip
    print(
        f"targets: enqueue >= 2000/s ({'met' if fc_enqueue >= 2000 else 'NOT met'}), "
        f"drain >= Celery ({'met' if fc_drain >= celery_drain else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
