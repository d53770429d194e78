"""Invocation records, function logs, usage and /metrics through the real API."""

from __future__ import annotations

import email.utils
import math
import threading

import fc2
import requests
from prometheus_client.parser import text_string_to_metric_families

from openfc.auth import authorization
from tests.api.test_services import fc_error
from tests.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Server, wait_until

CHATTY = """
import logging, time
def handler(event, context):
    text = event.decode()
    if text == "fail":
        raise RuntimeError("asked to fail")
    if text.startswith("sleep"):
        time.sleep(float(text[5:]))
    print("echo", text)
    logging.getLogger().warning("warned %s", text)
    return text.upper()
"""


def api_get(server: Server, path: str, **params: object) -> dict:
    headers = {"date": email.utils.formatdate(usegmt=True), "content-type": "application/json"}
    headers["authorization"] = authorization(ACCESS_KEY_ID, ACCESS_KEY_SECRET, "GET", headers, path)
    r = requests.get(server.endpoint + path, params=params, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def records(server: Server, service: str, function: str, **params: object) -> list[dict]:
    return api_get(server, f"/2016-08-15/services/{service}/functions/{function}/invocation-records", **params)[
        "records"
    ]


def test_every_call_leaves_a_record(server: Server, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "rec", "python3", "index.handler", codeDir=code_dir(index=CHATTY), memorySize=512)
    ok = client.invoke_function(service, "rec", payload=b"hello", headers={"x-fc-trace-id": "trace-abc"})
    fc_error(client.invoke_function, service, "rec", payload=b"fail")
    got = wait_until(lambda: len(found := records(server, service, "rec")) == 2 and found)
    failed, succeeded = got  # newest first
    assert succeeded["requestId"] == ok.headers["x-fc-request-id"]
    assert succeeded["status"] == "Succeeded" and succeeded["errorType"] == ""
    assert succeeded["traceId"] == "trace-abc" and succeeded["invocationType"] == "Sync"
    assert succeeded["coldStart"] is True and failed["coldStart"] is False
    assert succeeded["memoryMB"] == 512 and succeeded["bytesIn"] == 5 and succeeded["bytesOut"] == 5
    assert succeeded["billedDurationMs"] == math.ceil(succeeded["durationMs"])
    assert succeeded["versionId"] == "LATEST" and succeeded["qualifier"] == "LATEST"
    assert failed["status"] == "Failed" and failed["errorType"] == "UnhandledInvocationError"

    only = records(server, service, "rec", status="Failed")
    assert [r["requestId"] for r in only] == [failed["requestId"]]
    page = api_get(server, f"/2016-08-15/services/{service}/functions/rec/invocation-records", limit=1)
    assert len(page["records"]) == 1 and page["nextToken"]
    rest = records(server, service, "rec", limit=1, nextToken=page["nextToken"])
    assert rest[0]["requestId"] == succeeded["requestId"]


def test_throttled_calls_are_recorded(server: Server, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "thr", "python3", "index.handler", codeDir=code_dir(index=CHATTY), timeout=30)
    client.put_on_demand_config(service, "LATEST", "thr", 1)
    slow = threading.Thread(target=client.invoke_function, args=(service, "thr"), kwargs={"payload": b"sleep3"})
    slow.start()

    def throttled() -> bool:
        try:
            client.invoke_function(service, "thr", payload=b"x")
        except fc2.fc_exceptions.FcError as err:
            return err.status_code == 429
        return False

    wait_until(throttled)
    slow.join()
    found = wait_until(lambda: [r for r in records(server, service, "thr") if r["status"] == "Throttled"])
    assert found[0]["errorType"] == "ResourceThrottled" and found[0]["billedDurationMs"] == 0


def test_logs_by_request_id_text_and_follow(server: Server, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "logs", "python3", "index.handler", codeDir=code_dir(index=CHATTY))
    first = client.invoke_function(service, "logs", payload=b"alpha").headers["x-fc-request-id"]
    client.invoke_function(service, "logs", payload=b"beta")
    path = f"/2016-08-15/services/{service}/functions/logs/logs"

    lines = wait_until(lambda: api_get(server, path, requestId=first)["logs"])
    messages = [x["message"] for x in lines]
    assert "echo alpha" in messages and all(x["requestId"] == first for x in lines)
    assert any(f"{first} [WARNING] warned alpha" in m for m in messages)
    assert [x["message"] for x in api_get(server, path, text="echo beta")["logs"]] == ["echo beta"]

    cursor = api_get(server, path)["cursor"]
    result: dict = {}
    follower = threading.Thread(target=lambda: result.update(api_get(server, path, after=cursor, wait=20)))
    follower.start()
    client.invoke_function(service, "logs", payload=b"gamma")
    follower.join(30)
    assert "echo gamma" in [x["message"] for x in result["logs"]]
    assert result["cursor"] > cursor


def test_usage_totals_equal_the_records(server: Server, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(
        service, "meter", "python3", "index.handler", codeDir=code_dir(index=CHATTY), memorySize=1024
    )
    for payload in (b"one", b"two", b"three", b"fail"):
        try:
            client.invoke_function(service, "meter", payload=payload)
        except fc2.fc_exceptions.FcError:
            pass
    recs = wait_until(lambda: len(found := records(server, service, "meter")) == 4 and found)
    usage = api_get(server, "/2016-08-15/usage", serviceName=service, functionName="meter")
    (row,) = usage["usage"]
    assert row["invocations"] == 4 and row["errors"] == 1
    assert math.isclose(row["gbSeconds"], sum(r["memoryMB"] / 1024 * r["billedDurationMs"] / 1000 for r in recs))
    assert row["bytesIn"] == sum(r["bytesIn"] for r in recs) and row["bytesOut"] == sum(r["bytesOut"] for r in recs)
    assert usage["totals"]["invocations"] == 4 and usage["estimate"]["monthly"] > 0
    assert usage["prices"]["gb_second"] > 0


def test_metrics_in_prometheus_format(server: Server, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "met", "python3", "index.handler", codeDir=code_dir(index=CHATTY))
    for _ in range(3):
        client.invoke_function(service, "met", payload=b"x")
    families = {f.name: f for f in text_string_to_metric_families(requests.get(server.endpoint + "/metrics").text)}
    ours = {"service": service, "function": "met", "qualifier": "LATEST"}

    def value(family: str, sample: str, **labels: str) -> float:
        return sum(s.value for s in families[family].samples
                   if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))  # fmt: skip

    assert value("openfc_invocations", "openfc_invocations_total", status="Succeeded", **ours) == 3
    assert value("openfc_cold_starts", "openfc_cold_starts_total", **ours) == 1
    assert value("openfc_invocation_duration_seconds", "openfc_invocation_duration_seconds_count", **ours) == 3
    assert value("openfc_instances", "openfc_instances", service=service, function="met") == 1
    for family in families.values():
        for sample in family.samples:
            assert "request" not in "".join(sample.labels), "no unbounded labels such as request ids"


def test_async_calls_keep_their_trace_id(server: Server, client: fc2.Client, service: str, code_dir) -> None:
    client.create_function(service, "traced", "python3", "index.handler", codeDir=code_dir(index=CHATTY))
    headers = {"x-fc-invocation-type": "Async", "x-fc-trace-id": "trace-async"}
    accepted = client.invoke_function(service, "traced", payload=b"later", headers=headers)
    request_id = accepted.headers["x-fc-request-id"]
    found = wait_until(lambda: records(server, service, "traced", requestId=request_id), timeout=30)
    assert found[0]["traceId"] == "trace-async" and found[0]["invocationType"] == "Async"
    lines = api_get(server, f"/2016-08-15/services/{service}/functions/traced/logs", requestId=request_id)["logs"]
    assert lines and all(x["traceId"] == "trace-async" for x in lines)


def test_trace_id_follows_async_destination_and_workflow(server: Server, client: fc2.Client, service: str,
                                                         code_dir) -> None:  # fmt: skip
    import json

    import boto3

    code = code_dir(index="def handler(event, context):\n    return context.tracing.span_context\n")
    for name in ("first", "after", "step"):
        client.create_function(service, name, "python3", "index.handler", codeDir=code)
    after = f"acs:fc:::services/{service}.LATEST/functions/after"
    client.put_function_async_invoke_config(
        service, "LATEST", "first", {"destinationConfig": {"onSuccess": {"destination": after}}}
    )
    headers = {"x-fc-invocation-type": "Async", "x-fc-trace-id": "trace-chain"}
    client.invoke_function(service, "first", payload=b"{}", headers=headers)
    for name in ("first", "after"):
        found = wait_until(lambda name=name: records(server, service, name), timeout=30)
        assert found[0]["traceId"] == "trace-chain", name

    sfn = boto3.client("stepfunctions", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=ACCESS_KEY_SECRET)  # fmt: skip
    definition = {"StartAt": "Step", "States": {"Step": {
        "Type": "Task", "Resource": f"acs:fc:::services/{service}.LATEST/functions/step", "End": True}}}  # fmt: skip
    machine = sfn.create_state_machine(name=f"trace-{service}", definition=json.dumps(definition),
                                       roleArn="arn:aws:iam::0:role/x")["stateMachineArn"]  # fmt: skip
    execution = sfn.start_execution(stateMachineArn=machine, input="{}", traceHeader="trace-chain")["executionArn"]
    done = wait_until(lambda: (d := sfn.describe_execution(executionArn=execution))["status"] != "RUNNING" and d)
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == "trace-chain"
    (step,) = wait_until(lambda: records(server, service, "step"))
    assert step["traceId"] == "trace-chain" and step["invocationType"] == "Workflow"
    sfn.delete_state_machine(stateMachineArn=machine)


def test_http_trigger_calls_are_recorded(server: Server, client: fc2.Client, service: str, code_dir) -> None:
    wsgi = "def handler(environ, start_response):\n    start_response('200 OK', [])\n    return [b'web']\n"
    client.create_function(service, "web", "python3", "index.handler", codeDir=code_dir(index=wsgi))
    client.create_trigger(service, "web", "page", "http", {"authType": "anonymous", "methods": ["GET"]}, None, None)
    r = requests.get(f"{server.endpoint}/2016-08-15/proxy/{service}/web/hello", headers={"x-fc-trace-id": "t-web"})
    assert r.status_code == 200 and r.content == b"web"
    (found,) = wait_until(lambda: records(server, service, "web"))
    assert found["invocationType"] == "HTTP" and found["traceId"] == "t-web" and found["status"] == "Succeeded"
    assert found["bytesOut"] == 3


def test_metrics_for_queue_dead_letters_and_workflows(server: Server, client: fc2.Client, service: str,
                                                      code_dir) -> None:  # fmt: skip
    import json

    import boto3

    failing = "def handler(event, context):\n    raise RuntimeError('no')\n"
    client.create_function(service, "bad", "python3", "index.handler", codeDir=code_dir(index=failing))
    client.put_function_async_invoke_config(service, "LATEST", "bad", {"maxAsyncRetryAttempts": 0})
    client.invoke_function(service, "bad", payload=b"{}", headers={"x-fc-invocation-type": "Async"})
    sfn = boto3.client("stepfunctions", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=ACCESS_KEY_SECRET)  # fmt: skip
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}}}
    machine = sfn.create_state_machine(name=f"m-{service}", definition=json.dumps(definition),
                                       roleArn="arn:aws:iam::0:role/x")["stateMachineArn"]  # fmt: skip
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    wait_until(lambda: sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED")

    def scrape() -> dict:
        text = requests.get(server.endpoint + "/metrics", timeout=10).text
        return {f.name: f for f in text_string_to_metric_families(text)}

    def dead_letters() -> float:
        return sum(s.value for s in scrape()["openfc_dead_letters"].samples
                   if s.labels == {"service": service, "qualifier": "LATEST", "function": "bad"})  # fmt: skip

    assert wait_until(lambda: dead_letters() == 1, timeout=30)
    families = scrape()
    assert "openfc_async_queue_depth" in families and "openfc_async_oldest_event_age_seconds" in families
    succeeded = [s.value for s in families["openfc_workflow_executions"].samples if s.labels["status"] == "SUCCEEDED"]
    assert succeeded and succeeded[0] >= 1
    transitions = families["openfc_workflow_state_transitions"].samples
    assert sum(s.value for s in transitions if s.name.endswith("_total")) >= 2
    sfn.delete_state_machine(stateMachineArn=machine)


def test_provisioned_instances_are_metered(make_server, code_dir) -> None:
    node = make_server(None, OPENFC_METER_INTERVAL="0.2")
    client = node.client()
    client.create_service("metered")
    client.create_function("metered", "fn", "python3", "index.handler", memorySize=512,
                           codeDir=code_dir(index="def handler(event, context):\n    return 'x'\n"))  # fmt: skip
    client.publish_version("metered")
    client.create_alias("metered", "prod", "1")
    client.put_provision_config("metered", "prod", "fn", 2)

    def provisioned_gb_seconds() -> float:
        (row,) = api_get(node, "/2016-08-15/usage", serviceName="metered")["usage"] or [{"provisionedGbSeconds": 0}]
        return float(row["provisionedGbSeconds"])

    first = wait_until(provisioned_gb_seconds, timeout=30)
    assert wait_until(lambda: provisioned_gb_seconds() > first + 0.2, timeout=30)
