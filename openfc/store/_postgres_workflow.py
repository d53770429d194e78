"""The PostgreSQL workflow store: executions leased with ``FOR UPDATE SKIP LOCKED``, appends group-committed.

Appends from many executions that arrive while one commit is in flight share the next transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from openfc.errors import StoreError
from openfc.store._postgres_queue import rowcount
from openfc.store.workflow import EventRow, ExecutionRow, ExecutionUpdate

#: Schema of the workflow engine, appended to ``postgres.MIGRATIONS`` as "0100_workflow".
MIGRATION = """
CREATE TABLE sfn_executions (
    arn TEXT COLLATE "C" PRIMARY KEY,
    machine_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    definition TEXT NOT NULL,
    start_ts DOUBLE PRECISION NOT NULL,
    output TEXT,
    error TEXT,
    cause TEXT,
    stop_ts DOUBLE PRECISION,
    wake_at DOUBLE PRECISION,
    last_event INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0
);
CREATE INDEX sfn_executions_machine ON sfn_executions (machine_arn, start_ts DESC, arn);
CREATE INDEX sfn_executions_due ON sfn_executions (status, wake_at);
CREATE TABLE sfn_events (
    execution TEXT NOT NULL,
    id INTEGER NOT NULL,
    type TEXT NOT NULL,
    frame TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    prev INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (execution, id)
)
"""

_COLUMNS = (
    "arn, machine_arn, name, status, input, definition, start_ts, output, error, cause, stop_ts, wake_at, last_event"
)
_EVENT_COLUMNS = "id, type, frame, ts, prev, data"

Append = tuple[str, Sequence[EventRow], ExecutionUpdate, str | None]


def _row(r: Any) -> ExecutionRow:
    return ExecutionRow(*r)


async def _insert_events(conn: Any, arn: str, events: Sequence[EventRow]) -> None:
    if events:
        await conn.execute(
            "INSERT INTO sfn_events (execution, id, type, frame, ts, prev, data) SELECT $1, * FROM "
            "unnest($2::int[], $3::text[], $4::text[], $5::float8[], $6::int[], $7::text[])",
            arn, [e.id for e in events], [e.type for e in events], [e.frame for e in events],
            [e.ts for e in events], [e.prev for e in events], [e.data for e in events],
        )  # fmt: skip


class WorkflowPostgres:
    """Workflow tables (mixed into ``PostgresStore``)."""

    _wf_pending: list[tuple[Append, asyncio.Future[bool]]]
    _wf_flushing: asyncio.Task[None] | None

    if TYPE_CHECKING:

        @property
        def pool(self) -> Any: ...

    def _wf_init(self) -> None:
        self._wf_pending = []
        self._wf_flushing = None

    async def workflow_close(self) -> None:
        while self._wf_flushing is not None:
            await asyncio.shield(self._wf_flushing)

    async def workflow_create(
        self, execution: ExecutionRow, events: Sequence[EventRow], owner: str | None, lease_until: float
    ) -> bool:
        x = execution
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                f"INSERT INTO sfn_executions ({_COLUMNS}, lease_owner, lease_until) "
                "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) ON CONFLICT DO NOTHING",
                x.arn, x.machine_arn, x.name, x.status, x.input, x.definition, x.start_ts, x.output, x.error,
                x.cause, x.stop_ts, x.wake_at, x.last_event, owner, lease_until,
            )  # fmt: skip
            if rowcount(status) == 0:
                return False
            await _insert_events(conn, x.arn, events)
        return True

    async def workflow_get(self, arn: str) -> ExecutionRow | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM sfn_executions WHERE arn=$1", arn)
        return None if row is None else _row(row)

    async def workflow_list(
        self, machine_arn: str, status: str | None, after: tuple[float, str] | None, limit: int
    ) -> Sequence[ExecutionRow]:
        sql = f"SELECT {_COLUMNS} FROM sfn_executions WHERE machine_arn=$1"
        args: list[Any] = [machine_arn]
        if status:
            args.append(status)
            sql += f" AND status=${len(args)}"
        if after:
            args += [after[0], after[1]]
            sql += f" AND (start_ts < ${len(args) - 1} OR (start_ts = ${len(args) - 1} AND arn > ${len(args)}))"
        rows = await self.pool.fetch(sql + f" ORDER BY start_ts DESC, arn LIMIT ${len(args) + 1}", *args, limit)
        return [_row(r) for r in rows]

    async def workflow_events(
        self, arn: str, *, after: int = 0, limit: int = 1_000_000, reverse: bool = False
    ) -> Sequence[EventRow]:
        if reverse:
            sql = f"SELECT {_EVENT_COLUMNS} FROM sfn_events WHERE execution=$1 AND id<$2 ORDER BY id DESC LIMIT $3"
            rows = await self.pool.fetch(sql, arn, after or 2**31 - 1, limit)
        else:
            sql = f"SELECT {_EVENT_COLUMNS} FROM sfn_events WHERE execution=$1 AND id>$2 ORDER BY id LIMIT $3"
            rows = await self.pool.fetch(sql, arn, after, limit)
        return [EventRow(*r) for r in rows]

    async def workflow_append(
        self, arn: str, events: Sequence[EventRow], update: ExecutionUpdate, owner: str | None
    ) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._wf_pending.append(((arn, events, update, owner), future))
        if self._wf_flushing is None:
            self._wf_flushing = asyncio.create_task(self._wf_flush())
        return await future

    async def _wf_flush(self) -> None:
        try:
            while self._wf_pending:
                batch, self._wf_pending = self._wf_pending, []
                try:
                    results = await self._append_many([item for item, _ in batch])
                except Exception as error:
                    for _, waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(StoreError(f"workflow append failed: {error}"))
                else:
                    for (_, waiter), ok in zip(batch, results, strict=True):
                        if not waiter.done():
                            waiter.set_result(ok)
        finally:
            self._wf_flushing = None

    async def _append_many(self, items: Sequence[Append]) -> list[bool]:
        results = []
        async with self.pool.acquire() as conn, conn.transaction():
            for arn, events, u, owner in items:
                status = await conn.execute(
                    "UPDATE sfn_executions SET status=$1, wake_at=$2, output=$3, error=$4, cause=$5, stop_ts=$6, "
                    "last_event=$7 WHERE arn=$8 AND status='RUNNING' "
                    "AND ($9::text IS NULL OR lease_owner IS NULL OR lease_owner=$9)",
                    u.status, u.wake_at, u.output, u.error, u.cause, u.stop_ts, events[-1].id if events else 0, arn,
                    owner,
                )  # fmt: skip
                ok = rowcount(status) > 0
                if ok:
                    await _insert_events(conn, arn, events)
                results.append(ok)
        return results

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
        free = "status='RUNNING' AND (lease_owner IS NULL OR lease_until<$3 OR (lease_owner=$1 AND $4::bool))"
        if arn is not None:
            pick = f"SELECT arn, wake_at FROM sfn_executions WHERE arn=$5 AND {free} FOR UPDATE SKIP LOCKED"
            args: tuple[Any, ...] = (owner, lease_until, now, True, arn)
        else:
            pick = (
                f"SELECT arn, wake_at FROM sfn_executions WHERE wake_at IS NOT NULL AND wake_at<=$5 AND {free} "
                "ORDER BY wake_at LIMIT $6 FOR UPDATE SKIP LOCKED"
            )
            args = (owner, lease_until, now, own, due_before, limit)
        rows = await self.pool.fetch(
            f"WITH picked AS ({pick}), leased AS (UPDATE sfn_executions x SET lease_owner=$1, lease_until=$2 "
            "FROM picked WHERE x.arn=picked.arn RETURNING x.arn, picked.wake_at) "
            "SELECT arn FROM leased ORDER BY wake_at",
            *args,
        )
        return [r[0] for r in rows]

    async def workflow_renew(self, owner: str, arns: Sequence[str], lease_until: float) -> None:
        await self.pool.execute(
            "UPDATE sfn_executions SET lease_until=$1 WHERE arn = ANY($2::text[]) AND lease_owner=$3",
            lease_until, list(arns), owner,
        )  # fmt: skip

    async def workflow_release(self, owner: str, arns: Sequence[str]) -> None:
        await self.pool.execute(
            "UPDATE sfn_executions SET lease_owner=NULL, lease_until=0 WHERE arn = ANY($1::text[]) AND lease_owner=$2",
            list(arns), owner,
        )  # fmt: skip

    async def workflow_next_wake(self, now: float) -> float | None:
        value = await self.pool.fetchval(
            "SELECT min(wake_at) FROM sfn_executions WHERE status='RUNNING' AND wake_at IS NOT NULL"
        )
        return None if value is None else float(value)
