"""The store interface: everything that persists goes through it, whatever the backend.

Metadata are *documents*: a JSON body under ``(kind, key)`` with an etag and timestamps.
Keys are slash-separated paths (``service/function``) so listing a parent's children is a
prefix scan. Code packages are content-addressed *blobs*.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openfc.store.observations import CallRecord, LogLine, Operations, UsageRow  # observe
from openfc.store.queue import DeadLetter, InvocationRecord, NewEvent, QueuedEvent, Settlement
from openfc.store.workflow import EventRow, ExecutionRow, ExecutionUpdate  # workflow

JSON = dict[str, Any]


def now_iso() -> str:
    """UTC time as FC prints it: ``2026-11-23T17:22:58.123Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def new_etag() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Doc:
    kind: str
    key: str
    body: JSON
    etag: str
    created: str
    modified: str


@dataclass(frozen=True, slots=True)
class NodeRow:  # cluster
    """A member of the cluster as its last heartbeat left it."""

    node: str
    info: JSON  #: ``{"address", "state": "live" | "draining", "started"}``
    heartbeat: float
    expires: float


class Store(ABC):
    """One interface, one implementation per backend (``sqlite``, ``postgres``)."""

    @abstractmethod
    async def open(self) -> None:
        """Connect and apply pending schema migrations."""

    @abstractmethod
    async def close(self) -> None: ...

    # -- documents ---------------------------------------------------------------------

    @abstractmethod
    async def get(self, kind: str, key: str) -> Doc | None: ...

    @abstractmethod
    async def create(self, kind: str, key: str, body: JSON) -> Doc | None:
        """Insert a new document; ``None`` if ``key`` already exists."""

    @abstractmethod
    async def update(self, kind: str, key: str, body: JSON, *, if_match: str | None = None) -> Doc | None:
        """Replace the body; ``None`` if missing. Raises ``PreconditionFailed`` on etag mismatch."""

    @abstractmethod
    async def put(self, kind: str, key: str, body: JSON) -> Doc:
        """Create or replace (upsert)."""

    @abstractmethod
    async def delete(self, kind: str, key: str, *, if_match: str | None = None) -> bool:
        """Delete; ``False`` if missing. Raises ``PreconditionFailed`` on etag mismatch."""

    @abstractmethod
    async def list(self, kind: str, *, prefix: str = "", start: str = "", limit: int = 100) -> list[Doc]:
        """Documents whose key starts with ``prefix`` and is ≥ ``start``, in key order."""

    @abstractmethod
    async def delete_prefix(self, kind: str, prefix: str) -> int:
        """Delete every document of ``kind`` whose key starts with ``prefix``."""

    # -- blobs -------------------------------------------------------------------------

    @abstractmethod
    async def put_blob(self, data: bytes) -> str:
        """Store ``data`` once; returns its sha256 hex digest."""

    @abstractmethod
    async def get_blob(self, digest: str) -> bytes | None: ...

    # -- async queue (openfc.queue) ----------------------------------------------------
    # Claims are leases: a claimed event is invisible to other claims until ``lease_until``; a
    # settlement applies only while its claim's token still holds the event. On PostgreSQL a claim
    # is ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``.

    @abstractmethod
    async def queue_enqueue(self, events: Sequence[NewEvent]) -> Sequence[bool]:
        """Commit ``events`` durably in one transaction (group commit) before returning.

        Per event ``False`` when its stateful id already exists for its function: that one is not
        enqueued (the rest are). A stateful event also creates its record (status Enqueued).
        """

    @abstractmethod
    async def queue_ready(self, now: float) -> Sequence[str]:
        """Targets that have events due at ``now`` and not leased."""

    @abstractmethod
    async def queue_next_due(self, now: float) -> float | None:
        """The earliest due time after ``now`` of an unleased event (a delayed retry), if any."""

    @abstractmethod
    async def queue_claim(self, target: str, limit: int, *, now: float, lease_until: float) -> Sequence[QueuedEvent]:
        """Lease up to ``limit`` due events of ``target``, oldest due first; counts an attempt each and
        marks their records Running."""

    @abstractmethod
    async def queue_extend(self, claims: Sequence[tuple[str, str]], lease_until: float) -> None:
        """Extend the leases of ``(event id, token)`` claims still held (heartbeat)."""

    @abstractmethod
    async def queue_release(self, claims: Sequence[tuple[str, str]]) -> None:
        """Give back claims that never ran: claimable at once, the attempt not counted."""

    @abstractmethod
    async def queue_settle(self, settlements: Sequence[Settlement]) -> Sequence[bool]:
        """Apply settlements in one transaction; per settlement ``False`` if its claim was lost
        (lease expired and taken, or the event was stopped): nothing of it is applied."""

    @abstractmethod
    async def queue_recover(self) -> int:
        """At node start: make events leased by a previous run of this node claimable now.

        Single-node backends (SQLite: one process owns the file) release every lease; shared
        backends let other nodes' leases expire. Returns how many were released.
        """

    @abstractmethod
    async def queue_depth(self, target: str | None = None) -> int:
        """Events waiting or in flight (of ``target``, or all)."""

    # -- scale-out: queue wake-ups ---------------------------------------------------------

    @abstractmethod
    async def queue_listen(self, wake: Callable[[str], None]) -> None:
        """Call ``wake(target)`` whenever any node commits events for ``target`` (until ``close``).

        SQLite: nothing to do (one node sees its own enqueues); PostgreSQL: ``LISTEN openfc_queue``.
        """

    # -- end scale-out ---------------------------------------------------------------------

    # -- stateful async invocation records ---------------------------------------------

    @abstractmethod
    async def invocation_get(self, function: str, invocation_id: str) -> InvocationRecord | None: ...

    @abstractmethod
    async def invocation_list(
        self,
        function: str,
        *,
        qualifier: str | None = None,
        status: str | None = None,
        prefix: str = "",
        created_from: float | None = None,
        created_to: float | None = None,
        descending: bool = True,
        offset: int = 0,
        limit: int = 100,
    ) -> Sequence[InvocationRecord]:
        """Records of ``function`` (``service/function``) by creation time, filtered."""

    @abstractmethod
    async def invocation_stop(self, function: str, invocation_id: str, now: float) -> InvocationRecord | None:
        """Mark a record Stopped and delete its event so it never runs again, atomically.

        Returns the record as it was before (``None`` if missing); a record already final is left
        unchanged (the caller reports it).
        """

    # -- dead letters ------------------------------------------------------------------

    @abstractmethod
    async def dead_letter_list(self, owner: str, *, start: str = "", limit: int = 100) -> Sequence[DeadLetter]:
        """Dead letters of ``owner`` (a function target) by id ≥ ``start``."""

    @abstractmethod
    async def dead_letter_get(self, letter_id: str) -> DeadLetter | None: ...

    @abstractmethod
    async def dead_letter_redrive(self, letter_id: str, now: float) -> DeadLetter | None:
        """Move a dead letter back into the queue (due now, fresh age and attempts), atomically;
        its record, if any, goes back to Enqueued. ``None`` if missing."""

    @abstractmethod
    async def dead_letter_delete(self, letter_id: str) -> bool: ...

    # -- workflow (openfc.workflow) --------------------------------------------------------
    # Executions are append-only histories plus a summary row. A node drives an execution only
    # while it holds its lease; on PostgreSQL ``workflow_claim`` is an UPDATE over a
    # ``SELECT ... FOR UPDATE SKIP LOCKED``.

    @abstractmethod
    async def workflow_create(
        self, execution: ExecutionRow, events: Sequence[EventRow], owner: str | None, lease_until: float
    ) -> bool:
        """Insert an execution with its first events, leased to ``owner``; ``False`` if its arn exists."""

    @abstractmethod
    async def workflow_get(self, arn: str) -> ExecutionRow | None: ...

    @abstractmethod
    async def workflow_list(
        self, machine_arn: str, status: str | None, after: tuple[float, str] | None, limit: int
    ) -> Sequence[ExecutionRow]:
        """Executions of a state machine, newest first, after the ``(start_ts, arn)`` cursor."""

    @abstractmethod
    async def workflow_events(
        self, arn: str, *, after: int = 0, limit: int = 1_000_000, reverse: bool = False
    ) -> Sequence[EventRow]:
        """History events by id (> ``after``; with ``reverse``: < ``after`` descending, 0 = from the end)."""

    @abstractmethod
    async def workflow_append(
        self, arn: str, events: Sequence[EventRow], update: ExecutionUpdate, owner: str | None
    ) -> bool:
        """Append events and update the summary in one transaction (appends are group-committed).

        ``False`` (nothing written) when the execution is no longer RUNNING or ``owner`` lost its lease.
        """

    @abstractmethod
    async def workflow_claim(
        self,
        owner: str,
        *,
        now: float,
        lease_until: float,
        due_before: float,
        limit: int,
        arn: str | None = None,
        own: bool = False,
    ) -> Sequence[str]:
        """Lease RUNNING executions with ``wake_at <= due_before`` whose lease is free or expired.

        ``own``: also those still leased to ``owner`` (a restarted node taking its executions back).
        With ``arn``: lease that one execution (free, expired or ours) whatever its ``wake_at``.
        """

    @abstractmethod
    async def workflow_renew(self, owner: str, arns: Sequence[str], lease_until: float) -> None: ...

    @abstractmethod
    async def workflow_release(self, owner: str, arns: Sequence[str]) -> None: ...

    @abstractmethod
    async def workflow_next_wake(self, now: float) -> float | None:
        """The earliest ``wake_at`` of any RUNNING execution."""

    @abstractmethod
    async def workflow_close(self) -> None: ...

    # -- end workflow ----------------------------------------------------------------------

    # -- triggers (openfc.triggers) --------------------------------------------------------

    @abstractmethod
    async def queue_enqueue_marked(
        self, events: Sequence[NewEvent], kind: str, key: str, body: JSON, *, if_match: str | None
    ) -> bool:
        """Enqueue ``events`` and write document ``(kind, key)`` with ``body`` in one transaction.

        Only if the document's etag is ``if_match`` (``None``: it must not exist yet); else nothing is
        written and the answer is ``False``. Timer triggers record the last fired tick this way, so a
        tick is enqueued exactly once across restarts and nodes.
        """

    # -- end triggers ----------------------------------------------------------------------

    # -- observations (openfc.observe) -------------------------------------------------

    @abstractmethod
    async def observe_append(self, records: Sequence[CallRecord], logs: Sequence[LogLine]) -> None:
        """Write a batch of invocation records and log lines in one transaction."""

    @abstractmethod
    async def records_query(
        self,
        service: str,
        function: str,
        *,
        qualifier: str | None = None,
        version_id: str | None = None,
        status: str | None = None,
        request_id: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> Sequence[tuple[int, CallRecord]]:
        """A function's records, newest first, as (id, record); ``before_id`` pages backwards."""

    @abstractmethod
    async def logs_query(
        self,
        service: str,
        function: str,
        *,
        request_id: str | None = None,
        text: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> Sequence[tuple[int, LogLine]]:
        """Log lines oldest first as (id, line): after ``after_id``, else the most recent ``limit``."""

    @abstractmethod
    async def usage_query(
        self, *, start_ms: int, end_ms: int, service: str | None = None, function: str | None = None
    ) -> Sequence[UsageRow]:
        """Usage per function per UTC day of calls that started in [start_ms, end_ms)."""

    @abstractmethod
    async def provisioned_usage_add(self, date: str, service: str, function: str, gb_seconds: float) -> None:
        """Add provisioned-instance GB-seconds to a function's day."""

    @abstractmethod
    async def operations(self) -> Operations:
        """Queue depth and oldest event per target, dead letters per function, executions by status."""

    @abstractmethod
    async def observe_prune(self, *, before_ms: int, keep_records: int, keep_logs: int) -> None:
        """Retention: drop rows older than ``before_ms`` or beyond the newest ``keep_*``."""

    # -- end observations --------------------------------------------------------------

    # -- cluster (openfc.cluster): membership, instance slots, leadership, change notices ----
    # Nodes sharing one store coordinate through these. Every row is a lease (``expires`` /
    # ``lease_until``, epoch seconds of the caller's clock): a node that dies stops renewing and its
    # rows lapse. Single-node backends (SQLite) implement them trivially but correctly.

    @abstractmethod
    async def node_heartbeat(self, node: str, info: JSON, now: float, ttl: float) -> None:
        """Create or refresh ``node``'s membership row (``info``: address, state, started) until ``now + ttl``."""

    @abstractmethod
    async def nodes(self, now: float) -> Sequence[NodeRow]:
        """Members whose heartbeat has not lapsed at ``now``, by node id."""

    @abstractmethod
    async def node_leave(self, node: str) -> None:
        """Drop ``node``'s membership, its instance slots and the leaderships it holds (graceful stop)."""

    @abstractmethod
    async def slot_acquire(
        self, key: str, node: str, instance_id: str, limit: int, lease_until: float, now: float
    ) -> bool:
        """Take an instance slot of ``key`` for ``instance_id`` if fewer than ``limit`` live ones are held
        (counted under a per-key lock across nodes); ``True`` if taken (or already held)."""

    @abstractmethod
    async def slot_renew(self, node: str, lease_until: float, now: float) -> int:
        """Extend every unexpired slot of ``node``; returns how many."""

    @abstractmethod
    async def slot_release(self, instance_ids: Sequence[str]) -> None: ...

    @abstractmethod
    async def leader(self, name: str, node: str, ttl: float, now: float) -> bool:
        """Take or keep the leadership ``name`` for ``ttl`` s: ``True`` if ``node`` holds it now (it was
        free, lapsed, or already ``node``'s)."""

    @abstractmethod
    async def changes_publish(self, kind: str, origin: str) -> None:
        """Tell every node listening that metadata of ``kind`` changed (written by node ``origin``)."""

    @abstractmethod
    async def changes_listen(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(kind, origin)`` for each change published by any node (until ``changes_unlisten``)."""

    @abstractmethod
    async def changes_unlisten(self) -> None: ...

    # -- end cluster -------------------------------------------------------------------
