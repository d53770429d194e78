"""The PostgreSQL observability store: invocation records, log lines, usage, retention."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from openfc.store._sqlite_observe import _day
from openfc.store.observations import CallRecord, CallStatus, LogLine, Operations, UsageRow

#: Schema appended to ``postgres.MIGRATIONS`` as "0200_observe".
MIGRATION = """
CREATE TABLE call_records (
    id BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL, service TEXT NOT NULL, function TEXT NOT NULL,
    qualifier TEXT NOT NULL, version_id TEXT NOT NULL, start_ms BIGINT NOT NULL,
    duration_ms DOUBLE PRECISION NOT NULL, billed_ms BIGINT NOT NULL, memory_mb INTEGER NOT NULL,
    cold_start BOOLEAN NOT NULL, status TEXT NOT NULL, error_type TEXT NOT NULL,
    bytes_in BIGINT NOT NULL, bytes_out BIGINT NOT NULL, trace_id TEXT NOT NULL,
    invocation_type TEXT NOT NULL, instance_id TEXT NOT NULL
);
CREATE INDEX call_records_fn ON call_records (service, function, id);
CREATE INDEX call_records_request ON call_records (request_id);
CREATE INDEX call_records_start ON call_records (start_ms);
CREATE TABLE log_lines (
    id BIGSERIAL PRIMARY KEY,
    time_ms BIGINT NOT NULL, service TEXT NOT NULL, function TEXT NOT NULL,
    request_id TEXT NOT NULL, instance_id TEXT NOT NULL, trace_id TEXT NOT NULL, message TEXT NOT NULL
);
CREATE INDEX log_lines_fn ON log_lines (service, function, id);
CREATE INDEX log_lines_request ON log_lines (request_id);
CREATE TABLE provisioned_usage (
    date TEXT NOT NULL, service TEXT NOT NULL, function TEXT NOT NULL, gb_seconds DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (date, service, function)
)
"""

_RECORD_COLUMNS = (
    "request_id, service, function, qualifier, version_id, start_ms, duration_ms, memory_mb, cold_start, "
    "status, error_type, bytes_in, bytes_out, trace_id, invocation_type, instance_id"
)


def _record(row: Sequence[Any]) -> tuple[int, CallRecord]:
    values = list(row[1:])
    values[9] = CallStatus(values[9])
    return int(row[0]), CallRecord(*values)


def _where(clauses: Sequence[tuple[str, object]], args: list[Any]) -> str:
    """``AND``-join the clauses whose value is not None, numbering their ``{}`` placeholders after ``args``."""
    parts = []
    for clause, value in clauses:
        if value is not None:
            args.append(value)
            parts.append(clause.format(f"${len(args)}"))
    return " AND ".join(parts)


class ObservePostgres:
    """Observation tables (mixed into ``PostgresStore``)."""

    if TYPE_CHECKING:

        @property
        def pool(self) -> Any: ...

    async def observe_append(self, records: Sequence[CallRecord], logs: Sequence[LogLine]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            if records:
                await conn.executemany(
                    f"INSERT INTO call_records ({_RECORD_COLUMNS}, billed_ms) VALUES "
                    "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)",
                    [
                        (r.request_id, r.service, r.function, r.qualifier, r.version_id, r.start_ms, r.duration_ms,
                         r.memory_mb, r.cold_start, str(r.status), r.error_type, r.bytes_in, r.bytes_out, r.trace_id,
                         r.invocation_type, r.instance_id, r.billed_ms)
                        for r in records
                    ],
                )  # fmt: skip
            if logs:
                await conn.executemany(
                    "INSERT INTO log_lines (time_ms, service, function, request_id, instance_id, trace_id, message) "
                    "VALUES ($1,$2,$3,$4,$5,$6,$7)",
                    [(x.time_ms, x.service, x.function, x.request_id, x.instance_id, x.trace_id, x.message)
                     for x in logs],
                )  # fmt: skip

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
        args: list[Any] = []
        where = _where(
            [("service={}", service), ("function={}", function), ("qualifier={}", qualifier),
             ("version_id={}", version_id), ("status={}", status), ("request_id={}", request_id),
             ("start_ms>={}", start_ms), ("start_ms<{}", end_ms), ("id<{}", before_id)],
            args,
        )  # fmt: skip
        rows = await self.pool.fetch(
            f"SELECT id, {_RECORD_COLUMNS} FROM call_records WHERE {where} ORDER BY id DESC LIMIT ${len(args) + 1}",
            *args, limit,
        )  # fmt: skip
        return [_record(r) for r in rows]

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
        args: list[Any] = []
        where = _where(
            [("service={}", service), ("function={}", function), ("request_id={}", request_id),
             ("strpos(message, {}) > 0", text or None), ("time_ms>={}", start_ms), ("time_ms<{}", end_ms),
             ("id>{}", after_id)],
            args,
        )  # fmt: skip
        order = "ASC" if after_id is not None else "DESC"
        rows = await self.pool.fetch(
            "SELECT id, time_ms, service, function, request_id, instance_id, trace_id, message FROM log_lines "
            f"WHERE {where} ORDER BY id {order} LIMIT ${len(args) + 1}",
            *args, limit,
        )  # fmt: skip
        lines = [(int(r[0]), LogLine(*r[1:])) for r in rows]
        return lines if after_id is not None else lines[::-1]

    async def usage_query(
        self, *, start_ms: int, end_ms: int, service: str | None = None, function: str | None = None
    ) -> list[UsageRow]:
        args: list[Any] = []
        where = _where(
            [("start_ms>={}", start_ms), ("start_ms<{}", end_ms), ("service={}", service), ("function={}", function)],
            args,
        )
        rows = await self.pool.fetch(
            "SELECT to_char(to_timestamp(start_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, service, "
            "function, COUNT(*), COUNT(*) FILTER (WHERE status <> 'Succeeded'), "
            "SUM(memory_mb * billed_ms)::float8 / 1024.0 / 1000.0, SUM(bytes_in), SUM(bytes_out) "
            f"FROM call_records WHERE {where} GROUP BY day, service, function",
            *args,
        )
        calls = {(r[0], r[1], r[2]): r for r in rows}
        pargs: list[Any] = []
        pwhere = _where(
            [("date>={}", _day(start_ms)), ("date<={}", _day(end_ms - 1)), ("service={}", service),
             ("function={}", function)],
            pargs,
        )  # fmt: skip
        prows = await self.pool.fetch(
            f"SELECT date, service, function, gb_seconds FROM provisioned_usage WHERE {pwhere}", *pargs
        )
        provisioned = {(r[0], r[1], r[2]): float(r[3]) for r in prows}
        usage = []
        for key in sorted(calls.keys() | provisioned.keys()):
            c = calls.get(key)
            usage.append(
                UsageRow(
                    date=key[0], service=key[1], function=key[2], invocations=int(c[3]) if c else 0,
                    errors=int(c[4]) if c else 0, gb_seconds=float(c[5]) if c else 0.0,
                    provisioned_gb_seconds=provisioned.get(key, 0.0), bytes_in=int(c[6]) if c else 0,
                    bytes_out=int(c[7]) if c else 0,
                )
            )  # fmt: skip
        return usage

    async def provisioned_usage_add(self, date: str, service: str, function: str, gb_seconds: float) -> None:
        await self.pool.execute(
            "INSERT INTO provisioned_usage VALUES ($1,$2,$3,$4) ON CONFLICT (date, service, function) "
            "DO UPDATE SET gb_seconds = provisioned_usage.gb_seconds + excluded.gb_seconds",
            date, service, function, gb_seconds,
        )  # fmt: skip

    async def operations(self) -> Operations:
        async with self.pool.acquire() as conn:
            queue = [
                (str(r[0]), int(r[1]), float(r[2]))
                for r in await conn.fetch("SELECT target, COUNT(*), MIN(created) FROM queue GROUP BY target")
            ]
            dead = [
                (str(r[0]), int(r[1]))
                for r in await conn.fetch("SELECT owner, COUNT(*) FROM dead_letters GROUP BY owner")
            ]
            executions = {
                str(r[0]): int(r[1])
                for r in await conn.fetch("SELECT status, COUNT(*) FROM sfn_executions GROUP BY status")
            }
        return Operations(queue, dead, executions)  # fmt: skip

    async def observe_prune(self, *, before_ms: int, keep_records: int, keep_logs: int) -> None:
        """Drop records and log lines older than ``before_ms`` or beyond the newest ``keep_*`` rows."""
        async with self.pool.acquire() as conn, conn.transaction():
            for table, column, keep in (("call_records", "start_ms", keep_records),
                                        ("log_lines", "time_ms", keep_logs)):  # fmt: skip
                await conn.execute(f"DELETE FROM {table} WHERE {column} < $1", before_ms)
                await conn.execute(f"DELETE FROM {table} WHERE id <= (SELECT MAX(id) FROM {table}) - $1", keep)
