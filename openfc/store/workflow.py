"""Rows of the workflow engine as the store hands them out: executions and their history events.

An execution's history is append-only: ``workflow_append`` adds events and updates the execution's
summary (status, output, next wake-up) in one transaction. Executions are *leased* by one node at
a time (``lease_owner``/``lease_until``); a node claims due executions and renews its leases, and a
lease that expires (its node died) lets another node, or the same node restarted, take over.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    arn: str
    machine_arn: str
    name: str
    status: str  #: RUNNING SUCCEEDED FAILED TIMED_OUT ABORTED
    input: str  #: JSON text
    definition: str  #: JSON text of the definition the execution runs (snapshot at start)
    start_ts: float
    output: str | None = None  #: JSON text
    error: str | None = None
    cause: str | None = None
    stop_ts: float | None = None
    wake_at: float | None = None  #: when a node must drive it next; None: only an outside event moves it
    last_event: int = 0


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    type: str
    frame: str
    ts: float
    prev: int
    data: str  #: JSON text


@dataclass(frozen=True, slots=True)
class ExecutionUpdate:
    """The execution summary after an append."""

    status: str
    wake_at: float | None
    output: str | None = None
    error: str | None = None
    cause: str | None = None
    stop_ts: float | None = None
