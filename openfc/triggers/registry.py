"""Trigger CRUD (``create/get/update/list/delete_trigger``), validated, kept as ``trigger`` documents.

Keys are ``{service}/{function}/{trigger}``. Components that act on triggers (timer scheduler,
OSS matcher, broker consumers) subscribe with ``listen`` and are told of every change.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from openfc.control import LATEST, Page, Registry, render
from openfc.control import validation as v
from openfc.errors import AlreadyExists, InvalidArgument, NotFound
from openfc.store import JSON, Doc, Store
from openfc.triggers import config

log = logging.getLogger("openfc.triggers")

KIND = "trigger"
FIELDS = ("triggerName", "description", "triggerType", "triggerConfig", "sourceArn", "invocationRole", "qualifier")
#: Called after a trigger is created/updated (its document) or deleted (``None``), with its key.
Listener = Callable[[str, Doc | None], Awaitable[None]]


def trigger_key(service: str, function: str, trigger: str) -> str:
    return f"{service}/{function}/{trigger}"


def split_key(key: str) -> tuple[str, str, str]:
    service, function, trigger = key.split("/", 2)
    return service, function, trigger


class Triggers:
    def __init__(self, store: Store, registry: Registry, *, public_url: str) -> None:
        """``public_url``: where this node's FC API is reached (for HTTP triggers' ``urlInternet``)."""
        self.store = store
        self.registry = registry
        self.public_url = public_url.rstrip("/")
        self._listeners: list[Listener] = []
        #: Runtime state of broker triggers on this node: ``{key: {"status", "lastError"}}``.
        self.status: dict[str, JSON] = {}

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def announce(self, key: str, doc: Doc | None) -> None:
        """A change made on another node (cluster): apply it here through the listeners."""
        await self._changed(key, doc)

    async def _changed(self, key: str, doc: Doc | None) -> None:
        for listener in self._listeners:
            try:
                await listener(key, doc)
            except Exception:
                log.exception("trigger %s: a listener failed to apply the change", key)

    def render(self, doc: Doc) -> JSON:
        out = render(doc)
        if doc.body["triggerType"] in config.BROKER_TYPES:
            state = self.status.get(doc.key, {})
            out["status"] = state.get("status", "Stopped" if not doc.body["triggerConfig"]["enable"] else "Pending")
            out["lastError"] = state.get("lastError", "")
        return out

    async def get(self, service: str, function: str, name: str) -> Doc:
        await self.registry.function(service, function)
        doc = await self.store.get(KIND, trigger_key(service, function, name))
        if doc is None:
            raise NotFound("Trigger", name, f"trigger '{name}' does not exist for function '{service}/{function}'")
        return doc

    async def create(self, service: str, function: str, body: JSON) -> Doc:
        await self.registry.function(service, function)
        fields = v.pick(body, FIELDS)
        name = v.name("triggerName", fields.get("triggerName"))
        kind = v.string("triggerType", fields.get("triggerType"), optional=False)
        assert kind is not None
        source_arn = v.string("sourceArn", fields.get("sourceArn"))
        trigger: JSON = {
            "triggerName": name,
            "triggerId": str(uuid.uuid4()),
            "triggerType": kind,
            "description": v.string("description", fields.get("description")) or "",
            "sourceArn": source_arn or None,
            "invocationRole": v.string("invocationRole", fields.get("invocationRole")) or "",
            "qualifier": await self._qualifier(service, fields.get("qualifier")),
            "triggerConfig": config.validate(kind, fields.get("triggerConfig"), source_arn),
        }
        self._urls(service, function, trigger)
        doc = await self.store.create(KIND, trigger_key(service, function, name), trigger)
        if doc is None:
            raise AlreadyExists("Trigger", name)
        await self._changed(doc.key, doc)
        return doc

    async def update(self, service: str, function: str, name: str, body: JSON, if_match: str | None) -> Doc:
        current = await self.get(service, function, name)
        fields = v.pick(body, FIELDS)
        trigger = dict(current.body)
        for immutable in ("triggerType", "sourceArn", "triggerName"):
            if fields.get(immutable) not in (None, "", trigger.get(immutable)):
                raise InvalidArgument(f"{immutable} of a trigger cannot change: delete and create it again")
        if fields.get("description") is not None:
            trigger["description"] = v.string("description", fields["description"]) or ""
        if fields.get("invocationRole") is not None:
            trigger["invocationRole"] = v.string("invocationRole", fields["invocationRole"]) or ""
        if fields.get("qualifier"):
            trigger["qualifier"] = await self._qualifier(service, fields["qualifier"])
        if fields.get("triggerConfig") is not None:
            raw = fields["triggerConfig"]
            if isinstance(raw, dict) and trigger["triggerType"] in ("timer", *config.BROKER_TYPES):
                raw = {**trigger["triggerConfig"], **raw}  # e.g. {"enable": false} alone
            trigger["triggerConfig"] = config.validate(trigger["triggerType"], raw, trigger.get("sourceArn"))
        self._urls(service, function, trigger)
        doc = await self.store.update(KIND, current.key, trigger, if_match=if_match)
        if doc is None:
            raise NotFound("Trigger", name)
        await self._changed(doc.key, doc)
        return doc

    async def delete(self, service: str, function: str, name: str, if_match: str | None) -> None:
        current = await self.get(service, function, name)
        if not await self.store.delete(KIND, current.key, if_match=if_match):
            raise NotFound("Trigger", name)
        self.status.pop(current.key, None)
        await self._changed(current.key, None)

    async def delete_function(self, service: str, function: str) -> None:
        """Drop (and stop) every trigger of a deleted function."""
        for doc in await self.of_function(service, function):
            await self.store.delete(KIND, doc.key)
            self.status.pop(doc.key, None)
            await self._changed(doc.key, None)

    async def page(self, service: str, function: str, query: dict[str, str]) -> Page:
        await self.registry.function(service, function)
        parent = f"{service}/{function}/"
        limit = v.limit(query.get("limit"))
        start = query.get("nextToken") or query.get("startKey") or ""
        prefix = parent + query.get("prefix", "")
        docs = await self.store.list(KIND, prefix=prefix, start=parent + start, limit=limit + 1)
        token = docs[limit].key[len(parent) :] if len(docs) > limit else None
        return Page([self.render(d) for d in docs[:limit]], token)

    async def all(self) -> list[Doc]:
        """Every trigger of every function (node start)."""
        docs: list[Doc] = []
        start = ""
        while True:
            batch = await self.store.list(KIND, start=start, limit=1000)
            docs.extend(batch)
            if len(batch) < 1000:
                return docs
            start = batch[-1].key + "\0"

    async def of_function(self, service: str, function: str) -> list[Doc]:
        return await self.store.list(KIND, prefix=f"{service}/{function}/", limit=10_000)

    async def _qualifier(self, service: str, value: Any) -> str:
        qualifier = v.string("qualifier", value) or LATEST
        await self.registry.check_qualifier(service, qualifier)
        return qualifier

    def _urls(self, service: str, function: str, trigger: JSON) -> None:
        if trigger["triggerType"] == "http":
            url = f"{self.public_url}/2016-08-15/proxy/{service}.{trigger['qualifier']}/{function}/"
            trigger["urlInternet"] = url
            trigger["urlIntranet"] = url
