"""Message-queue triggers on real brokers over loopback: RabbitMQ, NATS JetStream, Redis Streams.

Each test publishes 5,000 messages into a function capped at 2 instances; every message must be
processed (at least once), also when the node is killed (-9) mid-way and restarted. Brokers must
be on 127.0.0.1 (RabbitMQ 5672 guest/guest, NATS 4222 with JetStream, Redis 6379): under CI=true a
missing broker fails the test, elsewhere it is skipped.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.conftest import Server, wait_until
from tests.queue.conftest import require_broker

COUNT = 5000

#: Appends each message's data (one line per message) to ``{log}``.
MESSAGES = """
import json

def handler(event, context):
    items = json.loads(event)
    with open({log!r}, "a") as f:
        f.write("".join(m["data"] + "\\n" for m in items))
    return "ok"
"""

RABBIT = "amqp://guest:guest@127.0.0.1:5672/"
NATS = "nats://127.0.0.1:4222"
REDIS = "redis://127.0.0.1:6379/0"


class Broker:
    """Publish to one broker and describe the trigger that consumes what was published."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"openfc_{uuid.uuid4().hex[:10]}"

    def config(self, **extra: object) -> dict:
        if self.kind == "rabbitmq":
            return {"brokerUrl": RABBIT, "queue": self.name, **extra}
        if self.kind == "nats":
            return {"brokerUrl": NATS, "stream": self.name, "subject": f"{self.name}.>", **extra}
        return {"brokerUrl": REDIS, "stream": self.name, **extra}

    def publish(self, bodies: list[str]) -> None:
        asyncio.run(getattr(self, "_" + self.kind)(bodies))

    async def _rabbitmq(self, bodies: list[str]) -> None:
        import aio_pika

        connection = await aio_pika.connect(RABBIT)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_queue(self.name, durable=True)
            for i in range(0, len(bodies), 500):
                await asyncio.gather(*(channel.default_exchange.publish(
                    aio_pika.Message(b.encode(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=self.name)
                    for b in bodies[i : i + 500]))  # fmt: skip

    async def _nats(self, bodies: list[str]) -> None:
        import nats

        nc = await nats.connect(NATS)
        js = nc.jetstream()
        await js.add_stream(name=self.name, subjects=[f"{self.name}.>"])
        for i in range(0, len(bodies), 500):
            await asyncio.gather(*(js.publish(f"{self.name}.m", b.encode()) for b in bodies[i : i + 500]))
        await nc.close()

    async def _redis(self, bodies: list[str]) -> None:
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS)
        pipe = client.pipeline(transaction=False)
        for body in bodies:
            pipe.xadd(self.name, {"body": body})
        await pipe.execute()
        await client.aclose()

    def cleanup(self) -> None:
        async def drop() -> None:
            if self.kind == "rabbitmq":
                import aio_pika

                async with await aio_pika.connect(RABBIT) as connection:
                    channel = await connection.channel()
                    await channel.queue_delete(self.name)
            elif self.kind == "nats":
                import nats

                nc = await nats.connect(NATS)
                await nc.jetstream().delete_stream(self.name)
                await nc.close()
            else:
                import redis.asyncio as aioredis

                client = aioredis.from_url(REDIS)
                await client.delete(self.name)
                await client.aclose()

        try:
            asyncio.run(drop())
        except Exception:
            pass


PORTS = {"rabbitmq": 5672, "nats": 4222, "redis": 6379}


@pytest.fixture(params=["rabbitmq", "nats", "redis"])
def broker(request):
    require_broker(request.param, PORTS[request.param])
    b = Broker(request.param)
    yield b
    b.cleanup()


def lines(obs, name: str) -> list[str]:
    return obs.lines(name)


def test_5000_messages_into_two_instances_none_lost(tclient, tservice, deploy, obs, broker: Broker) -> None:
    fn = deploy(MESSAGES, log=obs.path("runs"), max_instances=2)
    bodies = [f"{broker.kind}-{i}" for i in range(COUNT)]
    broker.publish(bodies[:10])  # the queue/stream exists before the consumer attaches
    tclient.create_trigger(tservice, fn, "mq", broker.kind, broker.config(), None, None)
    wait_until(lambda: tclient.get_trigger(tservice, fn, "mq").data["status"] == "Running", timeout=15)
    broker.publish(bodies[10:])
    wait_until(lambda: set(lines(obs, "runs")) >= set(bodies), timeout=90, interval=0.2)
    assert len(lines(obs, "runs")) >= COUNT
    trigger = tclient.get_trigger(tservice, fn, "mq").data
    assert trigger["status"] == "Running", trigger


def test_batches_of_messages(tclient, tservice, deploy, obs, broker: Broker) -> None:
    fn = deploy(MESSAGES.replace('"".join', 'str(len(items)) + " " + "".join'), log=obs.path("runs"))
    bodies = [f"b{i}" for i in range(250)]
    broker.publish(bodies)
    tclient.create_trigger(tservice, fn, "mq", broker.kind, broker.config(batchSize=100, batchWindow=0.5), None, None)
    wait_until(lambda: len(lines(obs, "runs")) >= 250, timeout=30)
    sizes = [int(line.split(" ")[0]) for line in lines(obs, "runs") if " " in line]
    assert sorted({line.split(" ")[-1] for line in lines(obs, "runs")}) == sorted(bodies)
    assert max(sizes) == 100 and len(sizes) <= 6  # invocations carried batches of up to 100 messages


def test_kill_9_mid_way_loses_nothing(make_server, code_dir, obs, broker: Broker) -> None:
    node: Server = make_server(None, OPENFC_ASYNC_RETRY_BASE="0.05")
    client = node.client()
    client.create_service("mq")
    client.create_function("mq", "fn", "python3", "index.handler", timeout=30,
                           codeDir=code_dir(index=MESSAGES.format(log=obs.path("runs"))))  # fmt: skip
    client.put_on_demand_config("mq", "LATEST", "fn", 2)
    bodies = [f"k{i}" for i in range(COUNT)]
    broker.publish(bodies)
    client.create_trigger("mq", "fn", "mq", broker.kind, broker.config(), None, None)
    wait_until(lambda: len(lines(obs, "runs")) >= 300, timeout=60, interval=0.05)
    node.kill()
    done_before = len(set(lines(obs, "runs")))
    assert done_before < COUNT, "everything was processed before the kill: nothing was tested"
    node.start()
    wait_until(lambda: set(lines(obs, "runs")) >= set(bodies), timeout=120, interval=0.2)


def test_broker_down_is_a_visible_error_not_a_crash(tclient, tservice, deploy, obs) -> None:
    fn = deploy(MESSAGES, log=obs.path("runs"))
    for kind, url, extra in [("redis", "redis://127.0.0.1:1/0", {"stream": "s"}),
                             ("rabbitmq", "amqp://guest:guest@127.0.0.1:1/", {"queue": "q"}),
                             ("nats", "nats://127.0.0.1:1", {"stream": "S"})]:  # fmt: skip
        tclient.create_trigger(tservice, fn, kind, kind, {"brokerUrl": url, **extra}, None, None)

    def all_failing() -> bool:
        triggers = tclient.list_triggers(tservice, fn).data["triggers"]
        return all(t["status"] == "Error" and t["lastError"] for t in triggers)

    wait_until(all_failing, timeout=20)
    tclient.update_trigger(tservice, fn, "redis", triggerConfig={"enable": False})
    assert tclient.get_trigger(tservice, fn, "redis").data["status"] == "Stopped"
    assert tclient.get_account_settings().data  # the node is still serving
