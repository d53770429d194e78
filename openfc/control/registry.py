"""The registry of services, functions and on-demand configs, and what an invocation resolves to."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from openfc.control import code, layers, validation
from openfc.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from openfc.invoke import Target
from openfc.pool.spec import FunctionSpec
from openfc.store import JSON, Doc, Store

LATEST = "LATEST"
DEFAULT_MAX_INSTANCES = 100

SERVICE_FIELDS = (
    "serviceName", "description", "role", "logConfig", "vpcConfig", "nasConfig",
    "internetAccess", "tracingConfig", "ossMountConfig",
)  # fmt: skip
FUNCTION_FIELDS = (
    "functionName", "description", "runtime", "handler", "initializer", "initializationTimeout",
    "memorySize", "timeout", "instanceConcurrency", "environmentVariables", "code", "caPort",
    "customRuntimeConfig", "customContainerConfig", "instanceType", "layers", "cpu", "diskSize",
    "instanceLifecycleConfig", "customDNS", "customHealthCheckConfig",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Page:
    items: list[JSON]
    next_token: str | None


def render(doc: Doc) -> JSON:
    """A document as the API returns it: public fields plus timestamps."""
    out = {k: v for k, v in doc.body.items() if not k.startswith("_")}
    out["createdTime"] = doc.created
    out["lastModifiedTime"] = doc.modified
    return out


def split_qualifier(service: str) -> tuple[str, str]:
    """``svc.prod`` → (``svc``, ``prod``); no qualifier means LATEST."""
    name, _, qualifier = service.partition(".")
    return name, qualifier or LATEST


@dataclass(frozen=True, slots=True)
class Route:
    """Where calls to one ``service.qualifier/function`` go: targets with cumulative weights."""

    choices: tuple[tuple[float, Target], ...]

    def pick(self) -> Target:
        if len(self.choices) == 1:
            return self.choices[0][1]
        draw = random.random()
        for bound, target in self.choices:
            if draw < bound:
                return target
        return self.choices[-1][1]


class Registry:
    def __init__(self, store: Store) -> None:
        from openfc.control.versions import Versions

        self.store = store
        self.versions = Versions(store, self)
        #: Reads code packages from the built-in object storage (set at assembly). (triggers)
        self.read_object: code.ObjectReader | None = None
        self._routes: dict[tuple[str, str, str], Route] = {}

    def changed(self) -> None:
        """Forget cached routes after any write that may change what a call resolves to."""
        self._routes.clear()

    # -- paging ------------------------------------------------------------------------

    async def page(self, kind: str, parent: str, query: dict[str, str]) -> Page:
        limit = validation.limit(query.get("limit"))
        start = query.get("nextToken") or query.get("startKey") or ""
        docs = await self.store.list(
            kind, prefix=parent + query.get("prefix", ""), start=parent + start, limit=limit + 1
        )
        token = docs[limit].key[len(parent) :] if len(docs) > limit else None
        return Page([render(d) for d in docs[:limit]], token)

    # -- services ----------------------------------------------------------------------

    async def service(self, name: str) -> Doc:
        doc = await self.store.get("service", name)
        if doc is None:
            raise NotFound("Service", name)
        return doc

    async def create_service(self, body: JSON) -> Doc:
        fields = validation.pick(body, SERVICE_FIELDS)
        name = validation.name("serviceName", fields.get("serviceName"))
        service = _service_body(fields, {"serviceName": name, "serviceId": str(uuid.uuid4())})
        doc = await self.store.create("service", name, service)
        if doc is None:
            raise AlreadyExists("Service", name)
        return doc

    async def update_service(self, name: str, body: JSON, if_match: str | None) -> Doc:
        current = await self.service(name)
        fields = validation.pick(body, SERVICE_FIELDS)
        fields.pop("serviceName", None)
        doc = await self.store.update("service", name, _service_body(fields, current.body), if_match=if_match)
        if doc is None:
            raise NotFound("Service", name)
        self.changed()
        return doc

    async def delete_service(self, name: str, if_match: str | None) -> None:
        await self.service(name)
        if await self.store.list("function", prefix=name + "/", limit=1):
            raise Conflict(f"service '{name}' still has functions: delete them first", code="ServiceNotEmpty")
        if not await self.store.delete("service", name, if_match=if_match):
            raise NotFound("Service", name)
        for kind in ("version", "fnversion", "alias"):
            await self.store.delete_prefix(kind, name + "/")
        await self.store.delete("versioncounter", name)
        self.changed()

    async def list_services(self, query: dict[str, str]) -> Page:
        return await self.page("service", "", query)

    async def check_qualifier(self, service: str, qualifier: str) -> None:
        """404 VersionNotFound / AliasNotFound unless ``qualifier`` is LATEST or exists."""
        if qualifier == LATEST:
            return
        if qualifier.isdigit():
            await self.versions.version(service, qualifier)
        else:
            await self.versions.alias(service, qualifier)

    # -- functions ---------------------------------------------------------------------

    async def function(self, service: str, name: str) -> Doc:
        await self.service(service)
        doc = await self.store.get("function", f"{service}/{name}")
        if doc is None:
            raise NotFound("Function", name, f"function '{name}' does not exist in service '{service}'")
        return doc

    async def function_as_of(self, service: str, qualifier: str, name: str) -> Doc:
        """The function as ``qualifier`` sees it: LATEST, a version's snapshot, or an alias's version."""
        if qualifier == LATEST:
            return await self.function(service, name)
        await self.service(service)
        if not qualifier.isdigit():
            qualifier = (await self.versions.alias(service, qualifier)).body["versionId"]
        return await self.versions.function_at(service, qualifier, name)

    async def create_function(self, service: str, body: JSON) -> Doc:
        await self.service(service)
        fields = validation.pick(body, FUNCTION_FIELDS)
        name = validation.name("functionName", fields.get("functionName"), max_len=64)
        if "code" not in fields:
            raise InvalidArgument('code is required: {"zipFile": "<base64 zip>"}')
        defaults: JSON = {
            "functionName": name,
            "functionId": str(uuid.uuid4()),
            "description": "",
            "memorySize": 128,
            "timeout": 3,
            "initializationTimeout": 3,
            "instanceConcurrency": 1,
            "environmentVariables": {},
            "instanceType": "e1",
            "layers": [],
            "caPort": 9000,
        }
        function = await self._function_body(fields, defaults)
        doc = await self.store.create("function", f"{service}/{name}", function)
        if doc is None:
            raise AlreadyExists("Function", name)
        return doc

    async def update_function(self, service: str, name: str, body: JSON, if_match: str | None) -> Doc:
        current = await self.function(service, name)
        fields = validation.pick(body, FUNCTION_FIELDS)
        fields.pop("functionName", None)
        function = await self._function_body(fields, dict(current.body))
        doc = await self.store.update("function", f"{service}/{name}", function, if_match=if_match)
        if doc is None:
            raise NotFound("Function", name)
        self.changed()
        return doc

    async def delete_function(self, service: str, name: str, if_match: str | None) -> None:
        await self.function(service, name)
        if not await self.store.delete("function", f"{service}/{name}", if_match=if_match):
            raise NotFound("Function", name)
        for config in await self.store.list("ondemand", prefix=f"services/{service}.", limit=10000):
            if config.key.endswith(f"/functions/{name}"):
                await self.store.delete("ondemand", config.key)
        self.changed()

    async def list_functions(self, service: str, qualifier: str, query: dict[str, str]) -> Page:
        await self.service(service)
        if qualifier == LATEST:
            return await self.page("function", service + "/", query)
        if not qualifier.isdigit():
            qualifier = (await self.versions.alias(service, qualifier)).body["versionId"]
        await self.versions.version(service, qualifier)
        return await self.page("fnversion", f"{service}/{qualifier}/", query)

    async def function_code(self, service: str, qualifier: str, name: str) -> tuple[str, str]:
        """(blob digest, FC checksum) of the function's code package."""
        body = (await self.function_as_of(service, qualifier, name)).body
        return body["_codeDigest"], body["codeChecksum"]

    async def _function_body(self, fields: JSON, base: JSON) -> JSON:
        out = dict(base)
        if "runtime" in fields or "runtime" not in out:
            out["runtime"] = validation.runtime(fields.get("runtime"))
        rt = out["runtime"]
        if "handler" in fields or "handler" not in out:
            out["handler"] = validation.handler("handler", fields.get("handler"), rt)
        if fields.get("initializer"):
            out["initializer"] = validation.handler("initializer", fields["initializer"], rt)
        elif "initializer" in fields:
            out.pop("initializer", None)
        if "description" in fields:
            out["description"] = validation.string("description", fields["description"]) or ""
        ranges = {
            "memorySize": (128, 32768, 64),
            "timeout": (1, 86400, 1),
            "initializationTimeout": (1, 300, 1),
            "instanceConcurrency": (1, 200, 1),
            "caPort": (1, 65535, 1),
        }
        for field, (low, high, step) in ranges.items():
            if fields.get(field) is not None:
                out[field] = validation.integer(field, fields[field], low, high, step=step)
        if fields.get("environmentVariables") is not None:
            out["environmentVariables"] = validation.environment(fields["environmentVariables"])
        if fields.get("customRuntimeConfig") is not None:
            out["customRuntimeConfig"] = _custom_runtime_config(fields["customRuntimeConfig"])
        if fields.get("customContainerConfig") is not None:
            raise InvalidArgument(
                "customContainerConfig is not supported: use runtime 'custom' with customRuntimeConfig"
            )
        passthrough_fields = (
            "instanceType", "cpu", "diskSize", "instanceLifecycleConfig", "customDNS", "customHealthCheckConfig",
        )  # fmt: skip
        for passthrough in passthrough_fields:
            if fields.get(passthrough) is not None:
                out[passthrough] = fields[passthrough]
        if "layers" in fields:  # -- layers (openfc.control.layers): ARNs + their blob digests, in order --
            out["layers"], out["_layerDigests"] = await layers.resolve(self.store, fields["layers"], rt)
        if "code" in fields:
            package = fields["code"]
            if not isinstance(package, dict):
                raise InvalidArgument('code must be an object: {"zipFile": "<base64 zip>"}')
            package = validation.pick(package, ("zipFile", "ossBucketName", "ossObjectName"))
            data = await code.load_package("code", package, self.read_object)  # zipFile or object storage
            out["_codeDigest"] = await self.store.put_blob(data)
            out["codeChecksum"] = code.checksum(data)
            out["codeSize"] = len(data)
        return out

    # -- on-demand config --------------------------------------------------------------

    @staticmethod
    def _resource(service: str, qualifier: str, function: str) -> str:
        return f"services/{service}.{qualifier}/functions/{function}"

    async def put_on_demand(self, service: str, qualifier: str, function: str, body: JSON) -> Doc:
        await self.function(service, function)
        await self.check_qualifier(service, qualifier)
        fields = validation.pick(body, ("maximumInstanceCount",))
        count = validation.integer("maximumInstanceCount", fields.get("maximumInstanceCount"), 0, 10000)
        resource = self._resource(service, qualifier, function)
        doc = await self.store.put("ondemand", resource, {"resource": resource, "maximumInstanceCount": count})
        self.changed()
        return doc

    async def on_demand(self, service: str, qualifier: str, function: str) -> Doc:
        resource = self._resource(service, qualifier, function)
        doc = await self.store.get("ondemand", resource)
        if doc is None:
            raise NotFound("OnDemandConfig", resource, f"no on-demand config for '{resource}'")
        return doc

    async def delete_on_demand(self, service: str, qualifier: str, function: str) -> None:
        resource = self._resource(service, qualifier, function)
        if not await self.store.delete("ondemand", resource):
            raise NotFound("OnDemandConfig", resource, f"no on-demand config for '{resource}'")
        self.changed()

    async def list_on_demand(self, query: dict[str, str]) -> Page:
        return await self.page("ondemand", "", query)

    # -- invocation --------------------------------------------------------------------

    async def resolve(self, service: str, qualifier: str, function: str) -> Target:
        """The spec and limits this call to ``service.qualifier/function`` runs with.

        An alias with ``additionalVersionWeight`` picks a version per call by weight.
        """
        key = (service, qualifier, function)
        route = self._routes.get(key)
        if route is None:
            route = await self._route(service, qualifier, function)
            self._routes[key] = route
        return route.pick()

    async def _route(self, service: str, qualifier: str, function: str) -> Route:
        config = await self.store.get("ondemand", self._resource(service, qualifier, function))
        limit = config.body["maximumInstanceCount"] if config else DEFAULT_MAX_INSTANCES
        if qualifier == LATEST:
            doc = await self.function(service, function)
            return Route(((1.0, Target(spec_of(service, LATEST, doc), limit, doc.body["codeChecksum"])),))
        await self.service(service)
        if qualifier.isdigit():
            weights = {qualifier: 1.0}
        else:
            alias = (await self.versions.alias(service, qualifier)).body
            extra = alias["additionalVersionWeight"]
            weights = {alias["versionId"]: max(0.0, 1.0 - sum(extra.values())), **extra}
        choices, bound = [], 0.0
        for version_id, weight in weights.items():
            doc = await self.versions.function_at(service, version_id, function)
            bound += weight
            choices.append((bound, Target(spec_of(service, version_id, doc), limit, doc.body["codeChecksum"])))
        return Route(tuple(choices))


def spec_of(service: str, version_id: str, doc: Doc) -> FunctionSpec:
    body = doc.body
    custom = body.get("customRuntimeConfig") or {}
    return FunctionSpec(
        service=service,
        function=body["functionName"],
        version_id=version_id,
        revision=doc.etag,
        runtime=body["runtime"],
        handler=body["handler"],
        code_checksum=body["_codeDigest"],
        memory_size=body["memorySize"],
        timeout=body["timeout"],
        instance_concurrency=body["instanceConcurrency"],
        initializer=body.get("initializer"),
        initialization_timeout=body["initializationTimeout"],
        environment=body["environmentVariables"],
        ca_port=body.get("caPort", 9000),
        custom_command=tuple(custom.get("command") or ()),
        custom_args=tuple(custom.get("args") or ()),
        layers=tuple(body.get("_layerDigests") or ()),
    )


def _service_body(fields: JSON, base: JSON) -> JSON:
    out: dict[str, Any] = {
        "description": "",
        "role": "",
        "logConfig": {"project": "", "logstore": "", "enableRequestMetrics": False, "enableInstanceMetrics": False},
        "vpcConfig": {"vpcId": "", "vSwitchIds": [], "securityGroupId": ""},
        "nasConfig": {"userId": -1, "groupId": -1, "mountPoints": []},
        "internetAccess": True,
        "tracingConfig": {},
        **base,
    }
    if "description" in fields:
        out["description"] = validation.string("description", fields["description"]) or ""
    if fields.get("role") is not None:
        out["role"] = validation.string("role", fields["role"])
    if fields.get("internetAccess") is not None:
        if not isinstance(fields["internetAccess"], bool):
            raise InvalidArgument("internetAccess must be true or false")
        out["internetAccess"] = fields["internetAccess"]
    for obj in ("logConfig", "vpcConfig", "nasConfig", "tracingConfig", "ossMountConfig"):
        if fields.get(obj) is not None:
            if not isinstance(fields[obj], dict):
                raise InvalidArgument(f"{obj} must be an object")
            out[obj] = fields[obj]
    return out


def _custom_runtime_config(value: Any) -> JSON:
    if not isinstance(value, dict):
        raise InvalidArgument("customRuntimeConfig must be an object {command: [...], args: [...]}")
    fields = validation.pick(value, ("command", "args"))
    return {
        "command": validation.string_list("customRuntimeConfig.command", fields.get("command", [])),
        "args": validation.string_list("customRuntimeConfig.args", fields.get("args", [])),
    }
