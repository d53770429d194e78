"""Function Compute request signing (see FC_API.md §1): HMAC-SHA256 over the request."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from openfc.errors import AuthError

#: Requests whose Date is further than this from our clock are rejected.
MAX_SKEW_SECONDS = 15 * 60


def canonical_resource(path: str, query: Iterable[tuple[str, str]] | None) -> str:
    """The path alone (management API) or path + sorted ``k=v`` lines (HTTP triggers)."""
    if query is None:
        return path
    params = sorted(f"{k}={v}" for k, v in query)
    return path + "\n" + "\n".join(params)


def string_to_sign(method: str, headers: Mapping[str, str], resource: str) -> str:
    fc_headers = sorted((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-fc-"))
    canonical = "".join(f"{k}:{v}\n" for k, v in fc_headers)
    return "\n".join(
        [
            method.upper(),
            headers.get("content-md5", ""),
            headers.get("content-type", ""),
            headers.get("date", ""),
            canonical + resource,
        ]
    )


def signature(secret: str, text: str) -> str:
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def authorization(key_id: str, secret: str, method: str, headers: Mapping[str, str], resource: str) -> str:
    """The ``Authorization`` header value a client sends (used by our CLI and tests' helpers)."""
    return f"FC {key_id}:{signature(secret, string_to_sign(method, headers, resource))}"


@functools.lru_cache(maxsize=256)
def _parse_date(date: str) -> datetime | None:
    """An RFC 1123 date (cached: requests in the same second share one string)."""
    try:
        sent = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return None
    return sent if sent.tzinfo is not None else sent.replace(tzinfo=UTC)


class Verifier:
    """Checks ``Authorization: FC <id>:<signature>`` against known access keys."""

    def __init__(self, keys: Mapping[str, str]) -> None:
        self.keys = dict(keys)

    def verify(
        self,
        method: str,
        headers: Mapping[str, str],
        path: str,
        query: Iterable[tuple[str, str]] | None = None,
        *,
        now: datetime | None = None,
    ) -> str:
        """Returns the access key id, or raises ``AuthError`` (401 unsigned, 403 rejected)."""
        auth = headers.get("authorization", "")
        if not auth:
            raise AuthError("the request is not signed: missing Authorization header", code="AccessDenied", status=401)
        scheme, _, credential = auth.partition(" ")
        key_id, sep, sig = credential.strip().rpartition(":")
        if scheme != "FC" or not sep or not key_id:
            raise AuthError("Authorization must be 'FC <AccessKeyID>:<Signature>'", code="AccessDenied")
        secret = self.keys.get(key_id)
        if secret is None:
            raise AuthError(f"access key id '{key_id}' does not exist", code="InvalidAccessKeyID")
        date = headers.get("date", "")
        sent = _parse_date(date)
        if sent is None:
            raise AuthError(f"invalid or missing Date header '{date}'", code="AccessDenied")
        skew = abs(((now or datetime.now(UTC)) - sent).total_seconds())
        if skew > MAX_SKEW_SECONDS:
            raise AuthError(
                f"the request time '{date}' is {int(skew)} s away from the server time (at most 900 s allowed)",
                code="AccessDenied",
            )
        expected = signature(secret, string_to_sign(method, headers, canonical_resource(path, query)))
        if not hmac.compare_digest(expected, sig):
            raise AuthError(
                "the request signature does not match: sign METHOD, Content-MD5, Content-Type, Date, "
                "the x-fc-* headers and the path with your AccessKeySecret",
                code="SignatureNotMatch",
            )
        return key_id
