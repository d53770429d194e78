"""Start a throwaway ``openfc serve`` for a benchmark and sign FC requests for a keep-alive client."""

from __future__ import annotations

import asyncio
import email.utils
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from openfc.auth import authorization

KEY_ID, SECRET = "BENCHKEY", "bench-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not healthy within {timeout} s")


class Node:
    """An ``openfc serve`` subprocess on a free port with a temporary data dir."""

    def __init__(self, *args: str, **env: str) -> None:
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="openfc-bench-"))
        os.chmod(self.data_dir, 0o711)
        environ = {**os.environ, "OPENFC_ACCESS_KEY_ID": KEY_ID, "OPENFC_ACCESS_KEY_SECRET": SECRET, **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "openfc", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir),
             *args],
            env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.endpoint = f"http://127.0.0.1:{self.port}"
        wait_healthy(self.endpoint + "/healthz", self.process)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def signed(method: str, path: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"date": email.utils.formatdate(usegmt=True), "content-type": "application/octet-stream"}
    headers.update(extra or {})
    headers["authorization"] = authorization(KEY_ID, SECRET, method, headers, path)
    return headers


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(
    port: int, path: str, headers: Callable[[], dict[str, str]], n: int, connections: int, *, expect: int = 200
) -> float:
    """Seconds to complete ``n`` POSTs over ``connections`` keep-alive HTTP/1.1 connections.

    A bare asyncio client: cheap enough that the server, not the client, is what is measured.
    """
    remaining = n
    body = b'{"event": "bench"}'
    status = f" {expect} ".encode()

    async def connection() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                head = "".join(f"{k}: {v}\r\n" for k, v in headers().items())
                writer.write(
                    f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode()
                    + body
                )
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                payload = await reader.readexactly(length) if length else b""
                if status not in status_line:
                    raise RuntimeError(f"expected {expect}, got {status_line!r} {payload[:200]!r}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return time.perf_counter() - start
