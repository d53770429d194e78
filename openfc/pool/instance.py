"""One instance: a bootstrap process in its own process group, spoken to over a Unix socketpair.

Calls are multiplexed by call id; one reader task per instance resolves their futures. A call owns a slot
(``inflight``) from ``reserve()`` until its result arrives or the instance dies, even if its caller gives up.
Raw output on the process's fd 1/2 (C extensions, child processes) is read from a pipe and attributed to
the call in flight when there is exactly one, otherwise kept in a short instance log used in start errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from openfc.errors import InstanceError
from openfc.pool.cgroup import Cgroup
from openfc.pool.layers import opt_namespace
from openfc.pool.spec import CallContext, CallResult, FailureKind, FunctionSpec, HttpRequest, HttpResult
from openfc.runtime import protocol as P

LOG_LIMIT = 1 << 20  #: bytes of log kept per call (the tail)
READY_TIMEOUT = 30.0
LAUNCH = (
    "import sys;sys.path.insert(0,sys.argv.pop(1));from _openfc_runtime.bootstrap import main;del sys.path[0];main()"
)


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    id: str
    version_id: str
    state: str  #: "starting", "busy", "provisioned" (idle and reserved) or "idle"
    started_at: float  #: epoch seconds
    inflight: int
    provisioned: bool = False
    qualifier: str = ""  #: the qualifier of the call (or provision config) that started it
    memory_mb: int = 0  #: the function's memorySize (metering of provisioned instances)


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start a process for one instance (built by the pool)."""

    interpreter: str
    runtime_dir: Path
    code_dir: Path
    extra_paths: tuple[str, ...]
    env: dict[str, str]
    uid: int | None
    cgroup_mode: str | None
    rlimit_as_mb: int
    opt_dir: Path | None = None  #: merged layers, bind-mounted at /opt in a private mount namespace


class _Call:
    __slots__ = ("future", "log", "request_id", "started", "timer")

    def __init__(self, future: asyncio.Future[CallResult], request_id: str) -> None:
        self.future = future
        self.request_id = request_id
        self.log = bytearray()
        self.started = time.perf_counter()
        self.timer: asyncio.TimerHandle | None = None


class InitFailed(Exception):
    """The initializer raised or timed out; ``result`` is what the waiting callers get."""

    def __init__(self, result: CallResult) -> None:
        super().__init__(result.body.decode(errors="replace"))
        self.result = result


def error_body(message: str, error_type: str | None = None) -> bytes:
    body = {"errorMessage": message} if error_type is None else {"errorMessage": message, "errorType": error_type}
    return json.dumps(body).encode()


class Instance:
    """A started (or starting) bootstrap process serving one function version at one revision."""

    def __init__(self, spec: FunctionSpec, ctx: CallContext, on_change: Callable[[Instance], None]) -> None:
        self.first_ctx = ctx  #: the call that started it (runs the initializer; its qualifier is FC_QUALIFIER)
        self.start_task: asyncio.Future[None] | None = None
        self.id = f"c-{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(6)}"
        self.spec = spec
        self.concurrency = max(1, spec.instance_concurrency)
        self.inflight = 0
        self.started_at = time.time()
        self.last_used = time.monotonic()
        self.retired = False
        self.provisioned = False  #: kept by a provision config: never reclaimed by idleness
        self.dead = False  #: killed or exited; never handed new calls
        self.ready = False
        self.init_ms = 0.0
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._on_change = on_change
        self._loop = asyncio.get_running_loop()
        self._calls: dict[int, _Call] = {}
        self._next_id = 1
        self._cold = True
        self._init_log = b""
        self._boot_log = bytearray()
        self._kill_reason: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._cgroup: Cgroup | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[object]] = set()  #: strong references to background tasks
        self._ready_frame: asyncio.Future[None] = self._loop.create_future()
        self._ready_frame.add_done_callback(_retrieve)
        self._out_fd = -1
        self._pidfd = -1
        self._memory_mb = spec.memory_size

    # --- lifecycle ---------------------------------------------------------------------------------

    def reserve(self) -> None:
        self.inflight += 1

    def mark_warm(self) -> None:
        """Started ahead of traffic (provisioned): its first call is not a cold start."""
        self._cold = False
        self._init_log = b""

    def unreserve(self) -> None:
        self.inflight -= 1
        self.last_used = time.monotonic()
        self._on_change(self)

    async def start(self, launch: Launch, ctx: CallContext) -> None:
        """Start the process, wait for READY, run the initializer. Raises InstanceError or InitFailed."""
        t0 = time.perf_counter()
        try:
            await self._spawn(launch)
            try:
                await asyncio.wait_for(asyncio.shield(self._ready_frame), READY_TIMEOUT)
            except TimeoutError:
                raise InstanceError(f"instance {self.id} did not become ready within {READY_TIMEOUT:.0f}s") from None
            if self.spec.initializer:
                await self._initialize(ctx)
        except BaseException:
            self.kill("start failed")
            raise
        self.init_ms = (time.perf_counter() - t0) * 1000
        self.ready = True

    async def _spawn(self, launch: Launch) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        args = [str(child.fileno()), str(self.concurrency), str(launch.rlimit_as_mb)]
        args.append(str(self.spec.initialization_timeout))
        cmd = [launch.interpreter, "-I", "-S", "-c", LAUNCH, str(launch.runtime_dir), *args, *launch.extra_paths]
        try:
            self._popen(cmd, launch, (child.fileno(),))
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        reader, self._writer = await asyncio.open_unix_connection(sock=parent)
        self._reader_task = asyncio.ensure_future(self._read(reader))

    def _popen(self, cmd: list[str], launch: Launch, pass_fds: tuple[int, ...]) -> None:
        """Start ``cmd`` in its own session and cgroup, fd 1/2 on a pipe we read, exit watched by pidfd."""
        if self.dead:
            raise InstanceError(f"instance {self.id} was stopped before it started")
        if launch.cgroup_mode is not None:
            try:
                self._cgroup = Cgroup(launch.cgroup_mode, self.id, self.spec.memory_size)
            except OSError as e:
                raise InstanceError(f"cannot create cgroup for instance {self.id}: {e}") from e
        out_r, out_w = os.pipe()
        user: int | None = launch.uid
        preexec = None
        if launch.opt_dir is not None:
            preexec = opt_namespace(launch.opt_dir, launch.uid)
            user = None  # Popen's user= runs before preexec_fn: the mount needs root, so it drops privileges itself
        try:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                pass_fds=pass_fds,
                cwd=launch.code_dir,
                env=launch.env,
                start_new_session=True,
                close_fds=True,
                user=user,
                group=user,
                extra_groups=None if user is None else [],
                preexec_fn=preexec,
            )
        except (OSError, subprocess.SubprocessError) as e:
            os.close(out_r)
            raise InstanceError(f"cannot start instance {self.id}: {e}") from e
        finally:
            os.close(out_w)
        if self._cgroup is not None:
            try:
                self._cgroup.attach(self._proc.pid)
            except OSError as e:
                os.close(out_r)
                self._proc.kill()
                self._proc.wait()
                self._proc = None
                raise InstanceError(f"cannot limit instance {self.id}: {e}") from e
        self._out_fd = out_r
        os.set_blocking(out_r, False)
        self._loop.add_reader(out_r, self._on_output)
        try:
            self._pidfd = os.pidfd_open(self._proc.pid)
            self._loop.add_reader(self._pidfd, self._on_exit)
        except (AttributeError, OSError):
            waiter: asyncio.Future[object] = asyncio.ensure_future(asyncio.to_thread(self._proc.wait))
            self._tasks.add(waiter)
            waiter.add_done_callback(lambda _: self._on_exit())

    async def _initialize(self, ctx: CallContext) -> None:
        timeout = self.spec.initialization_timeout
        cid, call = self._send(P.INIT, ctx, b"", timeout=None)
        try:
            result = await asyncio.wait_for(asyncio.shield(call.future), timeout)
        except TimeoutError:
            self._calls.pop(cid, None)
            log = self._frame_log(call, "Initialize")
            body = error_body(f"Function initialization timed out after {timeout} seconds", "InitializationTimeout")
            raise InitFailed(CallResult(body=body, failure=FailureKind.INIT, log=log, instance_id=self.id)) from None
        self._init_log = self._frame_log(call, "Initialize")
        if result.failure is not None:
            result.failure = FailureKind.INIT if result.failure is FailureKind.EXCEPTION else result.failure
            result.log = self._init_log
            raise InitFailed(result)

    def kill(self, reason: str) -> None:
        """SIGKILL the process group (and anything left in its cgroup); fail calls still in flight."""
        if self._kill_reason is not None:
            return
        self._kill_reason = reason
        self.dead = True
        if self._proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        if self._cgroup is not None:
            self._cgroup.kill_all()
        if self._calls:
            self._fail_all(FailureKind.CRASH)
        if self._proc is None:
            if self._cgroup is not None:
                self._cgroup.remove()
            self._finish_now()
        self._on_change(self)

    # --- calls -------------------------------------------------------------------------------------

    async def call(self, event: bytes, ctx: CallContext) -> CallResult:
        """Run one event call on a reserved slot (the slot is released when the call resolves)."""
        if self.dead:
            self.unreserve()
            raise InstanceError(f"instance {self.id} is gone")
        _, call = self._send(P.INVOKE, ctx, event, timeout=float(self.spec.timeout))
        return self._first_call(await call.future)

    async def call_http(self, request: HttpRequest, ctx: CallContext) -> HttpResult:
        """Run one HTTP call (the handler is a WSGI app) on a reserved slot."""
        if self.dead:
            self.unreserve()
            raise InstanceError(f"instance {self.id} is gone")
        head: dict[str, object] = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "headers": [list(h) for h in request.headers],
            "client_ip": request.client_ip,
            "request_uri": request.request_uri,
        }
        _, call = self._send(P.HTTP, ctx, P.pack_http(head, request.body), timeout=float(self.spec.timeout))
        result = self._first_call(await call.future)
        if result.failure is not None:
            return HttpResult.failed(result)
        try:
            response, body = P.unpack_http(result.body)
            status = int(response["status"])  # type: ignore[call-overload]
            headers = [(str(k), str(v)) for k, v in response["headers"]]  # type: ignore[attr-defined]
        except (ValueError, KeyError, TypeError) as e:
            result.failure = FailureKind.EXCEPTION
            result.body = error_body(f"invalid HTTP response from the runtime: {e}", "RuntimeError")
            return HttpResult.failed(result)
        return HttpResult(
            status, headers, body, None, result.log, result.duration_ms, result.cold_start,
            result.init_duration_ms, result.instance_id, result.max_memory_mb,
        )  # fmt: skip

    def _first_call(self, result: CallResult) -> CallResult:
        if self._cold:
            self._cold = False
            result.cold_start = True
            result.init_duration_ms = self.init_ms
            if self._init_log:
                result.log = self._init_log + result.log
                self._init_log = b""
        return result

    def _send(self, kind: int, ctx: CallContext, event: bytes, *, timeout: float | None) -> tuple[int, _Call]:
        cid = self._next_id
        self._next_id = cid + 1 if cid < 0xFFFFFFF0 else 1
        call = _Call(self._loop.create_future(), ctx.request_id)
        self._calls[cid] = call
        assert self._writer is not None
        self._writer.write(P.pack_call(kind, cid, ctx.request_id, ctx.qualifier, ctx.trace_id, event))
        if timeout is not None:
            call.timer = self._loop.call_later(timeout, self._on_timeout, cid)
        return cid, call

    def _frame_log(self, call: _Call, what: str) -> bytes:
        rid = call.request_id.encode()
        return b"FC %s Start RequestId: %s\n%s%sFC %s End RequestId: %s\n" % (
            what.encode(),
            rid,
            call.log,
            b"" if not call.log or call.log.endswith(b"\n") else b"\n",
            what.encode(),
            rid,
        )

    def _resolve(self, cid: int, result: CallResult) -> None:
        call = self._calls.pop(cid, None)
        if call is None:
            return
        if call.timer is not None:
            call.timer.cancel()
        result.duration_ms = (time.perf_counter() - call.started) * 1000
        result.instance_id = self.id
        if call.timer is not None:  # invoke calls (the initializer's log is framed by _initialize)
            result.log = self._frame_log(call, "Invoke")
        else:
            result.log = bytes(call.log)
        if not call.future.done():
            call.future.set_result(result)
        if call.timer is not None:
            self.unreserve()

    def _on_timeout(self, cid: int) -> None:
        call = self._calls.get(cid)
        if call is None:
            return
        mem = self._max_memory_mb()
        message = f"Function timed out after {self.spec.timeout} seconds (maxMemoryUsage: {mem:.2f}MB)"
        res = CallResult(body=error_body(message, "FunctionTimeout"), failure=FailureKind.TIMEOUT, max_memory_mb=mem)
        self._resolve(cid, res)
        self.kill("timeout")

    def _fail_all(self, kind: FailureKind) -> None:
        mem = self._max_memory_mb()
        for cid in list(self._calls):
            call = self._calls.get(cid)
            if call is None:
                continue
            if kind is FailureKind.OOM:
                body = error_body(f"Function exceeded its memory limit of {self._memory_mb} MB", "MemoryLimitExceeded")
            else:
                ms = (time.perf_counter() - call.started) * 1000
                body = error_body(
                    f"Process exited unexpectedly before completing request (duration: {ms:.0f}ms, "
                    f"maxMemoryUsage: {mem:.2f}MB)"
                )
            self._resolve(cid, CallResult(body=body, failure=kind, max_memory_mb=mem))

    def _max_memory_mb(self) -> float:
        return self._cgroup.max_usage_mb() if self._cgroup is not None else 0.0

    # --- I/O -----------------------------------------------------------------------------------------

    async def _read(self, reader: asyncio.StreamReader) -> None:
        header = P.HEADER
        hsize = header.size
        try:
            while True:
                size, kind, cid = header.unpack(await reader.readexactly(hsize))
                if size > P.MAX_FRAME:
                    raise ValueError(f"frame of {size} bytes")
                payload = await reader.readexactly(size) if size else b""
                if kind == P.RESULT:
                    self._on_result(cid, payload)
                elif kind == P.LOG:
                    self._on_log(cid, payload)
                elif kind == P.READY and not self._ready_frame.done():
                    self._ready_frame.set_result(None)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the process exited; _finish() takes it from here
        except Exception as e:  # garbage on the channel (user code wrote to our socket): stop the instance
            self._boot_log += f"protocol error: {e!r}\n".encode()
            self.kill("protocol error")

    def _on_result(self, cid: int, payload: bytes) -> None:
        status, rss_kb, body = P.unpack_result(payload)
        if status == P.OK:
            self._resolve(cid, CallResult(body=body, max_memory_mb=rss_kb / 1024))
        elif status == P.ERROR:
            self._resolve(cid, CallResult(body=body, failure=FailureKind.EXCEPTION, max_memory_mb=rss_kb / 1024))
        else:
            self._fail_all(FailureKind.OOM)
            self.kill("out of memory")

    def _on_log(self, cid: int, data: bytes) -> None:
        call = self._calls.get(cid)
        if call is None and cid == 0 and len(self._calls) == 1:
            call = next(iter(self._calls.values()))
        if call is not None:
            _append(call.log, data)
        else:
            _append(self._boot_log, data, 8192)

    def _on_output(self) -> None:
        try:
            data = os.read(self._out_fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._loop.remove_reader(self._out_fd)
            os.close(self._out_fd)
            self._out_fd = -1
            return
        self._on_log(0, data)

    def _on_exit(self) -> None:
        if self._pidfd >= 0:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1
        finish: asyncio.Future[object] = asyncio.ensure_future(self._finish())
        self._tasks.add(finish)

    async def _finish(self) -> None:
        assert self._proc is not None
        code = self._proc.poll()
        unexpected = self._kill_reason is None
        self.dead = True
        with contextlib.suppress(OSError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        if self._cgroup is not None:
            self._cgroup.kill_all()
        if self._reader_task is not None:  # results written just before exit are still in the socket
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._reader_task), 0.5)
            self._reader_task.cancel()
        if self._out_fd >= 0:
            self._on_output()
        if not self._ready_frame.done():
            boot = self._boot_log.decode(errors="replace").strip()
            self._ready_frame.set_exception(InstanceError(f"instance {self.id} exited with {code} on start: {boot}"))
        oom = code == -signal.SIGKILL and self._cgroup is not None and self._cgroup.oom_killed()
        self._fail_all(FailureKind.OOM if oom else FailureKind.CRASH)
        if unexpected:
            self._kill_reason = f"exited with {code}"
        if self._writer is not None:
            self._writer.close()
        if self._out_fd >= 0:
            self._loop.remove_reader(self._out_fd)
            os.close(self._out_fd)
            self._out_fd = -1
        if self._cgroup is not None:
            deadline = time.monotonic() + 2.0
            while not self._cgroup.remove() and time.monotonic() < deadline:
                self._cgroup.kill_all()
                await asyncio.sleep(0.01)
        self._finish_now()
        self._on_change(self)

    def _finish_now(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def info(self) -> InstanceInfo:
        if not self.ready:
            state = "starting"
        elif self.inflight:
            state = "busy"
        else:
            state = "provisioned" if self.provisioned else "idle"
        return InstanceInfo(
            self.id, self.spec.version_id, state, self.started_at, self.inflight, self.provisioned,
            self.first_ctx.qualifier, self.spec.memory_size,
        )  # fmt: skip


def _append(buf: bytearray, data: bytes, limit: int = LOG_LIMIT) -> None:
    buf += data
    if len(buf) > limit:
        del buf[: len(buf) - limit]


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
