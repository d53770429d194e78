"""Rows of the observability tables: invocation records, function log lines, daily usage."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class CallStatus(StrEnum):
    """How one call ended."""

    #: the function returned normally
    SUCCEEDED = "Succeeded"
    #: the function raised, timed out, ran out of memory or crashed
    FAILED = "Failed"
    #: no capacity within the wait (429)
    THROTTLED = "Throttled"
    #: the platform could not start an instance
    ERROR = "Error"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One call of a function, whatever started it."""

    request_id: str
    service: str
    function: str
    qualifier: str
    version_id: str
    start_ms: int  #: epoch milliseconds
    duration_ms: float
    memory_mb: int
    cold_start: bool
    status: CallStatus
    error_type: str
    bytes_in: int
    bytes_out: int
    trace_id: str
    invocation_type: str  #: Sync, Async, Trigger or Workflow
    instance_id: str

    @property
    def billed_ms(self) -> int:
        """Billed duration, rounded up to the millisecond; throttled and failed-to-start calls cost nothing."""
        return math.ceil(self.duration_ms) if self.status in (CallStatus.SUCCEEDED, CallStatus.FAILED) else 0

    @property
    def gb_seconds(self) -> float:
        return self.memory_mb / 1024 * self.billed_ms / 1000


@dataclass(frozen=True, slots=True)
class LogLine:
    time_ms: int
    service: str
    function: str
    request_id: str
    instance_id: str
    trace_id: str
    message: str


@dataclass(frozen=True, slots=True)
class UsageRow:
    """Usage of one function on one UTC day."""

    date: str  #: YYYY-MM-DD
    service: str
    function: str
    invocations: int
    errors: int
    gb_seconds: float
    provisioned_gb_seconds: float
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True, slots=True)
class Operations:
    """What operators watch beside the calls: the async queue, dead letters, workflow executions."""

    queue: list[tuple[str, int, float]]  #: (target, events waiting or in flight, oldest event's created time)
    dead_letters: list[tuple[str, int]]  #: (owner function target, dead letters)
    executions: dict[str, int]  #: workflow executions by status
