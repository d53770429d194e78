"""NATS JetStream triggers (nats-py): a durable pull consumer on ``stream``, explicit acks.

Config: ``{"brokerUrl": "nats://127.0.0.1:4222", "stream": "S", "subject": "<filter, optional>",
"consumer": "<durable name, default openfc-{service}-{function}-{trigger}>", "batchSize": 1,
"batchWindow": 0}``. The stream must exist; the durable consumer is created if missing. Messages
not acked within the consumer's ack wait (30 s) are redelivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

from openfc.triggers._consumer import Consumer, Message

ACK_WAIT = 30.0


async def _quiet(error: Exception) -> None:
    return None


class NatsConsumer(Consumer):
    kind = "nats"
    _nc: Any = None
    _sub: Any = None

    @property
    def durable(self) -> str:
        return str(self.config.get("consumer") or self.default_name).replace(".", "_")

    async def connect(self) -> None:
        # nats-py hangs on a refused first connect with allow_reconnect=False: allow one quick retry
        # instead, and bound the whole attempt; our own loop does the backoff.
        self._nc = await asyncio.wait_for(
            nats.connect(self.config["brokerUrl"], connect_timeout=5, max_reconnect_attempts=1,
                         reconnect_time_wait=0.2, error_cb=_quiet),
            timeout=15,
        )  # fmt: skip
        js = self._nc.jetstream()
        stream = self.config["stream"]
        try:
            await js.consumer_info(stream, self.durable)
        except NotFoundError:
            config = ConsumerConfig(
                durable_name=self.durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT,
                max_ack_pending=10_000,
                filter_subject=self.config.get("subject") or None,
            )
            await js.add_consumer(stream, config)
        self._sub = await js.pull_subscribe_bind(durable=self.durable, stream=stream)

    async def fetch(self, limit: int, timeout: float) -> list[Message]:
        if self._nc is None or self._nc.is_closed:
            raise ConnectionError("the connection to NATS was lost")
        try:
            got = await self._sub.fetch(batch=limit, timeout=max(timeout, 0.05))
        except NatsTimeout:
            return []
        out = []
        for m in got:
            meta = m.metadata
            attributes = {"headers": dict(m.headers or {}), "sequence": meta.sequence.stream,
                          "deliveries": meta.num_delivered}  # fmt: skip
            out.append(Message(f"{meta.stream}:{meta.sequence.stream}", m.data, m.subject, attributes, m))
        return out

    async def ack(self, messages: Sequence[Message]) -> None:
        for m in messages:
            await m.handle.ack()
        await self._nc.flush()

    async def close(self) -> None:
        if self._nc is not None:
            nc, self._nc = self._nc, None
            await nc.close()
