"""Scale-out: async drain throughput of a no-op function with 1, 2 and 3 nodes on one PostgreSQL, and one
node on SQLite as the reference.

    python bench/scaleout.py [--events 3000] [--connections 16] [--per-node 2] [--pg postgresql://postgres@127.0.0.1:5432]

Each configuration starts fresh nodes (and a fresh database), deploys a no-op function with
maximumInstanceCount = ``--per-node`` × nodes (cluster-wide), warms an instance on every node, then
submits ``--events`` async calls spread evenly over the nodes and times from the first submit until
the queue table is empty. All nodes run on this machine, so they share its cores with PostgreSQL and
the instances: the curve shows coordination overhead more than capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import fc2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import KEY_ID, SECRET, Node, drive, signed

NOOP = "def handler(event, context):\n    return ''\n"
TARGET = "services/bench.LATEST/functions/noop"
PATH = "/2016-08-15/services/bench/functions/noop/invocations"


async def pg(url: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def wait(predicate, timeout: float = 900.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark did not finish")
        time.sleep(interval)


async def submit(nodes: list[Node], events: int, connections: int) -> None:
    share, extra = divmod(events, len(nodes))
    per = max(1, connections // len(nodes))
    headers = lambda: signed("POST", PATH, {"x-fc-invocation-type": "Async"})  # noqa: E731
    await asyncio.gather(*(drive(n.port, PATH, headers, share + (i < extra), per, expect=202)
                           for i, n in enumerate(nodes)))  # fmt: skip


def run(n: int, events: int, connections: int, per_node: int, pg_server: str | None) -> float:
    database = f"openfc_bench_{uuid.uuid4().hex[:8]}"
    url = f"{pg_server}/{database}" if pg_server else None
    if pg_server:
        asyncio.run(pg(f"{pg_server}/postgres", f'CREATE DATABASE "{database}"'))
    args = ("--store", url) if url else ()
    nodes: list[Node] = []
    try:
        for _ in range(n):
            nodes.append(Node(*args))
        client = fc2.Client(endpoint=nodes[0].endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET)
        client.create_service("bench")
        code = Path(tempfile.mkdtemp(prefix="openfc-bench-code-"))
        (code / "index.py").write_text(NOOP)
        client.create_function("bench", "noop", "python3", "index.handler", codeDir=str(code))
        client.put_on_demand_config("bench", "LATEST", "noop", per_node * n)
        for node in nodes:  # an instance warm on every node
            fc2.Client(endpoint=node.endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET).invoke_function(
                "bench", "noop"
            )

        def depth() -> int:
            if url:
                return int(asyncio.run(pg(url, "SELECT count(*) FROM queue WHERE target=$1", TARGET)))  # type: ignore[call-overload]
            db = nodes[0].data_dir / "openfc.db"
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
                return int(conn.execute("SELECT COUNT(*) FROM queue WHERE target=?", (TARGET,)).fetchone()[0])

        start = time.perf_counter()
        asyncio.run(submit(nodes, events, connections))
        wait(lambda: depth() == 0)
        return events / (time.perf_counter() - start)
    finally:
        for node in nodes:
            node.stop()
        if pg_server:
            asyncio.run(pg(f"{pg_server}/postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--per-node", type=int, default=2, help="instances per node (maximumInstanceCount / nodes)")
    parser.add_argument("--pg", default=os.environ.get("OPENFC_TEST_PG", "postgresql://postgres@127.0.0.1:5432"))
    args = parser.parse_args()
    rows: list[tuple[str, float]] = [("SQLite, 1 node", run(1, args.events, args.connections, args.per_node, None))]
    for n in (1, 2, 3):
        rows.append((f"PostgreSQL, {n} node{'s' * (n > 1)}", run(n, args.events, args.connections, args.per_node,
                                                                   args.pg)))  # fmt: skip
    base = rows[1][1]
    print(f"async drain, {args.events} no-op events, {args.per_node} instances per node, {os.cpu_count()} cores")
    print(f"| {'store, nodes':<20} | {'events/s':>9} | {'vs PG 1 node':>12} |")
    print(f"|{'-' * 22}|{'-' * 11}|{'-' * 14}|")
    for name, rate in rows:
        print(f"| {name:<20} | {rate:>9.0f} | {rate / base:>11.2f}x |")


if __name__ == "__main__":
    main()
