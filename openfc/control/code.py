"""Code packages: decode, bound, check a zip and checksum it the way FC reports (CRC-64/ECMA)."""

from __future__ import annotations

import base64
import binascii
import io
import posixpath
import zipfile
from collections.abc import Awaitable, Callable, Mapping  # triggers
from typing import Any  # triggers

import crcmod

from openfc.errors import EntityTooLarge, InvalidArgument

MAX_ZIP_BYTES = 100 * 1024 * 1024
MAX_UNPACKED_BYTES = 500 * 1024 * 1024

crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, rev=True, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF)


def decode_zip(field: str, encoded: object) -> bytes:
    """Base64 ``code.zipFile`` → zip bytes, checked for size, validity and unsafe paths."""
    if not isinstance(encoded, str) or not encoded:
        raise InvalidArgument(f"{field} must be a base64-encoded zip file")
    if len(encoded) * 3 // 4 > MAX_ZIP_BYTES + 3:
        raise EntityTooLarge(f"{field} is larger than the {MAX_ZIP_BYTES // 2**20} MB limit for a code package")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{field} is not valid base64") from None
    check_zip(field, data)
    return data


def check_zip(field: str, data: bytes) -> None:
    if len(data) > MAX_ZIP_BYTES:
        raise EntityTooLarge(f"{field} is larger than the {MAX_ZIP_BYTES // 2**20} MB limit for a code package")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise InvalidArgument(f"{field} is not a valid zip file") from None
    total = 0
    with archive:
        for info in archive.infolist():
            name = info.filename
            normal = posixpath.normpath(name)
            if name.startswith(("/", "\\")) or normal == ".." or normal.startswith("../") or ":" in name.split("/")[0]:
                raise InvalidArgument(f"{field} contains an unsafe path '{name}' (absolute or outside the package)")
            total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise EntityTooLarge(f"{field} unpacks to more than the {MAX_UNPACKED_BYTES // 2**20} MB limit")


def checksum(data: bytes) -> str:
    """FC's ``codeChecksum``: CRC-64/ECMA-182 as a decimal string."""
    return str(crc64(data))


# -- packages from the built-in object storage (openfc.objects; wired at assembly) -- (triggers)

#: Reads object ``(bucket, key)`` of the built-in object storage.
ObjectReader = Callable[[str, str], Awaitable[bytes]]


async def load_package(field: str, package: Mapping[str, Any], read_object: ObjectReader | None) -> bytes:
    """A code package: ``zipFile`` (base64), or ``ossBucketName`` + ``ossObjectName`` in the object storage."""
    if "zipFile" in package:
        return decode_zip(f"{field}.zipFile", package["zipFile"])
    bucket, key = package.get("ossBucketName"), package.get("ossObjectName")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise InvalidArgument(f"{field} needs zipFile (a base64 zip) or ossBucketName + ossObjectName")
    if read_object is None:
        raise InvalidArgument(f"{field}.ossBucketName: this node has no object storage")
    data = await read_object(bucket, key)
    check_zip(f"{field} (oss://{bucket}/{key})", data)
    return data
