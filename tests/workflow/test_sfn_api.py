"""End to end: the Step Functions API through boto3, Tasks running real functions created with aliyun-fc2."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCESS_KEY_ID, wait_until
from tests.workflow.conftest import finished, lines, resource


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    return info.value.response["Error"]["Code"]


def test_order_workflow_retry_and_compensation(sfn, machine, counting, counts):
    reserve, pay, ship, compensate = (counting(n) for n in ("reserve", "pay", "ship", "compensate"))
    definition = {
        "StartAt": "Reserve",
        "States": {
            "Reserve": {
                "Type": "Task",
                "Resource": reserve,
                "Parameters": {"key.$": "$.order"},
                "ResultPath": "$.reserved",
                "Next": "Pay",
            },
            "Pay": {
                "Type": "Task",
                "Resource": pay,
                "Parameters": {"key.$": "$.order", "fail_first": 2, "declined.$": "$.declined"},
                "Retry": [
                    {"ErrorEquals": ["RuntimeError"], "IntervalSeconds": 1, "BackoffRate": 1.0, "MaxAttempts": 3}
                ],
                "Catch": [{"ErrorEquals": ["PaymentDeclined"], "ResultPath": "$.error", "Next": "Compensate"}],
                "ResultSelector": {"calls.$": "$.calls"},
                "ResultPath": "$.paid",
                "Next": "Ship",
            },
            "Ship": {
                "Type": "Task",
                "Resource": ship,
                "Parameters": {"key.$": "$.order"},
                "ResultPath": "$.shipped",
                "OutputPath": "$.paid",
                "End": True,
            },
            "Compensate": {
                "Type": "Task",
                "Resource": compensate,
                "Parameters": {"key.$": "$.order"},
                "ResultPath": None,
                "Next": "Declined",
            },
            "Declined": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    arn = machine(definition)
    good = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"order": "o1", "declined": False}))
    bad = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"order": "o2", "declined": True}))
    done = finished(sfn, good["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"calls": 3}  # pay failed twice, the Retry's third attempt succeeded
    assert (len(lines(counts / "reserve-o1")), len(lines(counts / "pay-o1")), len(lines(counts / "ship-o1"))) == (
        1,
        3,
        1,
    )

    failed = finished(sfn, bad["executionArn"])
    assert failed["status"] == "FAILED" and failed["error"] == "PaymentDeclined"
    cause = json.loads(failed["cause"])
    assert cause["errorType"] == "PaymentDeclined" and "card declined" in cause["errorMessage"]
    assert len(lines(counts / "compensate-o2")) == 1 and not lines(counts / "ship-o2")

    events = sfn.get_execution_history(executionArn=good["executionArn"])["events"]
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert types.count("TaskScheduled") == 5 and types.count("TaskFailed") == 2 and types.count("TaskSucceeded") == 3
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    failure = next(e for e in events if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert failure["error"] == "RuntimeError" and failure["resource"] == resource_of(definition, "Pay")


def resource_of(definition, state):
    return definition["States"][state]["Resource"]


def test_parallel_and_map_fan_out_fan_in(sfn, machine, counting, counts):
    work = counting("work")
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "ResultPath": "$.parallel",
                "Next": "Each",
                "Branches": [
                    {
                        "StartAt": "A",
                        "States": {
                            "A": {
                                "Type": "Task",
                                "Resource": work,
                                "Parameters": {"key": "a", "echo": 1},
                                "OutputPath": "$.echo",
                                "End": True,
                            }
                        },
                    },
                    {
                        "StartAt": "B",
                        "States": {
                            "B": {
                                "Type": "Task",
                                "Resource": work,
                                "Parameters": {"key": "b", "echo": 2},
                                "OutputPath": "$.echo",
                                "End": True,
                            }
                        },
                    },
                ],
            },
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 4,
                "ResultPath": "$.mapped",
                "ItemSelector": {"key": "m", "i.$": "$$.Map.Item.Index", "echo.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "W",
                    "States": {"W": {"Type": "Task", "Resource": work, "OutputPath": "$.echo", "End": True}},
                },
                "End": True,
            },
        },
    }
    arn = machine(definition)
    items = [f"item{i}" for i in range(12)]
    done = finished(sfn, sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": items}))["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    assert out["parallel"] == [1, 2] and out["mapped"] == items
    assert sorted(lines(counts / "work-m"), key=int) == [str(i) for i in range(12)]


def test_wait_for_task_token_approval(sfn, machine, client, service, code_dir, counts):
    source = (
        "import json, os\n"
        "def handler(event, context):\n"
        "    event = json.loads(event)\n"
        "    open(os.path.join(os.environ['COUNTS'], 'token'), 'w').write(event['token'])\n"
        "    return 'submitted'\n"
    )
    client.create_function(
        service,
        "approval",
        "python3",
        "index.handler",
        codeDir=code_dir(index=source),
        environmentVariables={"COUNTS": str(counts)},
    )
    definition = {
        "StartAt": "Approve",
        "States": {
            "Approve": {
                "Type": "Task",
                "Resource": resource(service, "approval", callback=True),
                "HeartbeatSeconds": 60,
                "Parameters": {"token.$": "$$.Task.Token", "order.$": "$.order"},
                "ResultPath": "$.approval",
                "End": True,
            }
        },
    }
    arn = machine(definition)
    execution = sfn.start_execution(stateMachineArn=arn, input='{"order": 7}')["executionArn"]
    token = wait_until(lambda: (counts / "token").exists() and (counts / "token").read_text())
    wait_until(
        lambda: any(e["type"] == "TaskSubmitted" for e in sfn.get_execution_history(executionArn=execution)["events"])
    )
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output='{"approved": true}')
    done = finished(sfn, execution)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"order": 7, "approval": {"approved": True}}
    with pytest.raises(ClientError) as info:  # the task is no longer awaited
        sfn.send_task_success(taskToken=token, output="{}")
    assert error_code(info) == "TaskDoesNotExist"


def test_send_task_failure_is_catchable(sfn, machine, client, service, code_dir, counts):
    source = (
        "import json, os\n"
        "def handler(event, context):\n"
        "    open(os.path.join(os.environ['COUNTS'], 'token2'), 'w').write(json.loads(event)['t'])\n"
    )
    client.create_function(
        service,
        "ask",
        "python3",
        "index.handler",
        codeDir=code_dir(index=source),
        environmentVariables={"COUNTS": str(counts)},
    )
    definition = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": resource(service, "ask", callback=True),
                "Parameters": {"t.$": "$$.Task.Token"},
                "Catch": [{"ErrorEquals": ["Rejected"], "Next": "No"}],
                "End": True,
            },
            "No": {"Type": "Pass", "Result": "rejected", "End": True},
        },
    }
    execution = sfn.start_execution(stateMachineArn=machine(definition))["executionArn"]
    token = wait_until(lambda: (counts / "token2").exists() and (counts / "token2").read_text())
    sfn.send_task_failure(taskToken=token, error="Rejected", cause="no budget")
    assert json.loads(finished(sfn, execution)["output"]) == "rejected"


def test_state_machine_crud_and_errors(sfn, machine):
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    name = f"crud-{uuid.uuid4().hex[:8]}"
    arn = machine(definition, name=name)
    # same name + same definition is idempotent; a different definition conflicts
    assert (
        sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::0:role/r")[
            "stateMachineArn"
        ]
        == arn
    )
    with pytest.raises(ClientError) as info:
        sfn.create_state_machine(name=name, definition=json.dumps({**definition, "Comment": "x"}), roleArn="r")
    assert error_code(info) == "StateMachineAlreadyExists"
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["name"] == name and json.loads(described["definition"]) == definition
    assert described["type"] == "STANDARD" and described["status"] == "ACTIVE"
    new = {"StartAt": "Q", "States": {"Q": {"Type": "Pass", "Result": 1, "End": True}}}
    assert "updateDate" in sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(new))
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == new
    assert arn in [m["stateMachineArn"] for m in sfn.list_state_machines(maxResults=1000)["stateMachines"]]

    with pytest.raises(ClientError) as info:
        sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps({"StartAt": "Q", "States": {}}))
    assert error_code(info) == "InvalidDefinition"
    with pytest.raises(ClientError) as info:
        sfn.describe_state_machine(stateMachineArn=arn + "nope")
    assert error_code(info) == "StateMachineDoesNotExist"
    with pytest.raises(ClientError) as info:
        sfn.describe_state_machine(stateMachineArn="arn:aws:lambda:nope")
    assert error_code(info) == "InvalidArn"
    with pytest.raises(ClientError) as info:
        sfn.create_state_machine(name="bad name!", definition=json.dumps(definition), roleArn="r")
    assert error_code(info) == "InvalidName"
    with pytest.raises(ClientError) as info:
        sfn.create_state_machine(name="x", definition="StartAt: A\nStates:\n  A: {Type: Pass, Next: B}\n", roleArn="r")
    assert error_code(info) == "InvalidDefinition"
    assert "State 'A' field 'Next'" in info.value.response["Error"]["Message"]


def test_yaml_definition(sfn, machine):
    arn = sfn.create_state_machine(
        name=f"yaml-{uuid.uuid4().hex[:8]}",
        roleArn="r",
        definition="StartAt: A\nStates:\n  A:\n    Type: Pass\n    Result: {ok: true}\n    End: true\n",
    )["stateMachineArn"]
    try:
        done = finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
        assert json.loads(done["output"]) == {"ok": True}
    finally:
        sfn.delete_state_machine(stateMachineArn=arn)


def test_executions_idempotency_listing_stop_and_history(sfn, machine):
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 300, "End": True}}}
    arn = machine(wait)
    first = sfn.start_execution(stateMachineArn=arn, name="same", input='{"a": 1}')
    # spec of StartExecution: same name + same input while running → the same execution
    assert (
        sfn.start_execution(stateMachineArn=arn, name="same", input='{"a":1}')["executionArn"] == first["executionArn"]
    )
    with pytest.raises(ClientError) as info:
        sfn.start_execution(stateMachineArn=arn, name="same", input='{"a": 2}')
    assert error_code(info) == "ExecutionAlreadyExists"
    with pytest.raises(ClientError) as info:
        sfn.start_execution(stateMachineArn=arn, input="{not json")
    assert error_code(info) == "InvalidExecutionInput"
    others = [sfn.start_execution(stateMachineArn=arn, name=f"e{i}")["executionArn"] for i in range(4)]

    seen, token = [], None
    while True:
        page = sfn.list_executions(stateMachineArn=arn, maxResults=2, **({"nextToken": token} if token else {}))
        seen += [e["executionArn"] for e in page["executions"]]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(seen) == sorted([first["executionArn"], *others])

    sfn.stop_execution(executionArn=others[0], error="Manual", cause="operator")
    stopped = sfn.describe_execution(executionArn=others[0])
    assert stopped["status"] == "ABORTED" and stopped["error"] == "Manual"
    aborted = sfn.list_executions(stateMachineArn=arn, statusFilter="ABORTED")["executions"]
    assert [e["executionArn"] for e in aborted] == [others[0]]
    running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    assert len(running) == 4

    history = sfn.get_execution_history(executionArn=others[0])["events"]
    assert [e["type"] for e in history] == ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"]
    reverse = sfn.get_execution_history(executionArn=others[0], reverseOrder=True, maxResults=1)
    assert reverse["events"][0]["type"] == "ExecutionAborted" and reverse.get("nextToken")
    assert sfn.describe_state_machine_for_execution(executionArn=others[0])["definition"]
    for execution in [first["executionArn"], *others[1:]]:
        sfn.stop_execution(executionArn=execution)

    with pytest.raises(ClientError) as info:
        sfn.describe_execution(executionArn=first["executionArn"] + "x")
    assert error_code(info) == "ExecutionDoesNotExist"


def test_start_sync_execution(sfn, machine):
    arn = machine(
        {
            "StartAt": "P",
            "States": {"P": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.a, 1)"}, "End": True}},
        }
    )
    result = sfn.start_sync_execution(stateMachineArn=arn, input='{"a": 41}')
    assert result["status"] == "SUCCEEDED" and json.loads(result["output"]) == {"v": 42}
    failing = machine({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "because"}}})
    result = sfn.start_sync_execution(stateMachineArn=failing)
    assert (result["status"], result["error"], result["cause"]) == ("FAILED", "Nope", "because")


def test_function_error_maps_to_error_type(sfn, machine, counting):
    work = counting("boom")
    arn = machine(
        {
            "StartAt": "T",
            "States": {"T": {"Type": "Task", "Resource": work, "Parameters": {"declined": True}, "End": True}},
        }
    )
    done = finished(sfn, sfn.start_execution(stateMachineArn=arn)["executionArn"])
    assert done["error"] == "PaymentDeclined"
    missing = machine(
        {"StartAt": "T", "States": {"T": {"Type": "Task", "End": True, "Resource": resource("nosuchservice", "f")}}}
    )
    done = finished(sfn, sfn.start_execution(stateMachineArn=missing)["executionArn"])
    assert done["status"] == "FAILED" and done["error"].startswith("FC.") and done["error"].endswith("NotFound")


def test_sigv4_is_enforced(server):
    wrong_secret = boto3.client(
        "stepfunctions",
        endpoint_url=server.endpoint,
        region_name="eu-west-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key="wrong",
    )
    with pytest.raises(ClientError) as info:
        wrong_secret.list_state_machines()
    assert error_code(info) == "InvalidSignatureException"
    unknown = boto3.client(
        "stepfunctions",
        endpoint_url=server.endpoint,
        region_name="eu-west-1",
        aws_access_key_id="NOPE",
        aws_secret_access_key="x",
    )
    with pytest.raises(ClientError) as info:
        unknown.list_state_machines()
    assert error_code(info) == "UnrecognizedClientException"
