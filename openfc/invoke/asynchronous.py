"""Asynchronous calls: validate and enqueue durably (the 202), and how the queue runs them later."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from openfc.errors import EntityTooLarge, InvalidArgument
from openfc.invoke.invoker import Invocation, Invoker, Resolve
from openfc.pool.spec import CallResult
from openfc.queue import AsyncQueue, FunctionRef
from openfc.queue.dispatcher import Capacity, PolicyOf, Run
from openfc.store.queue import NewEvent, QueuedEvent

#: Largest asynchronous event payload (FC: 128 KB).
MAX_ASYNC_PAYLOAD = 128 * 1024
#: How long a queued call waits in the pool for a free instance before it counts as throttled
#: (a system error, retried): the dispatcher already caps concurrency, so this rarely matters.
QUEUED_CALL_WAIT = 600.0
STATEFUL_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Accepted:
    """An async call committed to the queue: ``stateful_id`` is set when statefulInvocation is on."""

    request_id: str
    stateful_id: str | None


class AsyncInvoker:
    def __init__(self, *, resolve: Resolve, queue: AsyncQueue, policy: PolicyOf) -> None:
        self.resolve = resolve
        self.queue = queue
        self.policy = policy

    async def submit(
        self, invocation: Invocation, *, stateful_id: str | None = None, destinations: bool = True
    ) -> Accepted:
        """Enqueue ``invocation`` durably; return only once it is committed.

        Raises NotFound (no such function/qualifier), EntityTooLarge (over 128 KB), InvalidArgument
        (bad stateful id) and Conflict (the stateful id was used before: it never runs twice).
        ``destinations=False`` (timer triggers) sends no destination events.
        """
        size = len(invocation.payload)
        if size > MAX_ASYNC_PAYLOAD:
            raise EntityTooLarge(
                f"the event payload is {size} bytes: asynchronous calls take at most {MAX_ASYNC_PAYLOAD // 1024} KB "
                f"({MAX_ASYNC_PAYLOAD} bytes); invoke synchronously or pass a reference to the data instead"
            )
        ref = FunctionRef(invocation.service, invocation.qualifier, invocation.function)
        await self.resolve(*ref)
        policy = await self.policy(ref)
        record_id = None
        if policy.stateful:
            if stateful_id is not None and not STATEFUL_ID_RE.match(stateful_id):
                raise InvalidArgument(
                    f"x-fc-stateful-async-invocation-id '{stateful_id}' is invalid: use 1-128 letters, digits, "
                    "'_' or '-', starting with a letter or '_'"
                )
            record_id = stateful_id or invocation.request_id
        event = NewEvent(
            target=ref.target,
            payload=invocation.payload,
            request_id=invocation.request_id,
            created=time.time(),
            trace_id=invocation.trace_id,
            stateful_id=record_id,
            record_function=ref.record_function,
            qualifier=ref.qualifier,
            meta={} if destinations else {"noDestinations": True},
        )
        await self.queue.enqueue(event)
        return Accepted(invocation.request_id, record_id)


def queue_runner(invoker: Invoker) -> Run:
    """How the dispatcher runs a queued function event: through ``Invoker.run``, waiting for capacity."""

    async def run(event: QueuedEvent, ref: FunctionRef) -> CallResult:
        invocation = Invocation(
            ref.service, ref.qualifier, ref.function, event.payload, request_id=event.request_id,
            trace_id=event.trace_id, kind="Async",
        )  # fmt: skip
        outcome = await invoker.run(invocation, wait=QUEUED_CALL_WAIT)
        return outcome.result

    return run


def queue_capacity(resolve: Resolve) -> Capacity:
    """At most maximumInstanceCount × instanceConcurrency queued calls of a function run at once."""

    async def capacity(ref: FunctionRef) -> int:
        try:
            target = await resolve(*ref)
        except Exception:  # gone: let a few through so they are dead-lettered as Invalid
            return 4
        return target.max_instances * target.spec.instance_concurrency

    return capacity
