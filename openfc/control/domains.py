"""Custom domains: CRUD (``customdomain`` documents) and routing a Host + path to a function.

A route's ``path`` may hold ``*`` wildcards (``/api/*``, ``/*``); of the routes that match a request,
the longest path wins (an exact path beats a wildcard of the same length).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from openfc.control import validation as v
from openfc.control.registry import LATEST, Page, Registry, render
from openfc.errors import InvalidArgument, NotFound
from openfc.store import JSON, Doc, Store

KIND = "customdomain"
DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)
#: How long a node trusts its cache of domains before re-reading the store (other nodes' changes).
CACHE_TTL = 5.0


@dataclass(frozen=True, slots=True)
class DomainRoute:
    path: str
    service: str
    function: str
    qualifier: str
    methods: tuple[str, ...]
    pattern: re.Pattern[str]

    @property
    def rank(self) -> tuple[int, int]:
        return (len(self.path), -self.path.count("*"))


def compile_route(raw: JSON) -> DomainRoute:
    path = raw["path"]
    pattern = re.compile("^" + ".*".join(re.escape(part) for part in path.split("*")) + "$")
    methods = tuple(m.upper() for m in raw.get("methods") or ())
    return DomainRoute(path, raw["serviceName"], raw["functionName"], raw.get("qualifier") or LATEST, methods, pattern)


class Domains:
    def __init__(self, store: Store, registry: Registry, *, account_id: str) -> None:
        self.store = store
        self.registry = registry
        self.account_id = account_id
        self._cache: dict[str, list[DomainRoute]] = {}
        self._loaded = 0.0

    def render(self, doc: Doc) -> JSON:
        out = render(doc)
        out.pop("_privateKey", None)
        if isinstance(out.get("certConfig"), dict):
            out["certConfig"] = {**out["certConfig"], "privateKey": None}
        return out

    async def get(self, name: str) -> Doc:
        doc = await self.store.get(KIND, name)
        if doc is None:
            raise NotFound("DomainName", name, f"custom domain '{name}' does not exist")
        return doc

    async def create(self, body: JSON) -> Doc:
        fields = v.pick(body, ("domainName", "protocol", "routeConfig", "certConfig", "apiVersion", "tlsConfig",
                               "wafConfig"))  # fmt: skip
        name = fields.get("domainName")
        if not isinstance(name, str) or not DOMAIN_RE.match(name.lower()):
            raise InvalidArgument(f"domainName {name!r} is invalid: use a host name like 'api.example.com'")
        name = name.lower()
        domain: JSON = {"domainName": name, "accountId": self.account_id, "apiVersion": "2016-08-15"}
        domain = self._fields(fields, {**domain, "protocol": "HTTP", "routeConfig": {"routes": []}, "certConfig": None})
        doc = await self.store.create(KIND, name, domain)
        if doc is None:
            raise InvalidArgument(f"custom domain '{name}' already exists", code="DomainNameAlreadyExists")
        self._loaded = 0.0
        return doc

    async def update(self, name: str, body: JSON) -> Doc:
        current = await self.get(name)
        fields = v.pick(body, ("protocol", "routeConfig", "certConfig", "tlsConfig", "wafConfig"))
        doc = await self.store.update(KIND, name, self._fields(fields, dict(current.body)))
        if doc is None:
            raise NotFound("DomainName", name, f"custom domain '{name}' does not exist")
        self._loaded = 0.0
        return doc

    async def delete(self, name: str) -> None:
        if not await self.store.delete(KIND, name):
            raise NotFound("DomainName", name, f"custom domain '{name}' does not exist")
        self._loaded = 0.0

    async def page(self, query: dict[str, str]) -> Page:
        page = await self.registry.page(KIND, "", query)
        for item in page.items:
            if isinstance(item.get("certConfig"), dict):
                item["certConfig"] = {**item["certConfig"], "privateKey": None}
            item.pop("_privateKey", None)
        return page

    def _fields(self, fields: JSON, out: JSON) -> JSON:
        if fields.get("protocol") is not None:
            protocol = fields["protocol"]
            if protocol not in ("HTTP", "HTTPS", "HTTP,HTTPS"):
                raise InvalidArgument(f"protocol must be 'HTTP' or 'HTTP,HTTPS', got {protocol!r}")
            out["protocol"] = protocol
        if fields.get("routeConfig") is not None:
            out["routeConfig"] = _route_config(fields["routeConfig"])
        if fields.get("certConfig") is not None:
            cert = fields["certConfig"]
            if not isinstance(cert, dict):
                raise InvalidArgument("certConfig must be an object {certName, certificate, privateKey}")
            out["certConfig"] = {k: val for k, val in cert.items() if k != "privateKey"}
            out["_privateKey"] = cert.get("privateKey")
        for passthrough in ("tlsConfig", "wafConfig"):
            if fields.get(passthrough) is not None:
                out[passthrough] = fields[passthrough]
        return out

    # -- routing -----------------------------------------------------------------------

    async def routes(self, host: str) -> list[DomainRoute] | None:
        """The routes of the domain named by a ``Host`` header (port ignored), ``None`` if not a domain."""
        if time.monotonic() - self._loaded > CACHE_TTL:
            docs = await self.store.list(KIND, limit=100_000)
            self._cache = {d.key: [compile_route(r) for r in d.body["routeConfig"]["routes"]] for d in docs}
            self._loaded = time.monotonic()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return self._cache.get(name.lower())


def match(routes: list[DomainRoute], path: str) -> DomainRoute | None:
    """The longest route whose path pattern matches ``path``."""
    found = [r for r in routes if r.pattern.match(path)]
    return max(found, key=lambda r: r.rank) if found else None


def _route_config(value: Any) -> JSON:
    if not isinstance(value, dict) or not isinstance(value.get("routes"), list):
        raise InvalidArgument("routeConfig must be {routes: [{path, serviceName, functionName, qualifier, methods}]}")
    for i, route in enumerate(value["routes"]):
        where = f"routeConfig.routes[{i}]"
        if not isinstance(route, dict):
            raise InvalidArgument(f"{where} must be an object")
        path = route.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidArgument(f"{where}.path must start with '/', got {path!r}")
        for field in ("serviceName", "functionName"):
            if not isinstance(route.get(field), str) or not route[field]:
                raise InvalidArgument(f"{where}.{field} is required")
        if route.get("qualifier") is not None and not isinstance(route["qualifier"], str):
            raise InvalidArgument(f"{where}.qualifier must be a string")
        methods = route.get("methods")
        if methods is not None and (not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)):
            raise InvalidArgument(f'{where}.methods must be a list like ["GET", "POST"]')
    return value
