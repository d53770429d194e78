"""Scale: a Map over 1,000 items with MaxConcurrency 50; 200 concurrent executions waiting on timers."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import wait_until
from tests.workflow.conftest import finished


def test_map_over_1000_items_with_max_concurrency_50(sfn, machine, counting):
    work = counting("scale")
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 50,
                "ItemSelector": {"v.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "Double",
                    "States": {
                        "Double": {
                            "Type": "Pass",
                            "Parameters": {"v.$": "$.v", "d.$": "States.MathAdd($.v, $.v)"},
                            "Next": "Pick",
                        },
                        "Pick": {"Type": "Pass", "OutputPath": "$.d", "End": True},
                    },
                },
                "Next": "Call",
            },
            "Call": {
                "Type": "Task",
                "Resource": work,
                "Parameters": {"key": "sum", "echo.$": "States.ArrayLength($)"},
                "OutputPath": "$.echo",
                "End": True,
            },
        },
    }
    arn = machine(definition)
    done = finished(sfn, sfn.start_execution(stateMachineArn=arn, input=json.dumps(list(range(1000))))["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == 1000


def test_200_concurrent_executions(sfn, machine):
    arn = machine(
        {
            "StartAt": "W",
            "States": {
                "W": {"Type": "Wait", "Seconds": 1, "Next": "P"},
                "P": {"Type": "Pass", "Parameters": {"n.$": "$.n"}, "End": True},
            },
        }
    )
    with ThreadPoolExecutor(16) as pool:
        arns = list(
            pool.map(
                lambda i: sfn.start_execution(stateMachineArn=arn, input=json.dumps({"n": i}))["executionArn"],
                range(200),
            )
        )

    def all_done():
        page = sfn.list_executions(stateMachineArn=arn, statusFilter="SUCCEEDED", maxResults=1000)
        return len(page["executions"]) == 200

    wait_until(all_done, timeout=60, interval=0.2)
    assert json.loads(sfn.describe_execution(executionArn=arns[123])["output"]) == {"n": 123}


def test_map_of_1000_tasks_with_max_concurrency_50(sfn, machine, counting, counts):
    work = counting("fan")
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "MaxConcurrency": 50,
                "ItemSelector": {"key": "k", "i.$": "$$.Map.Item.Index", "echo.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "StartAt": "T",
                    "States": {"T": {"Type": "Task", "Resource": work, "OutputPath": "$.echo", "End": True}},
                },
                "End": True,
            }
        },
    }
    arn = machine(definition)
    items = list(range(1000))
    done = finished(sfn, sfn.start_execution(stateMachineArn=arn, input=json.dumps(items))["executionArn"], timeout=120)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == items
    assert sorted(int(x) for x in (counts / "fan-k").read_text().split()) == items  # each item ran exactly once
