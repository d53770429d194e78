"""kill -9 the node mid-execution, restart it on the same data dir: executions continue from their history.

A Task whose TaskSucceeded was recorded is never invoked again; Wait deadlines stay absolute;
a Task in flight at the crash (scheduled, no outcome recorded) is invoked again (at-least-once).
"""

from __future__ import annotations

import json

from tests.conftest import store_query, wait_until
from tests.workflow.conftest import COUNTING, finished, lines, resource, sfn_client


def setup_functions(node, code_dir, counts, *names):
    client = node.client()
    client.create_service("wf")
    for name in names:
        client.create_function(
            "wf",
            name,
            "python3",
            "index.handler",
            codeDir=code_dir(index=COUNTING),
            environmentVariables={"NAME": name, "COUNTS": str(counts)},
        )


def history_types(sfn, arn):
    return [e["type"] for e in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]]


def test_kill_during_wait_keeps_the_deadline_and_never_reruns_tasks(make_server, code_dir, counts):
    node = make_server()
    setup_functions(node, code_dir, counts, "before", "after")
    sfn = sfn_client(node)
    definition = {
        "StartAt": "Before",
        "States": {
            "Before": {
                "Type": "Task",
                "Resource": resource("wf", "before"),
                "Parameters": {"key": "k"},
                "ResultPath": "$.b",
                "Next": "Wait",
            },
            "Wait": {"Type": "Wait", "Seconds": 3, "Next": "After"},
            "After": {
                "Type": "Task",
                "Resource": resource("wf", "after"),
                "Parameters": {"key": "k"},
                "ResultPath": "$.a",
                "End": True,
            },
        },
    }
    machine = sfn.create_state_machine(name="waiter", definition=json.dumps(definition), roleArn="r")["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input='{"order": 1}')["executionArn"]
    wait_until(lambda: "WaitStateEntered" in history_types(sfn, arn))
    entered = next(e for e in sfn.get_execution_history(executionArn=arn)["events"] if e["type"] == "WaitStateEntered")
    node.kill()

    restarted = make_server(node.data_dir)
    sfn = sfn_client(restarted)
    done = finished(sfn, arn, timeout=30)
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    assert out["order"] == 1 and out["b"]["calls"] == 1 and out["a"]["calls"] == 1
    assert len(lines(counts / "before-k")) == 1 and len(lines(counts / "after-k")) == 1
    exited = next(e for e in sfn.get_execution_history(executionArn=arn)["events"] if e["type"] == "WaitStateExited")
    waited = (exited["timestamp"] - entered["timestamp"]).total_seconds()
    assert 3.0 <= waited < 8.0  # the absolute deadline held across the restart
    assert history_types(sfn, arn).count("TaskScheduled") == 2


def test_kill_during_map_resumes_without_rerunning_completed_tasks(make_server, code_dir, counts):
    node = make_server()
    setup_functions(node, code_dir, counts, "item")
    sfn = sfn_client(node)
    items = list(range(40))
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 5,
                "ItemSelector": {"key": "m", "i.$": "$$.Map.Item.Value", "sleep": 0.15, "echo.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {
                        "T": {"Type": "Task", "Resource": resource("wf", "item"), "OutputPath": "$.echo", "End": True}
                    },
                },
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(name="mapper", definition=json.dumps(definition), roleArn="r")["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(items))["executionArn"]
    wait_until(lambda: len(lines(counts / "item-m")) >= 12, timeout=30)
    node.kill()

    # what the history recorded at the crash: these items must never run again
    rows = store_query(node, "SELECT frame FROM sfn_events WHERE execution=? AND type='TaskSucceeded'", arn)
    recorded = {int(str(frame).rsplit(".", 1)[1]) for (frame,) in rows}
    assert recorded and len(recorded) < len(items)

    restarted = make_server(node.data_dir)
    done = finished(sfn_client(restarted), arn, timeout=60)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == items
    calls = [int(x) for x in lines(counts / "item-m")]
    for i in items:
        assert calls.count(i) >= 1
        if i in recorded:
            assert calls.count(i) == 1, f"item {i} succeeded before the crash but ran again"
    assert len(calls) - len(items) <= 5  # only the calls in flight at the crash (MaxConcurrency) may repeat
