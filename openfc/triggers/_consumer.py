"""What every message-queue trigger shares: fetch → batch → durable async enqueue → ack, reconnecting.

At-least-once: messages are acknowledged to the broker only after the invocations carrying them are
committed to the async queue; a crash before the ack makes the broker redeliver them. A broken
connection (broker down) is retried with exponential backoff (0.5 s … 30 s); meanwhile the trigger
shows ``status: Error`` and ``lastError`` on GET, and the log says why.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from openfc.errors import EntityTooLarge
from openfc.invoke import Invocation
from openfc.store import JSON, Doc, now_iso
from openfc.triggers.registry import split_key

log = logging.getLogger("openfc.triggers.mq")

Submit = Callable[[Invocation], Awaitable[object]]
#: Messages fetched per round (many invocations share one queue commit).
FETCH = 256
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0


@dataclass(slots=True)
class Message:
    id: str
    body: bytes
    subject: str
    attributes: dict[str, Any] = field(default_factory=dict)
    handle: Any = None  #: the broker's own message object (for the ack)

    def event(self, source: str, trigger: str) -> JSON:
        try:
            data, encoded = self.body.decode(), False
        except UnicodeDecodeError:
            data, encoded = base64.b64encode(self.body).decode(), True
        return {
            "id": self.id, "source": source, "subject": self.subject, "time": now_iso(), "triggerName": trigger,
            "data": data, "isBase64Encoded": encoded, "attributes": self.attributes,
        }  # fmt: skip


class Consumer(ABC):
    #: ``source`` of the events (rabbitmq, nats, redis)
    kind: str = ""

    def __init__(self, key: str, doc: Doc, *, submit: Submit, status: dict[str, JSON]) -> None:
        self.key = key
        self.config: JSON = doc.body["triggerConfig"]
        self.service, self.function, self.name = split_key(key)
        self.qualifier: str = doc.body["qualifier"]
        self.submit = submit
        self._status = status
        self._task: asyncio.Task[None] | None = None
        self._delay = BACKOFF_FIRST

    @property
    def default_name(self) -> str:
        return f"openfc-{self.service}-{self.function}-{self.name}"

    # -- what each broker implements ------------------------------------------------------

    @abstractmethod
    async def connect(self) -> None:
        """Connect and subscribe (create the group/consumer if needed)."""

    @abstractmethod
    async def fetch(self, limit: int, timeout: float) -> list[Message]:
        """Up to ``limit`` messages, waiting at most ``timeout`` s for the first; ``[]`` if none."""

    @abstractmethod
    async def ack(self, messages: Sequence[Message]) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """Drop the connection (unacked messages go back to the broker)."""

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._set("Connecting", "")
        self._task = asyncio.create_task(self._run(), name=f"trigger {self.key}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None
        self._status.pop(self.key, None)

    def _set(self, status: str, error: str | None = None) -> None:
        state = self._status.setdefault(self.key, {"status": status, "lastError": ""})
        state["status"] = status
        if error is not None:
            state["lastError"] = error

    async def _run(self) -> None:
        while True:
            try:
                await self.connect()
                self._set("Running")
                self._delay = BACKOFF_FIRST
                await self._consume()
            except asyncio.CancelledError:
                await self._close_quietly()
                raise
            except Exception as error:
                message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
                self._set("Error", f"{now_iso()} {message}")
                log.warning("%s trigger %s: %s; reconnecting in %.1f s", self.kind, self.key, message, self._delay)
            await self._close_quietly()
            await asyncio.sleep(self._delay * random.uniform(0.8, 1.2))
            self._delay = min(self._delay * 2, BACKOFF_MAX)

    async def _close_quietly(self) -> None:
        try:
            await asyncio.wait_for(self.close(), 5)
        except (TimeoutError, Exception):
            pass

    async def _consume(self) -> None:
        size, window = int(self.config["batchSize"]), float(self.config["batchWindow"])
        while True:
            messages = await self.fetch(max(FETCH, size), 1.0)
            if window > 0 and messages and len(messages) % size:
                deadline = time.monotonic() + window
                while len(messages) % size and (left := deadline - time.monotonic()) > 0:
                    messages += await self.fetch(size - len(messages) % size, left)
            if not messages:
                continue
            batches = [messages[i : i + size] for i in range(0, len(messages), size)]
            await asyncio.gather(*(self._deliver(batch) for batch in batches))
            await self.ack(messages)
            self._set("Running", None)

    async def _deliver(self, batch: list[Message]) -> None:
        """One async invocation for ``batch``, committed durably before this returns."""
        events = [m.event(self.kind, self.name) for m in batch]
        invocation = Invocation(self.service, self.qualifier, self.function, json.dumps(events).encode())
        try:
            await self.submit(invocation)
        except EntityTooLarge:
            if len(batch) > 1:
                await asyncio.gather(*(self._deliver([m]) for m in batch))
                return
            error = f"message {batch[0].id} is larger than an async invocation takes (128 KB): dropped"
            self._set("Running", f"{now_iso()} {error}")
            log.error("%s trigger %s: %s", self.kind, self.key, error)
