"""The single entry point for running a function: API, triggers, queue and workflows all call ``run``."""

from __future__ import annotations

import base64
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from openfc.errors import EntityTooLarge, InstanceError, Throttled
from openfc.observe import Metrics, Recorder
from openfc.pool import Pool
from openfc.pool.spec import CallContext, CallResult, FunctionSpec, HttpRequest, HttpResult
from openfc.store.observations import CallRecord, CallStatus

R = TypeVar("R", CallResult, HttpResult)

#: Largest synchronous event payload (FC: 32 MB).
MAX_SYNC_PAYLOAD = 32 * 1024 * 1024
#: ``x-fc-log-type: Tail`` returns at most this much of the call's log.
LOG_TAIL_BYTES = 4096


#: Request and trace ids need uniqueness, not secrecy: one seed from os.urandom, no syscall per id.
_ids = random.Random()


def new_request_id() -> str:
    """A random id shaped like a UUID."""
    h = f"{_ids.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True, slots=True)
class Target:
    """What a call to ``service.qualifier/function`` runs: the version's spec and its instance cap."""

    spec: FunctionSpec
    max_instances: int
    code_checksum: str  #: FC's CRC-64 ``codeChecksum`` of the version's code


Resolve = Callable[[str, str, str], Awaitable[Target]]


@dataclass(frozen=True, slots=True)
class Invocation:
    service: str
    qualifier: str
    function: str
    payload: bytes
    request_id: str = field(default_factory=new_request_id)
    trace_id: str = field(default_factory=new_request_id)
    #: what started the call, for records and metrics: Sync, Async, HTTP or Workflow
    kind: str = "Sync"


@dataclass(frozen=True, slots=True)
class Outcome:
    invocation: Invocation
    target: Target
    result: CallResult

    @property
    def spec(self) -> FunctionSpec:
        return self.target.spec

    @property
    def log_tail(self) -> str:
        """The last 4 KB of the call's log, base64 (``x-fc-log-result``)."""
        return base64.b64encode(self.result.log[-LOG_TAIL_BYTES:]).decode()


class Invoker:
    """Runs calls through the pool; every call that reached a function leaves a record and metrics."""

    def __init__(self, *, resolve: Resolve, pool: Pool, recorder: Recorder, metrics: Metrics) -> None:
        self.resolve = resolve
        self.pool = pool
        self.recorder = recorder
        self.metrics = metrics

    async def run(self, invocation: Invocation, *, wait: float | None = None) -> Outcome:
        """Run one call now. Raises NotFound, Throttled (no capacity within ``wait``), InstanceError."""
        if len(invocation.payload) > MAX_SYNC_PAYLOAD:
            raise EntityTooLarge(
                f"the event payload is {len(invocation.payload)} bytes: synchronous calls take at most "
                f"{MAX_SYNC_PAYLOAD // 2**20} MB"
            )
        target = await self.resolve(invocation.service, invocation.qualifier, invocation.function)
        call = self.pool.invoke(
            target.spec, invocation.payload, self._context(invocation), max_instances=target.max_instances, wait=wait
        )
        return Outcome(invocation, target, await self._observed(invocation, target, call))

    async def run_http(self, invocation: Invocation, request: HttpRequest, *, wait: float | None = None) -> HttpResult:
        """Run one call of an HTTP function (HTTP trigger, custom domain); ``invocation.payload`` is the body."""
        target = await self.resolve(invocation.service, invocation.qualifier, invocation.function)
        call = self.pool.invoke_http(
            target.spec, request, self._context(invocation), max_instances=target.max_instances, wait=wait
        )
        return await self._observed(invocation, target, call)

    @staticmethod
    def _context(invocation: Invocation) -> CallContext:
        return CallContext(
            request_id=invocation.request_id, qualifier=invocation.qualifier, trace_id=invocation.trace_id
        )

    async def _observed(self, invocation: Invocation, target: Target, call: Awaitable[R]) -> R:
        """Await the pool's answer; record the call and its metrics whatever the outcome."""
        start = time.time()
        try:
            result = await call
        except Throttled:
            self._record(invocation, target, start, CallStatus.THROTTLED, CallResult(b""), "ResourceThrottled")
            raise
        except InstanceError as error:
            self._record(invocation, target, start, CallStatus.ERROR, CallResult(b""), error.code)
            raise
        status = CallStatus.SUCCEEDED if result.failure is None else CallStatus.FAILED
        self._record(invocation, target, start, status, result, result.error_type or "")
        return result

    def _record(
        self,
        invocation: Invocation,
        target: Target,
        start: float,
        status: CallStatus,
        result: CallResult | HttpResult,
        error: str,
    ) -> None:
        spec = target.spec
        record = CallRecord(
            request_id=invocation.request_id,
            service=spec.service,
            function=spec.function,
            qualifier=invocation.qualifier,
            version_id=spec.version_id,
            start_ms=int(start * 1000),
            duration_ms=result.duration_ms,
            memory_mb=spec.memory_size,
            cold_start=result.cold_start,
            status=status,
            error_type=error,
            bytes_in=len(invocation.payload),
            bytes_out=len(result.body),
            trace_id=invocation.trace_id,
            invocation_type=invocation.kind,
            instance_id=result.instance_id,
        )
        self.recorder.add(record, result.log)
        self.metrics.observe(record, result.init_duration_ms)
