"""Timer triggers: sleep until the next tick, then enqueue ``{triggerTime, triggerName, payload}`` async.

Exactly once per tick: the last fired tick of each trigger is a ``timerstate`` document, written in
the same store transaction as the queued event, and only if the document is still the one read
before deciding (etag compare-and-swap). A tick is enqueued once even if the node stops around it,
and even if several nodes run the scheduler. After downtime, only the latest missed tick fires (one
catch-up). Disabling or deleting a trigger drops it from the schedule at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from openfc.errors import OpenFCError
from openfc.invoke import Resolve, new_request_id
from openfc.queue import FunctionRef
from openfc.store import Doc, Store
from openfc.store.queue import NewEvent
from openfc.triggers.registry import split_key
from openfc.triggers.schedule import Schedule, iso, parse_schedule

log = logging.getLogger("openfc.triggers.timer")

STATE = "timerstate"


@dataclass(slots=True)
class _Entry:
    ref: FunctionRef
    name: str
    schedule: Schedule
    payload: str
    next_tick: float
    warned: bool = False


class TimerScheduler:
    def __init__(
        self, *, store: Store, resolve: Resolve, notify: Callable[[str], None], clock: Callable[[], float] = time.time
    ) -> None:
        """``resolve`` checks the target still exists; ``notify(target)`` wakes the queue's dispatcher."""
        self.store = store
        self.resolve = resolve
        self.notify = notify
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: cluster: whether this node leads timer firing (wired to ``Cluster.leads``); followers only track
        #: the schedule, and a new leader fires the latest tick it finds missed (the one catch-up).
        self.leading: Callable[[], bool] = lambda: True

    def wake(self) -> None:
        """Look at the schedule again now (this node became the timer leader). (cluster)"""
        self._wake.set()

    async def start(self, triggers: list[Doc]) -> None:
        for doc in triggers:
            await self.apply(doc.key, doc, starting=True)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def apply(self, key: str, doc: Doc | None, *, starting: bool = False) -> None:
        """A trigger changed (``None``: deleted). Takes effect before this returns."""
        if doc is None or doc.body["triggerType"] != "timer" or not doc.body["triggerConfig"]["enable"]:
            if self._entries.pop(key, None) is not None or doc is None:
                await self.store.delete(STATE, key)  # re-enabling later starts afresh, without catch-up
            self._wake.set()
            return
        body, config = doc.body, doc.body["triggerConfig"]
        service, function, name = split_key(key)
        schedule = parse_schedule(config["cronExpression"])
        now = self.clock()
        state = await self.store.get(STATE, key)
        entry = _Entry(FunctionRef(service, body["qualifier"], function), name, schedule, config["payload"], 0.0)
        if state is None:
            # First enabled: count from now, so downtime from here on gets its one catch-up.
            await self.store.put(STATE, key, {"lastTick": schedule.latest_at_or_before(now)})
            entry.next_tick = schedule.next_after(now)
        else:
            last = float(state.body["lastTick"])
            latest = schedule.latest_at_or_before(now)
            entry.next_tick = latest if starting and latest > last else schedule.next_after(max(now, last))
        self._entries[key] = entry
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock()
            leading = self.leading()  # cluster
            due = [(key, e) for key, e in self._entries.items() if e.next_tick <= now] if leading else []
            if due:
                await asyncio.gather(*(self._fire(key, e, now) for key, e in due))
                continue
            soonest = min((e.next_tick for e in self._entries.values()), default=now + 3600)
            soonest = soonest if leading else now + 3600  # cluster: a follower waits for ``wake``
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(soonest - now, 0.001))
            except TimeoutError:
                pass

    async def _fire(self, key: str, entry: _Entry, now: float) -> None:
        tick = max(entry.next_tick, entry.schedule.latest_at_or_before(now))  # late: only the latest tick
        entry.next_tick = entry.schedule.next_after(tick)
        try:
            await self.fire(key, entry, tick)
        except Exception:
            log.exception("timer trigger %s: firing the tick %s failed", key, iso(tick))

    async def fire(self, key: str, entry: _Entry, tick: float) -> bool:
        """Enqueue the tick's invocation unless it (or a later tick) was already fired."""
        if not self.leading():  # cluster: leadership lapsed meanwhile
            return False
        state = await self.store.get(STATE, key)
        if state is not None and float(state.body["lastTick"]) >= tick:
            return False
        if self._entries.get(key) is not entry:  # disabled or changed meanwhile
            return False
        try:
            await self.resolve(*entry.ref)
        except OpenFCError as error:
            if not entry.warned:  # once, not every tick: e.g. the function was deleted
                log.warning("timer trigger %s: not fired at %s (nor later until it works): %s", key, iso(tick),
                            error.message)  # fmt: skip
            entry.warned = True
            return False
        entry.warned = False
        payload = {"triggerTime": iso(tick), "triggerName": entry.name, "payload": entry.payload}
        event = NewEvent(
            target=entry.ref.target,
            payload=json.dumps(payload).encode(),
            request_id=new_request_id(),
            created=time.time(),
            record_function=entry.ref.record_function,
            qualifier=entry.ref.qualifier,
            meta={"noDestinations": True, "trigger": key},
        )
        done = await self.store.queue_enqueue_marked(
            [event], STATE, key, {"lastTick": tick}, if_match=state.etag if state else None
        )
        if done:
            self.notify(entry.ref.target)
        return done
