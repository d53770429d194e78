"""Provisioned (reserved) instances end to end: provision configs, list_instances, scheduled and tracking targets."""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import fc2

from tests.api.test_layers import call
from tests.api.test_services import fc_error
from tests.conftest import wait_until

SLOW_INIT = """
import os, time
def init(context):
    time.sleep(0.5)
    with open(os.environ["INIT_LOG"], "a") as f:
        f.write(context.request_id + "\\n")
def handler(event, context):
    if event == b"sleep":
        time.sleep(3)
    return os.environ["FC_INSTANCE_ID"]
"""


def deploy(client: fc2.Client, service: str, code_dir, init_log: str) -> None:
    client.create_function(service, "fn", "python3", "index.handler", codeDir=code_dir(index=SLOW_INIT),
                           initializer="index.init", environmentVariables={"INIT_LOG": init_log})  # fmt: skip
    client.publish_version(service, "v1")
    client.create_alias(service, "prod", "1")


def init_log(workdir) -> str:
    """A file sandboxed instances may append to (pytest's tmp_path is not reachable for their uids)."""
    directory = tempfile.mkdtemp(prefix="inits-", dir=workdir)
    os.chmod(directory, 0o777)
    return os.path.join(directory, "inits")


def inits(path: str) -> int:
    return len(open(path).read().splitlines()) if os.path.exists(path) else 0


def instances(client: fc2.Client, service: str, qualifier: str = "prod") -> list[dict]:
    return client.list_instances(service, qualifier, "fn").data["instances"]


def provisioned(client: fc2.Client, service: str, n: int) -> list[dict] | None:
    found = instances(client, service)
    return found if len(found) == n and all(i["state"] == "provisioned" for i in found) else None


def test_provisioned_instances_serve_the_first_call_warm(make_server, code_dir, workdir) -> None:
    server = make_server(None, "--idle-timeout", "1")
    client = server.client()
    service = f"svc_{uuid.uuid4().hex[:8]}"
    client.create_service(service)
    log = init_log(workdir)
    deploy(client, service, code_dir, log)

    put = client.put_provision_config(service, "prod", "fn", 3).data
    assert put["resource"].endswith(f"#{service}#prod#fn") and put["target"] == 3
    ready = wait_until(lambda: provisioned(client, service, 3))
    assert {i["versionId"] for i in ready} == {"1"} and all(i["provisioned"] for i in ready)
    assert all(i["createdTime"] and i["age"] >= 0 for i in ready)
    assert inits(log) == 3  # initialized before any call
    got = client.get_provision_config(service, "prod", "fn").data
    assert (got["target"], got["current"]) == (3, 3)
    listed = client.list_provision_configs(service, "prod").data["provisionConfigs"]
    assert [c["resource"] for c in listed] == [put["resource"]]

    start = time.perf_counter()
    first = client.invoke_function(service, "fn", qualifier="prod")
    elapsed = time.perf_counter() - start
    assert first.data.decode() in {i["instanceId"] for i in ready}
    assert elapsed < 0.4, f"first call took {elapsed:.3f} s: an initializer (0.5 s) ran"
    assert inits(log) == 3

    ids = {i["instanceId"] for i in ready}
    deadline = time.monotonic() + 2.5  # well past the 1 s idle timeout: provisioned instances are kept
    while time.monotonic() < deadline:
        assert {i["instanceId"] for i in instances(client, service)} == ids
        time.sleep(0.1)

    client.put_provision_config(service, "prod", "fn", 0)
    wait_until(lambda: not instances(client, service))
    assert client.get_provision_config(service, "prod", "fn").data["current"] == 0
    client.delete_alias(service, "prod")
    client.delete_function(service, "fn")


def test_provision_config_errors(client: fc2.Client, service: str, code_dir, workdir) -> None:
    deploy(client, service, code_dir, init_log(workdir))
    err = fc_error(client.put_provision_config, service, "LATEST", "fn", 1)
    assert err.status_code == 400 and "LATEST" in err.message
    err = fc_error(client.put_provision_config, service, "nope", "fn", 1)
    assert err.status_code == 404 and err.err_code == "AliasNotFound"
    err = fc_error(client.put_provision_config, service, "prod", "missing", 1)
    assert err.status_code == 404 and err.err_code == "FunctionNotFound"
    err = fc_error(client.put_provision_config, service, "prod", "fn", -1)
    assert err.status_code == 400 and "target" in err.message
    path = f"/2016-08-15/services/{service}.prod/functions/fn/provision-config"
    err = fc_error(call, client, "PUT", path, {"target": 1, "scheduledActions": [{"name": "a", "target": 1,
                   "scheduleExpression": "cron(bad)"}]})  # fmt: skip
    assert err.status_code == 400 and "scheduleExpression" in err.message
    err = fc_error(call, client, "PUT", path, {"target": 1, "targetTrackingPolicies": [{"name": "t",
                   "metricTarget": 2, "minCapacity": 1, "maxCapacity": 2}]})  # fmt: skip
    assert err.status_code == 400 and "metricTarget" in err.message
    assert client.get_provision_config(service, "prod", "fn").data["target"] == 0  # nothing configured


def test_scheduled_actions_and_target_tracking(client: fc2.Client, service: str, code_dir, workdir) -> None:
    deploy(client, service, code_dir, init_log(workdir))
    path = f"/2016-08-15/services/{service}.prod/functions/fn/provision-config"
    past = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    actions = [{"name": "morning", "target": 2, "scheduleExpression": f"at({past})"},
               {"name": "never", "target": 5, "scheduleExpression": "cron(0 0 0 1 1 ?)",
                "startTime": "2099-01-01T00:00:00Z"}]  # fmt: skip
    put = call(client, "PUT", path, {"target": 0, "scheduledActions": actions})
    assert put["target"] == 0 and [a["name"] for a in put["scheduledActions"]] == ["morning", "never"]
    wait_until(lambda: provisioned(client, service, 2))  # the action that fired last set the target

    policy = {"name": "track", "metricType": "ProvisionedConcurrencyUtilization", "metricTarget": 0.5,
              "minCapacity": 1, "maxCapacity": 3}  # fmt: skip
    call(client, "PUT", path, {"target": 2, "targetTrackingPolicies": [policy]})
    wait_until(lambda: provisioned(client, service, 1))  # no load: minCapacity
    threads = [threading.Thread(target=client.invoke_function, args=(service, "fn"), kwargs={"qualifier": "prod",
               "payload": b"sleep"}) for _ in range(2)]  # fmt: skip
    for t in threads:
        t.start()
    try:  # 2 busy at a 0.5 target would want 4: capped at maxCapacity 3
        wait_until(lambda: sum(i["provisioned"] for i in instances(client, service)) == 3, timeout=10)
    finally:
        for t in threads:
            t.join()
    call(client, "PUT", path, {"target": 0})
    wait_until(lambda: not any(i["provisioned"] for i in instances(client, service)))


def test_provision_config_survives_restart(make_server, code_dir, workdir) -> None:
    data_dir = workdir / f"data-{uuid.uuid4().hex[:8]}"
    server = make_server(data_dir)
    client = server.client()
    client.create_service("svc")
    deploy(client, "svc", code_dir, init_log(workdir))
    client.put_provision_config("svc", "prod", "fn", 2)
    wait_until(lambda: provisioned(client, "svc", 2))
    server.stop()
    restarted = make_server(data_dir).client()
    wait_until(lambda: provisioned(restarted, "svc", 2))
    assert restarted.get_provision_config("svc", "prod", "fn").data["target"] == 2
    restarted.put_provision_config("svc", "prod", "fn", 0)


def test_list_instances_of_latest(client: fc2.Client, service: str, code_dir) -> None:
    source = "import os\ndef handler(e, c):\n    return os.environ['FC_INSTANCE_ID']\n"
    client.create_function(service, "fn", "python3", "index.handler", codeDir=code_dir(index=source))
    instance_id = client.invoke_function(service, "fn").data.decode()
    (info,) = client.list_instances(service, "LATEST", "fn").data["instances"]
    assert (info["instanceId"], info["versionId"], info["state"], info["provisioned"]) == (
        instance_id, "LATEST", "idle", False)  # fmt: skip
    assert client.list_instances(service, "LATEST", "fn", params={"instanceIds": ["nope"]}).data["instances"] == []
    err = fc_error(client.list_instances, service, "LATEST", "missing")
    assert err.status_code == 404
