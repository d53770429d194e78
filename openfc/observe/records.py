"""The recorder: every call's record and log lines, batched into the store off the hot path.

One transaction per flush, at most ``FLUSH_INTERVAL`` seconds after the call. Records are
observations: a crash may lose the last unflushed batch, never accepted work.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from openfc.observe.tracing import Exporter
from openfc.store import Store
from openfc.store.observations import CallRecord, LogLine

FLUSH_INTERVAL = 0.2
FLUSH_BATCH = 1000
#: Retention defaults: records and log lines older than this many days, or beyond these counts, go.
RETAIN_DAYS = 7
RETAIN_RECORDS = 1_000_000
RETAIN_LOG_LINES = 5_000_000
PRUNE_EVERY = 600.0


class Recorder:
    """Buffers records and log lines; a background task writes them to the store in batches."""

    def __init__(self, store: Store, exporter: Exporter | None = None) -> None:
        self.store = store
        self.exporter = exporter  #: OpenTelemetry export of each call, when configured
        self._records: list[CallRecord] = []
        self._logs: list[LogLine] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        #: notified after each flush, so log followers wake up
        self.flushed = asyncio.Condition()

    def add(self, record: CallRecord, log: bytes) -> None:
        self._records.append(record)
        if self.exporter is not None:
            self.exporter.export(record)
        if log:
            now = int(time.time() * 1000)
            self._logs.extend(
                LogLine(
                    now, record.service, record.function, record.request_id, record.instance_id, record.trace_id, line
                )
                for line in log.decode(errors="replace").splitlines()
            )
        if len(self._records) + len(self._logs) >= FLUSH_BATCH:
            self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        if self.exporter is not None:
            self.exporter.close()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
            self._wake.clear()
            await self.flush()
            if time.monotonic() - self._last_prune > PRUNE_EVERY:
                self._last_prune = time.monotonic()
                before = int((time.time() - RETAIN_DAYS * 86400) * 1000)
                await self.store.observe_prune(
                    before_ms=before, keep_records=RETAIN_RECORDS, keep_logs=RETAIN_LOG_LINES
                )

    async def flush(self) -> None:
        if not self._records and not self._logs:
            return
        records, self._records = self._records, []
        logs, self._logs = self._logs, []
        await self.store.observe_append(records, logs)
        async with self.flushed:
            self.flushed.notify_all()
