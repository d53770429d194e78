"""Group commit: calls that arrive while a flush is in progress share the next one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """``await submit(item)`` returns ``flush([... item ...])``'s result for ``item``.

    One flush runs at a time; items submitted meanwhile are flushed together next (up to
    ``max_batch``), so under load each commit carries many items and none waits on a timer.
    """

    def __init__(self, flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]], *, max_batch: int = 1000) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        # A cancelled waiter cancels only its future: the item is still flushed (and committed).
        return await future

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                try:
                    results = await self._flush([item for item, _ in batch])
                except BaseException as error:  # every waiter gets the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error if isinstance(error, Exception) else RuntimeError(error))
                    if not isinstance(error, Exception):
                        raise
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._task = None

    async def close(self) -> None:
        """Wait until everything submitted so far is flushed."""
        while self._task is not None:
            await asyncio.shield(self._task)
