"""The SQLite workflow store: blocking transactions run one at a time on a dedicated thread.

Appends from many executions are group-committed: whatever is waiting when the thread gets to it
goes into one ``BEGIN IMMEDIATE`` … ``COMMIT``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from openfc.errors import StoreError
from openfc.store.workflow import EventRow, ExecutionRow, ExecutionUpdate

T = TypeVar("T")

#: Schema of the workflow engine, appended to ``sqlite.MIGRATIONS`` as "0100_workflow".
MIGRATION = """
CREATE TABLE sfn_executions (
    arn TEXT PRIMARY KEY,
    machine_arn TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    definition TEXT NOT NULL,
    start_ts REAL NOT NULL,
    output TEXT,
    error TEXT,
    cause TEXT,
    stop_ts REAL,
    wake_at REAL,
    last_event INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0
);
CREATE INDEX sfn_executions_machine ON sfn_executions (machine_arn, start_ts DESC, arn);
CREATE INDEX sfn_executions_due ON sfn_executions (status, wake_at);
CREATE TABLE sfn_events (
    execution TEXT NOT NULL,
    id INTEGER NOT NULL,
    type TEXT NOT NULL,
    frame TEXT NOT NULL,
    ts REAL NOT NULL,
    prev INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (execution, id)
) WITHOUT ROWID
"""

_COLUMNS = (
    "arn, machine_arn, name, status, input, definition, start_ts, output, error, cause, stop_ts, wake_at, last_event"
)

Append = tuple[str, Sequence[EventRow], ExecutionUpdate, str | None]


def _row(values: Sequence[Any]) -> ExecutionRow:
    return ExecutionRow(*values)


class WorkflowSQLite:
    """Workflow tables on their own connection and thread (mixed into ``SQLiteStore``)."""

    path: Path
    _wf_db: sqlite3.Connection | None = None
    _wf_thread: ThreadPoolExecutor | None = None
    _wf_pending: list[tuple[Append, asyncio.Future[bool]]]
    _wf_flushing: bool = False

    async def _wf(self, fn: Callable[..., T], *args: Any) -> T:
        if self._wf_thread is None:
            self._wf_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openfc-workflow")
            self._wf_pending = []
            self._wf_db = await asyncio.get_running_loop().run_in_executor(self._wf_thread, _connect, str(self.path))
        return await asyncio.get_running_loop().run_in_executor(self._wf_thread, fn, self._wf_db, *args)

    async def workflow_close(self) -> None:
        if self._wf_thread is not None:
            db = self._wf_db
            if db is not None:
                await asyncio.get_running_loop().run_in_executor(self._wf_thread, db.close)
            self._wf_thread.shutdown()
            self._wf_thread, self._wf_db = None, None

    async def workflow_create(
        self, execution: ExecutionRow, events: Sequence[EventRow], owner: str | None, lease_until: float
    ) -> bool:
        return await self._wf(_create, execution, events, owner, lease_until)

    async def workflow_get(self, arn: str) -> ExecutionRow | None:
        return await self._wf(_get, arn)

    async def workflow_list(
        self, machine_arn: str, status: str | None, after: tuple[float, str] | None, limit: int
    ) -> Sequence[ExecutionRow]:
        return await self._wf(_list, machine_arn, status, after, limit)

    async def workflow_events(
        self, arn: str, *, after: int = 0, limit: int = 1_000_000, reverse: bool = False
    ) -> Sequence[EventRow]:
        return await self._wf(_events, arn, after, limit, reverse)

    async def workflow_append(
        self, arn: str, events: Sequence[EventRow], update: ExecutionUpdate, owner: str | None
    ) -> bool:
        if self._wf_thread is None:
            await self._wf(lambda db: None)  # open the connection
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._wf_pending.append(((arn, events, update, owner), future))
        if not self._wf_flushing:
            self._wf_flushing = True
            try:
                while self._wf_pending:
                    batch, self._wf_pending = self._wf_pending, []
                    try:
                        results = await self._wf(_append_many, [item for item, _ in batch])
                    except Exception as error:
                        for _, waiter in batch:
                            waiter.set_exception(StoreError(f"workflow append failed: {error}"))
                    else:
                        for (_, waiter), ok in zip(batch, results, strict=True):
                            waiter.set_result(ok)
            finally:
                self._wf_flushing = False
        return await future

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
        return await self._wf(_claim, owner, now, lease_until, due_before, limit, arn, own)

    async def workflow_renew(self, owner: str, arns: Sequence[str], lease_until: float) -> None:
        await self._wf(_renew, owner, arns, lease_until)

    async def workflow_release(self, owner: str, arns: Sequence[str]) -> None:
        await self._wf(_release, owner, arns)

    async def workflow_next_wake(self, now: float) -> float | None:
        return await self._wf(_next_wake, now)


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=30000")
    return db


def _insert_events(db: sqlite3.Connection, arn: str, events: Sequence[EventRow]) -> None:
    db.executemany(
        "INSERT INTO sfn_events (execution, id, type, frame, ts, prev, data) VALUES (?,?,?,?,?,?,?)",
        [(arn, e.id, e.type, e.frame, e.ts, e.prev, e.data) for e in events],
    )


def _create(
    db: sqlite3.Connection, x: ExecutionRow, events: Sequence[EventRow], owner: str | None, lease_until: float
) -> bool:
    db.execute("BEGIN IMMEDIATE")
    try:
        cur = db.execute(
            f"INSERT OR IGNORE INTO sfn_executions ({_COLUMNS}, lease_owner, lease_until) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                x.arn,
                x.machine_arn,
                x.name,
                x.status,
                x.input,
                x.definition,
                x.start_ts,
                x.output,
                x.error,
                x.cause,
                x.stop_ts,
                x.wake_at,
                x.last_event,
                owner,
                lease_until,
            ),
        )
        if cur.rowcount:
            _insert_events(db, x.arn, events)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return bool(cur.rowcount)


def _get(db: sqlite3.Connection, arn: str) -> ExecutionRow | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM sfn_executions WHERE arn=?", (arn,)).fetchone()
    return _row(row) if row else None


def _list(
    db: sqlite3.Connection, machine_arn: str, status: str | None, after: tuple[float, str] | None, limit: int
) -> list[ExecutionRow]:
    sql = f"SELECT {_COLUMNS} FROM sfn_executions WHERE machine_arn=?"
    args: list[Any] = [machine_arn]
    if status:
        sql, args = sql + " AND status=?", [*args, status]
    if after:
        sql += " AND (start_ts < ? OR (start_ts = ? AND arn > ?))"
        args += [after[0], after[0], after[1]]
    rows = db.execute(sql + " ORDER BY start_ts DESC, arn LIMIT ?", (*args, limit)).fetchall()
    return [_row(r) for r in rows]


def _events(db: sqlite3.Connection, arn: str, after: int, limit: int, reverse: bool) -> list[EventRow]:
    if reverse:
        sql = (
            "SELECT id, type, frame, ts, prev, data FROM sfn_events WHERE execution=? AND id<? ORDER BY id DESC LIMIT ?"
        )
        rows = db.execute(sql, (arn, after or 2**62, limit)).fetchall()
    else:
        sql = "SELECT id, type, frame, ts, prev, data FROM sfn_events WHERE execution=? AND id>? ORDER BY id LIMIT ?"
        rows = db.execute(sql, (arn, after, limit)).fetchall()
    return [EventRow(*r) for r in rows]


def _append_many(db: sqlite3.Connection, items: Sequence[Append]) -> list[bool]:
    results = []
    db.execute("BEGIN IMMEDIATE")
    try:
        for arn, events, u, owner in items:
            cur = db.execute(
                "UPDATE sfn_executions SET status=?, wake_at=?, output=?, error=?, cause=?, stop_ts=?, last_event=? "
                "WHERE arn=? AND status='RUNNING' AND (? IS NULL OR lease_owner IS NULL OR lease_owner=?)",
                (
                    u.status,
                    u.wake_at,
                    u.output,
                    u.error,
                    u.cause,
                    u.stop_ts,
                    events[-1].id if events else 0,
                    arn,
                    owner,
                    owner,
                ),
            )
            ok = cur.rowcount > 0
            if ok:
                _insert_events(db, arn, events)
            results.append(ok)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return results


def _claim(
    db: sqlite3.Connection,
    owner: str,
    now: float,
    lease_until: float,
    due_before: float,
    limit: int,
    arn: str | None,
    own: bool,
) -> list[str]:
    free = "status='RUNNING' AND (lease_owner IS NULL OR lease_until<? OR (lease_owner=? AND ?))"
    db.execute("BEGIN IMMEDIATE")
    try:
        if arn is not None:
            rows = db.execute(f"SELECT arn FROM sfn_executions WHERE arn=? AND {free}", (arn, now, owner, 1)).fetchall()
        else:
            rows = db.execute(
                f"SELECT arn FROM sfn_executions WHERE wake_at IS NOT NULL AND wake_at<=? AND {free} "
                "ORDER BY wake_at LIMIT ?",
                (due_before, now, owner, int(own), limit),
            ).fetchall()
        arns = [r[0] for r in rows]
        db.executemany(
            "UPDATE sfn_executions SET lease_owner=?, lease_until=? WHERE arn=?",
            [(owner, lease_until, a) for a in arns],
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return arns


def _many(db: sqlite3.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(sql, rows)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _renew(db: sqlite3.Connection, owner: str, arns: Sequence[str], lease_until: float) -> None:
    _many(
        db,
        "UPDATE sfn_executions SET lease_until=? WHERE arn=? AND lease_owner=?",
        [(lease_until, a, owner) for a in arns],
    )


def _release(db: sqlite3.Connection, owner: str, arns: Sequence[str]) -> None:
    _many(
        db,
        "UPDATE sfn_executions SET lease_owner=NULL, lease_until=0 WHERE arn=? AND lease_owner=?",
        [(a, owner) for a in arns],
    )


def _next_wake(db: sqlite3.Connection, now: float) -> float | None:
    row = db.execute(
        "SELECT min(wake_at) FROM sfn_executions WHERE status='RUNNING' AND wake_at IS NOT NULL"
    ).fetchone()
    return float(row[0]) if row and row[0] is not None else None
