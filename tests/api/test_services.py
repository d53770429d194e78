"""Services: CRUD, listing with prefix/limit/nextToken, etags, FC error codes."""

from __future__ import annotations

import uuid

import fc2
import pytest

from tests.conftest import Server


def fc_error(call, *args, **kwargs) -> fc2.fc_exceptions.FcError:
    with pytest.raises(fc2.fc_exceptions.FcError) as err:
        call(*args, **kwargs)
    return err.value


def test_service_crud_with_etags(client: fc2.Client) -> None:
    name = f"crud_{uuid.uuid4().hex[:8]}"
    created = client.create_service(name, description="first")
    assert created.headers["etag"]
    assert created.data["serviceName"] == name
    for field in ("serviceId", "role", "logConfig", "createdTime", "lastModifiedTime"):
        assert field in created.data

    got = client.get_service(name)
    assert got.data["description"] == "first" and got.headers["etag"] == created.headers["etag"]

    updated = client.update_service(name, description="second")
    assert updated.data["description"] == "second"
    assert updated.headers["etag"] != created.headers["etag"]
    assert updated.data["serviceId"] == created.data["serviceId"]

    stale = fc_error(client.update_service, name, description="x", headers={"if-match": created.headers["etag"]})
    assert stale.status_code == 412 and stale.err_code == "PreconditionFailed"
    client.update_service(name, description="third", headers={"if-match": updated.headers["etag"]})

    client.delete_service(name)
    missing = fc_error(client.get_service, name)
    assert missing.status_code == 404 and missing.err_code == "ServiceNotFound"


def test_duplicate_service_is_409(client: fc2.Client, service: str) -> None:
    err = fc_error(client.create_service, service)
    assert err.status_code == 409 and err.err_code == "ServiceAlreadyExists"


def test_invalid_service_name_is_400_naming_the_field(client: fc2.Client) -> None:
    for bad in ("1starts-with-digit", "has space", "x" * 129):
        err = fc_error(client.create_service, bad)
        assert err.status_code == 400 and err.err_code == "InvalidArgument"
        assert "serviceName" in err.message


def test_missing_service_operations_are_404(client: fc2.Client) -> None:
    for call in (client.update_service, client.delete_service, client.list_functions):
        err = fc_error(call, "no_such_service")
        assert err.status_code == 404 and err.err_code == "ServiceNotFound"


def test_delete_non_empty_service_is_refused(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(
        service, "f", "python3", "index.handler", codeDir=code_dir(index="def handler(e, c): return 1")
    )
    err = fc_error(client.delete_service, service)
    assert err.status_code == 409 and err.err_code == "ServiceNotEmpty"


def test_list_services_prefix_limit_next_token(client: fc2.Client) -> None:
    prefix = f"page_{uuid.uuid4().hex[:6]}_"
    names = [f"{prefix}{i:02d}" for i in range(7)]
    for name in names:
        client.create_service(name)
    try:
        seen, token = [], None
        while True:
            page = client.list_services(prefix=prefix, limit=3, nextToken=token).data
            assert len(page["services"]) <= 3
            seen += [s["serviceName"] for s in page["services"]]
            token = page.get("nextToken")
            if not token:
                break
        assert seen == names
        from_start = client.list_services(prefix=prefix, startKey=names[4]).data["services"]
        assert [s["serviceName"] for s in from_start] == names[4:]
        err = fc_error(client.list_services, limit=5000)
        assert err.status_code == 400 and "limit" in err.message
    finally:
        for name in names:
            client.delete_service(name)


def test_unknown_api_path_is_fc_json_404(server: Server, client: fc2.Client) -> None:
    err = fc_error(client._do_request, "GET", "/2016-08-15/nothing-here",
                   client._build_common_headers("GET", "/2016-08-15/nothing-here"))  # fmt: skip
    assert err.status_code == 404 and err.err_code == "PathNotFound"
