"""FC request signing is verified on every API call (FC_API.md §1)."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import fc2
import pytest
import requests

from openfc.auth import authorization
from tests.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Server


def signed_get(server: Server, path: str, *, key_id: str = ACCESS_KEY_ID, secret: str = ACCESS_KEY_SECRET,
               date: str | None = None) -> requests.Response:  # fmt: skip
    headers = {"date": date or email.utils.formatdate(usegmt=True), "content-type": "application/json"}
    headers["authorization"] = authorization(key_id, secret, "GET", headers, path)
    return requests.get(server.endpoint + path, headers=headers, timeout=10)


def test_unsigned_request_is_rejected_with_fc_error_json(server: Server) -> None:
    r = requests.get(server.endpoint + "/2016-08-15/services", timeout=10)
    assert r.status_code == 401
    assert r.json()["ErrorCode"] == "AccessDenied"
    assert r.headers["x-fc-request-id"]


def test_wrong_secret_is_signature_not_match(server: Server) -> None:
    with pytest.raises(fc2.fc_exceptions.FcError) as err:
        fc2.Client(endpoint=server.endpoint, accessKeyID=ACCESS_KEY_ID, accessKeySecret="wrong").list_services()
    assert err.value.status_code == 403
    assert err.value.err_code == "SignatureNotMatch"


def test_unknown_key_is_invalid_access_key_id(server: Server) -> None:
    with pytest.raises(fc2.fc_exceptions.FcError) as err:
        fc2.Client(endpoint=server.endpoint, accessKeyID="NOSUCHKEY", accessKeySecret="x").list_services()
    assert err.value.status_code == 403
    assert err.value.err_code == "InvalidAccessKeyID"


def test_clock_skew_over_15_minutes_is_rejected(server: Server) -> None:
    old = email.utils.format_datetime(datetime.now(UTC) - timedelta(minutes=16), usegmt=True)
    r = signed_get(server, "/2016-08-15/services", date=old)
    assert r.status_code == 403
    assert "900 s" in r.json()["ErrorMessage"]
    recent = email.utils.format_datetime(datetime.now(UTC) - timedelta(minutes=10), usegmt=True)
    assert signed_get(server, "/2016-08-15/services", date=recent).status_code == 200


def test_signature_covers_x_fc_headers(server: Server) -> None:
    path = "/2016-08-15/services"
    headers = {"date": email.utils.formatdate(usegmt=True), "content-type": "application/json"}
    headers["authorization"] = authorization(ACCESS_KEY_ID, ACCESS_KEY_SECRET, "GET", headers, path)
    headers["x-fc-trace-id"] = "added-after-signing"
    r = requests.get(server.endpoint + path, headers=headers, timeout=10)
    assert r.status_code == 403 and r.json()["ErrorCode"] == "SignatureNotMatch"


def test_healthz_needs_no_signature(server: Server) -> None:
    assert requests.get(server.endpoint + "/healthz", timeout=10).status_code == 200


def test_account_settings(client: fc2.Client) -> None:
    assert client.get_account_settings().data["availableAZs"]
