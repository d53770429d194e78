"""The S3 REST surface (path-style, SigV4) of the built-in object storage, on ``--s3-port``.

Buckets: ``GET /`` ListBuckets, ``PUT|HEAD|DELETE /{b}``, ``GET /{b}?list-type=2`` ListObjectsV2
(``prefix``, ``delimiter``, ``max-keys``, ``continuation-token``, ``start-after``), ``GET /{b}``
ListObjects (v1, ``marker``), ``GET /{b}?location``, ``POST /{b}?delete`` DeleteObjects.
Objects: ``PUT`` (PutObject, CopyObject with ``x-amz-copy-source``, UploadPart), ``GET`` (Range),
``HEAD``, ``DELETE``; multipart ``POST ?uploads``, ``POST ?uploadId``, ``DELETE ?uploadId``,
``GET ?uploadId`` (ListParts). Errors are S3 XML ``<Error><Code>…</Code>…</Error>``. Bodies sent
``aws-chunked`` (botocore's ``STREAMING-UNSIGNED-PAYLOAD-TRAILER``, signed chunks) are decoded, and a
CRC32 trailer is checked. Presigned URLs (query SigV4) are accepted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import re
import time
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import parse_qsl, unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openfc.auth.sigv4 import ALGORITHM, SigV4Verifier, canonical_request, signing_key
from openfc.errors import AuthError, InvalidArgument, NotFound, OpenFCError, PreconditionFailed
from openfc.invoke import new_request_id
from openfc.objects import ObjectInfo, ObjectStore
from openfc.objects.store import content_md5_ok, s3_error

if TYPE_CHECKING:
    from openfc.api.state import Platform

log = logging.getLogger("openfc.s3")

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
#: Largest single request body (PutObject / UploadPart): S3 allows 5 GB; we keep bodies in memory.
MAX_BODY = 512 * 1024 * 1024
STATUS = {
    "NoSuchBucket": 404, "NoSuchKey": 404, "NoSuchUpload": 404, "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409, "InvalidRange": 416, "AccessDenied": 403, "SignatureDoesNotMatch": 403,
    "InvalidAccessKeyId": 403, "RequestTimeTooSkewed": 403, "PreconditionFailed": 412, "NotImplemented": 501,
    "MethodNotAllowed": 405, "InternalError": 500,
}  # fmt: skip
AUTH_CODES = {
    "InvalidSignatureException": "SignatureDoesNotMatch",
    "UnrecognizedClientException": "InvalidAccessKeyId",
    "MissingAuthenticationTokenException": "AccessDenied",
    "IncompleteSignatureException": "AuthorizationHeaderMalformed",
}
STORED_HEADERS = ("cache-control", "content-disposition", "content-encoding", "content-language", "expires")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def xml(root: str, inner: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{inner}</{root}>'
    return Response(body, status, headers=dict(headers or {}), media_type="application/xml")


def tag(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def s3_error_response(error: OpenFCError, resource: str, request_id: str, head: bool) -> Response:
    code = error.code
    if isinstance(error, AuthError):
        code = AUTH_CODES.get(code, code)
    status = STATUS.get(code, 400)
    if isinstance(error, NotFound) and code not in STATUS:
        status = 404
    if isinstance(error, PreconditionFailed):
        status = 412
    if code == "InternalServerError":
        code, status = "InternalError", 500
    headers = {"x-amz-request-id": request_id}
    if head:
        return Response(b"", status, headers=headers)
    inner = tag("Code", code) + tag("Message", error.message) + tag("Resource", resource) + tag("RequestId", request_id)
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'
    return Response(body, status, headers=headers, media_type="application/xml")


def http_date(iso: str) -> str:
    return format_datetime(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC), usegmt=True)


# -- bodies and authentication --------------------------------------------------------------


def decode_aws_chunked(body: bytes) -> tuple[bytes, dict[str, str]]:
    """``hex-size[;chunk-signature=…]\\r\\n data \\r\\n`` … ``0\\r\\n`` trailers ``\\r\\n`` → (data, trailers)."""
    out, pos, trailers = bytearray(), 0, {}
    try:
        while True:
            eol = body.index(b"\r\n", pos)
            size = int(body[pos:eol].split(b";", 1)[0], 16)
            pos = eol + 2
            if size == 0:
                break
            out += body[pos : pos + size]
            pos += size + 2
        for line in body[pos:].split(b"\r\n"):
            name, sep, value = line.decode().partition(":")
            if sep:
                trailers[name.strip().lower()] = value.strip()
    except ValueError:
        raise s3_error(InvalidArgument, "IncompleteBody", "the aws-chunked request body is malformed") from None
    return bytes(out), trailers


async def read_body(request: Request) -> bytes:
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_BODY:
        raise s3_error(InvalidArgument, "EntityTooLarge", f"the body is larger than {MAX_BODY} bytes")
    body = await request.body()
    sha = request.headers.get("x-amz-content-sha256", "")
    encoding = request.headers.get("content-encoding", "")
    if sha.startswith("STREAMING-") or "aws-chunked" in encoding:
        body, trailers = decode_aws_chunked(body)
        crc = trailers.get("x-amz-checksum-crc32") or request.headers.get("x-amz-checksum-crc32")
        if crc and base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode() != crc:
            raise s3_error(InvalidArgument, "BadDigest", "the CRC32 checksum of the body does not match")
    elif re.fullmatch(r"[0-9a-f]{64}", sha) and hashlib.sha256(body).hexdigest() != sha:
        raise s3_error(InvalidArgument, "XAmzContentSHA256Mismatch", "x-amz-content-sha256 does not match the body")
    if not content_md5_ok(request.headers.get("content-md5"), body):
        raise s3_error(InvalidArgument, "BadDigest", "the Content-MD5 you specified did not match the body")
    return body


def verify_presigned(keys: Mapping[str, str], request: Request, raw_path: str) -> None:
    q = dict(parse_qsl(request.url.query, keep_blank_values=True))
    if q.get("X-Amz-Algorithm") != ALGORITHM:
        raise s3_error(AuthError, "AuthorizationQueryParametersError", "X-Amz-Algorithm must be AWS4-HMAC-SHA256")
    key_id, date, region, service, _ = (q.get("X-Amz-Credential", "") + "////").split("/")[:5]
    secret = keys.get(key_id)
    if secret is None:
        raise AuthError(f"unknown access key id '{key_id}'", code="InvalidAccessKeyId")
    try:
        signed_at = datetime.strptime(q.get("X-Amz-Date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        expires = int(q.get("X-Amz-Expires", "0"))
    except ValueError:
        raise AuthError("X-Amz-Date or X-Amz-Expires is malformed", code="AccessDenied") from None
    if not signed_at - 900 <= time.time() <= signed_at + expires:
        raise AuthError("Request has expired", code="AccessDenied")
    query = "&".join(p for p in request.url.query.split("&") if not p.startswith("X-Amz-Signature="))
    signed = q.get("X-Amz-SignedHeaders", "host").split(";")
    canonical = canonical_request(request.method, raw_path, query, request.headers, signed, "UNSIGNED-PAYLOAD",
                                  s3=True)  # fmt: skip
    scope = f"{date}/{region}/{service}/aws4_request"
    text = "\n".join([ALGORITHM, q["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(signing_key(secret, date, region, service), text.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, q.get("X-Amz-Signature", "")):
        raise AuthError("The request signature we calculated does not match", code="SignatureDoesNotMatch")


def verify_presigned_v2(keys: Mapping[str, str], request: Request, raw_path: str) -> None:
    """A SigV2 query-signed URL (botocore's default for ``generate_presigned_url``)."""
    q = request.query_params
    secret = keys.get(q["AWSAccessKeyId"])
    if secret is None:
        raise AuthError(f"unknown access key id '{q['AWSAccessKeyId']}'", code="InvalidAccessKeyId")
    expires = q.get("Expires", "0")
    if not expires.isdigit() or int(expires) < time.time():
        raise AuthError("Request has expired", code="AccessDenied")
    amz = "".join(f"{k}:{v.strip()}\n" for k, v in sorted(request.headers.items()) if k.startswith("x-amz-"))
    h = request.headers
    text = f"{request.method}\n{h.get('content-md5', '')}\n{h.get('content-type', '')}\n{expires}\n{amz}{raw_path}"
    expected = base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected, q["Signature"]):
        raise AuthError("The request signature we calculated does not match", code="SignatureDoesNotMatch")


# -- the one endpoint ----------------------------------------------------------------------


async def endpoint(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    request_id = new_request_id().replace("-", "")[:16].upper()
    raw_path = request.scope.get("raw_path", b"/").decode("latin-1").split("?", 1)[0] or "/"
    head = request.method == "HEAD"
    try:
        if "X-Amz-Signature" in request.query_params:
            verify_presigned(platform.verifier.keys, request, raw_path)
            body = await read_body(request)
        elif "Signature" in request.query_params and "AWSAccessKeyId" in request.query_params:
            verify_presigned_v2(platform.verifier.keys, request, raw_path)
            body = await read_body(request)
        else:
            body = await read_body(request)
            SigV4Verifier(platform.verifier.keys, service="s3").verify(
                request.method, raw_path, request.url.query, request.headers, body, s3=True
            )
        _, bucket, rest = (raw_path + "/").split("/", 2) if raw_path != "/" else ("", "", "")
        bucket, key = unquote(bucket), unquote(rest[:-1]) if rest else ""
        response = await route(request, platform.objects, bucket, key, body, request_id)
    except OpenFCError as error:
        return s3_error_response(error, unquote(raw_path), request_id, head)
    except Exception:
        log.exception("s3 %s %s failed", request.method, raw_path)
        return s3_error_response(s3_error(OpenFCError, "InternalError", "internal error"), raw_path, request_id, head)
    response.headers["x-amz-request-id"] = request_id
    return response


AUTH_PARAMS = frozenset({"AWSAccessKeyId", "Signature", "Expires", "x-id"})


async def route(request: Request, objects: ObjectStore, bucket: str, key: str, body: bytes, rid: str) -> Response:
    q = {k: v for k, v in request.query_params.items() if k not in AUTH_PARAMS and not k.startswith("X-Amz-")}
    method = request.method
    if not bucket:
        if method == "GET":
            return await list_buckets(objects)
        raise _not_implemented(method, "/")
    if not key:
        if method == "PUT" and not q:
            await objects.create_bucket(bucket)
            return Response(b"", 200, headers={"Location": "/" + bucket})
        if method in ("HEAD",):
            await objects.bucket(bucket)
            return Response(b"", 200, headers={"x-amz-bucket-region": "us-east-1"})
        if method == "DELETE" and not q:
            await objects.delete_bucket(bucket)
            return Response(status_code=204)
        if method == "GET" and "location" in q:
            await objects.bucket(bucket)
            return xml("LocationConstraint", "")
        if method == "GET" and not (set(q) - {"list-type", "prefix", "delimiter", "max-keys", "continuation-token",
                                              "start-after", "fetch-owner", "encoding-type", "marker"}):  # fmt: skip
            return await list_objects(objects, bucket, q)
        if method == "POST" and "delete" in q:
            return await delete_objects(request, objects, bucket, body, rid)
        raise _not_implemented(method, f"/{bucket}?{request.url.query}")
    ip = request.client.host if request.client else ""
    if "uploadId" in q:
        return await multipart(request, objects, bucket, key, body, rid, ip)
    if method == "POST" and "uploads" in q:
        upload_id = await objects.create_upload(bucket, key, **_object_headers(request))
        return xml(
            "InitiateMultipartUploadResult", tag("Bucket", bucket) + tag("Key", key) + tag("UploadId", upload_id)
        )
    if method == "PUT" and request.headers.get("x-amz-copy-source"):
        return await copy_object(request, objects, bucket, key, rid, ip)
    if method == "PUT" and not q:
        info = await objects.put(bucket, key, body, **_object_headers(request), request_id=rid, source_ip=ip)
        return Response(b"", 200, headers={"ETag": f'"{info.etag}"'})
    if method in ("GET", "HEAD") and not (set(q) - {"partNumber", "versionId", "response-content-type"}):
        return await get_object(request, objects, bucket, key)
    if method == "DELETE" and not (set(q) - {"versionId"}):
        await objects.delete(bucket, key, request_id=rid, source_ip=ip)
        return Response(status_code=204)
    raise _not_implemented(method, f"/{bucket}/{key}?{request.url.query}")


def _not_implemented(method: str, what: str) -> OpenFCError:
    return s3_error(OpenFCError, "NotImplemented", f"{method} {what} is not implemented by openfc's object storage")


class _Stored(TypedDict):
    content_type: str
    headers: dict[str, str]
    metadata: dict[str, str]


def _object_headers(request: Request) -> _Stored:
    h = request.headers
    stored = {name: h[name] for name in STORED_HEADERS if name in h}
    if "content-encoding" in stored:
        rest = [e.strip() for e in stored["content-encoding"].split(",") if e.strip() != "aws-chunked"]
        stored["content-encoding"] = ", ".join(rest)
        if not rest:
            del stored["content-encoding"]
    metadata = {k[len("x-amz-meta-") :]: v for k, v in h.items() if k.startswith("x-amz-meta-")}
    return {"content_type": h.get("content-type", "binary/octet-stream"), "headers": stored, "metadata": metadata}


def _info_headers(info: ObjectInfo) -> dict[str, str]:
    headers = {
        "ETag": f'"{info.etag}"',
        "Last-Modified": http_date(info.modified),
        "Content-Type": info.content_type,
        "Accept-Ranges": "bytes",
        **info.headers,
    }
    headers.update({f"x-amz-meta-{k}": v for k, v in info.metadata.items()})
    return headers


# -- operations ----------------------------------------------------------------------------


async def list_buckets(objects: ObjectStore) -> Response:
    items = "".join(
        f"<Bucket>{tag('Name', d.key)}{tag('CreationDate', d.created)}</Bucket>" for d in await objects.buckets()
    )
    owner = "<Owner><ID>openfc</ID><DisplayName>openfc</DisplayName></Owner>"
    return xml("ListAllMyBucketsResult", f"{owner}<Buckets>{items}</Buckets>")


def _int_param(q: Mapping[str, str], name: str, default: int, high: int) -> int:
    try:
        value = int(q.get(name, default))
    except ValueError:
        raise s3_error(InvalidArgument, "InvalidArgument", f"{name} must be an integer") from None
    if value < 0:
        raise s3_error(InvalidArgument, "InvalidArgument", f"{name} must not be negative")
    return min(value, high)


async def list_objects(objects: ObjectStore, bucket: str, q: Mapping[str, str]) -> Response:
    v2 = q.get("list-type") == "2"
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    max_keys = _int_param(q, "max-keys", 1000, 1000)
    if v2:
        token = q.get("continuation-token")
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise s3_error(InvalidArgument, "InvalidArgument", "the continuation token is invalid") from None
        else:
            after = q.get("start-after", "")
    else:
        after = q.get("marker", "")
    listing = await objects.listing(bucket, prefix=prefix, delimiter=delimiter, after=after, max_keys=max_keys)
    parts = [tag("Name", bucket), tag("Prefix", prefix), tag("MaxKeys", max_keys)]
    if delimiter:
        parts.append(tag("Delimiter", delimiter))
    parts.append(tag("IsTruncated", "true" if listing.truncated else "false"))
    if v2:
        parts.append(tag("KeyCount", len(listing.objects) + len(listing.prefixes)))
        if "continuation-token" in q:
            parts.append(tag("ContinuationToken", q["continuation-token"]))
        if "start-after" in q:
            parts.append(tag("StartAfter", q["start-after"]))
        if listing.truncated:
            token = base64.urlsafe_b64encode(listing.next_marker.encode()).decode()
            parts.append(tag("NextContinuationToken", token))
    else:
        parts.append(tag("Marker", after))
        if listing.truncated and delimiter:
            parts.append(tag("NextMarker", listing.next_marker.rstrip("\U0010ffff")))
    owner = "<Owner><ID>openfc</ID><DisplayName>openfc</DisplayName></Owner>" if not v2 or q.get("fetch-owner") else ""
    for info in listing.objects:
        parts.append(
            f"<Contents>{tag('Key', info.key)}{tag('LastModified', info.modified)}"
            f"{tag('ETag', chr(34) + info.etag + chr(34))}{tag('Size', info.size)}{owner}"
            "<StorageClass>STANDARD</StorageClass></Contents>"
        )
    for common in listing.prefixes:
        parts.append(f"<CommonPrefixes>{tag('Prefix', common)}</CommonPrefixes>")
    return xml("ListBucketResult", "".join(parts))


async def get_object(request: Request, objects: ObjectStore, bucket: str, key: str) -> Response:
    head = request.method == "HEAD"
    if head:
        info, data = await objects.head(bucket, key), b""
    else:
        info, data = await objects.get(bucket, key)
    headers = _info_headers(info)
    if "response-content-type" in request.query_params:
        headers["Content-Type"] = request.query_params["response-content-type"]
    match = request.headers.get("if-match")
    if match and match.strip('"') != info.etag:
        raise PreconditionFailed("At least one of the pre-conditions you specified did not hold")
    none_match = request.headers.get("if-none-match")
    if none_match and none_match.strip('"') == info.etag:
        return Response(b"", 304, headers={"ETag": headers["ETag"]})
    ranged = request.headers.get("range")
    if ranged:
        start, end = _range(ranged, info.size)
        headers["Content-Range"] = f"bytes {start}-{end}/{info.size}"
        headers["Content-Length"] = str(end - start + 1)
        return Response(b"" if head else data[start : end + 1], 206, headers=headers)
    headers["Content-Length"] = str(info.size)
    if head:
        return _HeadResponse(headers)
    return Response(data, 200, headers=headers)


class _HeadResponse(Response):
    """A HEAD answer that keeps the object's Content-Length (Starlette would set it to 0)."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(b"", 200)
        self.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def _range(header: str, size: int) -> tuple[int, int]:
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        raise s3_error(InvalidArgument, "InvalidRange", f"the range '{header}' is not satisfiable")
    first, last = m.group(1), m.group(2)
    if not first:
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    if start >= size or start > end:
        raise s3_error(InvalidArgument, "InvalidRange", f"the range '{header}' is not satisfiable (size {size})")
    return start, end


async def copy_object(request: Request, objects: ObjectStore, bucket: str, key: str, rid: str, ip: str) -> Response:
    source = unquote(request.headers["x-amz-copy-source"].split("?", 1)[0]).lstrip("/")
    src_bucket, _, src_key = source.partition("/")
    if not src_key:
        raise s3_error(InvalidArgument, "InvalidArgument", "x-amz-copy-source must be /bucket/key")
    replace = _object_headers(request) if request.headers.get("x-amz-metadata-directive") == "REPLACE" else None
    info = await objects.copy((src_bucket, src_key), bucket, key, replace=replace, request_id=rid, source_ip=ip)
    return xml("CopyObjectResult", tag("LastModified", info.modified) + tag("ETag", f'"{info.etag}"'))


async def delete_objects(request: Request, objects: ObjectStore, bucket: str, body: bytes, rid: str) -> Response:
    root = _parse_xml(body)
    quiet = (_find_text(root, "Quiet") or "").lower() == "true"
    ip = request.client.host if request.client else ""
    out = []
    for obj in root.iter():
        if obj.tag.rsplit("}", 1)[-1] == "Object":
            key = _find_text(obj, "Key") or ""
            await objects.delete(bucket, key, request_id=rid, source_ip=ip, event="ObjectRemoved:DeleteObjects")
            if not quiet:
                out.append(f"<Deleted>{tag('Key', key)}</Deleted>")
    return xml("DeleteResult", "".join(out))


def _parse_xml(body: bytes) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise s3_error(InvalidArgument, "MalformedXML", "the XML you provided was not well-formed") from None


def _find_text(element: ElementTree.Element, name: str) -> str | None:
    for child in element:
        if child.tag.rsplit("}", 1)[-1] == name:
            return child.text
    return None


async def multipart(request: Request, objects: ObjectStore, bucket: str, key: str, body: bytes, rid: str,
                    ip: str) -> Response:  # fmt: skip
    upload_id = request.query_params["uploadId"]
    method = request.method
    if method == "PUT" and "partNumber" in request.query_params:
        number = _int_param(request.query_params, "partNumber", 0, 1_000_000)
        etag = await objects.upload_part(bucket, key, upload_id, number, body)
        return Response(b"", 200, headers={"ETag": f'"{etag}"'})
    if method == "POST":
        chosen = []
        for part in _parse_xml(body):
            if part.tag.rsplit("}", 1)[-1] == "Part":
                number_text, etag_text = _find_text(part, "PartNumber"), _find_text(part, "ETag")
                if not number_text or not number_text.isdigit() or not etag_text:
                    raise s3_error(InvalidArgument, "MalformedXML", "each Part needs PartNumber and ETag")
                chosen.append((int(number_text), etag_text))
        info = await objects.complete_upload(bucket, key, upload_id, chosen, request_id=rid, source_ip=ip)
        location = f"{request.base_url}{bucket}/{key}"
        inner = tag("Location", location) + tag("Bucket", bucket) + tag("Key", key) + tag("ETag", f'"{info.etag}"')
        return xml("CompleteMultipartUploadResult", inner)
    if method == "DELETE":
        await objects.abort_upload(bucket, key, upload_id)
        return Response(status_code=204)
    if method == "GET":
        items = "".join(
            f"<Part>{tag('PartNumber', n)}{tag('LastModified', modified)}{tag('ETag', chr(34) + p['etag'] + chr(34))}"
            f"{tag('Size', p['size'])}</Part>"
            for n, p, modified in await objects.parts(bucket, key, upload_id)
        )
        inner = (
            tag("Bucket", bucket) + tag("Key", key) + tag("UploadId", upload_id) + "<IsTruncated>false</IsTruncated>"
        )
        return xml("ListPartsResult", inner + items)
    raise _not_implemented(method, f"/{bucket}/{key}?uploadId")


# -- the second server -----------------------------------------------------------------------


def build_s3_app(platform: Platform) -> Starlette:
    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "PUT", "POST", "DELETE", "HEAD"])])
    app.state.platform = platform
    return app


class _Embedded(uvicorn.Server):
    """A uvicorn server inside the main server's process and loop: the main server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class S3Server:
    """The S3 surface on ``settings.s3_port``, started after the store is open, stopped before it closes."""

    def __init__(self, server: _Embedded, task: asyncio.Task[None]) -> None:
        self.server = server
        self.task = task

    @classmethod
    async def start(cls, platform: Platform) -> S3Server | None:
        settings = platform.settings
        if settings.s3_port is None:
            return None
        config = uvicorn.Config(build_s3_app(platform), host=settings.host, port=settings.s3_port, lifespan="off",
                                log_level="warning", access_log=False, backlog=4096)  # fmt: skip
        server = _Embedded(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError(f"the S3 server could not start on {settings.host}:{settings.s3_port}")
            await asyncio.sleep(0.01)
        return cls(server, task)

    @staticmethod
    async def stop(s3: S3Server | None) -> None:
        if s3 is None:
            return
        s3.server.should_exit = True
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await s3.task
