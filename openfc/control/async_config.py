"""Async invoke configs: per ``service.qualifier/function`` retry count, event age, destinations, stateful.

Stored as documents of kind ``asyncconfig`` under ``services/{s}.{q}/functions/{f}`` and cached
in memory for the invoke path and the dispatcher (this node's writes invalidate the cache).
"""

from __future__ import annotations

from typing import Any

from openfc.control import validation
from openfc.control.registry import Page, Registry, render
from openfc.errors import InvalidArgument, NotFound
from openfc.queue import AsyncPolicy, FunctionRef, parse_destination
from openfc.queue.policy import DEFAULT_MAX_AGE, DEFAULT_MAX_RETRIES
from openfc.store import JSON, Doc, Store

KIND = "asyncconfig"
FIELDS = ("destinationConfig", "maxAsyncEventAgeInSeconds", "maxAsyncRetryAttempts", "statefulInvocation")
MAX_RETRIES = 8
MAX_AGE = 2592000


class AsyncConfigs:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self._policies: dict[str, AsyncPolicy] = {}

    async def put(self, service: str, qualifier: str, function: str, body: JSON) -> Doc:
        await self.registry.function(service, function)
        await self.registry.check_qualifier(service, qualifier)
        ref = FunctionRef(service, qualifier, function)
        config = validate(body)
        doc = await self.store.put(KIND, ref.target, {"service": service, "function": function,
                                                      "qualifier": qualifier, **config})  # fmt: skip
        self._policies.pop(ref.target, None)
        return doc

    async def get(self, service: str, qualifier: str, function: str) -> Doc:
        target = FunctionRef(service, qualifier, function).target
        doc = await self.store.get(KIND, target)
        if doc is None:
            raise NotFound("AsyncConfig", target, f"no async invoke config for '{target}'")
        return doc

    async def delete(self, service: str, qualifier: str, function: str) -> None:
        target = FunctionRef(service, qualifier, function).target
        self._policies.pop(target, None)
        if not await self.store.delete(KIND, target):
            raise NotFound("AsyncConfig", target, f"no async invoke config for '{target}'")

    async def list(self, service: str, function: str, query: dict[str, str]) -> Page:
        """Every qualifier's config of ``service/function``; ``nextToken`` is a target key."""
        await self.registry.function(service, function)
        limit = _limit(query.get("limit"))
        start = query.get("nextToken") or ""
        docs = [
            d
            for d in await self.store.list(KIND, prefix=f"services/{service}.", start=start, limit=10000)
            if d.key.endswith(f"/functions/{function}")
        ]
        token = docs[limit].key if len(docs) > limit else None
        return Page([render(d) for d in docs[:limit]], token)

    async def delete_function(self, service: str, function: str) -> None:
        """Drop every qualifier's config of a deleted function."""
        for doc in await self.store.list(KIND, prefix=f"services/{service}.", limit=10000):
            if doc.key.endswith(f"/functions/{function}"):
                self._policies.pop(doc.key, None)
                await self.store.delete(KIND, doc.key)

    def forget(self) -> None:
        """Drop every cached policy (another node changed configs). (cluster)"""
        self._policies.clear()

    async def policy(self, ref: FunctionRef) -> AsyncPolicy:
        """The config a call of ``ref`` runs under (defaults when none is set); cached."""
        policy = self._policies.get(ref.target)
        if policy is None:
            doc = await self.store.get(KIND, ref.target)
            policy = AsyncPolicy() if doc is None else policy_of(doc.body)
            self._policies[ref.target] = policy
        return policy


def validate(body: JSON) -> JSON:
    """The stored config from a request body; each error names its field (400)."""
    fields = validation.pick(body, FIELDS)
    out: JSON = {
        "maxAsyncRetryAttempts": DEFAULT_MAX_RETRIES,
        "maxAsyncEventAgeInSeconds": DEFAULT_MAX_AGE,
        "statefulInvocation": False,
        "destinationConfig": None,
    }
    if fields.get("maxAsyncRetryAttempts") is not None:
        out["maxAsyncRetryAttempts"] = validation.integer(
            "maxAsyncRetryAttempts", fields["maxAsyncRetryAttempts"], 0, MAX_RETRIES
        )
    if fields.get("maxAsyncEventAgeInSeconds") is not None:
        out["maxAsyncEventAgeInSeconds"] = validation.integer(
            "maxAsyncEventAgeInSeconds", fields["maxAsyncEventAgeInSeconds"], 1, MAX_AGE
        )
    if fields.get("statefulInvocation") is not None:
        if not isinstance(fields["statefulInvocation"], bool):
            raise InvalidArgument(f"statefulInvocation must be true or false, got {fields['statefulInvocation']!r}")
        out["statefulInvocation"] = fields["statefulInvocation"]
    if fields.get("destinationConfig") is not None:
        out["destinationConfig"] = _destination_config(fields["destinationConfig"])
    return out


def _destination_config(value: Any) -> JSON:
    if not isinstance(value, dict):
        raise InvalidArgument(
            "destinationConfig must be an object {onSuccess: {destination}, onFailure: {destination}}"
        )
    out: JSON = {}
    for name, given in validation.pick(value, ("onSuccess", "onFailure")).items():
        if given is None:
            continue
        if not isinstance(given, dict):
            raise InvalidArgument(f"destinationConfig.{name} must be an object {{destination: '...'}}")
        field = f"destinationConfig.{name}.destination"
        destination = validation.pick(given, ("destination",)).get("destination")
        if destination is None:
            raise InvalidArgument(f"{field} is required")
        out[name] = {"destination": parse_destination(destination, field).url}
    return out


def policy_of(config: JSON) -> AsyncPolicy:
    destinations = config.get("destinationConfig") or {}
    return AsyncPolicy(
        max_retries=config.get("maxAsyncRetryAttempts", DEFAULT_MAX_RETRIES),
        max_age=config.get("maxAsyncEventAgeInSeconds", DEFAULT_MAX_AGE),
        on_success=(destinations.get("onSuccess") or {}).get("destination"),
        on_failure=(destinations.get("onFailure") or {}).get("destination"),
        stateful=bool(config.get("statefulInvocation", False)),
    )


def _limit(raw: str | None) -> int:
    if not raw:
        return 100
    if not raw.isdigit():
        raise InvalidArgument(f"limit must be an integer between 1 and 1000, got '{raw}'")
    return validation.integer("limit", int(raw), 1, 1000)
