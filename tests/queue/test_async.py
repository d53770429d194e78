"""Async invocation through aliyun-fc2 against a real node: 202 at once, retries, destinations, age, records."""

from __future__ import annotations

import time
import uuid

import fc2

from tests.api.test_services import fc_error
from tests.conftest import wait_until
from tests.queue.conftest import RECORDER, SINK, signed_request

ASYNC = {"x-fc-invocation-type": "Async"}


def invoke_async(client: fc2.Client, service: str, function: str, payload: bytes, **headers: str):
    return client.invoke_function(service, function, payload=payload, headers={**ASYNC, **headers})


def arn(service: str, function: str, qualifier: str = "LATEST") -> str:
    return f"acs:fc:::services/{service}.{qualifier}/functions/{function}"


def test_async_call_returns_at_once_then_the_function_runs(aclient, aservice, make_function, obs) -> None:
    fn = make_function(RECORDER, log=obs.path("runs"))
    aclient.invoke_function(aservice, fn, payload=b"warm")  # the cold start is not what is measured
    start = time.perf_counter()
    r = invoke_async(aclient, aservice, fn, b"sleep:1.5")
    elapsed = time.perf_counter() - start
    assert r.headers["x-fc-request-id"]
    assert r.data == b""
    assert elapsed < 0.5, f"the async call took {elapsed:.3f} s"
    assert obs.wait_lines("runs", 2) == ["warm", "sleep:1.5"]


def test_async_errors_unknown_function_and_payload_limit(aclient, aservice, make_function, obs) -> None:
    missing = fc_error(invoke_async, aclient, aservice, "no_such_function", b"x")
    assert (missing.status_code, missing.err_code) == (404, "FunctionNotFound")
    fn = make_function(RECORDER, log=obs.path("runs"))
    big = fc_error(invoke_async, aclient, aservice, fn, b"x" * (128 * 1024 + 1))
    assert (big.status_code, big.err_code) == (413, "EntityTooLarge")
    assert "128 KB" in str(big.message)
    invoke_async(aclient, aservice, fn, b"y" * (128 * 1024 - 10))  # at the limit: accepted


def test_two_retries_then_on_failure_destination_then_redrive(aclient, aservice, make_function, obs) -> None:
    sink = make_function(SINK, log=obs.path("failures"))
    fn = make_function(RECORDER, log=obs.path("attempts"))
    aclient.put_function_async_invoke_config(
        aservice, "LATEST", fn,
        {"maxAsyncRetryAttempts": 2, "destinationConfig": {"onFailure": {"destination": arn(aservice, sink)}}},
    )  # fmt: skip
    request_id = invoke_async(aclient, aservice, fn, b"fail-payload-42").headers["x-fc-request-id"]
    obs.wait_lines("failures", 1)
    (event,) = obs.events("failures")
    assert obs.lines("attempts") == ["fail-payload-42"] * 3  # 1 attempt + 2 retries, settled before the event
    assert event["requestPayload"] == "fail-payload-42"
    assert "it failed on purpose: fail-payload-42" in event["responsePayload"]
    assert event["requestContext"]["requestId"] == request_id
    assert event["requestContext"]["functionArn"].endswith(f"services/{aservice}.LATEST/functions/{fn}")
    assert event["requestContext"]["approximateInvokeCount"] == 3
    assert event["responseContext"]["functionError"] == "UnhandledInvocationError"

    letters = f"/2016-08-15/services/{aservice}.LATEST/functions/{fn}/dead-letters"
    (letter,) = signed_request(aclient, "GET", letters).json()["deadLetters"]
    assert (letter["requestId"], letter["status"], letter["attempts"]) == (request_id, "Failed", 3)
    assert "it failed on purpose" in letter["errorMessage"]

    aclient.put_function_async_invoke_config(aservice, "LATEST", fn, {"maxAsyncRetryAttempts": 0})
    assert signed_request(aclient, "POST", f"{letters}/{letter['id']}/redrive").status_code == 202
    # Re-driven with 0 retries: one more attempt, then dead again (no onFailure configured any more).
    obs.wait_lines("attempts", 4)
    (again,) = wait_until(lambda: signed_request(aclient, "GET", letters).json()["deadLetters"])
    assert (again["id"], again["attempts"]) == (letter["id"], 1)
    assert obs.lines("attempts") == ["fail-payload-42"] * 4
    assert len(obs.lines("failures")) == 1


def test_zero_retries_means_one_attempt(aclient, aservice, make_function, obs) -> None:
    sink = make_function(SINK, log=obs.path("failures"))
    fn = make_function(RECORDER, log=obs.path("attempts"))
    aclient.put_function_async_invoke_config(
        aservice, "LATEST", fn,
        {"maxAsyncRetryAttempts": 0, "destinationConfig": {"onFailure": {"destination": arn(aservice, sink)}}},
    )  # fmt: skip
    invoke_async(aclient, aservice, fn, b"fail-once")
    obs.wait_lines("failures", 1)
    assert obs.lines("attempts") == ["fail-once"]


def test_on_success_destination_receives_the_response(aclient, aservice, make_function, obs) -> None:
    sink = make_function(SINK, log=obs.path("successes"))
    fn = make_function(RECORDER, log=obs.path("runs"))
    aclient.put_function_async_invoke_config(
        aservice, "LATEST", fn, {"DestinationConfig": {"OnSuccess": {"Destination": arn(aservice, sink)}}}
    )
    invoke_async(aclient, aservice, fn, b"hello")
    obs.wait_lines("successes", 1)
    (event,) = obs.events("successes")
    assert event["requestPayload"] == "hello"
    assert event["responsePayload"] == "done hello"
    assert event["requestContext"]["approximateInvokeCount"] == 1
    assert event["responseContext"] == {"statusCode": 200, "functionError": ""}


def test_event_older_than_max_age_is_not_run(aclient, aservice, make_function, obs) -> None:
    sink = make_function(SINK, log=obs.path("failures"))
    fn = make_function(RECORDER, log=obs.path("runs"), max_instances=1)
    aclient.put_function_async_invoke_config(
        aservice, "LATEST", fn,
        {"maxAsyncEventAgeInSeconds": 1, "statefulInvocation": True,
         "destinationConfig": {"onFailure": {"destination": arn(aservice, sink)}}},
    )  # fmt: skip
    invoke_async(aclient, aservice, fn, b"sleep:2", **{"x-fc-stateful-async-invocation-id": "blocker"})
    invoke_async(aclient, aservice, fn, b"too-late", **{"x-fc-stateful-async-invocation-id": "late"})
    obs.wait_lines("failures", 1)
    (event,) = obs.events("failures")
    assert event["requestPayload"] == "too-late"
    assert event["requestContext"]["condition"] == "EventAgeExceeded"
    assert "too-late" not in obs.lines("runs")
    base = f"/2016-08-15/services/{aservice}/functions/{fn}/stateful-async-invocations"
    assert signed_request(aclient, "GET", base + "/late").json()["status"] == "Expired"
    letters = signed_request(aclient, "GET", f"/2016-08-15/services/{aservice}.LATEST/functions/{fn}/dead-letters")
    assert [x["status"] for x in letters.json()["deadLetters"]] == ["Expired"]


def test_stateful_invocations_get_list_stop_and_duplicate_ids(aclient, aservice, make_function, obs) -> None:
    fn = make_function(RECORDER, log=obs.path("runs"), max_instances=1)
    aclient.put_function_async_invoke_config(aservice, "LATEST", fn, {"statefulInvocation": True})
    base = f"/2016-08-15/services/{aservice}/functions/{fn}/stateful-async-invocations"

    gate = str(obs.dir / "gate")  # not created yet: job_a holds the only instance until the test creates it
    first = invoke_async(
        aclient, aservice, fn, f"gate:{gate}".encode(), **{"x-fc-stateful-async-invocation-id": "job_a"}
    )
    assert first.headers["x-fc-stateful-async-invocation-id"] == "job_a"
    invoke_async(aclient, aservice, fn, b"job-b", **{"x-fc-stateful-async-invocation-id": "job_b"})
    dup = fc_error(invoke_async, aclient, aservice, fn, b"again", **{"x-fc-stateful-async-invocation-id": "job_a"})
    assert (dup.status_code, dup.err_code) == (409, "StatefulAsyncInvocationAlreadyExists")

    stopped = signed_request(aclient, "PUT", base + "/job_b").json()  # job_a holds the only instance
    assert stopped["status"] == "Stopped"
    generated = invoke_async(aclient, aservice, fn, b"job-c")  # no id given: the request id is the id
    job_c = generated.headers["x-fc-stateful-async-invocation-id"]
    assert job_c == generated.headers["x-fc-request-id"]
    open(gate, "w").close()

    wait_until(lambda: signed_request(aclient, "GET", f"{base}/{job_c}").json()["status"] == "Succeeded")
    assert obs.lines("runs") == [f"gate:{gate}", "job-c"]  # job_b never ran, and it would have run before job_c
    record = signed_request(aclient, "GET", base + "/job_a").json()
    assert record["status"] == "Succeeded"
    assert record["returnPayload"] == f"done gate:{gate}"
    assert record["invocationPayload"] == f"gate:{gate}"
    assert [e["status"] for e in record["events"]] == ["Enqueued", "Running", "Succeeded"]
    assert record["endTime"] >= record["startedTime"]

    done = fc_error(signed_request, aclient, "PUT", base + "/job_a:stop")
    assert (done.status_code, done.err_code) == (412, "StatefulAsyncInvocationAlreadyCompleted")
    missing = fc_error(signed_request, aclient, "GET", base + "/nope")
    assert missing.status_code == 404

    listed = signed_request(aclient, "GET", base).json()["invocations"]
    assert {r["invocationId"]: r["status"] for r in listed} == {
        "job_a": "Succeeded", "job_b": "Stopped", job_c: "Succeeded",
    }  # fmt: skip
    assert "invocationPayload" not in listed[0]
    by_status = signed_request(aclient, "GET", base, params={"status": "Stopped"}).json()["invocations"]
    assert [r["invocationId"] for r in by_status] == ["job_b"]
    by_prefix = signed_request(aclient, "GET", base, params={"invocationIdPrefix": "job_"}).json()["invocations"]
    assert sorted(r["invocationId"] for r in by_prefix) == ["job_a", "job_b"]
    oldest = signed_request(aclient, "GET", base, params={"sortOrderByTime": "asc", "limit": "1"}).json()
    assert [r["invocationId"] for r in oldest["invocations"]] == ["job_a"] and oldest["nextToken"]
    later = int(time.time() * 1000) + 60_000
    assert signed_request(aclient, "GET", base, params={"startedTimeBegin": str(later)}).json()["invocations"] == []


def test_async_invoke_config_crud_and_validation(aclient, aservice, make_function, obs) -> None:
    fn = make_function(RECORDER, log=obs.path("runs"))
    missing = fc_error(aclient.get_function_async_invoke_config, aservice, "LATEST", fn)
    assert missing.status_code == 404
    put = aclient.put_function_async_invoke_config(aservice, "LATEST", fn, {"maxAsyncRetryAttempts": 1})
    assert put.data["maxAsyncRetryAttempts"] == 1
    assert put.data["maxAsyncEventAgeInSeconds"] == 86400
    assert put.data["statefulInvocation"] is False
    assert (put.data["service"], put.data["function"], put.data["qualifier"]) == (aservice, fn, "LATEST")
    assert put.data["createdTime"] and put.data["lastModifiedTime"]
    got = aclient.get_function_async_invoke_config(aservice, "LATEST", fn).data
    assert got["maxAsyncRetryAttempts"] == 1
    listed = aclient.list_function_async_invoke_configs(aservice, fn).data
    assert [c["qualifier"] for c in listed["configs"]] == ["LATEST"] and listed["nextToken"] == ""

    bad = {
        "maxAsyncRetryAttempts": ({"maxAsyncRetryAttempts": 9}, "maxAsyncRetryAttempts"),
        "age0": ({"maxAsyncEventAgeInSeconds": 0}, "maxAsyncEventAgeInSeconds"),
        "age_big": ({"maxAsyncEventAgeInSeconds": 2592001}, "maxAsyncEventAgeInSeconds"),
        "stateful": ({"statefulInvocation": "yes"}, "statefulInvocation"),
        "http": (
            {"destinationConfig": {"onSuccess": {"destination": "http://example.com/hook"}}},
            "destinationConfig.onSuccess.destination",
        ),
        "mns": (
            {"destinationConfig": {"onFailure": {"destination": "acs:mns:cn-hangzhou:123:/queues/q/messages"}}},
            "destinationConfig.onFailure.destination",
        ),
        "arn": (
            {"destinationConfig": {"onFailure": {"destination": "acs:fc:::services/only-a-service"}}},
            "destinationConfig.onFailure.destination",
        ),
        "amqp": (
            {"destinationConfig": {"onFailure": {"destination": "amqp://guest:guest@127.0.0.1:5672/a/b/c"}}},
            "destinationConfig.onFailure.destination",
        ),
    }
    for body, field in bad.values():
        error = fc_error(aclient.put_function_async_invoke_config, aservice, "LATEST", fn, body)
        assert (error.status_code, error.err_code) == (400, "InvalidArgument"), body
        assert field in str(error.message), (field, error.message)
    good = [
        "acs:fc:cn-hangzhou:123:services/s.prod/functions/f",
        "amqp://guest:guest@127.0.0.1:5672/%2F/queue-name",
        "nats://127.0.0.1:4222/some.subject",
        "redis://127.0.0.1:6379/0/stream-name",
    ]
    for destination in good:
        config = {"destinationConfig": {"onSuccess": {"destination": destination}}}
        data = aclient.put_function_async_invoke_config(aservice, "LATEST", fn, config).data
        assert data["destinationConfig"]["onSuccess"]["destination"] == destination

    aclient.delete_function_async_invoke_config(aservice, "LATEST", fn)
    assert fc_error(aclient.get_function_async_invoke_config, aservice, "LATEST", fn).status_code == 404
    assert fc_error(aclient.put_function_async_invoke_config, aservice, "LATEST", "nope", {}).status_code == 404


def test_event_for_a_deleted_function_is_dead_lettered_invalid(aclient, aservice, make_function, obs) -> None:
    fn = make_function(RECORDER, log=obs.path("runs"), max_instances=1)
    aclient.put_function_async_invoke_config(aservice, "LATEST", fn, {"statefulInvocation": True})
    invoke_async(aclient, aservice, fn, b"sleep:1", **{"x-fc-stateful-async-invocation-id": "first"})
    invoke_async(aclient, aservice, fn, b"orphan", **{"x-fc-stateful-async-invocation-id": "second"})
    obs.wait_lines("runs", 1)
    aclient.delete_function(aservice, fn)
    path = f"/2016-08-15/services/{aservice}.LATEST/functions/{fn}/dead-letters"

    def orphan_letter() -> dict | None:
        letters = signed_request(aclient, "GET", path, params={"includePayload": "true"}).json()["deadLetters"]
        return next((x for x in letters if x["payload"] == "orphan"), None)

    letter = wait_until(orphan_letter)
    assert letter["status"] == "Invalid"
    assert "does not exist" in letter["errorMessage"]
    assert "orphan" not in obs.lines("runs")


def test_async_request_ids_are_unique_and_echoed(aclient, aservice, make_function, obs) -> None:
    fn = make_function(RECORDER, log=obs.path("runs"))
    given = str(uuid.uuid4())
    r = aclient.invoke_function(aservice, fn, payload=b"a", headers={**ASYNC, "x-fc-request-id": given})
    assert r.headers["x-fc-request-id"] == given
    assert obs.wait_lines("runs", 1) == ["a"]
