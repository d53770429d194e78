"""Cluster-wide instance slots: a new instance of a function version starts only with a slot of its key.

A slot is a store row leased to this node; the node's heartbeat renews all of its slots at once and a
dead node's slots lapse after the lease. Only cold starts pay a store round trip; releases are batched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from openfc.store import Store

log = logging.getLogger("openfc.cluster")

#: Seconds before a failed release is tried again.
RETRY = 1.0


class Slots:
    """The pool's ``InstanceSlots`` on a shared store.

    store: the shared store; node: this node's id; ttl: seconds a slot lives without renewal.
    """

    def __init__(self, *, store: Store, node: str, ttl: float, clock: Callable[[], float] = time.time) -> None:
        self.store, self.node, self.ttl, self.clock = store, node, ttl, clock
        self._pending: set[str] = set()
        self._flusher: asyncio.Task[None] | None = None

    async def acquire(self, key: str, instance_id: str, limit: int) -> bool:
        """Take a slot of ``key`` for ``instance_id`` if the cluster holds fewer than ``limit``."""
        now = self.clock()
        return await self.store.slot_acquire(key, self.node, instance_id, limit, now + self.ttl, now)

    def release(self, instance_id: str) -> None:
        """Give the slot of a stopped instance back (soon, batched with others)."""
        self._pending.add(instance_id)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            ids = list(self._pending)
            try:
                await self.store.slot_release(ids)
            except Exception:
                log.exception("cluster: releasing %d instance slots failed; retrying", len(ids))
                await asyncio.sleep(RETRY)
                continue
            self._pending.difference_update(ids)

    async def renew(self) -> None:
        now = self.clock()
        await self.store.slot_renew(self.node, now + self.ttl, now)

    async def close(self) -> None:
        """Release what is pending now (the node leaves: its remaining slots go with its membership)."""
        if self._flusher is not None and not self._flusher.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._flusher), 2.0)
            except (TimeoutError, asyncio.CancelledError):
                self._flusher.cancel()
