"""The async queue as the layers above see it: durable enqueue, records, dead letters, the dispatcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from openfc.errors import Conflict, NotFound, PreconditionFailed
from openfc.queue._batch import GroupCommit
from openfc.queue.destinations import Deliverer
from openfc.queue.dispatcher import Capacity, Dispatcher, PolicyOf, Run
from openfc.queue.policy import Backoff
from openfc.store import Store
from openfc.store.queue import DeadLetter, InvocationRecord, NewEvent


class AsyncQueue:
    def __init__(
        self,
        *,
        store: Store,
        run: Run,
        capacity: Capacity,
        policy: PolicyOf,
        region: str,
        account_id: str,
        backoff: Backoff | None = None,
        lease: float = 60.0,
    ) -> None:
        """See ``Dispatcher`` for ``run``, ``capacity``, ``policy``, ``backoff`` and ``lease``."""
        self.store = store
        self.dispatcher = Dispatcher(
            store=store, run=run, capacity=capacity, policy=policy, deliverer=Deliverer(), region=region,
            account_id=account_id, backoff=backoff, lease=lease,
        )  # fmt: skip
        self._intake: GroupCommit[NewEvent, bool] = GroupCommit(store.queue_enqueue)

    async def start(self) -> None:
        await self.store.queue_listen(self.dispatcher.notify)  # scale-out: other nodes' enqueues wake us too
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self._intake.close()
        await self.dispatcher.stop()

    async def enqueue(self, event: NewEvent) -> None:
        """Return once ``event`` is committed to the store (grouped with concurrent enqueues).

        Raises ``Conflict`` (409) when its stateful invocation id is already taken.
        """
        if not await self._intake.submit(event):
            raise Conflict(
                f"stateful async invocation '{event.stateful_id}' already exists for function "
                f"'{event.record_function}': an id runs once",
                code="StatefulAsyncInvocationAlreadyExists",
            )
        self.dispatcher.notify(event.target)

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the queue is empty and nothing runs (tests, shutdown); ``False`` on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.dispatcher.busy and await self.store.queue_depth() == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    # -- stateful async invocations ----------------------------------------------------

    async def invocation(self, function: str, invocation_id: str) -> InvocationRecord:
        record = await self.store.invocation_get(function, invocation_id)
        if record is None:
            raise _no_invocation(function, invocation_id)
        return record

    async def invocations(
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
        return await self.store.invocation_list(
            function, qualifier=qualifier, status=status, prefix=prefix, created_from=created_from,
            created_to=created_to, descending=descending, offset=offset, limit=limit,
        )  # fmt: skip

    async def stop_invocation(self, function: str, invocation_id: str) -> InvocationRecord:
        """Stop it: it never runs (again). 412 if it already finished."""
        before = await self.store.invocation_stop(function, invocation_id, time.time())
        if before is None:
            raise _no_invocation(function, invocation_id)
        if before.status.final:
            raise PreconditionFailed(
                f"stateful async invocation '{invocation_id}' already completed with status {before.status.value}",
                code="StatefulAsyncInvocationAlreadyCompleted",
            )
        self.dispatcher.cancel(before.event_id)
        return await self.invocation(function, invocation_id)

    # -- dead letters ------------------------------------------------------------------

    async def dead_letters(self, owner: str, *, start: str = "", limit: int = 100) -> Sequence[DeadLetter]:
        return await self.store.dead_letter_list(owner, start=start, limit=limit)

    async def dead_letter(self, letter_id: str) -> DeadLetter:
        letter = await self.store.dead_letter_get(letter_id)
        if letter is None:
            raise NotFound("DeadLetter", letter_id)
        return letter

    async def redrive(self, letter_id: str) -> DeadLetter:
        """Put a dead letter back in the queue: it runs again with fresh age and retries."""
        letter = await self.store.dead_letter_redrive(letter_id, time.time())
        if letter is None:
            raise NotFound("DeadLetter", letter_id)
        self.dispatcher.notify(letter.target)
        return letter

    async def delete_dead_letter(self, letter_id: str) -> None:
        if not await self.store.dead_letter_delete(letter_id):
            raise NotFound("DeadLetter", letter_id)


def _no_invocation(function: str, invocation_id: str) -> NotFound:
    return NotFound(
        "StatefulAsyncInvocation",
        invocation_id,
        f"stateful async invocation '{invocation_id}' of function '{function}' does not exist",
    )
