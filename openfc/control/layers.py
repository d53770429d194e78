"""Layers: versioned, immutable zip packages that functions list (up to 5) and see merged at ``/opt``.

A layer version is a document ``layerversion/<name>/<version:010d>`` whose zip is a content-addressed blob;
versions count 1, 2, 3... per name and are never reused, even after a delete. A function keeps the blob
digests of its layers (``_layerDigests``, in configuration order) next to their ARNs, so deleting a layer
version in use is allowed and leaves the functions that already use it working (new configurations that
name it fail with 400). ARN: ``acs:fc:{region}:{account}:layers/{name}/versions/{version}``.
"""

from __future__ import annotations

import re
from typing import Any

from openfc.control import code, validation
from openfc.errors import Conflict, InvalidArgument, NotFound, PreconditionFailed
from openfc.store import JSON, Doc, Store, now_iso

MAX_LAYERS = 5
ARN_RE = re.compile(r"^acs:fc:([^:]*):([^:]*):layers/([^/]+)/versions/(\d+)$")


def version_key(name: str, version: int) -> str:
    return f"{name}/{version:010d}"


def arn(region: str, account_id: str, name: str, version: int) -> str:
    return f"acs:fc:{region}:{account_id}:layers/{name}/versions/{version}"


def render(doc: Doc) -> JSON:
    return {k: v for k, v in doc.body.items() if not k.startswith("_")}


class Layers:
    """Layer versions in ``store``; ARNs name ``region`` and ``account_id``."""

    def __init__(
        self, store: Store, *, region: str, account_id: str, read_object: code.ObjectReader | None = None
    ) -> None:
        self.store = store
        self.region = region
        self.account_id = account_id
        self.read_object = read_object  #: layer packages from the object storage (ossBucketName/ossObjectName)

    async def publish(self, name: str, body: JSON) -> Doc:
        validation.name("layerName", name, max_len=64)
        fields = validation.pick(body, ("description", "code", "compatibleRuntime"))
        description = validation.string("description", fields.get("description")) or ""
        runtimes = fields.get("compatibleRuntime")
        if not isinstance(runtimes, list) or not runtimes or not all(isinstance(r, str) and r for r in runtimes):
            raise InvalidArgument('compatibleRuntime is required: a list of runtimes, e.g. ["python3.10"]')
        package = fields.get("code")
        if not isinstance(package, dict):
            raise InvalidArgument('code is required: {"zipFile": "<base64 zip>"} or {"ossBucketName", "ossObjectName"}')
        package = validation.pick(package, ("zipFile", "ossBucketName", "ossObjectName"))
        data = await code.load_package("code", package, self.read_object)
        digest = await self.store.put_blob(data)
        version = await self._next_version(name)
        layer = {
            "layerName": name,
            "version": version,
            "description": description,
            "code": {"repositoryType": "Direct", "location": ""},
            "codeSize": len(data),
            "codeChecksum": code.checksum(data),
            "createTime": now_iso(),
            "acl": 0,
            "compatibleRuntime": list(runtimes),
            "arn": arn(self.region, self.account_id, name, version),
            "_codeDigest": digest,
        }
        doc = await self.store.create("layerversion", version_key(name, version), layer)
        if doc is None:
            raise Conflict(f"layer '{name}' version {version} was published concurrently: try again")
        return doc

    async def _next_version(self, name: str) -> int:
        for _ in range(20):  # optimistic increment, as service versions do
            counter = await self.store.get("layercounter", name)
            version = (counter.body["last"] if counter else 0) + 1
            if counter is None:
                if await self.store.create("layercounter", name, {"last": version}) is not None:
                    return version
                continue
            try:
                await self.store.update("layercounter", name, {"last": version}, if_match=counter.etag)
                return version
            except PreconditionFailed:
                continue
        raise Conflict(f"could not publish a version of layer '{name}': too many concurrent publishes")

    async def version(self, name: str, version: str | int) -> Doc:
        doc = None
        if str(version).isdigit():
            doc = await self.store.get("layerversion", version_key(name, int(version)))
        if doc is None:
            raise NotFound("Layer", name, f"layer '{name}' version {version} does not exist")
        return doc

    async def by_arn(self, value: str) -> Doc:
        match = ARN_RE.match(value)
        if match is None:
            raise InvalidArgument(f"'{value}' is not a layer ARN: acs:fc:<region>:<account>:layers/<name>/versions/<n>")
        doc = await self.version(match[3], match[4])
        if doc.body["arn"] != value:
            raise NotFound("Layer", value, f"layer '{value}' does not exist (region or account differ)")
        return doc

    async def delete(self, name: str, version: str) -> None:
        await self.version(name, version)
        await self.store.delete("layerversion", version_key(name, int(version)))

    async def list_versions(self, name: str, query: dict[str, str]) -> tuple[list[JSON], int | None]:
        """Versions of ``name`` from ``startVersion`` up; the int is the next page's ``startVersion``."""
        limit = validation.limit(query.get("limit"))
        start = query.get("startVersion") or "1"
        if not start.isdigit():
            raise InvalidArgument(f"startVersion must be a version number, got '{start}'")
        docs = await self.store.list(
            "layerversion", prefix=name + "/", start=version_key(name, int(start)), limit=limit + 1
        )
        if not docs and not await self.store.list("layerversion", prefix=name + "/", limit=1):
            raise NotFound("Layer", name, f"layer '{name}' does not exist")
        following = docs[limit].body["version"] if len(docs) > limit else None
        return [render(d) for d in docs[:limit]], following

    async def list_layers(self, query: dict[str, str]) -> tuple[list[JSON], str | None]:
        """The newest version of each layer, by name (``prefix``, ``startKey``, ``nextToken``, ``limit``)."""
        limit = validation.limit(query.get("limit"))
        prefix = query.get("prefix", "")
        start = query.get("nextToken") or query.get("startKey") or ""
        latest: dict[str, Doc] = {}
        for doc in await self.store.list("layerversion", prefix=prefix, start=start, limit=1_000_000):
            latest[doc.body["layerName"]] = doc  # key order: the last one seen is the newest
        names = sorted(latest)
        token = names[limit] if len(names) > limit else None
        return [render(latest[n]) for n in names[:limit]], token


async def resolve(store: Store, value: Any, runtime: str) -> tuple[list[str], list[str]]:
    """A function's ``layers`` (ARNs) → (ARNs, blob digests), in order; 400 for anything wrong."""
    if value is None:
        return [], []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument("layers must be a list of layer version ARNs")
    if len(value) > MAX_LAYERS:
        raise InvalidArgument(f"layers lists {len(value)} layers: a function can use at most {MAX_LAYERS}")
    if len(set(value)) != len(value):
        raise InvalidArgument("layers lists the same layer version twice")
    digests = []
    for item in value:
        match = ARN_RE.match(item)
        if match is None:
            raise InvalidArgument(
                f"layers: '{item}' is not a layer ARN (acs:fc:<region>:<account>:layers/<name>/versions/<n>)"
            )
        doc = await store.get("layerversion", version_key(match[3], int(match[4])))
        if doc is None or doc.body["arn"] != item:
            raise InvalidArgument(f"layers: layer version '{item}' does not exist")
        if runtime not in doc.body["compatibleRuntime"]:
            raise InvalidArgument(
                f"layers: '{item}' is not compatible with runtime '{runtime}' "
                f"(compatibleRuntime: {', '.join(doc.body['compatibleRuntime'])})"
            )
        digests.append(doc.body["_codeDigest"])
    return list(value), digests
