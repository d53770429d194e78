"""Destinations on real brokers on loopback: RabbitMQ, NATS JetStream, Redis Streams.

Unreachable broker: skipped locally, a failure under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable

import pytest

from tests.conftest import wait_until
from tests.queue.conftest import RECORDER, require_broker

ASYNC = {"x-fc-invocation-type": "Async"}


def run(coro):
    return asyncio.run(coro)


class RabbitQueue:
    def __init__(self) -> None:
        require_broker("RabbitMQ", 5672)
        self.name = f"openfc-test-{uuid.uuid4().hex[:8]}"
        self.url = "amqp://guest:guest@127.0.0.1:5672/%2F/" + self.name
        self.seen: list[bytes] = []

        async def declare() -> None:
            import aio_pika

            connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
            async with connection:
                channel = await connection.channel()
                await channel.declare_queue(self.name, durable=True)

        run(declare())

    def messages(self) -> list[bytes]:
        """Every message received so far (consumed from the queue as they come)."""

        async def drain() -> list[bytes]:
            import aio_pika

            connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
            async with connection:
                channel = await connection.channel()
                queue = await channel.declare_queue(self.name, durable=True)
                got = []
                while (message := await queue.get(no_ack=True, fail=False)) is not None:
                    got.append(message.body)
                return got

        self.seen.extend(run(drain()))
        return list(self.seen)

    def close(self) -> None:
        async def delete() -> None:
            import aio_pika

            connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
            async with connection:
                channel = await connection.channel()
                await channel.queue_delete(self.name)

        run(delete())


class NatsSubject:
    def __init__(self) -> None:
        require_broker("NATS", 4222)
        self.stream = f"OPENFC_TEST_{uuid.uuid4().hex[:8].upper()}"
        self.subject = f"openfc.test.{uuid.uuid4().hex[:8]}"
        self.url = "nats://127.0.0.1:4222/" + self.subject

        async def create() -> None:
            import nats

            nc = await nats.connect("nats://127.0.0.1:4222")
            try:
                await nc.jetstream().add_stream(name=self.stream, subjects=[self.subject])
            finally:
                await nc.close()

        run(create())

    def messages(self) -> list[bytes]:
        async def read() -> list[bytes]:
            import nats

            nc = await nats.connect("nats://127.0.0.1:4222")
            try:
                js = nc.jetstream()
                info = await js.stream_info(self.stream)
                return [(await js.get_msg(self.stream, seq)).data or b"" for seq in range(1, info.state.messages + 1)]
            finally:
                await nc.close()

        return run(read())

    def close(self) -> None:
        async def delete() -> None:
            import nats

            nc = await nats.connect("nats://127.0.0.1:4222")
            try:
                await nc.jetstream().delete_stream(self.stream)
            finally:
                await nc.close()

        run(delete())


class RedisStream:
    def __init__(self) -> None:
        require_broker("Redis", 6379)
        import redis

        self.client = redis.Redis(host="127.0.0.1", port=6379, db=0)
        self.name = f"openfc-test-{uuid.uuid4().hex[:8]}"
        self.url = "redis://127.0.0.1:6379/0/" + self.name

    def messages(self) -> list[bytes]:
        return [fields[b"event"] for _, fields in self.client.xrange(self.name)]

    def close(self) -> None:
        self.client.delete(self.name)
        self.client.close()


BROKERS: dict[str, Callable[[], RabbitQueue | NatsSubject | RedisStream]] = {
    "rabbitmq": RabbitQueue,
    "nats": NatsSubject,
    "redis": RedisStream,
}


@pytest.mark.parametrize("broker", sorted(BROKERS))
def test_queue_destination_receives_the_event(broker, aclient, aservice, make_function, obs) -> None:
    destination = BROKERS[broker]()
    try:
        fn = make_function(RECORDER, log=obs.path("runs"))
        aclient.put_function_async_invoke_config(
            aservice, "LATEST", fn,
            {"maxAsyncRetryAttempts": 0, "destinationConfig": {
                "onSuccess": {"destination": destination.url}, "onFailure": {"destination": destination.url}}},
        )  # fmt: skip
        ok = aclient.invoke_function(aservice, fn, payload=b"to-" + broker.encode(), headers=ASYNC)
        bad = aclient.invoke_function(aservice, fn, payload=b"fail-" + broker.encode(), headers=ASYNC)

        def both_arrived() -> list[bytes] | None:
            messages = destination.messages()
            return messages if len(messages) >= 2 else None

        received = wait_until(both_arrived, timeout=20)
        events = {e["requestContext"]["requestId"]: e for e in map(json.loads, received)}
        success = events[ok.headers["x-fc-request-id"]]
        assert (success["requestContext"]["condition"], success["requestPayload"]) == ("Success", f"to-{broker}")
        assert success["responsePayload"] == f"done to-{broker}"
        failure = events[bad.headers["x-fc-request-id"]]
        assert failure["requestContext"]["condition"] == "RetriesExhausted"
        assert failure["requestPayload"] == f"fail-{broker}"
        assert f"it failed on purpose: fail-{broker}" in failure["responsePayload"]
    finally:
        destination.close()
