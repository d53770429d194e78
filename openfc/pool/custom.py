"""A custom-runtime instance: the user's own HTTP server, spoken to per the FC custom runtime contract.

The server is started from ``customRuntimeConfig.command + args`` (default ``./bootstrap``) in the code
directory, under the same sandbox, cgroup and process-group rules as Python instances. Several instances share
the host, so each gets its own free loopback port in ``FC_SERVER_PORT`` (also ``FC_CUSTOM_LISTEN_PORT``): the
server MUST listen on it (``caPort`` only matters to a server that ignores the variable, and then only one
instance of it can run at a time). The pool waits until the port accepts, sends ``POST /initialize`` once (if an
initializer is set), then ``POST /invoke`` per event call and the original request with
``x-fc-control-path: /http-invoke`` per HTTP call, on keep-alive connections.

Responses: 2xx (and ``x-fc-status`` absent or 200) is success; another 4xx or ``x-fc-status: 404`` is a
function error (the body is passed on when it is a JSON object, else wrapped as ``{"errorMessage": ...}``);
5xx is a function error and the instance is restarted. Timeouts and crashes are handled as for Python
instances (``Instance``). Output lines between ``FC Invoke Start RequestId: <id>`` / ``... End ...`` markers
belong to that request; other lines go to the only call in flight, if there is exactly one.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable

from openfc.errors import InstanceError
from openfc.pool._http import Connection, HttpProtocolError, NoResponse, Response
from openfc.pool.instance import Instance, Launch, _append, _Call, error_body
from openfc.pool.spec import CallContext, CallResult, FailureKind, FunctionSpec
from openfc.runtime import protocol as P

HOST = "127.0.0.1"
MAX_LISTEN_WAIT = 120.0  #: seconds a server may take to accept on its port (FC: ~120 s)
MIN_LISTEN_WAIT = 5.0
DEFAULT_COMMAND = ("./bootstrap",)
HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "content-length", "host"})
_MARKERS = (b"FC Invoke Start RequestId: ", b"FC Initialize Start RequestId: ")
_END_MARKERS = (b"FC Invoke End RequestId: ", b"FC Initialize End RequestId: ")


class CustomInstance(Instance):
    """One custom-runtime server process listening on ``port``."""

    def __init__(self, spec: FunctionSpec, ctx: CallContext, on_change: Callable[[Instance], None], port: int) -> None:
        super().__init__(spec, ctx, on_change)
        self.port = port
        self._idle: list[Connection] = []
        self._fc_headers: list[tuple[str, str]] = []
        self._partial = bytearray()  #: output after the last newline
        self._marked: _Call | None = None  #: the call named by the last "FC Invoke Start" marker

    def command(self) -> list[str]:
        return list(self.spec.custom_command + self.spec.custom_args) or list(DEFAULT_COMMAND)

    async def _spawn(self, launch: Launch) -> None:
        env = launch.env
        self._fc_headers = [
            ("x-fc-function-name", self.spec.function),
            ("x-fc-function-handler", self.spec.handler),
            ("x-fc-function-memory", str(self.spec.memory_size)),
            ("x-fc-function-timeout", str(self.spec.timeout)),
            ("x-fc-function-initializer", self.spec.initializer or ""),
            ("x-fc-initialization-timeout", str(self.spec.initialization_timeout)),
            ("x-fc-region", env.get("FC_REGION", "")),
            ("x-fc-account-id", env.get("FC_ACCOUNT_ID", "")),
            ("x-fc-service-name", self.spec.service),
            ("x-fc-version-id", self.spec.version_id),
            ("x-fc-service-logproject", ""),
            ("x-fc-service-logstore", ""),
            ("x-fc-access-key-id", ""),
            ("x-fc-access-key-secret", ""),
            ("x-fc-security-token", ""),
        ]
        self._popen(self.command(), launch, ())
        await self._wait_listening()

    async def _wait_listening(self) -> None:
        loop = asyncio.get_running_loop()
        limit = min(MAX_LISTEN_WAIT, max(MIN_LISTEN_WAIT, float(self.spec.initialization_timeout)))
        deadline = loop.time() + limit
        started = loop.time()
        while True:
            if self._ready_frame.done():  # the process exited: raises with its output
                await self._ready_frame
            try:
                self._idle.append(await Connection.open(HOST, self.port))
                self._ready_frame.set_result(None)
                return
            except OSError:
                pass
            if loop.time() >= deadline:
                output = self._boot_log.decode(errors="replace").strip()
                raise InstanceError(
                    f"instance {self.id}: the custom runtime did not listen on port {self.port} (FC_SERVER_PORT) "
                    f"within {limit:.0f}s; output: {output}"
                )
            # a refused connect costs microseconds: poll every 3 ms for the first seconds, then every 50 ms
            await asyncio.wait([self._ready_frame], timeout=0.003 if loop.time() - started < 3 else 0.05)

    # --- calls ---------------------------------------------------------------------------------------

    def _send(self, kind: int, ctx: CallContext, event: bytes, *, timeout: float | None) -> tuple[int, _Call]:
        cid = self._next_id
        self._next_id = cid + 1 if cid < 0xFFFFFFF0 else 1
        call = _Call(self._loop.create_future(), ctx.request_id)
        self._calls[cid] = call
        if timeout is not None:
            call.timer = self._loop.call_later(timeout, self._on_timeout, cid)
        task: asyncio.Future[object] = asyncio.ensure_future(self._exchange(cid, kind, ctx, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return cid, call

    def _request(self, kind: int, ctx: CallContext, event: bytes) -> tuple[str, str, list[tuple[str, str]], bytes]:
        common = [("x-fc-request-id", ctx.request_id), ("x-fc-qualifier", ctx.qualifier), *self._fc_headers]
        if ctx.trace_id:
            common.append(("x-fc-trace-id", ctx.trace_id))
        if kind == P.HTTP:
            head, body = P.unpack_http(event)
            target = str(head["request_uri"])
            forwarded = [(str(k), str(v)) for k, v in head["headers"]]  # type: ignore[attr-defined]
            forwarded = [(k, v) for k, v in forwarded if k.lower() not in HOP_BY_HOP and not _is_fc(k)]
            extra = [("x-fc-control-path", "/http-invoke"), ("x-forwarded-for", str(head["client_ip"]))]
            return str(head["method"]), target, [*forwarded, *common, *extra], body
        path = "/initialize" if kind == P.INIT else "/invoke"
        headers = [("content-type", "application/octet-stream"), ("x-fc-control-path", path), *common]
        return "POST", path, headers, event

    async def _exchange(self, cid: int, kind: int, ctx: CallContext, event: bytes) -> None:
        method, target, headers, body = self._request(kind, ctx, event)
        try:
            response = await self._roundtrip(method, target, headers, body)
        except (OSError, HttpProtocolError) as e:
            if cid in self._calls and not self.dead:
                _append(self._boot_log, f"connection to the custom runtime failed: {e!r}\n".encode(), 8192)
                self._drain_output()
                self.kill("connection to the custom runtime failed")
            return
        self._drain_output()
        if cid not in self._calls:  # timed out or failed meanwhile
            return
        restart = False
        if kind == P.HTTP:
            out_headers = [(k, v) for k, v in response.headers if k.lower() not in HOP_BY_HOP]
            result = CallResult(body=P.pack_http({"status": response.status, "headers": out_headers}, response.body))
        else:
            result, restart = _call_result(response)
        result.max_memory_mb = self._max_memory_mb()
        self._resolve(cid, result)
        if restart:
            self.kill(f"the custom runtime answered HTTP {response.status}")

    async def _roundtrip(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> Response:
        host = f"{HOST}:{self.port}"
        while self._idle:  # a kept-alive connection; the server may have closed it meanwhile
            conn = self._idle.pop()
            if conn.closed or conn.reader.at_eof():
                conn.close()
                continue
            try:
                response = await conn.request(method, target, headers, body, host=host)
            except NoResponse:
                continue  # closed by the server before it read this request: try a fresh connection
            self._keep(conn, response)
            return response
        conn = await Connection.open(HOST, self.port)
        response = await conn.request(method, target, headers, body, host=host)
        self._keep(conn, response)
        return response

    def _keep(self, conn: Connection, response: Response) -> None:
        if response.keep_alive and not self.dead and not conn.closed:
            self._idle.append(conn)
        else:
            conn.close()

    def kill(self, reason: str) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
        super().kill(reason)

    async def _finish(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
        await super()._finish()

    # --- logs ----------------------------------------------------------------------------------------

    def _drain_output(self) -> None:
        """Read what the server wrote before it answered, so the call's log is complete."""
        while self._out_fd >= 0:
            try:
                data = os.read(self._out_fd, 1 << 16)
            except OSError:
                break
            if not data:
                break
            self._on_log(0, data)
        if self._partial:
            data, self._partial = bytes(self._partial), bytearray()
            self._attribute(data)

    def _on_log(self, cid: int, data: bytes) -> None:
        self._partial += data
        cut = self._partial.rfind(b"\n") + 1
        if not cut:
            if len(self._partial) > 8192:
                data, self._partial = bytes(self._partial), bytearray()
                self._attribute(data)
            return
        lines, self._partial = bytes(self._partial[:cut]), self._partial[cut:]
        for line in lines.splitlines(keepends=True):
            self._attribute(line)

    def _attribute(self, line: bytes) -> None:
        for marker in _MARKERS:
            if line.startswith(marker):
                request_id = line[len(marker) :].strip().decode(errors="replace")
                self._marked = next((c for c in self._calls.values() if c.request_id == request_id), None)
                return
        if line.startswith(_END_MARKERS):
            self._marked = None
            return
        call = self._marked if self._marked is not None and not self._marked.future.done() else None
        if call is None and len(self._calls) == 1:
            call = next(iter(self._calls.values()))
        if call is not None:
            _append(call.log, line)
        else:
            _append(self._boot_log, line, 8192)


def _call_result(response: Response) -> tuple[CallResult, bool]:
    """Map an /invoke or /initialize response to a call result and whether to restart the instance."""
    status = response.status
    fc_status = response.header("x-fc-status")
    if 200 <= status < 300 and fc_status in (None, "", "200"):
        return CallResult(body=response.body), False
    restart = status >= 500
    body = response.body
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        text = body.decode(errors="replace")[:8192]
        if restart:
            prefix = f"the custom runtime answered HTTP {status}; the instance was restarted"
            text = f"{prefix}: {text}" if text else prefix
        body = error_body(text or f"the custom runtime answered HTTP {status}")
    return CallResult(body=body, failure=FailureKind.CRASH if restart else FailureKind.EXCEPTION), restart


def _is_fc(header: str) -> bool:
    return header.lower().startswith("x-fc-")
