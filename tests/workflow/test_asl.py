"""Definition validation — States Language spec, "Structure of a State Machine", "States", per state type.

Every rejection names the state and the field.
"""

from __future__ import annotations

import json

import pytest

from openfc.workflow.asl import InvalidDefinition, parse_definition, parse_resource

FN = "acs:fc:::services/svc.LATEST/functions/f"


def machine(**states):
    start = next(iter(states))
    return {"StartAt": start, "States": states}


def rejected(definition) -> str:
    with pytest.raises(InvalidDefinition) as info:
        parse_definition(json.dumps(definition) if not isinstance(definition, str) else definition)
    return info.value.message


def test_accepts_json_and_yaml():
    text = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    End: true\n"
    assert parse_definition(text)["StartAt"] == "A"
    assert parse_definition(json.dumps(machine(A={"Type": "Succeed"})))["StartAt"] == "A"


@pytest.mark.parametrize(
    ("definition", "fragments"),
    [
        ({"States": {"A": {"Type": "Succeed"}}}, ["'StartAt'"]),
        ({"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}, ["'StartAt'", "'B'"]),
        (machine(A={"Type": "Pass", "Next": "Nope"}), ["State 'A'", "'Next'", "'Nope'"]),
        (machine(A={"Type": "Pass", "End": True}, B={"Type": "Succeed"}), ["State 'B'", "unreachable"]),
        (machine(A={"Type": "Pass", "Next": "B"}, B={"Type": "Pass", "Next": "A"}), ["no terminal state"]),
        (machine(A={"Type": "Pass", "End": True, "InputPath": "foo"}), ["State 'A'", "'InputPath'"]),
        (machine(A={"Type": "Pass", "End": True, "ResultPath": "$.a[*]"}), ["State 'A'", "'ResultPath'"]),
        (machine(A={"Type": "Pass", "End": True, "Bogus": 1}), ["State 'A'", "'Bogus'"]),
        (
            machine(A={"Type": "Pass", "End": True, "Parameters": {"x.$": "States.Nope()"}}),
            ["State 'A'", "'Parameters.x.$'", "States.Nope"],
        ),
        (machine(A={"Type": "Pass", "End": True, "Parameters": {"x.$": "plain"}}), ["'Parameters.x.$'"]),
        (machine(A={"Type": "Pass", "Next": "A", "End": True}), ["State 'A'", "'End'"]),
        (machine(A={"Type": "Pass"}), ["State 'A'", "'Next'"]),
        (machine(A={"Type": "Nope"}), ["State 'A'", "'Type'"]),
        (machine(A={"Type": "Task", "Resource": "arn:aws:lambda:x", "End": True}), ["State 'A'", "'Resource'"]),
        (
            machine(A={"Type": "Task", "Resource": FN, "End": True, "Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}),
            ["State 'A'", "'Retry[0]'", "States.ALL"],
        ),
        (
            machine(
                A={"Type": "Task", "Resource": FN, "End": True, "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]}
            ),
            ["'Retry[0]'", "BackoffRate"],
        ),
        (
            machine(A={"Type": "Task", "Resource": FN, "End": True, "Catch": [{"ErrorEquals": ["X"], "Next": "Z"}]}),
            ["State 'A'", "'Catch[0].Next'"],
        ),
        (
            machine(A={"Type": "Task", "Resource": FN, "End": True, "TimeoutSeconds": 5, "HeartbeatSeconds": 10}),
            ["'HeartbeatSeconds'"],
        ),
        (machine(A={"Type": "Choice", "Choices": []}), ["State 'A'", "'Choices'"]),
        (
            machine(
                A={"Type": "Choice", "Choices": [{"Variable": "$.x", "StringEquals": 1, "Next": "B"}]},
                B={"Type": "Succeed"},
            ),
            ["State 'A'", "'Choices[0]'", "StringEquals"],
        ),
        (machine(A={"Type": "Wait", "End": True}), ["State 'A'", "'Seconds'"]),
        (
            machine(A={"Type": "Wait", "Seconds": 1, "Timestamp": "2020-01-01T00:00:00Z", "End": True}),
            ["State 'A'", "exactly one"],
        ),
        (machine(A={"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}), ["State 'A'", "'ErrorPath'"]),
        (
            machine(
                A={
                    "Type": "Parallel",
                    "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}],
                    "End": True,
                }
            ),
            ["State 'A'", "Branches[0]", "'X'", "'Y'"],
        ),
        (machine(A={"Type": "Map", "End": True}), ["State 'A'", "ItemProcessor"]),
        (
            machine(
                A={
                    "Type": "Map",
                    "End": True,
                    "MaxConcurrency": -1,
                    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}},
                }
            ),
            ["State 'A'", "'MaxConcurrency'"],
        ),
        (
            machine(
                A={
                    "Type": "Map",
                    "End": True,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED"},
                        "StartAt": "X",
                        "States": {"X": {"Type": "Succeed"}},
                    },
                }
            ),
            ["INLINE"],
        ),
        ("{not json: [", ["neither valid JSON nor YAML"]),
        ("[1, 2]", ["JSON object"]),
    ],
)
def test_invalid_definitions_name_state_and_field(definition, fragments):
    message = rejected(definition)
    for fragment in fragments:
        assert fragment in message, message


def test_valid_full_featured_definition():
    definition = machine(
        A={
            "Type": "Pass",
            "Parameters": {"x.$": "States.Format('{}', $.a)", "y": [{"z.$": "$$.Execution.Id"}]},
            "ResultPath": "$.p",
            "Next": "B",
        },
        B={
            "Type": "Task",
            "Resource": FN + ".waitForTaskToken",
            "TimeoutSecondsPath": "$.t",
            "HeartbeatSeconds": 5,
            "Retry": [
                {
                    "ErrorEquals": ["States.TaskFailed"],
                    "IntervalSeconds": 1,
                    "MaxAttempts": 2,
                    "BackoffRate": 1.5,
                    "MaxDelaySeconds": 3,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "F"}],
            "Next": "C",
        },
        C={
            "Type": "Choice",
            "Choices": [{"Not": {"Variable": "$.x", "IsPresent": true_()}, "Next": "D"}],
            "Default": "D",
        },
        D={
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemSelector": {"v.$": "$$.Map.Item.Value"},
            "MaxConcurrency": 2,
            "ToleratedFailurePercentage": 10,
            "ItemBatcher": {"MaxItemsPerBatch": 3},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "X",
                "States": {"X": {"Type": "Succeed"}},
            },
            "Next": "E",
        },
        E={
            "Type": "Parallel",
            "Branches": [{"StartAt": "Y", "States": {"Y": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}}],
            "Next": "S",
        },
        S={"Type": "Succeed"},
        F={"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "States.Format('x {}', $.a)"},
    )
    parse_definition(json.dumps(definition))


def true_():
    return True


def test_parse_resource():
    ref = parse_resource("acs:fc:cn-hangzhou:123:services/orders.prod/functions/pay.waitForTaskToken")
    assert (ref.service, ref.qualifier, ref.function, ref.callback) == ("orders", "prod", "pay", True)
    assert parse_resource("acs:fc:::services/s/functions/f").qualifier == "LATEST"
