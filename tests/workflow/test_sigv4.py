"""SigV4 verification against requests signed by botocore's own signers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from openfc.auth.sigv4 import SigV4Verifier
from openfc.errors import AuthError

KEYS = {"AKID": "secret/with+chars"}


def signed(
    url: str,
    body: bytes = b"",
    *,
    service: str = "states",
    secret: str = "secret/with+chars",
    s3=False,
    method: str = "POST",
    headers: dict | None = None,
):
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    signer = (S3SigV4Auth if s3 else SigV4Auth)(Credentials("AKID", secret), service, "eu-central-1")
    signer.add_auth(request)
    parts = urlsplit(url)
    lowered = {k.lower(): v for k, v in request.headers.items()}
    lowered.setdefault("host", parts.netloc)
    return request.method, parts.path, parts.query, lowered, body


def verify(args, **kwargs):
    method, path, query, headers, body = args
    return SigV4Verifier(KEYS, **kwargs.pop("verifier", {})).verify(method, path, query, headers, body, **kwargs)


def test_accepts_boto_signed_json_request():
    args = signed(
        "http://127.0.0.1:9000/",
        b'{"a": 1}',
        headers={"X-Amz-Target": "AWSStepFunctions.ListStateMachines", "Content-Type": "application/x-amz-json-1.0"},
    )
    assert verify(args) == "AKID"


def test_accepts_query_strings_and_odd_paths():
    args = signed("http://localhost:9000/a%20b/c?x=1&a=%2F&empty=", method="GET")
    assert verify(args) == "AKID"


def test_s3_style_paths_are_signed_as_sent():
    args = signed("http://localhost:9000/bucket/some%20key/../x.txt?list-type=2", method="GET", service="s3", s3=True)
    assert verify(args, s3=True, verifier={"service": "s3"}) == "AKID"


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda a: (a[0], a[1], a[2], a[3], b'{"a": 2}'), "InvalidSignatureException"),  # body tampered
        (lambda a: (a[0], a[1], a[2], {**a[3], "x-amz-target": "Other"}, a[4]), "InvalidSignatureException"),
        (
            lambda a: (a[0], a[1], a[2], {k: v for k, v in a[3].items() if k != "authorization"}, a[4]),
            "MissingAuthenticationTokenException",
        ),
        (lambda a: (a[0], a[1], a[2], {**a[3], "authorization": "Bearer x"}, a[4]), "IncompleteSignatureException"),
    ],
)
def test_rejects_tampering(mutate, code):
    args = signed("http://127.0.0.1:9000/", b'{"a": 1}', headers={"X-Amz-Target": "AWSStepFunctions.X"})
    with pytest.raises(AuthError) as info:
        verify(mutate(args))
    assert info.value.code == code


def test_rejects_wrong_secret_and_unknown_key():
    with pytest.raises(AuthError) as info:
        verify(signed("http://127.0.0.1:9000/", b"{}", secret="nope"))
    assert info.value.code == "InvalidSignatureException"
    with pytest.raises(AuthError) as info:
        SigV4Verifier({}).verify(*signed("http://127.0.0.1:9000/", b"{}"))
    assert info.value.code == "UnrecognizedClientException"


def test_clock_skew_window():
    args = signed("http://127.0.0.1:9000/", b"{}")
    assert verify(args, now=datetime.now(UTC) + timedelta(minutes=14)) == "AKID"
    with pytest.raises(AuthError) as info:
        verify(args, now=datetime.now(UTC) + timedelta(minutes=16))
    assert info.value.code == "InvalidSignatureException" and "expired" in info.value.message


def test_service_scope_is_checked_when_configured():
    with pytest.raises(AuthError):
        verify(signed("http://127.0.0.1:9000/", b"{}", service="s3"), verifier={"service": "states"})
