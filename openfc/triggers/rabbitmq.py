"""RabbitMQ queue triggers (aio-pika): consume ``queue`` with manual acks, prefetch-bounded.

Config: ``{"brokerUrl": "amqp://guest:guest@127.0.0.1:5672/", "queue": "q", "batchSize": 1,
"batchWindow": 0}``. The queue is declared durable if it does not exist. Unacked deliveries are
redelivered by the broker when the connection drops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from openfc.triggers._consumer import FETCH, Consumer, Message


class RabbitConsumer(Consumer):
    kind = "rabbitmq"
    _connection: AbstractRobustConnection | Any = None
    _inbox: asyncio.Queue[AbstractIncomingMessage]

    async def connect(self) -> None:
        self._inbox = asyncio.Queue()
        self._connection = await aio_pika.connect(self.config["brokerUrl"], timeout=5)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=max(2 * FETCH, int(self.config["batchSize"])))
        queue = await channel.declare_queue(self.config["queue"], durable=True)
        await queue.consume(self._inbox.put, no_ack=False)

    async def fetch(self, limit: int, timeout: float) -> list[Message]:
        if self._connection is None or self._connection.is_closed:
            raise ConnectionError("the connection to RabbitMQ was lost")
        try:
            first = await asyncio.wait_for(self._inbox.get(), timeout)
        except TimeoutError:
            return []
        got = [first]
        while len(got) < limit and not self._inbox.empty():
            got.append(self._inbox.get_nowait())
        return [
            Message(
                m.message_id or str(m.delivery_tag),
                m.body,
                self.config["queue"],
                {"headers": {k: str(v) for k, v in (m.headers or {}).items()}, "redelivered": bool(m.redelivered)},
                m,
            )  # fmt: skip
            for m in got
        ]

    async def ack(self, messages: Sequence[Message]) -> None:
        # Deliveries on one channel are acked in order: one multiple-ack covers the whole round.
        await messages[-1].handle.ack(multiple=True)

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()
