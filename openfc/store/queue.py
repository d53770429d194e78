"""Rows of the durable async queue, as the store hands them out: events, settlements, records, dead letters.

An *event* is one accepted async call (or one destination delivery) waiting to run. A dispatcher
*claims* events with a lease (``lease_until``, ``token``), runs them, then *settles* each claim:
done (deleted), retry (rescheduled), or dead (moved to the dead letters). A settlement only applies
while the claim's token still holds the event, so a run whose lease was lost never settles twice.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JSON = dict[str, Any]

_NODE = os.urandom(4).hex()
_SEQUENCE = itertools.count()


def new_event_id() -> str:
    """Unique without a syscall per id, roughly time-ordered: ``{µs since epoch}{process random}{counter}``."""
    return f"{time.time_ns() // 1000:015x}{_NODE}{next(_SEQUENCE) & 0xFFFFFF:06x}"


class InvocationStatus(StrEnum):
    """Where an async invocation is (FC's stateful async invocation statuses)."""

    #: accepted and waiting in the queue
    ENQUEUED = "Enqueued"
    #: claimed by a dispatcher: about to run or running
    RUNNING = "Running"
    #: failed, waiting for its next attempt
    RETRYING = "Retrying"
    #: ran and returned (final)
    SUCCEEDED = "Succeeded"
    #: failed and ran out of retries (final; dead letter)
    FAILED = "Failed"
    #: stopped by the user before it finished (final; never runs again)
    STOPPED = "Stopped"
    #: older than maxAsyncEventAgeInSeconds before it could succeed (final; dead letter)
    EXPIRED = "Expired"
    #: its target no longer exists (final; dead letter)
    INVALID = "Invalid"

    @property
    def final(self) -> bool:
        return self in FINAL

    @property
    def dead(self) -> bool:
        """Settling with this status moves the event to the dead letters."""
        return self in (InvocationStatus.FAILED, InvocationStatus.EXPIRED, InvocationStatus.INVALID)


FINAL = frozenset(
    {
        InvocationStatus.SUCCEEDED,
        InvocationStatus.FAILED,
        InvocationStatus.STOPPED,
        InvocationStatus.EXPIRED,
        InvocationStatus.INVALID,
    }
)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to enqueue.

    target: what runs it: a function (``services/{s}.{q}/functions/{f}``) or a destination URL.
    owner: the function the event is listed under (dead letters): the target itself, or the
        function whose result a destination delivery carries.
    stateful_id: with statefulInvocation, the record id, unique per ``record_function``
        (``{service}/{function}``); enqueueing a duplicate id enqueues nothing.
    due: epoch seconds it may run from; 0 means at once.
    meta: opaque to the store (kept with the event, returned on claim).
    """

    target: str
    payload: bytes
    request_id: str
    created: float
    trace_id: str = ""
    owner: str = ""
    stateful_id: str | None = None
    record_function: str = ""
    qualifier: str = ""
    due: float = 0.0
    meta: JSON = field(default_factory=dict)
    id: str = field(default_factory=new_event_id)


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    """A claimed event. ``attempts`` counts claims including this one, ``failures`` function errors
    so far, ``system_errors`` system errors so far; ``token`` identifies this claim."""

    id: str
    target: str
    owner: str
    payload: bytes
    request_id: str
    trace_id: str
    created: float
    attempts: int
    failures: int
    system_errors: int
    token: str
    stateful: bool
    meta: JSON


@dataclass(frozen=True, slots=True)
class Settlement:
    """How a claim ended. ``status`` RETRYING reschedules the event at ``due`` (lease released);
    a final status deletes it (FAILED, EXPIRED and INVALID move it to the dead letters).
    ``follow`` are events enqueued in the same transaction (destination deliveries)."""

    event: QueuedEvent
    status: InvocationStatus
    at: float
    due: float = 0.0
    failures: int = 0
    system_errors: int = 0
    error: str = ""
    response: bytes | None = None
    follow: tuple[NewEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """A stateful async invocation (times are epoch seconds)."""

    function: str  #: ``{service}/{function}``
    id: str
    qualifier: str
    event_id: str
    request_id: str
    status: InvocationStatus
    created: float
    started: float | None
    ended: float | None
    attempts: int
    error: str
    payload: bytes
    response: bytes | None
    events: list[JSON]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that ran out of retries or age (or whose target vanished); ``id`` is the event id."""

    id: str
    target: str
    owner: str
    request_id: str
    trace_id: str
    payload: bytes
    status: InvocationStatus
    error: str
    attempts: int
    created: float
    failed: float
    stateful: bool
    meta: JSON


#: Largest returnPayload kept on a record (FC: 1 MB).
MAX_RECORD_RESPONSE = 1024 * 1024

#: Column lists shared by the backends' queue tables (same names and order in SQLite and PostgreSQL).
EVENT_COLUMNS = (
    "id, target, owner, payload, request_id, trace_id, created, attempts, failures, system_errors, token, "
    "stateful, meta"
)
RECORD_COLUMNS = (
    "function, id, qualifier, event_id, request_id, status, created, started, ended, attempts, error, payload, "
    "response, events"
)
LETTER_COLUMNS = (
    "id, target, owner, request_id, trace_id, payload, status, error, attempts, created, failed, stateful, meta"
)
