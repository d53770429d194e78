"""Redis Stream triggers (redis-py): one consumer group per trigger, XREADGROUP then XACK.

Config: ``{"brokerUrl": "redis://127.0.0.1:6379/0", "stream": "events", "group": "<default
openfc-{service}-{function}-{trigger}>", "batchSize": 1, "batchWindow": 0}``. The group is created
(from the stream's start, ``MKSTREAM``) if missing. After a restart the consumer first re-reads its
own pending entries (read but never acked), then new ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from openfc.triggers._consumer import Consumer, Message

CONSUMER = "openfc"


class RedisConsumer(Consumer):
    kind = "redis"
    _client: Any = None
    _pending = True  #: still draining our own pending entries list
    #: cluster: the consumer name in the group, one per node (``openfc-<node id>``, set by the hub), so
    #: nodes never re-read each other's pending entries.
    consumer = CONSUMER

    @property
    def group(self) -> str:
        return str(self.config.get("group") or self.default_name)

    async def connect(self) -> None:
        self._client = aioredis.from_url(self.config["brokerUrl"], socket_connect_timeout=5)
        try:
            await self._client.xgroup_create(self.config["stream"], self.group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._pending = True

    async def fetch(self, limit: int, timeout: float) -> list[Message]:
        stream = self.config["stream"]
        if self._pending:
            reply = await self._client.xreadgroup(self.group, self.consumer, {stream: "0"}, count=limit)
            entries = reply[0][1] if reply else []
            if entries:
                return [self._message(i, f) for i, f in entries]
            self._pending = False
        reply = await self._client.xreadgroup(self.group, self.consumer, {stream: ">"}, count=limit,
                                              block=max(1, int(timeout * 1000)))  # fmt: skip
        return [self._message(i, f) for _, entries in reply or [] for i, f in entries]

    def _message(self, entry_id: bytes, fields: dict[bytes, bytes]) -> Message:
        body = fields.get(b"body", fields.get(b"data"))
        if body is None:  # no body/data field: the whole entry as JSON
            body = json.dumps(
                {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()}
            ).encode()
        attributes = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in fields.items()
                      if k not in (b"body", b"data")}  # fmt: skip
        return Message(entry_id.decode(), body, self.config["stream"], attributes)

    async def ack(self, messages: Sequence[Message]) -> None:
        await self._client.xack(self.config["stream"], self.group, *[m.id for m in messages])

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
