"""Functions: CRUD through aliyun-fc2, validation of every field, code packages, on-demand config."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import fc2
import pytest
import requests

from tests.api.test_services import fc_error

HELLO = "def handler(event, context):\n    return 'hello'\n"


def zip_b64(files: dict[str, str]) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return base64.b64encode(buf.getvalue()).decode()


def raw(client: fc2.Client, method: str, path: str, body: object) -> fc2.fc_exceptions.FcError:
    """Send a JSON body the SDK would not build itself; expect an FC error."""
    data = json.dumps(body).encode()
    headers = client._build_common_headers(method, path, {"content-length": str(len(data))})
    return fc_error(client._do_request, method, path, headers, body=data)


def test_function_crud(client: fc2.Client, service: str, code_dir) -> None:
    created = client.create_function(
        service, "fn", "python3.10", "index.handler", codeDir=code_dir(index=HELLO),
        description="d", memorySize=512, timeout=30, environmentVariables={"A": "1"}, instanceConcurrency=4,
    )  # fmt: skip
    data = created.data
    assert created.headers["etag"]
    assert data["functionName"] == "fn" and data["runtime"] == "python3.10"
    assert data["memorySize"] == 512 and data["timeout"] == 30 and data["instanceConcurrency"] == 4
    assert data["environmentVariables"] == {"A": "1"}
    assert data["codeSize"] > 0 and data["codeChecksum"].isdigit() and data["functionId"]
    assert data["instanceType"] == "e1" and data["initializationTimeout"] == 30

    got = client.get_function(service, "fn")
    assert got.data["codeChecksum"] == data["codeChecksum"] and got.headers["etag"] == created.headers["etag"]

    updated = client.update_function(service, "fn", runtime="python3.10", handler="index.handler", memorySize=1024)
    assert updated.data["memorySize"] == 1024 and updated.data["environmentVariables"] == {"A": "1"}
    cleared = client.update_function(
        service, "fn", runtime="python3.10", handler="index.handler", environmentVariables={}
    )
    assert cleared.data["environmentVariables"] == {}

    stale = fc_error(client.update_function, service, "fn", runtime="python3", handler="index.handler",
                     headers={"if-match": created.headers["etag"]})  # fmt: skip
    assert stale.status_code == 412

    listed = client.list_functions(service).data["functions"]
    assert [f["functionName"] for f in listed] == ["fn"]

    client.delete_function(service, "fn")
    err = fc_error(client.get_function, service, "fn")
    assert err.status_code == 404 and err.err_code == "FunctionNotFound"
    err = fc_error(client.delete_function, service, "fn")
    assert err.status_code == 404 and err.err_code == "FunctionNotFound"


def test_duplicate_function_is_409(client: fc2.Client, service: str, code_dir) -> None:
    path = code_dir(index=HELLO)
    client.create_function(service, "dup", "python3", "index.handler", codeDir=path)
    err = fc_error(client.create_function, service, "dup", "python3", "index.handler", codeDir=path)
    assert err.status_code == 409 and err.err_code == "FunctionAlreadyExists"


def test_function_in_missing_service_is_404(client: fc2.Client, code_dir) -> None:
    err = fc_error(
        client.create_function, "no_such_svc", "f", "python3", "index.handler", codeDir=code_dir(index=HELLO)
    )
    assert err.status_code == 404 and err.err_code == "ServiceNotFound"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"runtime": "nodejs14"}, "runtime"),
        ({"runtime": "python2.7"}, "runtime"),
        ({"handler": "nodot"}, "handler"),
        ({"handler": "index."}, "handler"),
        ({"memorySize": 100}, "memorySize"),
        ({"memorySize": 130}, "memorySize"),
        ({"memorySize": 32832}, "memorySize"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": 86401}, "timeout"),
        ({"instanceConcurrency": 0}, "instanceConcurrency"),
        ({"instanceConcurrency": 201}, "instanceConcurrency"),
        ({"environmentVariables": {"1BAD": "x"}}, "environmentVariables"),
        ({"environmentVariables": {"FC_X": "x"}}, "environmentVariables"),
        ({"environmentVariables": {"BIG": "x" * 5000}}, "environmentVariables"),
        ({"initializer": "bad"}, "initializer"),
    ],
)
def test_invalid_function_config_is_400_naming_the_field(client, service, code_dir, kwargs, field) -> None:
    args = {"runtime": "python3", "handler": "index.handler", **kwargs}
    err = fc_error(client.create_function, service, "bad_fn", args.pop("runtime"), args.pop("handler"),
                   codeDir=code_dir(index=HELLO), **args)  # fmt: skip
    assert err.status_code == 400 and err.err_code == "InvalidArgument"
    assert field in err.message


def test_all_supported_runtimes_are_accepted(client: fc2.Client, service: str, code_dir) -> None:
    path = code_dir(index=HELLO)
    for i, runtime in enumerate(["python3", "python3.9", "python3.10", "python3.12", "custom"]):
        assert (
            client.create_function(service, f"rt{i}", runtime, "index.handler", codeDir=path).data["runtime"] == runtime
        )


def test_invalid_function_name_is_400(client: fc2.Client, service: str, code_dir) -> None:
    err = fc_error(
        client.create_function, service, "bad name", "python3", "index.handler", codeDir=code_dir(index=HELLO)
    )
    assert err.status_code == 400 and "functionName" in err.message


def test_bad_code_packages(client: fc2.Client, service: str) -> None:
    path = f"/2016-08-15/services/{service}/functions"
    base = {"functionName": "c", "runtime": "python3", "handler": "index.handler"}
    err = raw(client, "POST", path, {**base, "code": {"zipFile": "not base64!"}})
    assert err.status_code == 400 and "code.zipFile" in err.message
    err = raw(client, "POST", path, {**base, "code": {"zipFile": base64.b64encode(b"plain text").decode()}})
    assert err.status_code == 400 and "zip" in err.message
    err = raw(client, "POST", path, {**base, "code": {"zipFile": zip_b64({"../escape.py": "x"})}})
    assert err.status_code == 400 and "unsafe path" in err.message
    err = raw(client, "POST", path, {**base, "code": {"zipFile": zip_b64({"/etc/evil.py": "x"})}})
    assert err.status_code == 400 and "unsafe path" in err.message
    err = raw(client, "POST", path, base)
    assert err.status_code == 400 and "code" in err.message


def test_oversized_code_is_413(client: fc2.Client, service: str) -> None:
    path = f"/2016-08-15/services/{service}/functions"
    big = "A" * (101 * 1024 * 1024 * 4 // 3)
    err = raw(client, "POST", path, {"functionName": "big", "runtime": "python3", "handler": "i.h",
                                     "code": {"zipFile": big}})  # fmt: skip
    assert err.status_code == 413 and err.err_code == "EntityTooLarge"


def test_unpacked_size_limit_is_413(client: fc2.Client, service: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(6):
            z.writestr(f"zeros{i}.bin", b"\0" * (90 * 1024 * 1024))
    body = {"functionName": "bomb", "runtime": "python3", "handler": "i.h",
            "code": {"zipFile": base64.b64encode(buf.getvalue()).decode()}}  # fmt: skip
    err = raw(client, "POST", f"/2016-08-15/services/{service}/functions", body)
    assert err.status_code == 413 and "unpacks" in err.message


def test_case_insensitive_request_keys(client: fc2.Client, service: str) -> None:
    body = {"FunctionName": "ci", "Runtime": "python3", "Handler": "index.handler",
            "MemorySize": 256, "Code": {"ZipFile": zip_b64({"index.py": HELLO})}}  # fmt: skip
    data = json.dumps(body).encode()
    path = f"/2016-08-15/services/{service}/functions"
    headers = client._build_common_headers("POST", path, {"content-length": str(len(data))})
    created = client._do_request("POST", path, headers, body=data).json()
    assert created["functionName"] == "ci" and created["memorySize"] == 256


def test_get_function_code_url_downloads_the_zip(client: fc2.Client, service: str, code_dir) -> None:
    created = client.create_function(service, "code", "python3", "index.handler", codeDir=code_dir(index=HELLO))
    code = client.get_function_code(service, "code").data
    assert code["checksum"] == created.data["codeChecksum"]
    r = requests.get(code["url"], timeout=10)
    assert r.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(r.content)).read("index.py").decode() == HELLO
    assert requests.get(code["url"].replace("signature=", "signature=0"), timeout=10).status_code == 403


def test_on_demand_config(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "od", "python3", "index.handler", codeDir=code_dir(index=HELLO))
    put = client.put_on_demand_config(service, "LATEST", "od", 7)
    assert put.data["resource"] == f"services/{service}.LATEST/functions/od"
    assert put.data["maximumInstanceCount"] == 7
    assert client.get_on_demand_config(service, "LATEST", "od").data["maximumInstanceCount"] == 7
    listed = client.list_on_demand_config(prefix=f"services/{service}.").data["configs"]
    assert [c["resource"] for c in listed] == [f"services/{service}.LATEST/functions/od"]
    err = fc_error(client.put_on_demand_config, service, "LATEST", "od", -1)
    assert err.status_code == 400 and "maximumInstanceCount" in err.message
    err = fc_error(client.put_on_demand_config, service, "LATEST", "nope", 1)
    assert err.status_code == 404 and err.err_code == "FunctionNotFound"
    err = fc_error(client.put_on_demand_config, service, "prod", "od", 1)
    assert err.status_code == 404 and err.err_code == "AliasNotFound"
    client.delete_on_demand_config(service, "LATEST", "od")
    err = fc_error(client.get_on_demand_config, service, "LATEST", "od")
    assert err.status_code == 404


def test_unknown_qualifier_is_404(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "q", "python3", "index.handler", codeDir=code_dir(index=HELLO))
    err = fc_error(client.get_function, service, "q", qualifier="7")
    assert err.status_code == 404 and err.err_code == "VersionNotFound"
    err = fc_error(client.invoke_function, service, "q", qualifier="prod")
    assert err.status_code == 404 and err.err_code == "AliasNotFound"
