"""Layers end to end: publish/list/get/delete through signed FC requests, functions that use them via aliyun-fc2."""

from __future__ import annotations

import json
import urllib.parse
import uuid

import fc2
import requests

from tests.api.test_functions import zip_b64
from tests.api.test_services import fc_error

PREFIX = "/2016-08-15"
PROBE = """
import shared, onlyinlayer
def handler(event, context):
    return f"{shared.WHO} {onlyinlayer.VALUE}"
"""


def call(client: fc2.Client, method: str, path: str, body: object = None, params: dict | None = None):
    """A signed FC request for an API aliyun-fc2 2.5.2 has no method for; returns the parsed JSON (or None)."""
    data = json.dumps(body).encode() if body is not None else b""
    headers = client._build_common_headers(method, urllib.parse.unquote(path), {"content-length": str(len(data))})
    response = client._do_request(method, path, headers, params=params, body=data or None)
    return response.json() if response.content else None


def publish(client: fc2.Client, name: str, files: dict[str, str], runtimes=("python3", "python3.10")) -> dict:
    body = {"description": f"layer {name}", "code": {"zipFile": zip_b64(files)}, "compatibleRuntime": list(runtimes)}
    return call(client, "POST", f"{PREFIX}/layers/{name}/versions", body)


def create_with_layers(client: fc2.Client, service: str, name: str, layers: list[str], **extra) -> dict:
    body = {"functionName": name, "runtime": "python3", "handler": "index.handler",
            "code": {"zipFile": zip_b64({"index.py": PROBE})}, "layers": layers, **extra}  # fmt: skip
    return call(client, "POST", f"{PREFIX}/services/{service}/functions", body)


def layer_name() -> str:
    return f"lyr_{uuid.uuid4().hex[:8]}"


def test_layer_version_lifecycle(client: fc2.Client) -> None:
    name = layer_name()
    first = publish(client, name, {"python/shared.py": "WHO = 1\n"})
    second = publish(client, name, {"python/shared.py": "WHO = 2\n"})
    assert (first["layerName"], first["version"], second["version"]) == (name, 1, 2)
    assert first["arn"].startswith("acs:fc:") and first["arn"].endswith(f":layers/{name}/versions/1")
    assert first["compatibleRuntime"] == ["python3", "python3.10"] and first["description"] == f"layer {name}"
    assert first["codeSize"] > 0 and first["codeChecksum"].isdigit() and first["createTime"] and first["acl"] == 0
    assert requests.get(first["code"]["location"], timeout=10).status_code == 200  # the zip can be downloaded

    got = call(client, "GET", f"{PREFIX}/layers/{name}/versions/2")
    assert got["arn"] == second["arn"] and got["codeChecksum"] == second["codeChecksum"]
    by_arn = call(client, "GET", f"{PREFIX}/layerarn/{urllib.parse.quote(first['arn'], safe='')}")
    assert by_arn["version"] == 1
    versions = call(client, "GET", f"{PREFIX}/layers/{name}/versions", params={"limit": "1"})
    assert [v["version"] for v in versions["layers"]] == [1] and versions["nextVersion"] == 2
    listed = call(client, "GET", f"{PREFIX}/layers", params={"prefix": name})["layers"]
    assert [(layer["layerName"], layer["version"]) for layer in listed] == [(name, 2)]

    call(client, "DELETE", f"{PREFIX}/layers/{name}/versions/2")
    err = fc_error(call, client, "GET", f"{PREFIX}/layers/{name}/versions/2")
    assert err.status_code == 404 and err.err_code == "LayerNotFound"
    assert publish(client, name, {"python/shared.py": "WHO = 3\n"})["version"] == 3  # numbers are not reused


def test_later_layer_wins_and_layer_only_libraries_import(client: fc2.Client, service: str) -> None:
    base = publish(client, layer_name(), {"python/shared.py": "WHO = 'base'\n", "python/onlyinlayer.py": "VALUE = 7\n"})
    override = publish(client, layer_name(), {"python/shared.py": "WHO = 'override'\n"})
    created = create_with_layers(client, service, "fn", [base["arn"], override["arn"]])
    assert created["layers"] == [base["arn"], override["arn"]]
    assert client.get_function(service, "fn").data["layers"] == [base["arn"], override["arn"]]
    assert client.invoke_function(service, "fn").data == b"override 7"

    body = {"runtime": "python3", "handler": "index.handler", "layers": [override["arn"], base["arn"]]}
    updated = call(client, "PUT", f"{PREFIX}/services/{service}/functions/fn", body)
    assert updated["layers"] == [override["arn"], base["arn"]]
    assert client.invoke_function(service, "fn").data == b"base 7"


def test_deleting_a_layer_in_use_leaves_functions_working(client: fc2.Client, service: str) -> None:
    name = layer_name()
    layer = publish(client, name, {"python/shared.py": "WHO = 'kept'\n", "python/onlyinlayer.py": "VALUE = 1\n"})
    create_with_layers(client, service, "fn", [layer["arn"]])
    assert client.invoke_function(service, "fn").data == b"kept 1"
    call(client, "DELETE", f"{PREFIX}/layers/{name}/versions/1")
    # a configuration change starts a new instance: the layer's files still come with the function
    client.update_function(service, "fn", runtime="python3", handler="index.handler", environmentVariables={"X": "1"})
    assert client.invoke_function(service, "fn").data == b"kept 1"
    err = fc_error(create_with_layers, client, service, "fn2", [layer["arn"]])
    assert err.status_code == 400 and "does not exist" in err.message


def test_invalid_layer_lists_are_400(client: fc2.Client, service: str) -> None:
    layer = publish(client, layer_name(), {"python/shared.py": "WHO = 1\n"}, runtimes=("custom",))
    cases = [
        ("not-a-list", "list of layer version ARNs"),
        (["acs:fc:x"], "not a layer ARN"),
        ([layer["arn"].replace("/versions/1", "/versions/9")], "does not exist"),
        ([layer["arn"]], "not compatible with runtime 'python3'"),
        ([layer["arn"]] * 2, "same layer version twice"),
        ([f"acs:fc:r:a:layers/l{i}/versions/1" for i in range(6)], "at most 5"),
    ]
    for layers, message in cases:
        err = fc_error(create_with_layers, client, service, "bad", layers)
        assert err.status_code == 400 and err.err_code == "InvalidArgument" and message in err.message, err.message
    err = fc_error(call, client, "POST", f"{PREFIX}/layers/{layer_name()}/versions", {"compatibleRuntime": ["python3"]})
    assert err.status_code == 400 and "code" in err.message
    err = fc_error(call, client, "GET", f"{PREFIX}/layerarn/{urllib.parse.quote('acs:fc:x:y:layers/n/versions/1')}")
    assert err.status_code == 404


def test_layer_from_object_storage(s3_server, code_dir) -> None:
    import base64

    from tests.conftest import s3_client

    client, s3 = s3_server.client(), s3_client(s3_server)
    bucket = f"layers-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="lib.zip", Body=base64.b64decode(zip_b64({"python/fromoss.py": "V = 'oss'\n"})))
    body = {"code": {"ossBucketName": bucket, "ossObjectName": "lib.zip"}, "compatibleRuntime": ["python3"]}
    layer = call(client, "POST", f"{PREFIX}/layers/{layer_name()}/versions", body)
    service = f"svc_{uuid.uuid4().hex[:8]}"
    client.create_service(service)
    src = "import fromoss\ndef handler(event, context):\n    return fromoss.V\n"
    call(client, "POST", f"{PREFIX}/services/{service}/functions",
         {"functionName": "f", "runtime": "python3", "handler": "index.handler",
          "code": {"zipFile": zip_b64({"index.py": src})}, "layers": [layer["arn"]]})  # fmt: skip
    assert client.invoke_function(service, "f").data == b"oss"
    missing = {"code": {"ossBucketName": bucket, "ossObjectName": "nope.zip"}, "compatibleRuntime": ["python3"]}
    err = fc_error(call, client, "POST", f"{PREFIX}/layers/{layer_name()}/versions", missing)
    assert err.status_code in (400, 404)
    client.delete_function(service, "f")
    client.delete_service(service)
