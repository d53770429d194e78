"""Warm invoke latency/throughput vs a bare Starlette app, and cold start vs a naive subprocess spawn.

    python bench/invoke.py [--requests 2000] [--cold 30]

Every figure comes from this one run on this machine: the baselines run beside openfc.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import fc2
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import KEY_ID, SECRET, Node, drive, free_port, percentile, signed, wait_healthy

HANDLER = "def handler(event, context):\n    return 'hello world'\n"

BARE_APP = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def hello(request):
        await request.body()
        return Response(b"hello world")

    app = Starlette(routes=[Route("/{path:path}", hello, methods=["GET", "POST"])])
    """
)


def sequential(url: str, headers_for, n: int) -> list[float]:
    """Latency in ms of ``n`` back-to-back POSTs on one keep-alive connection."""
    latencies = []
    with httpx.Client(timeout=30) as client:
        for i in range(n + 50):
            headers = headers_for()
            start = time.perf_counter()
            r = client.post(url, headers=headers)
            elapsed = (time.perf_counter() - start) * 1000
            assert r.status_code == 200 and r.content == b"hello world", (r.status_code, r.content[:200])
            if i >= 50:
                latencies.append(elapsed)
    return latencies


def throughput(port: int, path: str, headers_for, n: int, concurrency: int = 16) -> float:
    """Calls/s of ``n`` POSTs from ``concurrency`` keep-alive connections."""
    return n / asyncio.run(drive(port, path, headers_for, n, concurrency))


def bare_server() -> tuple[subprocess.Popen[bytes], int]:
    directory = Path(tempfile.mkdtemp(prefix="openfc-bare-"))
    (directory / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--loop", "uvloop",
         "--http", "httptools", "--log-level", "warning"],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_healthy(f"http://127.0.0.1:{port}/", process)
    return process, port


def naive_spawn(code_dir: Path, n: int) -> list[float]:
    """What a platform without a runtime would do: one fresh interpreter per call."""
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(
            ["python3", "-c", "import index; print(index.handler(b'', None))"],
            cwd=code_dir, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--cold", type=int, default=30)
    args = parser.parse_args()

    node = Node()
    bare, bare_port = bare_server()
    bare_url = f"http://127.0.0.1:{bare_port}/"
    try:
        client = fc2.Client(endpoint=node.endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET)
        code = Path(tempfile.mkdtemp(prefix="openfc-bench-code-"))
        (code / "index.py").write_text(HANDLER)
        client.create_service("bench")
        client.create_function("bench", "hello", "python3", "index.handler", codeDir=str(code))
        path = "/2016-08-15/services/bench/functions/hello/invocations"
        url = node.endpoint + path

        def fc_headers() -> dict[str, str]:
            return signed("POST", path)

        fc_lat = sequential(url, fc_headers, args.requests)
        bare_lat = sequential(bare_url, dict, args.requests)
        fc_tput = throughput(node.port, path, fc_headers, args.requests * 2)
        bare_tput = throughput(bare_port, "/", dict, args.requests * 2)

        cold = []
        for i in range(args.cold):
            # A configuration change retires the warm instance: the next call starts a new one.
            client.update_function(
                "bench", "hello", runtime="python3", handler="index.handler", environmentVariables={"N": str(i)}
            )
            start = time.perf_counter()
            r = httpx.post(url, headers=fc_headers(), timeout=30)
            cold.append((time.perf_counter() - start) * 1000)
            assert r.content == b"hello world"
        spawn = naive_spawn(code, args.cold)
    finally:
        node.stop()
        bare.send_signal(signal.SIGTERM)
        bare.wait()

    def row(name: str, values: list[float]) -> str:
        return f"{name:<38} {percentile(values, 0.5):8.2f} {percentile(values, 0.99):8.2f}"

    print(f"warm sync invoke, {args.requests} sequential calls on one keep-alive connection (ms)")
    print(f"{'':<38} {'p50':>8} {'p99':>8}")
    print(row("openfc invoke (FC API, signed)", fc_lat))
    print(row("bare Starlette/uvicorn hello world", bare_lat))
    print(f"overhead p50: +{percentile(fc_lat, 0.5) - percentile(bare_lat, 0.5):.2f} ms (target <= +2 ms)")
    print()
    print(f"throughput, {args.requests * 2} calls over 16 keep-alive connections")
    print(f"  openfc {fc_tput:8.0f}/s   bare {bare_tput:8.0f}/s   ratio {fc_tput / bare_tput:.2f}")
    print()
    print(f"cold start, {args.cold} first calls to a new instance (ms)")
    print(f"{'':<38} {'p50':>8} {'p99':>8}")
    print(row("openfc cold start (first response)", cold))
    print(row("naive subprocess spawn per call", spawn))
    print(f"cold p50 {percentile(cold, 0.5):.1f} ms (target <= 150 ms), "
          f"ratio to naive spawn {percentile(cold, 0.5) / percentile(spawn, 0.5):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
