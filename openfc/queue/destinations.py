"""Async invocation destinations: parse and validate them, shape the event, deliver it to brokers.

Accepted forms (``destinationConfig.onSuccess/onFailure.destination``):

- FC function ARN ``acs:fc:{region}:{account}:services/{service}.{qualifier}/functions/{function}``
  (region/account may be empty; no qualifier means LATEST): the event is enqueued as an async
  call of that function, in the same transaction that settles the source event.
- RabbitMQ ``amqp[s]://user:pass@host:port/{vhost}/{queue}`` (vhost percent-encoded, ``%2F`` for
  ``/``; ``amqp://host/{queue}`` uses vhost ``/``): published persistent and ``mandatory`` to the
  default exchange with routing key ``{queue}`` — the queue must exist, else delivery is retried.
- NATS JetStream ``nats://[user:pass@]host:port/{subject}``: published with ``Nats-Msg-Id`` set,
  so a JetStream stream must capture ``{subject}`` (duplicates within its window are dropped).
- Redis Stream ``redis[s]://[user:pass@]host:port/{db}/{stream}`` (or ``…/{stream}`` for db 0):
  ``XADD {stream} * event <json> requestId <id>``.

Broker deliveries are queue events too: retried with system-error backoff for up to a day, then
dead-lettered under the source function.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from openfc.errors import InvalidArgument
from openfc.queue.policy import FunctionRef

#: Seconds one broker publish may take before it counts as a failed delivery.
DELIVERY_TIMEOUT = 10.0
BROKER_SCHEMES = ("amqp", "amqps", "nats", "tls", "redis", "rediss")


@dataclass(frozen=True, slots=True)
class Destination:
    """A parsed destination: ``function`` for FC ARNs, else broker ``connection`` URL + ``name``."""

    url: str
    scheme: str
    function: FunctionRef | None = None
    connection: str = ""
    name: str = ""  #: queue, subject or stream


def parse_destination(value: Any, field: str = "destination") -> Destination:
    """Validate a destination string; ``InvalidArgument`` names ``field`` and the forms accepted."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{field} must be a non-empty string")
    value = value.strip()
    if value.startswith("acs:"):
        return _parse_arn(value, field)
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in BROKER_SCHEMES or not parts.hostname:
        raise InvalidArgument(
            f"{field} '{value}' is not supported: use an FC function ARN "
            "'acs:fc:{region}:{account}:services/{service}.{qualifier}/functions/{function}', "
            "'amqp://user:pass@host:5672/%2F/queue', 'nats://host:4222/subject' or 'redis://host:6379/0/stream'"
        )
    netloc = parts.netloc
    segments = [s for s in parts.path.split("/") if s != ""]
    if scheme in ("amqp", "amqps"):
        if len(segments) not in (1, 2):
            raise InvalidArgument(f"{field} '{value}' must be amqp://user:pass@host:port/{{vhost}}/{{queue}}")
        vhost = unquote(segments[0]) if len(segments) == 2 else "/"
        return Destination(value, "amqp", connection=f"{scheme}://{netloc}/{quote(vhost, safe='')}",
                           name=unquote(segments[-1]))  # fmt: skip
    if scheme in ("nats", "tls"):
        if len(segments) != 1:
            raise InvalidArgument(f"{field} '{value}' must be nats://host:port/{{subject}}")
        return Destination(value, "nats", connection=f"{scheme}://{netloc}", name=unquote(segments[0]))
    if len(segments) not in (1, 2) or (len(segments) == 2 and not segments[0].isdigit()):
        raise InvalidArgument(f"{field} '{value}' must be redis://host:port/{{db}}/{{stream}}")
    db = segments[0] if len(segments) == 2 else "0"
    return Destination(value, "redis", connection=f"{scheme}://{netloc}/{db}", name=unquote(segments[-1]))


def _parse_arn(value: str, field: str) -> Destination:
    parts = value.split(":", 4)
    if len(parts) != 5 or parts[1] != "fc":
        raise InvalidArgument(
            f"{field} '{value}' is not supported: only FC function ARNs "
            "'acs:fc:{region}:{account}:services/{service}.{qualifier}/functions/{function}' and amqp://, nats://, "
            "redis:// URLs are destinations here (MNS, EventBridge and RocketMQ are not available)"
        )
    resource = parts[4]
    head, sep, function = resource.removeprefix("services/").partition("/functions/")
    service, _, qualifier = head.partition(".")
    if not resource.startswith("services/") or not sep or not service or not function or "/" in function:
        raise InvalidArgument(
            f"{field} '{value}' is not a function ARN: 'acs:fc:{{region}}:{{account}}:services/"
            "{service}.{qualifier}/functions/{function}'"
        )
    return Destination(value, "fc", function=FunctionRef(service, qualifier or "LATEST", function))


def destination_event(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    invoke_count: int,
    request_payload: bytes,
    response_payload: bytes,
    function_error: str,
    status_code: int = 200,
) -> bytes:
    """The JSON FC sends to a destination (camelCase; payloads as UTF-8 text)."""
    event = {
        "timestamp": int(time.time() * 1000),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "requestPayload": request_payload.decode("utf-8", "replace"),
        "responseContext": {"statusCode": status_code, "functionError": function_error},
        "responsePayload": response_payload.decode("utf-8", "replace"),
    }
    return json.dumps(event).encode()


class Deliverer:
    """Publishes destination events to brokers, keeping one connection per broker URL."""

    def __init__(self) -> None:
        self._connections: dict[str, Any] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def deliver(self, url: str, body: bytes, message_id: str) -> None:
        """Publish ``body`` to the broker destination ``url``; raises on any failure (retried)."""
        dest = parse_destination(url)
        try:
            await asyncio.wait_for(self._publish(dest, body, message_id), DELIVERY_TIMEOUT)
        except BaseException:
            await self._drop(dest.connection)
            raise

    async def _connection(self, dest: Destination) -> Any:
        lock = self._locks.setdefault(dest.connection, asyncio.Lock())
        async with lock:
            conn = self._connections.get(dest.connection)
            if conn is None:
                conn = await self._connect(dest)
                self._connections[dest.connection] = conn
            return conn

    async def _connect(self, dest: Destination) -> Any:
        if dest.scheme == "amqp":
            import aio_pika

            connection = await aio_pika.connect(dest.connection)
            channel = await connection.channel(publisher_confirms=True)
            return (connection, channel)
        if dest.scheme == "nats":
            import nats

            nc = await nats.connect(servers=[dest.connection], allow_reconnect=False, connect_timeout=5)
            return (nc, nc.jetstream())
        import redis.asyncio

        return redis.asyncio.Redis.from_url(dest.connection)

    async def _publish(self, dest: Destination, body: bytes, message_id: str) -> None:
        conn = await self._connection(dest)
        if dest.scheme == "amqp":
            import aio_pika

            _, channel = conn
            message = aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id,
            )
            await channel.default_exchange.publish(message, routing_key=dest.name, mandatory=True)
        elif dest.scheme == "nats":
            _, js = conn
            await js.publish(dest.name, body, headers={"Nats-Msg-Id": message_id})
        else:
            await conn.xadd(dest.name, {"event": body, "requestId": message_id})

    async def _drop(self, key: str) -> None:
        conn = self._connections.pop(key, None)
        if conn is not None:
            await _close(conn)

    async def close(self) -> None:
        for key in list(self._connections):
            await self._drop(key)


async def _close(conn: Any) -> None:
    try:
        if isinstance(conn, tuple):
            closer = conn[0].close()
        else:
            closer = conn.aclose()
        await asyncio.wait_for(closer, 5)
    except Exception:  # closing a broken connection is best effort
        pass
