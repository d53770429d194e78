"""Drives executions: persists their events, runs their Tasks, fires their timers, holds their leases.

An execution is *live* on a node while that node holds its lease and keeps its interpreter state in
memory; every step is appended to the store (one transaction, group-committed) *before* its effects
run, so a Task is invoked only once its ``TaskScheduled`` is durable and a recorded
``TaskSucceeded`` is never invoked again. An execution with nothing to do for a while (a long Wait,
a callback) is evicted: it is only a row until the claim loop (or a callback) loads it again by
replaying its history. After a crash the node's claim loop takes the executions back: Tasks that
were scheduled but had no recorded outcome are invoked again (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openfc.errors import Conflict, NotFound
from openfc.store import Store
from openfc.store.workflow import EventRow, ExecutionRow, ExecutionUpdate
from openfc.workflow.asl import FunctionRef, parse_resource
from openfc.workflow.interpreter import Event, Execution, decode_token
from openfc.workflow.processing import Failure

__all__ = ["Engine", "TaskRunner", "node_id"]

log = logging.getLogger("openfc.workflow")

#: Runs one Task: returns the function's JSON result or raises ``Failure(error, cause)``.
#: Runs a Task resource: (function, JSON payload, the execution's trace id) → the function's result.
TaskRunner = Callable[[FunctionRef, bytes, str], Awaitable[Any]]
Inbox = Callable[[Execution, float], Any]


def node_id(data_dir: Path) -> str:
    """A node's stable identity (kept in its data dir), so a restarted node takes its leases back at once."""
    path = data_dir / "node-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = uuid.uuid4().hex
        path.write_text(value)
        return value


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@dataclass(eq=False)
class Live:
    ex: Execution
    inbox: list[tuple[Inbox, asyncio.Future[Any] | None]] = field(default_factory=list)
    running: set[tuple[str, int]] = field(default_factory=set)
    driver: asyncio.Task[None] | None = None
    dirty: bool = False


class Engine:
    """The workflow engine of one node.

    store: where executions and histories live.
    tasks: runs a Task resource (wired to ``Invoker.run`` by the API assembly).
    node: this node's lease owner id (``node_id(data_dir)``).
    lease_seconds: how long a lease lasts without renewal; another node takes over after it.
    evict_after: executions whose next timer is further away than this leave memory.
    max_tasks: Task invocations in flight on this node at most.
    poll: seconds between claims of due executions (and lease renewals).
    """

    def __init__(
        self,
        *,
        store: Store,
        tasks: TaskRunner,
        node: str,
        region: str = "",
        lease_seconds: float = 30.0,
        evict_after: float = 60.0,
        max_tasks: int = 64,
        poll: float = 0.5,
        clock: Callable[[], float] = time.time,
        on_transitions: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.store, self.tasks, self.node, self.region = store, tasks, node, region
        self.on_transitions = on_transitions  #: told how many states were entered, after each commit
        self.lease_seconds, self.evict_after, self.poll, self.clock = lease_seconds, evict_after, poll, clock
        self.live: dict[str, Live] = {}
        self._slots = asyncio.Semaphore(max_tasks)
        self._timers: list[tuple[float, str]] = []
        self._wakeup = asyncio.Event()
        self._waiters: dict[str, list[asyncio.Future[ExecutionRow]]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._last_renew = 0.0
        self._reclaimed = False

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="workflow-engine")

    async def close(self) -> None:
        tasks = [t for t in [self._loop_task, *self._background, *(x.driver for x in self.live.values())] if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.live:
            with contextlib.suppress(Exception):
                await self.store.workflow_release(self.node, list(self.live))
        self.live.clear()

    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("workflow engine tick failed")
            timeout = self.poll
            if self._timers:
                timeout = max(0.0, min(timeout, self._timers[0][0] - self.clock()))
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout)

    async def _tick(self) -> None:
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            _, arn = heapq.heappop(self._timers)
            if arn in self.live:
                self._kick(self.live[arn])
        if now - self._last_renew >= self.poll:
            self._last_renew = now
            if self.live:
                await self.store.workflow_renew(self.node, list(self.live), now + self.lease_seconds)
            arns = await self.store.workflow_claim(
                self.node,
                now=now,
                lease_until=now + self.lease_seconds,
                # at start, take back everything this node held before a crash (not only what is due)
                due_before=now + self.poll if self._reclaimed else float("inf"),
                limit=500 if self._reclaimed else 100_000,
                own=not self._reclaimed,
            )
            self._reclaimed = True
            for arn in arns:
                if arn not in self.live:
                    await self._load(arn)

    # -- loading and driving -----------------------------------------------------------

    async def _load(self, arn: str) -> Live | None:
        row = await self.store.workflow_get(arn)
        if row is None or row.status != "RUNNING":
            return None
        if arn in self.live:  # loaded meanwhile
            return self.live[arn]
        ex = Execution(
            arn=arn,
            name=row.name,
            machine_arn=row.machine_arn,
            definition=json.loads(row.definition),
            region=self.region,
        )
        rows = await self.store.workflow_events(arn)
        if arn in self.live:
            return self.live[arn]
        ex.replay([Event(r.id, r.type, r.frame, r.ts, r.prev, json.loads(r.data)) for r in rows])
        live = self.live[arn] = Live(ex)
        self._kick(live)
        return live

    async def _acquire(self, arn: str) -> Live:
        """The live execution ``arn``, loading (and leasing) it if needed."""
        live = self.live.get(arn)
        if live is not None:
            return live
        now = self.clock()
        row = await self.store.workflow_get(arn)
        if row is None:
            raise NotFound("Execution", arn, f"Execution Does Not Exist: '{arn}'")
        if row.status != "RUNNING":
            raise Conflict(f"Execution '{arn}' is not running (status {row.status})", code="ExecutionNotRunning")
        claimed = await self.store.workflow_claim(
            self.node, now=now, lease_until=now + self.lease_seconds, due_before=float("inf"), limit=1, arn=arn
        )
        if arn not in claimed:
            raise Conflict(f"Execution '{arn}' is driven by another node, try again", code="ExecutionBusy")
        live = await self._load(arn)
        if live is None:
            raise Conflict(f"Execution '{arn}' is not running", code="ExecutionNotRunning")
        return live

    def _kick(self, live: Live) -> None:
        live.dirty = True
        if live.driver is None or live.driver.done():
            live.driver = asyncio.create_task(self._drive(live))

    async def _drive(self, live: Live) -> None:
        ex = live.ex
        while live.dirty:
            live.dirty = False
            now = self.clock()
            inbox, live.inbox = live.inbox, []
            replies: list[tuple[asyncio.Future[Any] | None, Any, Exception | None]] = []
            for item, reply in inbox:
                try:
                    replies.append((reply, item(ex, now), None))
                except Exception as failed:
                    replies.append((reply, None, failed))
            if ex.status == "RUNNING":
                ex.advance(now)
            try:
                ok = await self._persist(ex, now)
            except Exception:
                log.exception("persisting execution %s failed", ex.arn)
                ok = False
            for reply, value, problem in replies:
                if reply is not None and not reply.done():
                    if problem is not None:
                        reply.set_exception(problem)
                    elif not ok:
                        reply.set_exception(Conflict(f"Execution '{ex.arn}' is no longer driven by this node"))
                    else:
                        reply.set_result(value)
            if not ok or ex.status != "RUNNING":
                await self._finish(live, ok)
                return
            self._start_tasks(live)
            wake = ex.next_wake()
            if (
                not live.running
                and not ex.pending_tasks()
                and not live.inbox
                and (wake is None or wake > now + self.evict_after)
            ):
                del self.live[ex.arn]
                await self.store.workflow_release(self.node, [ex.arn])
                return
            if wake is not None:
                heapq.heappush(self._timers, (wake, ex.arn))
                self._wakeup.set()

    async def _persist(self, ex: Execution, now: float) -> bool:
        if not ex.events:
            return True
        events, ex.events = ex.events, []
        rows = [EventRow(e.id, e.type, e.frame, e.ts, e.prev, dumps(e.data)) for e in events]
        final = ex.status != "RUNNING"
        update = ExecutionUpdate(
            status=ex.status,
            wake_at=None if final else (now if ex.pending_tasks() else ex.next_wake()),
            output=dumps(ex.output) if ex.status == "SUCCEEDED" else None,
            error=ex.error or None,
            cause=ex.cause or None,
            stop_ts=ex.stop_ts if final else None,
        )
        appended = await self.store.workflow_append(ex.arn, rows, update, self.node)
        if appended:
            self.on_transitions(sum(1 for row in rows if row.type.endswith("StateEntered")))
        return appended

    async def _finish(self, live: Live, ok: bool) -> None:
        arn = live.ex.arn
        self.live.pop(arn, None)
        await self.store.workflow_release(self.node, [arn])
        if live.ex.status == "RUNNING":
            return  # not finished: dropped from this node (lease lost or store error); waiters keep waiting
        row = await self.store.workflow_get(arn)
        for waiter in self._waiters.pop(arn, []):
            if not waiter.done() and row is not None:
                waiter.set_result(row)

    def _start_tasks(self, live: Live) -> None:
        for frame in live.ex.pending_tasks():
            assert frame.task is not None
            key = (frame.id, frame.task["id"])
            if key in live.running:
                continue
            live.running.add(key)
            task = asyncio.create_task(self._invoke(live, key, frame.task["resource"], frame.task["payload"]))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _invoke(self, live: Live, key: tuple[str, int], resource: str, payload: Any) -> None:
        ref = parse_resource(resource)
        output, failure = None, None
        async with self._slots:
            try:
                output = await self.tasks(ref, dumps(payload).encode(), live.ex.trace_id)
            except Failure as error:
                failure = error
            except Exception as error:
                failure = Failure("States.TaskFailed", f"{type(error).__name__}: {error}")

        def record(ex: Execution, now: float) -> bool:
            # still "running" until the outcome is applied, so no drive in between invokes it again
            live.running.discard(key)
            return ex.task_result(key[0], key[1], now, output=output, failure=failure, submitted=ref.callback)

        if self.live.get(live.ex.arn) is live:
            live.inbox.append((record, None))
            self._kick(live)

    # -- operations --------------------------------------------------------------------

    async def start_execution(
        self,
        *,
        machine_arn: str,
        arn: str,
        name: str,
        definition: dict[str, Any],
        input_text: str,
        trace_id: str = "",
    ) -> tuple[ExecutionRow, bool]:
        """Create and start an execution; ``(row, False)`` if ``arn`` exists (the caller applies idempotency)."""
        now = self.clock()
        ex = Execution(arn=arn, name=name, machine_arn=machine_arn, definition=definition, region=self.region)
        ex.start(json.loads(input_text), now, trace_id)
        first = [EventRow(e.id, e.type, e.frame, e.ts, e.prev, dumps(e.data)) for e in ex.events]
        ex.events = []
        row = ExecutionRow(
            arn, machine_arn, name, "RUNNING", input_text, dumps(definition), now, wake_at=now, last_event=first[-1].id
        )
        created = await self.store.workflow_create(row, first, self.node, now + self.lease_seconds)
        if not created:
            existing = await self.store.workflow_get(arn)
            assert existing is not None
            return existing, False
        live = self.live[arn] = Live(ex)
        self._kick(live)
        return row, True

    async def wait(self, arn: str, timeout: float) -> ExecutionRow:
        """The execution's row once it has finished (or as it is after ``timeout``)."""
        future: asyncio.Future[ExecutionRow] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(arn, []).append(future)  # before reading the row: no finish slips between
        row = await self.store.workflow_get(arn)
        if row is None or row.status != "RUNNING":
            self._waiters[arn].remove(future)
            assert row is not None
            return row
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            latest = await self.store.workflow_get(arn)
            assert latest is not None
            return latest

    async def _call(self, arn: str, item: Inbox) -> Any:
        live = await self._acquire(arn)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        live.inbox.append((item, reply))
        self._kick(live)
        return await reply

    async def stop(self, arn: str, error: str, cause: str) -> None:
        def abort(ex: Execution, now: float) -> None:
            if ex.status == "RUNNING":
                ex.abort(error, cause, now)

        await self._call(arn, abort)

    async def complete_task(
        self, token: str, *, output: Any = None, failure: Failure | None = None, heartbeat: bool = False
    ) -> None:
        """SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat. Raises NotFound(kind="Task") if not awaited."""
        try:
            arn, frame, scheduled = decode_token(token)
        except ValueError:
            raise NotFound("Token", token[:32], "Invalid Token: the task token is malformed") from None
        try:
            if heartbeat:
                done = await self._call(arn, lambda ex, now: ex.heartbeat(frame, scheduled, now))
            else:
                done = await self._call(
                    arn, lambda ex, now: ex.task_result(frame, scheduled, now, output=output, failure=failure)
                )
        except (NotFound, Conflict):
            done = False
        if not done:
            raise NotFound("Task", token[:32], "Task Timed Out or does not exist: the task is no longer awaited")
