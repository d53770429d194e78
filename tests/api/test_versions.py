"""Versions, aliases and weighted (canary) routing through aliyun-fc2."""

from __future__ import annotations

import collections
import threading
from concurrent.futures import ThreadPoolExecutor

import fc2

from tests.api.test_services import fc_error

VERSIONED = "def handler(event, context):\n    return '{tag} ' + context.service.version_id\n"


def code(code_dir, tag: str) -> str:
    return code_dir(index=VERSIONED.format(tag=tag))


def publish_two(client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "fn", "python3", "index.handler", codeDir=code(code_dir, "one"))
    assert client.publish_version(service, "first").data["versionId"] == "1"
    client.update_function(service, "fn", runtime="python3", handler="index.handler", codeDir=code(code_dir, "two"))
    assert client.publish_version(service, "second").data["versionId"] == "2"


def test_versions_are_immutable_snapshots(client: fc2.Client, service: str, code_dir) -> None:
    publish_two(client, service, code_dir)
    client.update_function(service, "fn", runtime="python3", handler="index.handler", codeDir=code(code_dir, "three"))
    assert client.invoke_function(service, "fn", qualifier="1").data == b"one 1"
    assert client.invoke_function(service, "fn", qualifier="2").data == b"two 2"
    latest = client.invoke_function(service, "fn")
    assert latest.data == b"three LATEST"
    assert latest.headers["x-fc-invocation-service-version"] == "LATEST"
    assert (
        client.get_function(service, "fn", qualifier="1").data["codeChecksum"] != latest.headers["x-fc-code-checksum"]
    )

    backward = client.list_versions(service).data["versions"]
    assert [v["versionId"] for v in backward] == ["2", "1"]
    assert backward[0]["description"] == "second" and backward[0]["createdTime"]
    forward = client.list_versions(service, direction="FORWARD", limit=1).data
    assert [v["versionId"] for v in forward["versions"]] == ["1"] and forward["nextToken"] == "2"


def test_alias_weights_split_traffic(client: fc2.Client, service: str, code_dir) -> None:
    publish_two(client, service, code_dir)
    alias = client.create_alias(service, "prod", "1", description="canary", additionalVersionWeight={"2": 0.2})
    assert alias.data["versionId"] == "1" and alias.data["additionalVersionWeight"] == {"2": 0.2}
    assert client.get_alias(service, "prod").data["aliasName"] == "prod"
    assert [a["aliasName"] for a in client.list_aliases(service).data["aliases"]] == ["prod"]

    with ThreadPoolExecutor(8) as ex:
        served = list(ex.map(lambda _: client.invoke_function(service, "fn", qualifier="prod")
                             .headers["x-fc-invocation-service-version"], range(5000)))  # fmt: skip
    share = collections.Counter(served)["2"] / len(served)
    assert 0.17 <= share <= 0.23, f"version 2 served {share:.1%} of 5,000 calls, expected 20% ± 3%"


def test_shifting_weights_takes_effect_at_once_without_errors(client: fc2.Client, service: str, code_dir) -> None:
    publish_two(client, service, code_dir)
    client.create_alias(service, "live", "1", additionalVersionWeight={"2": 0.1})
    errors: list[Exception] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                client.invoke_function(service, "fn", qualifier="live")
            except Exception as error:  # every failure is recorded
                errors.append(error)

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for weight in (0.5, 1.0):
            client.update_alias(service, "live", "1", additionalVersionWeight={"2": weight})
        client.update_alias(service, "live", "2", additionalVersionWeight={})
        versions = {client.invoke_function(service, "fn", qualifier="live").headers["x-fc-invocation-service-version"]
                    for _ in range(20)}  # fmt: skip
        assert versions == {"2"}
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors


def test_version_and_alias_errors(client: fc2.Client, service: str, code_dir) -> None:
    publish_two(client, service, code_dir)
    client.create_alias(service, "pinned", "1", additionalVersionWeight={"2": 0.5})
    err = fc_error(client.delete_version, service, "1")
    assert err.status_code == 409 and "pinned" in err.message
    err = fc_error(client.delete_version, service, "2")
    assert err.status_code == 409
    err = fc_error(client.create_alias, service, "bad", "9")
    assert err.status_code == 404 and err.err_code == "VersionNotFound"
    err = fc_error(client.create_alias, service, "bad", "1", additionalVersionWeight={"2": 1.5})
    assert err.status_code == 400 and "additionalVersionWeight" in err.message
    err = fc_error(client.create_alias, service, "pinned", "1")
    assert err.status_code == 409 and err.err_code == "AliasAlreadyExists"
    err = fc_error(client.invoke_function, service, "fn", qualifier="nope")
    assert err.status_code == 404 and err.err_code == "AliasNotFound"
    err = fc_error(client.invoke_function, service, "fn", qualifier="42")
    assert err.status_code == 404 and err.err_code == "VersionNotFound"

    client.delete_alias(service, "pinned")
    client.delete_version(service, "1")
    err = fc_error(client.invoke_function, service, "fn", qualifier="1")
    assert err.status_code == 404 and err.err_code == "VersionNotFound"
