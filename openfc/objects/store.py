"""The built-in object storage: buckets and objects as documents, data in content-addressed blobs.

Documents: ``bucket`` (key = bucket name), ``object`` (key = ``{bucket}/{object key}``), ``mpu``
(key = upload id) and ``mpupart`` (key = ``{upload id}/{part number:05d}``). ETags are the hex MD5
of the content (multipart: MD5 of the parts' binary MD5s, then ``-{count}``, as S3 does). Every
create/remove is reported to ``on_event`` *before* the call returns, so a notification that must not
be lost (an OSS trigger's queued invocation) is durable when the client sees success.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from openfc.errors import Conflict, InvalidArgument, NotFound, OpenFCError
from openfc.store import JSON, Doc, Store, now_iso

log = logging.getLogger("openfc.objects")

BUCKET_RE = re.compile(r"^[a-z0-9]([a-z0-9.\-_]{0,61}[a-z0-9])?$")
MAX_KEY_BYTES = 1024
#: S3's minimum part size (all but the last part).
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10_000
#: Sorts after every key that starts with a given prefix (skips a common prefix when listing).
_AFTER = "\U0010ffff"


def s3_error(kind: type[OpenFCError], code: str, message: str) -> OpenFCError:
    """A domain error whose ``code`` is the S3 error code (``NoSuchKey``, ``BucketNotEmpty`` …)."""
    error = NotFound("Object", "", message) if kind is NotFound else kind(message)
    error.code = code
    return error


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One notification: ``name`` as OSS prints it, e.g. ``ObjectCreated:PutObject``."""

    name: str
    bucket: str
    key: str
    size: int
    etag: str
    time: str
    request_id: str
    source_ip: str = ""
    delta_size: int = 0


Notify = Callable[[ObjectEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str
    digest: str
    modified: str
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)  #: stored response headers (Cache-Control, …)
    metadata: dict[str, str] = field(default_factory=dict)  #: x-amz-meta-* (without the prefix)

    @classmethod
    def of(cls, doc: Doc) -> ObjectInfo:
        bucket, _, key = doc.key.partition("/")
        b = doc.body
        return cls(bucket, key, b["size"], b["etag"], b["digest"], b["lastModified"], b["contentType"],
                   b.get("headers", {}), b.get("metadata", {}))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Listing:
    objects: list[ObjectInfo]
    prefixes: list[str]
    truncated: bool
    next_marker: str  #: last key or common prefix returned (the next page starts after it)


async def _noop(event: ObjectEvent) -> None:
    return None


def bucket_name(name: str) -> str:
    if not BUCKET_RE.match(name) or ".." in name:
        raise s3_error(InvalidArgument, "InvalidBucketName", f"the bucket name '{name}' is not valid")
    return name


def object_key(key: str) -> str:
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise s3_error(InvalidArgument, "KeyTooLongError", "an object key must be 1 to 1024 bytes")
    return key


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class ObjectStore:
    def __init__(self, store: Store, *, on_event: Notify | None = None) -> None:
        """``on_event``: awaited for every object created or removed (OSS triggers)."""
        self.store = store
        self.on_event: Notify = on_event or _noop

    # -- buckets -----------------------------------------------------------------------

    async def create_bucket(self, name: str) -> Doc:
        doc = await self.store.create("bucket", bucket_name(name), {"name": name})
        if doc is None:
            raise s3_error(Conflict, "BucketAlreadyOwnedByYou", f"the bucket '{name}' already exists and is yours")
        return doc

    async def bucket(self, name: str) -> Doc:
        doc = await self.store.get("bucket", name)
        if doc is None:
            raise s3_error(NotFound, "NoSuchBucket", f"the bucket '{name}' does not exist")
        return doc

    async def buckets(self) -> list[Doc]:
        return await self.store.list("bucket", limit=100_000)

    async def delete_bucket(self, name: str) -> None:
        await self.bucket(name)
        if await self.store.list("object", prefix=name + "/", limit=1):
            raise s3_error(Conflict, "BucketNotEmpty", f"the bucket '{name}' is not empty: delete its objects first")
        await self.store.delete("bucket", name)

    # -- objects -----------------------------------------------------------------------

    async def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "binary/octet-stream",
        headers: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
        request_id: str = "",
        source_ip: str = "",
        event: str = "ObjectCreated:PutObject",
        etag: str | None = None,
    ) -> ObjectInfo:
        await self.bucket(bucket)
        object_key(key)
        digest = await self.store.put_blob(data)
        body: JSON = {
            "size": len(data),
            "etag": etag or md5_hex(data),
            "digest": digest,
            "lastModified": now_iso(),
            "contentType": content_type or "binary/octet-stream",
            "headers": headers or {},
            "metadata": metadata or {},
        }
        before = await self.store.get("object", f"{bucket}/{key}")
        doc = await self.store.put("object", f"{bucket}/{key}", body)
        info = ObjectInfo.of(doc)
        delta = info.size - (before.body["size"] if before else 0)
        await self._emit(event, info, request_id, source_ip, delta)
        return info

    async def head(self, bucket: str, key: str) -> ObjectInfo:
        doc = await self.store.get("object", f"{bucket}/{key}")
        if doc is None:
            await self.bucket(bucket)
            raise s3_error(NotFound, "NoSuchKey", f"the object '{key}' does not exist in bucket '{bucket}'")
        return ObjectInfo.of(doc)

    async def get(self, bucket: str, key: str) -> tuple[ObjectInfo, bytes]:
        info = await self.head(bucket, key)
        data = await self.store.get_blob(info.digest)
        if data is None:
            raise s3_error(NotFound, "NoSuchKey", f"the data of object '{key}' is missing from the store")
        return info, data

    async def read(self, bucket: str, key: str) -> bytes:
        """An object's content (code packages from ``ossBucketName``/``ossObjectName``)."""
        return (await self.get(bucket, key))[1]

    async def delete(self, bucket: str, key: str, *, request_id: str = "", source_ip: str = "",
                     event: str = "ObjectRemoved:DeleteObject") -> bool:  # fmt: skip
        """Delete (S3: no error if missing); ``True`` if something was deleted. Blobs stay (shared)."""
        await self.bucket(bucket)
        doc = await self.store.get("object", f"{bucket}/{key}")
        if doc is None or not await self.store.delete("object", doc.key):
            return False
        info = ObjectInfo.of(doc)
        await self._emit(event, info, request_id, source_ip, -info.size)
        return True

    async def copy(self, source: tuple[str, str], bucket: str, key: str, *, replace: Mapping[str, Any] | None = None,
                   request_id: str = "", source_ip: str = "") -> ObjectInfo:  # fmt: skip
        """Copy ``source`` (bucket, key); ``replace``: new content_type/headers/metadata (REPLACE)."""
        info, data = await self.get(*source)
        kept = {"content_type": info.content_type, "headers": info.headers, "metadata": info.metadata}
        return await self.put(bucket, key, data, **(replace or kept), request_id=request_id,
                              source_ip=source_ip, event="ObjectCreated:CopyObject")  # fmt: skip

    async def listing(
        self, bucket: str, *, prefix: str = "", delimiter: str = "", after: str = "", max_keys: int = 1000
    ) -> Listing:
        """Keys under ``prefix`` strictly after ``after``; keys with ``delimiter`` past the prefix fold
        into common prefixes (each counts as one entry toward ``max_keys``)."""
        await self.bucket(bucket)
        base = bucket + "/"
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        start = base + after + "\0" if after else base + prefix
        last = ""
        while True:
            batch = await self.store.list("object", prefix=base + prefix, start=start, limit=1000)
            if not batch:
                return Listing(objects, prefixes, False, last)
            for doc in batch:
                key = doc.key[len(base) :]
                if len(objects) + len(prefixes) >= max_keys:
                    return Listing(objects, prefixes, True, last)
                cut = key.find(delimiter, len(prefix)) if delimiter else -1
                if cut >= 0:
                    common = key[: cut + len(delimiter)]
                    if after and common <= after:  # the page before ended inside this prefix
                        start = base + common + _AFTER
                        break
                    prefixes.append(common)
                    last = common + _AFTER
                    start = base + last
                    break  # skip the rest of the common prefix in the store
                objects.append(ObjectInfo.of(doc))
                last = key
                start = base + key + "\0"
            else:
                if len(batch) < 1000:
                    return Listing(objects, prefixes, False, last)

    # -- multipart upload --------------------------------------------------------------

    async def create_upload(self, bucket: str, key: str, *, content_type: str = "binary/octet-stream",
                            headers: dict[str, str] | None = None,
                            metadata: dict[str, str] | None = None) -> str:  # fmt: skip
        await self.bucket(bucket)
        object_key(key)
        upload_id = uuid.uuid4().hex
        body = {"bucket": bucket, "key": key, "contentType": content_type, "headers": headers or {},
                "metadata": metadata or {}, "initiated": now_iso()}  # fmt: skip
        await self.store.create("mpu", upload_id, body)
        return upload_id

    async def _upload(self, bucket: str, key: str, upload_id: str) -> Doc:
        doc = await self.store.get("mpu", upload_id)
        if doc is None or doc.body["bucket"] != bucket or doc.body["key"] != key:
            raise s3_error(NotFound, "NoSuchUpload", f"the multipart upload '{upload_id}' does not exist")
        return doc

    async def upload_part(self, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
        await self._upload(bucket, key, upload_id)
        if not 1 <= number <= MAX_PARTS:
            raise s3_error(InvalidArgument, "InvalidArgument", f"partNumber must be 1 to {MAX_PARTS}")
        digest = await self.store.put_blob(data)
        etag = md5_hex(data)
        await self.store.put("mpupart", f"{upload_id}/{number:05d}", {"digest": digest, "etag": etag,
                                                                      "size": len(data)})  # fmt: skip
        return etag

    async def parts(self, bucket: str, key: str, upload_id: str) -> list[tuple[int, JSON, str]]:
        await self._upload(bucket, key, upload_id)
        docs = await self.store.list("mpupart", prefix=upload_id + "/", limit=MAX_PARTS)
        return [(int(d.key.rpartition("/")[2]), d.body, d.modified) for d in docs]

    async def complete_upload(self, bucket: str, key: str, upload_id: str, chosen: list[tuple[int, str]], *,
                              request_id: str = "", source_ip: str = "") -> ObjectInfo:  # fmt: skip
        upload = await self._upload(bucket, key, upload_id)
        have = {n: body for n, body, _ in await self.parts(bucket, key, upload_id)}
        if not chosen:
            raise s3_error(InvalidArgument, "MalformedXML", "CompleteMultipartUpload names no parts")
        numbers = [n for n, _ in chosen]
        if numbers != sorted(set(numbers)):
            raise s3_error(InvalidArgument, "InvalidPartOrder", "the parts must be listed in ascending order")
        chunks, md5s = [], []
        for i, (number, etag) in enumerate(chosen):
            part = have.get(number)
            if part is None or etag.strip('"') != part["etag"]:
                raise s3_error(InvalidArgument, "InvalidPart", f"part {number} was not uploaded or its ETag differs")
            if i < len(chosen) - 1 and part["size"] < MIN_PART_SIZE:
                raise s3_error(InvalidArgument, "EntityTooSmall", f"part {number} is smaller than 5 MB")
            data = await self.store.get_blob(part["digest"])
            assert data is not None
            chunks.append(data)
            md5s.append(bytes.fromhex(part["etag"]))
        etag = f"{md5_hex(b''.join(md5s))}-{len(chosen)}"
        b = upload.body
        info = await self.put(bucket, key, b"".join(chunks), content_type=b["contentType"], headers=b["headers"],
                              metadata=b["metadata"], request_id=request_id, source_ip=source_ip,
                              event="ObjectCreated:CompleteMultipartUpload", etag=etag)  # fmt: skip
        await self._forget_upload(upload_id)
        return info

    async def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        await self._upload(bucket, key, upload_id)
        await self._forget_upload(upload_id)

    async def _forget_upload(self, upload_id: str) -> None:
        await self.store.delete_prefix("mpupart", upload_id + "/")
        await self.store.delete("mpu", upload_id)

    # -- notifications -----------------------------------------------------------------

    async def _emit(self, name: str, info: ObjectInfo, request_id: str, source_ip: str, delta: int) -> None:
        event = ObjectEvent(name, info.bucket, info.key, info.size, info.etag, now_iso(),
                            request_id or uuid.uuid4().hex, source_ip, delta)  # fmt: skip
        await self.on_event(event)


def content_md5_ok(header: str | None, data: bytes) -> bool:
    """``Content-MD5`` (base64 of the binary MD5), when sent, matches the body."""
    if not header:
        return True
    try:
        return base64.b64decode(header) == hashlib.md5(data).digest()
    except ValueError:
        return False
