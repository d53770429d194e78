"""This node as a member of the cluster: heartbeat, leaderships, change notices, drain and leave.

Every ``ttl / 3`` seconds the node refreshes its membership row, renews its instance slots and takes or
keeps the leaderships it runs for (``timers``). A leadership is a lease row: when its holder dies, another
node takes it once the lease lapses (``ttl``). The holder believes it leads only until ``0.8 × ttl`` after
its last successful renewal, so two nodes never both believe it. Metadata writes are announced to the
other nodes (``publish``) so they drop their caches at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from enum import StrEnum

from openfc.cluster.slots import Slots
from openfc.store import Store
from openfc.store.base import NodeRow

log = logging.getLogger("openfc.cluster")

#: The leadership whose holder fires timer triggers.
TIMERS = "timers"


class NodeState(StrEnum):
    LIVE = "live"  #: serving and claiming work
    DRAINING = "draining"  #: stopping: finishes in-flight work, claims nothing new


class Cluster:
    """Membership and coordination of one node.

    store: the store all nodes share; node: this node's id (``node_id(data_dir)``); address: its API URL.
    ttl: seconds a heartbeat, a leadership or an instance slot lasts without renewal.
    shared: the store is shared by several nodes (PostgreSQL): instance slots and change notices are on.
    leaderships: names this node runs for (``timers``).
    """

    def __init__(
        self,
        *,
        store: Store,
        node: str,
        address: str,
        ttl: float = 15.0,
        shared: bool = False,
        leaderships: tuple[str, ...] = (TIMERS,),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.node, self.address, self.ttl, self.shared = store, node, address, ttl, shared
        self.clock = clock
        self.state = NodeState.LIVE
        self.started = clock()
        self.slots: Slots | None = Slots(store=store, node=node, ttl=ttl, clock=clock) if shared else None
        self.members: list[NodeRow] = []  #: as of the last heartbeat (for /metrics)
        #: ``callback(kind)`` for each change another node published.
        self.on_change: list[Callable[[str], None]] = []
        #: ``callback(name, leading)`` when this node gains or loses a leadership.
        self.on_leadership: list[Callable[[str, bool], None]] = []
        self._leaderships = leaderships
        self._leads: dict[str, float] = {}  #: name -> until when this node may act as its leader
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        return self.ttl / 3

    def leads(self, name: str) -> bool:
        """Whether this node holds leadership ``name`` now (and may act on it)."""
        return self._leads.get(name, 0.0) > self.clock()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Join: the first heartbeat and leadership round happen before this returns."""
        if self.shared:
            # A previous run of this node id (same data dir) is dead by construction: its slots,
            # leaderships and membership must not be renewed by this run.
            await self.store.node_leave(self.node)
            await self.store.changes_listen(self._heard)
        await self._round()
        self._task = asyncio.create_task(self._loop(), name="cluster-heartbeat")

    async def drain(self) -> None:
        """Stop taking new work: show as draining and hand the leaderships over at once."""
        self.state = NodeState.DRAINING
        held = [name for name in self._leaderships if self.leads(name)]
        for name in held:
            self._set_lead(name, 0.0)
        with contextlib.suppress(Exception):
            now = self.clock()
            for name in held:
                await self.store.leader(name, self.node, -self.ttl, now)  # ours, lapsed: free for another node
            await self._heartbeat(now)

    async def leave(self) -> None:
        """After the node's work has stopped: drop membership, slots and leaderships."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.slots is not None:
            await self.slots.close()
        with contextlib.suppress(Exception):
            await self.store.changes_unlisten()
        try:
            await self.store.node_leave(self.node)
        except Exception:
            log.exception("cluster: leaving the membership failed (it lapses after %g s)", self.ttl)

    async def publish(self, kind: str) -> None:
        """Tell the other nodes that metadata of ``kind`` changed here."""
        if self.shared:
            try:
                await self.store.changes_publish(kind, self.node)
            except Exception:
                log.exception("cluster: could not announce a %s change", kind)

    # -- the heartbeat -----------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("cluster: heartbeat failed")

    async def _round(self) -> None:
        now = self.clock()
        await self._heartbeat(now)
        if self.slots is not None:
            await self.slots.renew()
        if self.state is NodeState.LIVE:
            for name in self._leaderships:
                now = self.clock()
                ok = await self.store.leader(name, self.node, self.ttl, now)
                self._set_lead(name, now + 0.8 * self.ttl if ok else 0.0)
        self.members = list(await self.store.nodes(self.clock()))

    async def _heartbeat(self, now: float) -> None:
        info = {"address": self.address, "state": self.state.value, "started": self.started}
        await self.store.node_heartbeat(self.node, info, now, self.ttl)

    def _set_lead(self, name: str, until: float) -> None:
        before = self.leads(name)
        self._leads[name] = until
        after = self.leads(name)
        if before != after:
            log.info("cluster: node %s %s leadership %r", self.node, "took" if after else "gave up", name)
            for callback in self.on_leadership:
                callback(name, after)

    def _heard(self, kind: str, origin: str) -> None:
        if origin == self.node:
            return  # this node's own write: its caches are already fresh
        for callback in self.on_change:
            try:
                callback(kind)
            except Exception:
                log.exception("cluster: applying a %s change failed", kind)
