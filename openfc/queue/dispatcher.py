"""The dispatcher: drains the durable queue into the instance pool, at most N at a time per function.

Per target (a function, or a broker destination) it keeps a *lane*: claimed events waiting in a
small local buffer (claims are leases, renewed by a heartbeat) and at most ``capacity`` running —
``maximumInstanceCount × instanceConcurrency`` for a function — so a burst stays in the queue and
is worked off at the rate the function allows (peak shaving); the pool is asked to wait for a free
instance rather than throttle. A run holds its slot until its settlement is committed, so after a
crash only the events in flight at that moment run again (at-least-once).

It never polls: enqueues wake it (``notify``), a finished run refills its lane, and a timer sleeps
until the next delayed retry is due (plus a slow safety rescan).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from openfc.errors import NotFound
from openfc.queue._batch import GroupCommit
from openfc.queue.destinations import Deliverer, destination_event, parse_destination
from openfc.queue.policy import DELIVERY_MAX_AGE, AsyncPolicy, Backoff, FunctionRef, parse_target
from openfc.store import Store
from openfc.store.queue import InvocationStatus, NewEvent, QueuedEvent, Settlement

log = logging.getLogger("openfc.queue")

#: Concurrent deliveries per broker destination.
DELIVERY_CAPACITY = 16
#: Seconds between full scans of the queue when nothing else wakes the dispatcher.
RESCAN_INTERVAL = 5.0


class CallOutcome(Protocol):
    """What ``run`` returns (``pool.CallResult`` fits): ``failure`` is None on success."""

    @property
    def body(self) -> bytes: ...

    @property
    def failure(self) -> object: ...


Run = Callable[[QueuedEvent, FunctionRef], Awaitable[CallOutcome]]
Capacity = Callable[[FunctionRef], Awaitable[int]]
PolicyOf = Callable[[FunctionRef], Awaitable[AsyncPolicy]]


@dataclass(slots=True)
class _Lane:
    capacity: int
    buffer: deque[QueuedEvent] = field(default_factory=deque)
    running: dict[str, QueuedEvent] = field(default_factory=dict)
    more: bool = False  #: the last claim was full: more events may be waiting


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        run: Run,
        capacity: Capacity,
        policy: PolicyOf,
        deliverer: Deliverer,
        region: str,
        account_id: str,
        backoff: Backoff | None = None,
        lease: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """
        store: where the queue lives.
        run: runs a function event once (``Invoker.run_queued``); raises ``Throttled``/``InstanceError``
            on system errors, ``NotFound`` when the function is gone.
        capacity: how many calls of a function may run at once.
        policy: a function's async invoke config.
        deliverer: publishes broker destination events.
        region, account_id: for the ``functionArn`` in destination events.
        backoff: retry delays; lease: seconds a claim holds an event (renewed every lease/3).
        """
        self.store = store
        self.run = run
        self.capacity = capacity
        self.policy = policy
        self.deliverer = deliverer
        self.region = region
        self.account_id = account_id
        self.backoff = backoff or Backoff()
        self.lease = lease
        self.clock = clock
        self._lanes: dict[str, _Lane] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._timers_changed = True
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._settle: GroupCommit[Settlement, bool] = GroupCommit(store.queue_settle)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Recover events left leased by a previous run of this node, then start draining."""
        released = await self.store.queue_recover()
        if released:
            log.warning("async queue: %d events in flight at the last stop will run again", released)
        self._loop_task = asyncio.create_task(self._loop())
        self._heartbeat_task = asyncio.create_task(self._heartbeat())

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming; give back unstarted claims; let runs finish for ``grace`` s, then cancel."""
        self._closing = True
        self._wake.set()
        for task in (self._loop_task, self._heartbeat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        unstarted = [(e.id, e.token) for lane in self._lanes.values() for e in lane.buffer]
        for lane in self._lanes.values():
            lane.buffer.clear()
        if unstarted:
            with contextlib.suppress(Exception):
                await self.store.queue_release(unstarted)
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        await self._settle.close()
        await self.deliverer.close()

    def notify(self, target: str) -> None:
        """New events for ``target`` are committed: look at it now."""
        self._dirty.add(target)
        self._wake.set()

    def cancel(self, event_id: str) -> None:
        """Forget a claimed event that has not started (it was stopped)."""
        for lane in self._lanes.values():
            for event in lane.buffer:
                if event.id == event_id:
                    lane.buffer.remove(event)
                    return

    @property
    def busy(self) -> bool:
        return any(lane.buffer or lane.running for lane in self._lanes.values())

    # -- the loop ----------------------------------------------------------------------

    async def _loop(self) -> None:
        scan = True
        next_due: float | None = None
        while not self._closing:
            try:
                now = self.clock()
                if scan:
                    self._dirty.update(await self.store.queue_ready(now))
                    scan = False
                    self._timers_changed = True
                while self._dirty:
                    target = self._dirty.pop()
                    await self._fill(target)
                if self._timers_changed:  # only a retry or a rescan can move the next due time
                    self._timers_changed = False
                    next_due = await self.store.queue_next_due(self.clock())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("async queue: dispatcher error; retrying in 1 s")
                await asyncio.sleep(1.0)
                scan = True
                continue
            now = self.clock()
            if next_due is not None and next_due <= now:  # a delayed retry is due: find its target
                scan, next_due = True, None
                continue
            if self._dirty:
                continue
            timeout = RESCAN_INTERVAL if next_due is None else min(next_due - now, RESCAN_INTERVAL)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                scan = True
            self._wake.clear()

    async def _capacity(self, target: str) -> int:
        ref = parse_target(target)
        if ref is None:
            return DELIVERY_CAPACITY
        return max(1, await self.capacity(ref))

    async def _fill(self, target: str) -> None:
        lane = self._lanes.get(target)
        capacity = await self._capacity(target)
        if lane is None:
            lane = self._lanes[target] = _Lane(capacity)
        lane.capacity = capacity
        # Keep up to one lane's worth claimed ahead, so claims are batched and runs start at once.
        want = 2 * capacity - len(lane.running) - len(lane.buffer)
        if want > 0 and len(lane.buffer) < capacity:
            now = self.clock()
            claimed = await self.store.queue_claim(target, want, now=now, lease_until=now + self.lease)
            lane.more = len(claimed) == want
            lane.buffer.extend(claimed)
        self._start(target, lane)
        if not lane.buffer and not lane.running:
            del self._lanes[target]

    def _start(self, target: str, lane: _Lane) -> None:
        while lane.buffer and len(lane.running) < lane.capacity and not self._closing:
            event = lane.buffer.popleft()
            lane.running[event.id] = event
            task = asyncio.create_task(self._process(event))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finished, target=target, event=event))

    def _finished(self, task: asyncio.Task[None], *, target: str, event: QueuedEvent) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("async queue: event %s failed to settle", event.id, exc_info=task.exception())
        lane = self._lanes.get(target)
        if lane is None:
            return
        lane.running.pop(event.id, None)
        self._start(target, lane)
        if (lane.more and len(lane.buffer) < lane.capacity) or (not lane.buffer and not lane.running):
            self.notify(target)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            claims = [(e.id, e.token) for lane in self._lanes.values() for e in (*lane.buffer, *lane.running.values())]
            if claims:
                try:
                    await self.store.queue_extend(claims, self.clock() + self.lease)
                except Exception:
                    log.exception("async queue: could not renew leases")

    # -- one event ---------------------------------------------------------------------

    async def _process(self, event: QueuedEvent) -> None:
        ref = parse_target(event.target)
        settlement = await (self._run_function(event, ref) if ref else self._deliver(event))
        if not await self._settle.submit(settlement):
            log.warning("async queue: event %s was stopped or re-claimed while it ran; result dropped", event.id)
            return
        for follow in settlement.follow:
            self.notify(follow.target)
        if settlement.status is InvocationStatus.RETRYING:
            self._timers_changed = True  # the timer must see the new due time
            self._wake.set()

    async def _run_function(self, event: QueuedEvent, ref: FunctionRef) -> Settlement:
        policy = await self.policy(ref)
        now = self.clock()
        if now - event.created > policy.max_age:
            error = f"the event is older than maxAsyncEventAgeInSeconds={policy.max_age:g} and was not run"
            return self._dead(event, ref, policy, InvocationStatus.EXPIRED, error, b"", "EventAgeExceeded")
        try:
            result = await self.run(event, ref)
        except NotFound as error:
            return self._dead(event, ref, policy, InvocationStatus.INVALID, error.message, b"", "InvalidTarget")
        except asyncio.CancelledError:
            raise
        except Exception as error:  # Throttled, InstanceError, anything unexpected: a system error
            reason = getattr(error, "message", None) or repr(error)
            return self._system_error(event, policy.max_age, reason, lambda: self._dead(
                event, ref, policy, InvocationStatus.EXPIRED, reason, b"", "EventAgeExceeded"))  # fmt: skip
        now = self.clock()
        if result.failure is None:
            follow = self._follow(event, ref, policy.on_success, "Success", event.payload, result.body, "")
            return Settlement(event, InvocationStatus.SUCCEEDED, now, response=result.body, follow=follow)
        failures = event.failures + 1
        message = _error_message(result.body)
        if failures <= policy.max_retries:
            due = now + self.backoff.function_error(failures)
            return Settlement(
                event, InvocationStatus.RETRYING, now, due=due, failures=failures,
                system_errors=event.system_errors, error=message, response=result.body,
            )  # fmt: skip
        return self._dead(event, ref, policy, InvocationStatus.FAILED, message, result.body, "RetriesExhausted")

    def _system_error(
        self, event: QueuedEvent, max_age: float, message: str, expire: Callable[[], Settlement]
    ) -> Settlement:
        now = self.clock()
        errors = event.system_errors + 1
        due = now + self.backoff.system_error(errors)
        deadline = event.created + max_age
        if now >= deadline:
            return expire()
        log.info("async queue: event %s system error (%s); retry in %.2f s", event.id, message, due - now)
        return Settlement(
            event, InvocationStatus.RETRYING, now, due=min(due, deadline + 0.001), failures=event.failures,
            system_errors=errors, error=message,
        )  # fmt: skip

    def _dead(
        self,
        event: QueuedEvent,
        ref: FunctionRef,
        policy: AsyncPolicy,
        status: InvocationStatus,
        error: str,
        response: bytes,
        condition: str,
    ) -> Settlement:
        log.warning("async queue: event %s of %s is %s: %s", event.id, ref.target, status.value, error)
        follow = self._follow(
            event, ref, policy.on_failure, condition, event.payload, response or _error_body(error),
            "UnhandledInvocationError",
        )  # fmt: skip
        return Settlement(event, status, self.clock(), error=error, response=response or None, follow=follow)

    def _follow(
        self,
        event: QueuedEvent,
        ref: FunctionRef,
        destination: str | None,
        condition: str,
        request: bytes,
        response: bytes,
        function_error: str,
    ) -> tuple[NewEvent, ...]:
        """The destination delivery for this outcome, enqueued with the settlement."""
        if not destination or event.meta.get("noDestinations"):
            return ()
        try:
            dest = parse_destination(destination)
        except Exception:
            log.error("async queue: invalid destination %r of %s", destination, ref.target)
            return ()
        body = destination_event(
            request_id=event.request_id,
            function_arn=ref.arn(self.region, self.account_id),
            condition=condition,
            invoke_count=event.attempts,
            request_payload=request,
            response_payload=response,
            function_error=function_error,
        )
        now = self.clock()
        if dest.function is not None:
            return (NewEvent(dest.function.target, body, event.request_id, now, trace_id=event.trace_id),)
        meta = {"maxAge": DELIVERY_MAX_AGE, "condition": condition}
        return (NewEvent(dest.url, body, event.request_id, now, owner=ref.target, meta=meta),)

    async def _deliver(self, event: QueuedEvent) -> Settlement:
        try:
            await self.deliverer.deliver(event.target, event.payload, f"{event.request_id}:{event.id}")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            message = f"delivery to {event.target} failed: {error!r}"
            max_age = float(event.meta.get("maxAge", DELIVERY_MAX_AGE))
            return self._system_error(event, max_age, message, lambda: Settlement(
                event, InvocationStatus.EXPIRED, self.clock(), error=message))  # fmt: skip
        return Settlement(event, InvocationStatus.SUCCEEDED, self.clock())


def _error_message(body: bytes) -> str:
    """The ``errorMessage`` of an FC error body, else the body itself (truncated)."""
    try:
        value = json.loads(body)
        if isinstance(value, dict) and "errorMessage" in value:
            return str(value["errorMessage"])
    except ValueError:
        pass
    return body[:1024].decode("utf-8", "replace")


def _error_body(message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": "AsyncInvocationError"}).encode()
