"""A minimal HTTP/1.1 client over asyncio streams, for talking to custom-runtime servers on loopback.

One ``Connection`` carries one request at a time and is kept alive between requests. Request bodies are
sent with ``Content-Length``; response bodies are read by ``Content-Length``, ``chunked`` or until close.
No TLS, proxies, redirects or compression: the peer is the user's own server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence

MAX_HEAD = 64 * 1024
MAX_BODY = 256 * 1024 * 1024


class HttpProtocolError(Exception):
    """The peer closed the connection or spoke something that is not HTTP/1.x."""


class NoResponse(HttpProtocolError):
    """The connection was closed before any byte of a response arrived (a stale keep-alive connection)."""


class Response:
    __slots__ = ("body", "headers", "keep_alive", "reason", "status")

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, keep_alive: bool):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


class Connection:
    """One keep-alive TCP connection to ``host:port``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = False
        self._got_bytes = False

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEAD)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    def _quickack(self) -> None:
        """ACK at once: a server that writes its headers and body separately with Nagle on otherwise waits
        for our delayed ACK (40 ms) before sending the body."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None and hasattr(socket, "TCP_QUICKACK"):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()

    async def request(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes, *, host: str
    ) -> Response:
        """Send one request and read its response; raises ``HttpProtocolError`` or ``OSError``."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
        skip = {"host", "content-length", "transfer-encoding", "connection"}
        lines.extend(f"{k}: {v}" for k, v in headers if k.lower() not in skip and "\n" not in v and "\r" not in v)
        lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        self._got_bytes = False
        try:
            self.writer.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                self.writer.write(body)
                await self.writer.drain()
            return await self._read_response(method)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as e:
            self.close()
            partial = isinstance(e, asyncio.IncompleteReadError) and e.partial
            if not self._got_bytes and not partial:
                raise NoResponse(f"the connection was closed before a response: {e!r}") from e
            raise HttpProtocolError(f"incomplete HTTP response: {e!r}") from e
        except (asyncio.LimitOverrunError, ValueError, UnicodeDecodeError) as e:
            self.close()
            raise HttpProtocolError(f"bad or incomplete HTTP response: {e!r}") from e
        except BaseException:
            self.close()
            raise

    async def _read_response(self, method: str) -> Response:
        while True:
            self._quickack()
            raw = await self.reader.readuntil(b"\r\n\r\n")
            self._got_bytes = True
            self._quickack()
            head = raw.decode("latin-1").split("\r\n")
            version, _, rest = head[0].partition(" ")
            if not version.startswith("HTTP/1."):
                raise HttpProtocolError(f"not an HTTP/1.x status line: {head[0][:100]!r}")
            code, _, reason = rest.partition(" ")
            status = int(code)
            headers = []
            for line in head[1:]:
                if not line:
                    continue
                key, sep, value = line.partition(":")
                if not sep:
                    raise HttpProtocolError(f"bad header line {line[:100]!r}")
                headers.append((key.strip(), value.strip()))
            if 100 <= status < 200:  # 100 Continue and friends: the real response follows
                continue
            break
        fields = {k.lower(): v for k, v in headers}
        keep_alive = version == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            body = await self._read_chunked()
        elif "content-length" in fields:
            length = int(fields["content-length"])
            if length > MAX_BODY:
                raise HttpProtocolError(f"response body of {length} bytes is too large")
            body = await self.reader.readexactly(length)
        else:
            body = await self.reader.read(MAX_BODY)
            keep_alive = False
        if not keep_alive:
            self.close()
        return Response(status, reason, headers, body, keep_alive)

    async def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            line = await self.reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await self.reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return bytes(out)
            if len(out) + size > MAX_BODY:
                raise HttpProtocolError("chunked response body is too large")
            out += await self.reader.readexactly(size)
            await self.reader.readexactly(2)
