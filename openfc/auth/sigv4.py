"""AWS Signature Version 4 verification (header form), for the Step Functions and S3 surfaces.

``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/<service>/aws4_request,
SignedHeaders=<h1;h2;...>, Signature=<hex>``. Any region is accepted; the key id and secret are
openfc's access keys. The request time (``x-amz-date``) must be within 15 minutes of ours.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

from openfc.errors import AuthError

__all__ = ["SigV4Verifier", "canonical_request", "signing_key"]

MAX_SKEW_SECONDS = 15 * 60
ALGORITHM = "AWS4-HMAC-SHA256"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})\s*$"
)


def _quote(value: str) -> str:
    return quote(value, safe="-_.~")


def canonical_path(raw_path: str, *, s3: bool = False) -> str:
    """S3 signs the path as sent; other services sign the sent path normalized and URI-encoded again."""
    if s3:
        return raw_path or "/"
    path = raw_path or "/"
    normalized = posixpath.normpath(path)
    if path.endswith("/") and normalized != "/":
        normalized += "/"
    normalized = normalized.replace("//", "/") if normalized.startswith("//") else normalized
    return quote(normalized, safe="/~")


def canonical_query(query_string: str) -> str:
    pairs = parse_qsl(query_string, keep_blank_values=True)
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(pairs))


def canonical_request(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    signed: list[str],
    payload_hash: str,
    *,
    s3: bool = False,
) -> str:
    lines = [f"{name}:{' '.join(headers.get(name, '').split())}" for name in signed]
    return "\n".join(
        [
            method.upper(),
            canonical_path(raw_path, s3=s3),
            canonical_query(query_string),
            "\n".join(lines) + "\n",
            ";".join(signed),
            payload_hash,
        ]
    )


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class SigV4Verifier:
    """Checks SigV4-signed requests against ``keys`` (access key id → secret).

    service: the signing name the surface expects (``states``, ``s3``); ``None`` accepts any.
    """

    def __init__(self, keys: Mapping[str, str], *, service: str | None = None) -> None:
        self.keys = keys
        self.service = service

    def verify(
        self,
        method: str,
        raw_path: str,
        query_string: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        s3: bool = False,
        now: datetime | None = None,
    ) -> str:
        """Returns the access key id, or raises ``AuthError`` (codes as the AWS JSON services use them).

        ``headers`` must be looked up by lower-case name (Starlette's ``Headers`` is).
        """
        auth = headers.get("authorization", "")
        if not auth:
            raise AuthError("Missing Authentication Token", code="MissingAuthenticationTokenException", status=400)
        m = _AUTH.match(auth.strip())
        if not m:
            raise AuthError(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' (AWS4-HMAC-SHA256)",
                code="IncompleteSignatureException",
                status=400,
            )
        parts = m["credential"].split("/")
        if len(parts) != 5 or parts[4] != "aws4_request":
            raise AuthError(
                f"Credential '{m['credential']}' is malformed: "
                "expected <key id>/<date>/<region>/<service>/aws4_request",
                code="IncompleteSignatureException",
                status=400,
            )
        key_id, date, region, service, _ = parts
        secret = self.keys.get(key_id)
        if secret is None:
            raise AuthError(
                f"The security token included in the request is invalid: unknown access key id '{key_id}'",
                code="UnrecognizedClientException",
                status=400,
            )
        if self.service is not None and service != self.service:
            raise AuthError(
                f"Credential should be scoped to correct service: '{self.service}'",
                code="InvalidSignatureException",
                status=400,
            )
        stamp = headers.get("x-amz-date", "")
        try:
            sent = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise AuthError(
                f"invalid or missing X-Amz-Date header '{stamp}'", code="IncompleteSignatureException", status=400
            ) from None
        if not stamp.startswith(date):
            raise AuthError("Credential date does not match X-Amz-Date", code="InvalidSignatureException", status=400)
        skew = abs(((now or datetime.now(UTC)) - sent).total_seconds())
        if skew > MAX_SKEW_SECONDS:
            raise AuthError(
                f"Signature expired: {stamp} is {int(skew)} s away from the server time (at most {MAX_SKEW_SECONDS} s)",
                code="InvalidSignatureException",
                status=400,
            )
        signed = m["signed"].split(";")
        if "host" not in signed:
            raise AuthError("SignedHeaders must include 'host'", code="InvalidSignatureException", status=400)
        payload_hash = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
        if payload_hash not in ("UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER") and not s3:
            payload_hash = hashlib.sha256(body).hexdigest()
        request = canonical_request(method, raw_path, query_string, headers, signed, payload_hash, s3=s3)
        scope = f"{date}/{region}/{service}/aws4_request"
        to_sign = "\n".join([ALGORITHM, stamp, scope, hashlib.sha256(request.encode()).hexdigest()])
        expected = hmac.new(signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, m["signature"]):
            raise AuthError(
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method.",
                code="InvalidSignatureException",
                status=400,
            )
        return key_id
