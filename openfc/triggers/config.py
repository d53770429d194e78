"""``triggerConfig`` rules per ``triggerType``: each failure names the field to fix.

FC types: ``timer``, ``http``, ``oss`` (see FC_API.md). openfc extensions, message-queue triggers
on real brokers (one async invocation per message, or per batch)::

    rabbitmq  {"brokerUrl": "amqp://guest:guest@127.0.0.1:5672/", "queue": "q",
               "batchSize": 1, "batchWindow": 0, "enable": true}
    nats      {"brokerUrl": "nats://127.0.0.1:4222", "stream": "S", "subject": "orders.>",
               "consumer": "<durable name, default openfc-{service}-{function}-{trigger}>",
               "batchSize": 1, "batchWindow": 0, "enable": true}
    redis     {"brokerUrl": "redis://127.0.0.1:6379/0", "stream": "events",
               "group": "<consumer group, default openfc-{service}-{function}-{trigger}>",
               "batchSize": 1, "batchWindow": 0, "enable": true}

``batchSize`` (1–1000) messages or ``batchWindow`` seconds (0–60), whichever comes first, make one
invocation. HTTP extensions: ``handlerType`` (``http``, the default: the function is a WSGI app /
custom HTTP server; ``event``: it gets FC's HTTP event JSON), ``rateLimit {requestsPerSecond, burst}``
(token bucket per trigger; 429 + Retry-After), ``maxBodyBytes`` (413 above; default 32 MB), ``cors
{allowOrigins, allowMethods, allowHeaders, exposeHeaders, maxAge, allowCredentials}``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from openfc.errors import InvalidArgument
from openfc.triggers.schedule import parse_schedule

JSON = dict[str, Any]

HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS")
OSS_EVENTS = frozenset(
    {
        "oss:ObjectCreated:*",
        "oss:ObjectCreated:PutObject",
        "oss:ObjectCreated:PostObject",
        "oss:ObjectCreated:CopyObject",
        "oss:ObjectCreated:CompleteMultipartUpload",
        "oss:ObjectCreated:AppendObject",
        "oss:ObjectCreated:PutSymlink",
        "oss:ObjectRemoved:*",
        "oss:ObjectRemoved:DeleteObject",
        "oss:ObjectRemoved:DeleteObjects",
        "oss:ObjectRemoved:AbortMultipartUpload",
    }
)
BROKER_TYPES = ("rabbitmq", "nats", "redis")
TRIGGER_TYPES = ("timer", "http", "oss", *BROKER_TYPES)
UNSUPPORTED_TYPES = ("log", "mns_topic", "cdn_events", "tablestore", "rds", "eventbridge")
#: Default largest request body through an HTTP trigger (FC: 32 MB for sync calls).
DEFAULT_MAX_BODY = 32 * 1024 * 1024
OSS_ARN_RE = re.compile(r"^acs:oss:[^:]*:[^:]*:([a-z0-9]([a-z0-9.\-_]{0,61}[a-z0-9])?)$")


def _pick(value: Any, field: str) -> JSON:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field} must be an object")
    return {k: v for k, v in value.items()}


def _ci(config: JSON, name: str, default: Any = None) -> Any:
    """A config key, matched case-insensitively (FC's Go server does)."""
    for key, value in config.items():
        if key.lower() == name.lower():
            return value
    return default


def _bool(field: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidArgument(f"{field} must be true or false, got {value!r}")
    return value


def _str(field: str, value: Any, *, required: bool = False, default: str = "") -> str:
    if value is None or value == "":
        if required:
            raise InvalidArgument(f"{field} is required")
        return default
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a string, got {value!r}")
    return value


def _number(field: str, value: Any, low: float, high: float, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidArgument(f"{field} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)


def _int(field: str, value: Any, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgument(f"{field} must be an integer from {low} to {high}, got {value!r}")
    return value


def validate(trigger_type: str, raw: Any, source_arn: str | None) -> JSON:
    """The normalised ``triggerConfig`` of a ``trigger_type`` trigger (raises ``InvalidArgument``)."""
    if trigger_type in UNSUPPORTED_TYPES:
        raise InvalidArgument(
            f"triggerType '{trigger_type}' is not supported by openfc: use one of {', '.join(TRIGGER_TYPES)}"
        )
    if trigger_type not in TRIGGER_TYPES:
        raise InvalidArgument(f"triggerType '{trigger_type}' is invalid: use one of {', '.join(TRIGGER_TYPES)}")
    config = _pick(raw if raw is not None else {}, "triggerConfig")
    if trigger_type == "timer":
        return _timer(config)
    if trigger_type == "http":
        return _http(config)
    if trigger_type == "oss":
        oss_bucket(source_arn)
        return _oss(config)
    return _broker(trigger_type, config)


def _timer(config: JSON) -> JSON:
    expression = _str("triggerConfig.cronExpression", _ci(config, "cronExpression"), required=True)
    parse_schedule(expression)  # raises InvalidArgument naming the problem
    payload = _ci(config, "payload")
    if payload is not None and not isinstance(payload, str):
        raise InvalidArgument("triggerConfig.payload must be a string")
    return {
        "cronExpression": expression,
        "enable": _bool("triggerConfig.enable", _ci(config, "enable"), True),
        "payload": payload or "",
    }


def _http(config: JSON) -> JSON:
    auth = _ci(config, "authType")
    if auth not in ("anonymous", "function"):
        raise InvalidArgument(f"triggerConfig.authType must be 'anonymous' or 'function', got {auth!r}")
    methods = _ci(config, "methods")
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        raise InvalidArgument(f'triggerConfig.methods must be a non-empty list like ["GET", "POST"], got {methods!r}')
    upper = [m.upper() for m in methods]
    for method in upper:
        if method not in HTTP_METHODS:
            raise InvalidArgument(f"triggerConfig.methods: '{method}' is not one of {', '.join(HTTP_METHODS)}")
    out: JSON = {"authType": auth, "methods": list(dict.fromkeys(upper))}
    handler_type = _ci(config, "handlerType")
    if handler_type is not None:
        if handler_type not in ("http", "event"):
            raise InvalidArgument(f"triggerConfig.handlerType must be 'http' or 'event', got {handler_type!r}")
        out["handlerType"] = handler_type
    for passthrough in ("authConfig", "disableURLInternet"):
        if _ci(config, passthrough) is not None:
            out[passthrough] = _ci(config, passthrough)
    rate = _ci(config, "rateLimit")
    if rate is not None:
        rate = _pick(rate, "triggerConfig.rateLimit")
        per_second = _number("triggerConfig.rateLimit.requestsPerSecond", _ci(rate, "requestsPerSecond"), 0.001,
                             1e6, 0)  # fmt: skip
        if not per_second:
            raise InvalidArgument("triggerConfig.rateLimit.requestsPerSecond is required (a number > 0)")
        burst = _int("triggerConfig.rateLimit.burst", _ci(rate, "burst"), 1, 1_000_000, max(1, int(per_second)))
        out["rateLimit"] = {"requestsPerSecond": per_second, "burst": burst}
    if _ci(config, "maxBodyBytes") is not None:
        out["maxBodyBytes"] = _int("triggerConfig.maxBodyBytes", _ci(config, "maxBodyBytes"), 0, DEFAULT_MAX_BODY,
                                   DEFAULT_MAX_BODY)  # fmt: skip
    cors = _ci(config, "cors")
    if cors is not None:
        out["cors"] = _cors(_pick(cors, "triggerConfig.cors"))
    return out


def _strings(field: str, value: Any, default: list[str]) -> list[str]:
    if value is None:
        return default
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{field} must be a list of strings")
    return list(value)


def _cors(cors: JSON) -> JSON:
    return {
        "allowOrigins": _strings("triggerConfig.cors.allowOrigins", _ci(cors, "allowOrigins"), ["*"]),
        "allowMethods": [
            m.upper() for m in _strings("triggerConfig.cors.allowMethods", _ci(cors, "allowMethods"), [])
        ],  # fmt: skip
        "allowHeaders": _strings("triggerConfig.cors.allowHeaders", _ci(cors, "allowHeaders"), []),
        "exposeHeaders": _strings("triggerConfig.cors.exposeHeaders", _ci(cors, "exposeHeaders"), []),
        "maxAge": _int("triggerConfig.cors.maxAge", _ci(cors, "maxAge"), 0, 86400, 600),
        "allowCredentials": _bool("triggerConfig.cors.allowCredentials", _ci(cors, "allowCredentials"), False),
    }


def oss_bucket(source_arn: str | None) -> str:
    """The bucket of an OSS trigger's ``sourceArn`` ``acs:oss:{region}:{uid}:{bucket}``."""
    match = OSS_ARN_RE.match(source_arn or "")
    if not match:
        raise InvalidArgument(
            f"sourceArn {source_arn!r} is invalid for an oss trigger: use 'acs:oss:{{region}}:{{uid}}:{{bucket}}'"
        )
    return match.group(1)


def _oss(config: JSON) -> JSON:
    events = _ci(config, "events")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidArgument('triggerConfig.events must be a non-empty list like ["oss:ObjectCreated:*"]')
    for event in events:
        if event not in OSS_EVENTS:
            raise InvalidArgument(
                f"triggerConfig.events: '{event}' is not an OSS event: use e.g. oss:ObjectCreated:*, "
                "oss:ObjectCreated:PutObject, oss:ObjectRemoved:DeleteObject"
            )
    key = _ci(_pick(_ci(config, "filter") or {}, "triggerConfig.filter"), "key") or {}
    key = _pick(key, "triggerConfig.filter.key")
    prefix = _str("triggerConfig.filter.key.prefix", _ci(key, "prefix"))
    suffix = _str("triggerConfig.filter.key.suffix", _ci(key, "suffix"))
    return {"events": list(events), "filter": {"key": {"prefix": prefix, "suffix": suffix}}}


def _broker(kind: str, config: JSON) -> JSON:
    field = "triggerConfig.brokerUrl"
    url = _str(field, _ci(config, "brokerUrl"), required=True)
    schemes = {"rabbitmq": ("amqp", "amqps"), "nats": ("nats", "tls"), "redis": ("redis", "rediss")}[kind]
    if urlsplit(url).scheme not in schemes or not urlsplit(url).hostname:
        raise InvalidArgument(f"{field} {url!r} is invalid for a {kind} trigger: use {schemes[0]}://host:port/...")
    out: JSON = {
        "brokerUrl": url,
        "batchSize": _int("triggerConfig.batchSize", _ci(config, "batchSize"), 1, 1000, 1),
        "batchWindow": _number("triggerConfig.batchWindow", _ci(config, "batchWindow"), 0, 60, 0),
        "enable": _bool("triggerConfig.enable", _ci(config, "enable"), True),
    }
    if kind == "rabbitmq":
        out["queue"] = _str("triggerConfig.queue", _ci(config, "queue"), required=True)
    elif kind == "nats":
        out["stream"] = _str("triggerConfig.stream", _ci(config, "stream"), required=True)
        out["subject"] = _str("triggerConfig.subject", _ci(config, "subject"))
        out["consumer"] = _str("triggerConfig.consumer", _ci(config, "consumer"))
    else:
        out["stream"] = _str("triggerConfig.stream", _ci(config, "stream"), required=True)
        out["group"] = _str("triggerConfig.group", _ci(config, "group"))
    return out
