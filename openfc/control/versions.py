"""Service versions (immutable snapshots of every function) and aliases with weighted routing."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from openfc.control import validation
from openfc.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PreconditionFailed
from openfc.store import JSON, Doc, Store

if TYPE_CHECKING:
    from openfc.control.registry import Page, Registry


def version_key(service: str, version_id: str) -> str:
    return f"{service}/{int(version_id):010d}"


class Versions:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry

    # -- versions ----------------------------------------------------------------------

    async def publish(self, service: str, body: JSON, if_match: str | None) -> Doc:
        """Snapshot every function of ``service`` as the next version (ids 1, 2, 3, ...)."""
        current = await self.registry.service(service)
        if if_match is not None and if_match.strip('"') != current.etag:
            raise PreconditionFailed(f"etag mismatch: If-Match '{if_match}' but the service etag is '{current.etag}'")
        description = validation.string("description", validation.pick(body, ("description",)).get("description"))
        for _ in range(20):  # optimistic increment of the service's version counter
            counter = await self.store.get("versioncounter", service)
            last = counter.body["last"] if counter else 0
            version_id = str(last + 1)
            if counter is None:
                taken = await self.store.create("versioncounter", service, {"last": last + 1}) is None
            else:
                try:
                    await self.store.update("versioncounter", service, {"last": last + 1}, if_match=counter.etag)
                    taken = False
                except PreconditionFailed:
                    taken = True
            if not taken:
                break
        else:
            raise Conflict(f"could not publish a version of '{service}': too many concurrent publishes")
        functions = await self.store.list("function", prefix=service + "/", limit=100_000)
        for function in functions:
            name = function.body["functionName"]
            await self.store.put("fnversion", f"{service}/{version_id}/{name}", function.body)
        doc = await self.store.create(
            "version", version_key(service, version_id), {"versionId": version_id, "description": description or ""}
        )
        assert doc is not None
        self.registry.changed()
        return doc

    async def list(self, service: str, query: dict[str, str]) -> tuple[list[JSON], str | None]:
        await self.registry.service(service)
        direction = query.get("direction", "BACKWARD")
        if direction not in ("BACKWARD", "FORWARD"):
            raise InvalidArgument(f"direction must be BACKWARD or FORWARD, got '{direction}'")
        limit = validation.limit(query.get("limit"))
        docs = await self.store.list("version", prefix=service + "/", limit=100_000)
        items = [(int(d.body["versionId"]), d) for d in docs]
        start = query.get("nextToken") or query.get("startKey")
        if direction == "BACKWARD":
            items.reverse()
        if start:
            if not start.isdigit():
                raise InvalidArgument(f"nextToken/startKey must be a version id, got '{start}'")
            bound = int(start)
            items = [(v, d) for v, d in items if (v <= bound if direction == "BACKWARD" else v >= bound)]
        page = items[:limit]
        token = str(items[limit][0]) if len(items) > limit else None
        from openfc.control.registry import render

        return [render(d) for _, d in page], token

    async def version(self, service: str, version_id: str) -> Doc:
        doc = None
        if version_id.isdigit():
            doc = await self.store.get("version", version_key(service, version_id))
        if doc is None:
            raise NotFound("Version", version_id, f"version '{version_id}' of service '{service}' does not exist")
        return doc

    async def delete(self, service: str, version_id: str) -> None:
        await self.registry.service(service)
        await self.version(service, version_id)
        for alias in await self.store.list("alias", prefix=service + "/", limit=100_000):
            if version_id == alias.body["versionId"] or version_id in alias.body["additionalVersionWeight"]:
                raise Conflict(
                    f"version '{version_id}' is used by alias '{alias.body['aliasName']}': "
                    "point the alias elsewhere or delete it first",
                    code="VersionInUse",
                )
        await self.store.delete("version", version_key(service, version_id))
        await self.store.delete_prefix("fnversion", f"{service}/{version_id}/")
        self.registry.changed()

    async def function_at(self, service: str, version_id: str, function: str) -> Doc:
        await self.version(service, version_id)
        doc = await self.store.get("fnversion", f"{service}/{version_id}/{function}")
        if doc is None:
            raise NotFound("Function", function, f"function '{function}' does not exist in version '{version_id}'")
        return doc

    # -- aliases -----------------------------------------------------------------------

    async def alias(self, service: str, name: str) -> Doc:
        doc = await self.store.get("alias", f"{service}/{name}")
        if doc is None:
            raise NotFound("Alias", name, f"alias '{name}' of service '{service}' does not exist")
        return doc

    async def create_alias(self, service: str, body: JSON) -> Doc:
        await self.registry.service(service)
        fields = validation.pick(body, ("aliasName", "versionId", "description", "additionalVersionWeight"))
        name = validation.name("aliasName", fields.get("aliasName"))
        if name == "LATEST":
            raise InvalidArgument("aliasName 'LATEST' is reserved for the mutable head")
        alias = await self._alias_body(service, fields, {"aliasName": name, "description": ""})
        doc = await self.store.create("alias", f"{service}/{name}", alias)
        if doc is None:
            raise AlreadyExists("Alias", name)
        return doc

    async def update_alias(self, service: str, name: str, body: JSON, if_match: str | None) -> Doc:
        current = await self.alias(service, name)
        fields = validation.pick(body, ("versionId", "description", "additionalVersionWeight"))
        alias = await self._alias_body(service, fields, dict(current.body))
        doc = await self.store.update("alias", f"{service}/{name}", alias, if_match=if_match)
        if doc is None:
            raise NotFound("Alias", name)
        self.registry.changed()
        return doc

    async def delete_alias(self, service: str, name: str, if_match: str | None) -> None:
        await self.alias(service, name)
        if not await self.store.delete("alias", f"{service}/{name}", if_match=if_match):
            raise NotFound("Alias", name)
        self.registry.changed()

    async def list_aliases(self, service: str, query: dict[str, str]) -> Page:
        await self.registry.service(service)
        return await self.registry.page("alias", service + "/", query)

    async def _alias_body(self, service: str, fields: JSON, base: JSON) -> JSON:
        out = dict(base)
        if "versionId" in fields or "versionId" not in out:
            version_id = str(fields.get("versionId") or "")
            if not version_id:
                raise InvalidArgument("versionId is required: the version the alias points at")
            await self.version(service, version_id)
            out["versionId"] = version_id
        if "description" in fields:
            out["description"] = validation.string("description", fields["description"]) or ""
        if "additionalVersionWeight" in fields or "additionalVersionWeight" not in out:
            out["additionalVersionWeight"] = await self._weights(service, fields.get("additionalVersionWeight"))
        if out["versionId"] in out["additionalVersionWeight"]:
            raise InvalidArgument(
                f"additionalVersionWeight names version '{out['versionId']}', which is already the alias's versionId"
            )
        return out

    async def _weights(self, service: str, value: Any) -> dict[str, float]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise InvalidArgument('additionalVersionWeight must be an object like {"3": 0.1}')
        weights: dict[str, float] = {}
        for version_id, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
                raise InvalidArgument(f"additionalVersionWeight['{version_id}'] must be a number from 0 to 1")
            await self.version(service, str(version_id))
            weights[str(version_id)] = float(weight)
        if math.fsum(weights.values()) > 1:
            raise InvalidArgument("additionalVersionWeight weights add up to more than 1")
        return weights
