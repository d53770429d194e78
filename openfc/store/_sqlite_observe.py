"""The SQLite observability store: invocation records, log lines, usage, retention."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from openfc.store.observations import CallRecord, CallStatus, LogLine, Operations, UsageRow

if TYPE_CHECKING:
    import asyncio

    import aiosqlite

#: Schema appended to ``sqlite.MIGRATIONS`` as "0200_observe".
MIGRATION = """
CREATE TABLE call_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL, service TEXT NOT NULL, function TEXT NOT NULL,
    qualifier TEXT NOT NULL, version_id TEXT NOT NULL, start_ms INTEGER NOT NULL,
    duration_ms REAL NOT NULL, billed_ms INTEGER NOT NULL, memory_mb INTEGER NOT NULL,
    cold_start INTEGER NOT NULL, status TEXT NOT NULL, error_type TEXT NOT NULL,
    bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, trace_id TEXT NOT NULL,
    invocation_type TEXT NOT NULL, instance_id TEXT NOT NULL
);
CREATE INDEX call_records_fn ON call_records (service, function, id);
CREATE INDEX call_records_request ON call_records (request_id);
CREATE INDEX call_records_start ON call_records (start_ms);
CREATE TABLE log_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL, service TEXT NOT NULL, function TEXT NOT NULL,
    request_id TEXT NOT NULL, instance_id TEXT NOT NULL, trace_id TEXT NOT NULL, message TEXT NOT NULL
);
CREATE INDEX log_lines_fn ON log_lines (service, function, id);
CREATE INDEX log_lines_request ON log_lines (request_id);
CREATE TABLE provisioned_usage (
    date TEXT NOT NULL, service TEXT NOT NULL, function TEXT NOT NULL, gb_seconds REAL NOT NULL,
    PRIMARY KEY (date, service, function)
) WITHOUT ROWID
"""

_RECORD_COLUMNS = (
    "request_id, service, function, qualifier, version_id, start_ms, duration_ms, memory_mb, cold_start, "
    "status, error_type, bytes_in, bytes_out, trace_id, invocation_type, instance_id"
)


def _record(row: Sequence[Any]) -> tuple[int, CallRecord]:
    values = list(row[1:])
    values[8] = bool(values[8])
    values[9] = CallStatus(values[9])
    return int(row[0]), CallRecord(*values)


class ObserveSQLite:
    """Mixin of ``SQLiteStore``: uses its aiosqlite connection and write lock."""

    _write: asyncio.Lock

    if TYPE_CHECKING:

        @property
        def db(self) -> aiosqlite.Connection: ...

    async def observe_append(self, records: Sequence[CallRecord], logs: Sequence[LogLine]) -> None:
        async with self._write:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                await self.db.executemany(
                    f"INSERT INTO call_records ({_RECORD_COLUMNS}, billed_ms) VALUES "
                    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        (
                            r.request_id,
                            r.service,
                            r.function,
                            r.qualifier,
                            r.version_id,
                            r.start_ms,
                            r.duration_ms,
                            r.memory_mb,
                            int(r.cold_start),
                            str(r.status),
                            r.error_type,
                            r.bytes_in,
                            r.bytes_out,
                            r.trace_id,
                            r.invocation_type,
                            r.instance_id,
                            r.billed_ms,
                        )
                        for r in records
                    ],  # fmt: skip
                )
                await self.db.executemany(
                    "INSERT INTO log_lines (time_ms, service, function, request_id, instance_id, trace_id, message) "
                    "VALUES (?,?,?,?,?,?,?)",
                    [
                        (x.time_ms, x.service, x.function, x.request_id, x.instance_id, x.trace_id, x.message)
                        for x in logs
                    ],  # fmt: skip
                )
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
            await self.db.execute("COMMIT")

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
    ) -> list[tuple[int, CallRecord]]:
        where: list[str] = ["service=?", "function=?"]
        args: list[Any] = [service, function]
        for column, value in (("qualifier", qualifier), ("version_id", version_id), ("status", status),
                              ("request_id", request_id)):  # fmt: skip
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        for clause, bound in (("start_ms>=?", start_ms), ("start_ms<?", end_ms), ("id<?", before_id)):
            if bound is not None:
                where.append(clause)
                args.append(bound)
        sql = f"SELECT id, {_RECORD_COLUMNS} FROM call_records WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
        async with self.db.execute(sql, (*args, limit)) as cur:
            return [_record(row) for row in await cur.fetchall()]

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
    ) -> list[tuple[int, LogLine]]:
        """Lines in order; without ``after_id`` the most recent ``limit`` lines."""
        where: list[str] = ["service=?", "function=?"]
        args: list[Any] = [service, function]
        if request_id is not None:
            where.append("request_id=?")
            args.append(request_id)
        if text:
            where.append("instr(message, ?) > 0")
            args.append(text)
        for clause, value in (("time_ms>=?", start_ms), ("time_ms<?", end_ms), ("id>?", after_id)):
            if value is not None:
                where.append(clause)
                args.append(value)
        order = "ASC" if after_id is not None else "DESC"
        sql = (
            "SELECT id, time_ms, service, function, request_id, instance_id, trace_id, message FROM log_lines "
            f"WHERE {' AND '.join(where)} ORDER BY id {order} LIMIT ?"
        )
        async with self.db.execute(sql, (*args, limit)) as cur:
            rows = [(int(r[0]), LogLine(*r[1:])) for r in await cur.fetchall()]
        return rows if after_id is not None else rows[::-1]

    async def usage_query(
        self, *, start_ms: int, end_ms: int, service: str | None = None, function: str | None = None
    ) -> list[UsageRow]:
        where: list[str] = ["start_ms>=?", "start_ms<?"]
        args: list[Any] = [start_ms, end_ms]
        if service is not None:
            where.append("service=?")
            args.append(service)
        if function is not None:
            where.append("function=?")
            args.append(function)
        sql = (
            "SELECT strftime('%Y-%m-%d', start_ms / 1000, 'unixepoch') AS day, service, function, COUNT(*), "
            "SUM(status != 'Succeeded'), SUM(memory_mb * billed_ms) / 1024.0 / 1000.0, SUM(bytes_in), "
            f"SUM(bytes_out) FROM call_records WHERE {' AND '.join(where)} GROUP BY day, service, function"
        )
        async with self.db.execute(sql, args) as cur:
            calls = {(r[0], r[1], r[2]): r for r in await cur.fetchall()}
        pwhere = ["date>=?", "date<=?"]
        pargs: list[Any] = [_day(start_ms), _day(end_ms - 1)]
        if service is not None:
            pwhere.append("service=?")
            pargs.append(service)
        if function is not None:
            pwhere.append("function=?")
            pargs.append(function)
        async with self.db.execute(
            f"SELECT date, service, function, gb_seconds FROM provisioned_usage WHERE {' AND '.join(pwhere)}", pargs
        ) as cur:
            provisioned = {(r[0], r[1], r[2]): float(r[3]) for r in await cur.fetchall()}
        rows = []
        for key in sorted(calls.keys() | provisioned.keys()):
            c = calls.get(key)
            rows.append(
                UsageRow(
                    date=key[0],
                    service=key[1],
                    function=key[2],
                    invocations=int(c[3]) if c else 0,
                    errors=int(c[4]) if c else 0,
                    gb_seconds=float(c[5]) if c else 0.0,
                    provisioned_gb_seconds=provisioned.get(key, 0.0),
                    bytes_in=int(c[6]) if c else 0,
                    bytes_out=int(c[7]) if c else 0,
                )  # fmt: skip
            )
        return rows

    async def provisioned_usage_add(self, date: str, service: str, function: str, gb_seconds: float) -> None:
        async with self._write:
            await self.db.execute(
                "INSERT INTO provisioned_usage VALUES (?,?,?,?) ON CONFLICT (date, service, function) "
                "DO UPDATE SET gb_seconds = gb_seconds + excluded.gb_seconds",
                (date, service, function, gb_seconds),
            )

    async def operations(self) -> Operations:
        async with self.db.execute("SELECT target, COUNT(*), MIN(created) FROM queue GROUP BY target") as cur:
            queue = [(str(r[0]), int(r[1]), float(r[2])) for r in await cur.fetchall()]
        async with self.db.execute("SELECT owner, COUNT(*) FROM dead_letters GROUP BY owner") as cur:
            dead = [(str(r[0]), int(r[1])) for r in await cur.fetchall()]
        async with self.db.execute("SELECT status, COUNT(*) FROM sfn_executions GROUP BY status") as cur:
            executions = {str(r[0]): int(r[1]) for r in await cur.fetchall()}
        return Operations(queue, dead, executions)

    async def observe_prune(self, *, before_ms: int, keep_records: int, keep_logs: int) -> None:
        """Drop records and log lines older than ``before_ms`` or beyond the newest ``keep_*`` rows."""
        async with self._write:
            for table, column, keep in (("call_records", "start_ms", keep_records),
                                        ("log_lines", "time_ms", keep_logs)):  # fmt: skip
                await self.db.execute(f"DELETE FROM {table} WHERE {column} < ?", (before_ms,))
                await self.db.execute(f"DELETE FROM {table} WHERE id <= (SELECT MAX(id) FROM {table}) - ?", (keep,))


def _day(ms: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d")
