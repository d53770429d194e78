"""The triggers of one node: the registry plus everything that acts on triggers, started with the node.

Every trigger change made through the registry is applied at once to the timer scheduler, the OSS
matcher and the broker consumers (a disabled timer stops before the API answers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from openfc.control import Registry
from openfc.invoke.asynchronous import AsyncInvoker
from openfc.store import Doc, Store
from openfc.triggers._consumer import Consumer
from openfc.triggers.nats import NatsConsumer
from openfc.triggers.objects import OssTriggers
from openfc.triggers.rabbitmq import RabbitConsumer
from openfc.triggers.redis import RedisConsumer
from openfc.triggers.registry import Triggers
from openfc.triggers.timer import TimerScheduler

log = logging.getLogger("openfc.triggers")

CONSUMERS: dict[str, type[Consumer]] = {"rabbitmq": RabbitConsumer, "nats": NatsConsumer, "redis": RedisConsumer}


class TriggerHub:
    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        async_invoker: AsyncInvoker,
        notify: Callable[[str], None],
        region: str,
        account_id: str,
        public_url: str,
    ) -> None:
        """``notify(target)`` wakes the async queue's dispatcher after a timer's own enqueue."""
        self.triggers = Triggers(store, registry, public_url=public_url)
        self.timer = TimerScheduler(store=store, resolve=registry.resolve, notify=notify)
        self.oss = OssTriggers(submit=async_invoker.submit, region=region, account_id=account_id)
        self._submit = async_invoker.submit
        self.consumers: dict[str, Consumer] = {}
        self.triggers.listen(self.apply)
        self._started = False
        self.node = ""  #: cluster: this node's id (set at assembly): names its Redis stream consumers

    async def start(self) -> None:
        docs = await self.triggers.all()
        await self.oss.start(docs)
        await self.timer.start(docs)
        for doc in docs:
            self._consume(doc.key, doc)
        self._started = True

    async def stop(self) -> None:
        self._started = False
        await self.timer.stop()
        for consumer in list(self.consumers.values()):
            await consumer.stop()
        self.consumers.clear()

    async def apply(self, key: str, doc: Doc | None) -> None:
        await self.oss.apply(key, doc)
        await self.timer.apply(key, doc)
        old = self.consumers.pop(key, None)
        if old is not None:
            await old.stop()
        if self._started and doc is not None:
            self._consume(key, doc)

    def _consume(self, key: str, doc: Doc) -> None:
        kind = CONSUMERS.get(doc.body["triggerType"])
        if kind is None or not doc.body["triggerConfig"]["enable"]:
            return
        consumer = kind(key, doc, submit=self._submit, status=self.triggers.status)
        if self.node and isinstance(consumer, RedisConsumer):  # cluster
            consumer.consumer = f"openfc-{self.node}"
        self.consumers[key] = consumer
        consumer.start()
