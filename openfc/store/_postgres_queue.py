"""The PostgreSQL async queue: claims are ``FOR UPDATE SKIP LOCKED`` leases, wake-ups ``LISTEN/NOTIFY``.

Every node claims from the same table: a claim leases events (``lease_until``, ``token``) so no other
node sees them until the lease expires; a node that dies stops renewing, and its events become
claimable by the others. Enqueues, releases, redrives and settlements that add events
``NOTIFY openfc_queue, '<target>'`` in their transaction, so idle dispatchers wake at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from openfc.store.queue import (
    EVENT_COLUMNS,
    FINAL,
    LETTER_COLUMNS,
    MAX_RECORD_RESPONSE,
    RECORD_COLUMNS,
    DeadLetter,
    InvocationRecord,
    InvocationStatus,
    NewEvent,
    QueuedEvent,
    Settlement,
)

log = logging.getLogger("openfc.store")

#: The channel enqueues notify, with the target as payload.
CHANNEL = "openfc_queue"

#: Schema of the queue, appended to ``postgres.MIGRATIONS`` (same columns as the SQLite one).
MIGRATION = """
CREATE TABLE queue (
    id TEXT COLLATE "C" PRIMARY KEY,
    target TEXT NOT NULL,
    owner TEXT NOT NULL,
    request_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    payload BYTEA NOT NULL,
    meta TEXT NOT NULL,
    stateful BOOLEAN NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    due DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    token TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    system_errors INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_target_due ON queue (target, due);
CREATE INDEX queue_due ON queue (due);
CREATE TABLE dead_letters (
    id TEXT COLLATE "C" PRIMARY KEY,
    target TEXT NOT NULL,
    owner TEXT NOT NULL,
    request_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    payload BYTEA NOT NULL,
    meta TEXT NOT NULL,
    stateful BOOLEAN NOT NULL,
    status TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    failed DOUBLE PRECISION NOT NULL
);
CREATE INDEX dead_letters_owner ON dead_letters (owner, id);
CREATE TABLE invocations (
    function TEXT NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    qualifier TEXT NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    started DOUBLE PRECISION,
    ended DOUBLE PRECISION,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    payload BYTEA NOT NULL,
    response BYTEA,
    events JSONB NOT NULL DEFAULT '[]',
    PRIMARY KEY (function, id)
);
CREATE INDEX invocations_created ON invocations (function, created)
"""


def _append_event(status: str, ms: str, detail: str) -> str:
    """SQL appending one ``{status, timestamp, eventDetail}`` entry to a record's ``events``."""
    return (
        f"events = events || jsonb_build_array(jsonb_build_object('status', {status}::text, "
        f"'timestamp', {ms}::bigint, 'eventDetail', {detail}::text))"
    )


def rowcount(status: str) -> int:
    """Rows a command touched, from its status tag (``UPDATE 3``, ``INSERT 0 1``)."""
    return int(status.rsplit(" ", 1)[-1])


def _ms(t: float) -> int:
    return int(t * 1000)


async def notify(conn: Any, targets: Sequence[str]) -> None:
    """Wake every node's dispatcher for ``targets`` when the current transaction commits."""
    if targets:
        await conn.execute(f"SELECT pg_notify('{CHANNEL}', t) FROM unnest($1::text[]) AS t", sorted(set(targets)))


async def insert_events(conn: Any, events: Sequence[NewEvent]) -> list[bool]:
    """Insert ``events`` (and the records of stateful ones) and notify their targets; per event ``False``
    when its stateful id was taken."""
    stateful = [e for e in events if e.stateful_id is not None]
    duplicate: set[str] = set()
    if stateful:
        rows = await conn.fetch(
            "INSERT INTO invocations (function, id, qualifier, event_id, request_id, status, created, payload, events) "
            "SELECT f, i, q, e, r, 'Enqueued', c, p, jsonb_build_array(jsonb_build_object('status', 'Enqueued', "
            "'timestamp', ms, 'eventDetail', '')) FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
            "$5::text[], $6::float8[], $7::bytea[], $8::bigint[]) AS t(f, i, q, e, r, c, p, ms) "
            "ON CONFLICT DO NOTHING RETURNING event_id",
            [e.record_function for e in stateful], [e.stateful_id for e in stateful], [e.qualifier for e in stateful],
            [e.id for e in stateful], [e.request_id for e in stateful], [e.created for e in stateful],
            [e.payload for e in stateful], [_ms(e.created) for e in stateful],
        )  # fmt: skip
        duplicate = {e.id for e in stateful} - {r[0] for r in rows}
    fresh = [e for e in events if e.id not in duplicate]
    if fresh:
        await conn.execute(
            "INSERT INTO queue (id, target, owner, request_id, trace_id, payload, meta, stateful, created, due) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], "
            "$7::text[], $8::bool[], $9::float8[], $10::float8[])",
            [e.id for e in fresh], [e.target for e in fresh], [e.owner or e.target for e in fresh],
            [e.request_id for e in fresh], [e.trace_id for e in fresh], [e.payload for e in fresh],
            [json.dumps(e.meta) for e in fresh], [e.stateful_id is not None for e in fresh],
            [e.created for e in fresh], [e.due or e.created for e in fresh],
        )  # fmt: skip
        await notify(conn, [e.target for e in fresh])
    return [e.id not in duplicate for e in events]


def _event(r: Any) -> QueuedEvent:
    return QueuedEvent(
        r["id"], r["target"], r["owner"], bytes(r["payload"]), r["request_id"], r["trace_id"], r["created"],
        r["attempts"], r["failures"], r["system_errors"], r["token"], bool(r["stateful"]), json.loads(r["meta"]),
    )  # fmt: skip


def _record(r: Any) -> InvocationRecord:
    return InvocationRecord(
        r["function"], r["id"], r["qualifier"], r["event_id"], r["request_id"], InvocationStatus(r["status"]),
        r["created"], r["started"], r["ended"], r["attempts"], r["error"], bytes(r["payload"]),
        None if r["response"] is None else bytes(r["response"]), json.loads(r["events"]),
    )  # fmt: skip


def _letter(r: Any) -> DeadLetter:
    return DeadLetter(
        r["id"], r["target"], r["owner"], r["request_id"], r["trace_id"], bytes(r["payload"]),
        InvocationStatus(r["status"]), r["error"], r["attempts"], r["created"], r["failed"], bool(r["stateful"]),
        json.loads(r["meta"]),
    )  # fmt: skip


class QueuePostgres:
    """Queue, stateful records and dead letters (mixed into ``PostgresStore``)."""

    url: str
    node: str
    _listener: Any = None
    _listener_lost: Callable[[Any], None]
    _relisten: asyncio.Task[None] | None = None

    if TYPE_CHECKING:

        @property
        def pool(self) -> Any: ...

    # -- wake-ups ------------------------------------------------------------------------

    async def queue_listen(self, wake: Callable[[str], None]) -> None:
        """LISTEN on a dedicated connection: ``wake(target)`` for every event any node enqueues.

        A lost connection is re-opened every second until it is back (``queue_unlisten`` stops that);
        meanwhile the dispatcher's periodic rescan still finds the work.
        """

        def received(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            wake(payload)

        def lost(_conn: Any) -> None:
            log.warning("store: the LISTEN connection was lost; reconnecting")
            self._listener = None
            self._relisten = asyncio.get_running_loop().create_task(connect(retry=1.0))

        async def connect(retry: float | None) -> None:
            while True:
                try:
                    listener = await asyncpg.connect(self.url)
                    listener.add_termination_listener(lost)
                    await listener.add_listener(CHANNEL, received)
                except Exception:
                    if retry is None:
                        raise
                    await asyncio.sleep(retry)
                    continue
                self._listener, self._listener_lost = listener, lost
                return

        await connect(retry=None)

    async def queue_unlisten(self) -> None:
        relisten, self._relisten = self._relisten, None
        if relisten is not None and not relisten.done():
            relisten.cancel()
        if self._listener is not None:
            listener, self._listener = self._listener, None
            listener.remove_termination_listener(self._listener_lost)
            try:
                await listener.close(timeout=5)
            except Exception:
                listener.terminate()

    # -- the queue -----------------------------------------------------------------------

    async def queue_enqueue(self, events: Sequence[NewEvent]) -> Sequence[bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            return await insert_events(conn, events)

    async def queue_ready(self, now: float) -> Sequence[str]:
        rows = await self.pool.fetch("SELECT DISTINCT target FROM queue WHERE due<=$1 AND lease_until<=$1", now)
        return [r[0] for r in rows]

    async def queue_next_due(self, now: float) -> float | None:
        value = await self.pool.fetchval("SELECT MIN(due) FROM queue WHERE due>$1 AND lease_until<=$1", now)
        return None if value is None else float(value)

    async def queue_claim(self, target: str, limit: int, *, now: float, lease_until: float) -> Sequence[QueuedEvent]:
        token = f"{self.node}:{uuid.uuid4().hex}"  # the node prefix lets this node's restart recover its leases
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"UPDATE queue SET lease_until=$1, token=$2, attempts=attempts+1 WHERE id IN (SELECT id FROM queue "
                f"WHERE target=$3 AND due<=$4 AND lease_until<=$4 ORDER BY due LIMIT $5 FOR UPDATE SKIP LOCKED) "
                f"RETURNING {EVENT_COLUMNS}",
                lease_until, token, target, now, limit,
            )  # fmt: skip
            events = sorted((_event(r) for r in rows), key=lambda e: e.created)
            stateful = [e for e in events if e.stateful]
            if stateful:
                await conn.execute(
                    f"UPDATE invocations SET status='Running', started=COALESCE(started, $1), attempts=t.a, "
                    f"{_append_event('$2', '$3', '$4')} FROM unnest($5::text[], $6::int[]) AS t(e, a) "
                    f"WHERE event_id=t.e AND status IN ('Enqueued', 'Retrying', 'Running')",
                    now, "Running", _ms(now), "", [e.id for e in stateful], [e.attempts for e in stateful],
                )  # fmt: skip
        return events

    async def queue_extend(self, claims: Sequence[tuple[str, str]], lease_until: float) -> None:
        await self.pool.execute(
            "UPDATE queue SET lease_until=$1 FROM unnest($2::text[], $3::text[]) AS c(i, t) "
            "WHERE queue.id=c.i AND queue.token=c.t",
            lease_until, [i for i, _ in claims], [t for _, t in claims],
        )  # fmt: skip

    async def queue_release(self, claims: Sequence[tuple[str, str]]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE queue SET lease_until=0, token='', attempts=GREATEST(attempts-1, 0) "
                "FROM unnest($1::text[], $2::text[]) AS c(i, t) WHERE queue.id=c.i AND queue.token=c.t "
                "RETURNING queue.target",
                [i for i, _ in claims], [t for _, t in claims],
            )  # fmt: skip
            await notify(conn, [r[0] for r in rows])

    async def queue_settle(self, settlements: Sequence[Settlement]) -> Sequence[bool]:
        applied: list[bool] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for s in settlements:
                applied.append(await _settle(conn, s))
        return applied

    async def queue_recover(self) -> int:
        """Release only the leases this node (same data dir, previous run) held: other nodes' leases are
        live or expire by themselves."""
        status = await self.pool.execute(
            "UPDATE queue SET lease_until=0, token='' WHERE lease_until>0 AND starts_with(token, $1)", self.node + ":"
        )
        return rowcount(status)

    async def queue_depth(self, target: str | None = None) -> int:
        if target is None:
            return int(await self.pool.fetchval("SELECT COUNT(*) FROM queue"))
        return int(await self.pool.fetchval("SELECT COUNT(*) FROM queue WHERE target=$1", target))

    # -- records -------------------------------------------------------------------------

    async def invocation_get(self, function: str, invocation_id: str) -> InvocationRecord | None:
        row = await self.pool.fetchrow(
            f"SELECT {RECORD_COLUMNS} FROM invocations WHERE function=$1 AND id=$2", function, invocation_id
        )
        return None if row is None else _record(row)

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
        where, args = ["function=$1"], [function]
        for clause, value in (("qualifier={}", qualifier), ("status={}", status),
                              ("starts_with(id, {})", prefix or None), ("created>={}::float8", created_from),
                              ("created<={}::float8", created_to)):  # fmt: skip
            if value is not None:
                args.append(value)  # type: ignore[arg-type]
                where.append(clause.format(f"${len(args)}"))
        order = "DESC" if descending else "ASC"
        rows = await self.pool.fetch(
            f"SELECT {RECORD_COLUMNS} FROM invocations WHERE {' AND '.join(where)} "
            f"ORDER BY created {order}, id {order} LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
            *args, limit, offset,
        )  # fmt: skip
        return [_record(r) for r in rows]

    async def invocation_stop(self, function: str, invocation_id: str, now: float) -> InvocationRecord | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {RECORD_COLUMNS} FROM invocations WHERE function=$1 AND id=$2 FOR UPDATE",
                function, invocation_id,
            )  # fmt: skip
            if row is None:
                return None
            before = _record(row)
            if before.status.final:
                return before
            await conn.execute(
                f"UPDATE invocations SET status='Stopped', ended=$1, {_append_event('$2', '$3', '$4')} "
                f"WHERE function=$5 AND id=$6",
                now, "Stopped", _ms(now), "", function, invocation_id,
            )  # fmt: skip
            await conn.execute("DELETE FROM queue WHERE id=$1", before.event_id)
        return before

    # -- dead letters --------------------------------------------------------------------

    async def dead_letter_list(self, owner: str, *, start: str = "", limit: int = 100) -> Sequence[DeadLetter]:
        rows = await self.pool.fetch(
            f"SELECT {LETTER_COLUMNS} FROM dead_letters WHERE owner=$1 AND id>=$2 ORDER BY id LIMIT $3",
            owner, start, limit,
        )  # fmt: skip
        return [_letter(r) for r in rows]

    async def dead_letter_get(self, letter_id: str) -> DeadLetter | None:
        row = await self.pool.fetchrow(f"SELECT {LETTER_COLUMNS} FROM dead_letters WHERE id=$1", letter_id)
        return None if row is None else _letter(row)

    async def dead_letter_redrive(self, letter_id: str, now: float) -> DeadLetter | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(f"DELETE FROM dead_letters WHERE id=$1 RETURNING {LETTER_COLUMNS}", letter_id)
            if row is None:
                return None
            letter = _letter(row)
            await conn.execute(
                "INSERT INTO queue (id, target, owner, request_id, trace_id, payload, meta, stateful, created, due) "
                "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$9) ON CONFLICT (id) DO UPDATE SET target=excluded.target, "
                "owner=excluded.owner, request_id=excluded.request_id, trace_id=excluded.trace_id, "
                "payload=excluded.payload, meta=excluded.meta, stateful=excluded.stateful, created=excluded.created, "
                "due=excluded.due, lease_until=0, token='', attempts=0, failures=0, system_errors=0",
                letter.id, letter.target, letter.owner, letter.request_id, letter.trace_id, letter.payload,
                json.dumps(letter.meta), letter.stateful, now,
            )  # fmt: skip
            if letter.stateful:
                await conn.execute(
                    f"UPDATE invocations SET status='Enqueued', ended=NULL, error='', response=NULL, attempts=0, "
                    f"{_append_event('$1', '$2', '$3')} WHERE event_id=$4",
                    "Enqueued", _ms(now), json.dumps({"Redrive": True}), letter.id,
                )  # fmt: skip
            await notify(conn, [letter.target])
        return letter

    async def dead_letter_delete(self, letter_id: str) -> bool:
        return rowcount(await self.pool.execute("DELETE FROM dead_letters WHERE id=$1", letter_id)) > 0


async def _settle(conn: Any, s: Settlement) -> bool:
    """One settlement inside the caller's transaction; ``False`` (nothing written) if its claim was lost."""
    e = s.event
    if s.status is InvocationStatus.RETRYING:
        status = await conn.execute(
            "UPDATE queue SET due=$1, lease_until=0, token='', failures=$2, system_errors=$3 WHERE id=$4 AND token=$5",
            s.due, s.failures, s.system_errors, e.id, e.token,
        )  # fmt: skip
    else:
        status = await conn.execute("DELETE FROM queue WHERE id=$1 AND token=$2", e.id, e.token)
    if rowcount(status) == 0:
        return False
    if s.status.dead:
        await conn.execute(
            "INSERT INTO dead_letters (id, target, owner, request_id, trace_id, payload, meta, stateful, status, "
            "error, attempts, created, failed) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) "
            "ON CONFLICT (id) DO UPDATE SET target=excluded.target, owner=excluded.owner, "
            "request_id=excluded.request_id, trace_id=excluded.trace_id, payload=excluded.payload, "
            "meta=excluded.meta, stateful=excluded.stateful, status=excluded.status, error=excluded.error, "
            "attempts=excluded.attempts, created=excluded.created, failed=excluded.failed",
            e.id, e.target, e.owner, e.request_id, e.trace_id, e.payload, json.dumps(e.meta), e.stateful,
            s.status.value, s.error, e.attempts, e.created, s.at,
        )  # fmt: skip
    if e.stateful:
        response = None if s.response is None else s.response[:MAX_RECORD_RESPONSE]
        ended = None if s.status is InvocationStatus.RETRYING else s.at
        detail = json.dumps({"Error": s.error}) if s.error else ""
        await conn.execute(
            f"UPDATE invocations SET status=$1, ended=$2, error=$3, response=$4, attempts=$5, "
            f"{_append_event('$1', '$6', '$7')} WHERE event_id=$8 AND status <> ALL($9::text[])",
            s.status.value, ended, s.error, response, e.attempts, _ms(s.at), detail, e.id, [f.value for f in FINAL],
        )  # fmt: skip
    if s.follow:
        await insert_events(conn, s.follow)
    return True
