"""Interpreter conformance: expected results derived from the States Language specification.

Sections cited per test: https://states-language.net/spec.html
"""

from __future__ import annotations

import json

import pytest

from openfc.workflow.interpreter import Execution
from openfc.workflow.processing import Failure
from tests.workflow.driver import fn, replayed, run


def m(**states):
    return {"StartAt": next(iter(states)), "States": states}


def ok(definition, input=None, tasks=None):
    ex = run(definition, input, tasks)
    assert ex.status == "SUCCEEDED", (ex.error, ex.cause)
    return ex.output


def failed(definition, input=None, tasks=None):
    ex = run(definition, input, tasks)
    assert ex.status == "FAILED", ex.output
    return ex.error, ex.cause


# -- Pass ("Pass State") ------------------------------------------------------------------


def test_pass_passes_input_to_output():
    assert ok(m(A={"Type": "Pass", "End": True}), {"a": 1}) == {"a": 1}


def test_pass_result_and_result_path():
    # spec "Pass State" example: Result placed at ResultPath "$.coords"
    d = m(
        A={
            "Type": "Pass",
            "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355},
            "ResultPath": "$.coords",
            "End": True,
        }
    )
    out = ok(d, {"georefOf": "Home"})
    assert out == {"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}}


# -- Input and Output Processing ----------------------------------------------------------


def test_input_path_selects_part_of_the_input():
    # spec "InputPath, Parameters, ResultSelector, OutputPath": InputPath filters the raw input
    assert ok(m(A={"Type": "Pass", "InputPath": "$.a", "End": True}), {"a": {"b": 1}, "c": 2}) == {"b": 1}


def test_null_input_path_gives_empty_object():
    # spec "Input and Output Processing" / null paths: InputPath null → {}
    assert ok(m(A={"Type": "Pass", "InputPath": None, "End": True}), {"a": 1}) == {}


def test_null_output_path_gives_empty_object():
    assert ok(m(A={"Type": "Pass", "OutputPath": None, "End": True}), {"a": 1}) == {}


def test_null_result_path_discards_the_result():
    # spec "ResultPath": null → the state's output is its raw input
    assert ok(m(A={"Type": "Pass", "Result": 5, "ResultPath": None, "End": True}), {"a": 1}) == {"a": 1}


def test_parameters_payload_template():
    # spec "Payload Template": ".$" keys take path values; plain keys are copied
    d = m(
        A={
            "Type": "Pass",
            "Parameters": {
                "flagged": True,
                "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
                "weight.$": "$.weight",
            },
            "End": True,
        }
    )
    out = ok(d, {"flagged": 7, "vals": [0, 10, 20, 30, 40, 50], "weight": 3})
    assert out == {"flagged": True, "parts": {"first": 0, "last3": [30, 40, 50]}, "weight": 3}


def test_parameters_with_context_object():
    # spec "Context Object": $$ paths in a payload template
    d = m(
        A={
            "Type": "Pass",
            "Parameters": {"name.$": "$$.Execution.Name", "state.$": "$$.State.Name", "input.$": "$$.Execution.Input"},
            "End": True,
        }
    )
    assert ok(d, {"a": 1}) == {"name": "run1", "state": "A", "input": {"a": 1}}


def test_parameters_with_intrinsic():
    d = m(A={"Type": "Pass", "Parameters": {"msg.$": "States.Format('Hi {}', $.n)"}, "End": True})
    assert ok(d, {"n": "Bo"}) == {"msg": "Hi Bo"}


def test_parameter_path_failure():
    # spec "Payload Template": a path that selects nothing raises States.ParameterPathFailure
    error, cause = failed(m(A={"Type": "Pass", "Parameters": {"x.$": "$.missing"}, "End": True}), {"a": 1})
    assert error == "States.ParameterPathFailure" and "$.missing" in cause


def test_intrinsic_failure():
    error, _ = failed(m(A={"Type": "Pass", "Parameters": {"x.$": "States.StringToJson($.a)"}, "End": True}), {"a": "{"})
    assert error == "States.IntrinsicFailure"


def test_result_path_match_failure():
    # spec "ResultPath": placing a result through a non-object raises States.ResultPathMatchFailure
    error, _ = failed(m(A={"Type": "Pass", "Result": 1, "ResultPath": "$.a.b", "End": True}), {"a": "str"})
    assert error == "States.ResultPathMatchFailure"


def test_missing_input_path_is_runtime_error():
    error, _ = failed(m(A={"Type": "Pass", "InputPath": "$.nope", "End": True}), {"a": 1})
    assert error == "States.Runtime"


def test_task_full_io_pipeline():
    # spec "InputPath, Parameters, ResultSelector, OutputPath" example order:
    # InputPath → Parameters → (task) → ResultSelector → ResultPath → OutputPath
    d = m(
        T={
            "Type": "Task",
            "Resource": fn("f"),
            "InputPath": "$.in",
            "Parameters": {"v.$": "$.x"},
            "ResultSelector": {"r.$": "$.result"},
            "ResultPath": "$.res",
            "OutputPath": "$.res",
            "End": True,
        }
    )
    seen = []

    def f(payload):
        seen.append(payload)
        return {"result": payload["v"] * 2, "noise": 1}

    assert ok(d, {"in": {"x": 21}}, {"f": f}) == {"r": 42}
    assert seen == [{"v": 21}]


# -- Task ("Task State", "Errors", "Retrying after error", "Fallback states") -------------


def flaky(times, error="Boom"):
    calls = []

    def f(payload):
        calls.append(payload)
        if len(calls) <= times:
            raise Failure(error, f"attempt {len(calls)}")
        return {"ok": len(calls)}

    f.calls = calls  # type: ignore[attr-defined]
    return f


def test_retry_until_success():
    f = flaky(2)
    d = m(T={"Type": "Task", "Resource": fn("f"), "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 2}], "End": True})
    assert ok(d, {}, {"f": f}) == {"ok": 3}


def test_retry_exhausted_then_catch():
    # spec "Fallback states": after retriers are spent the catcher applies; Error/Cause at ResultPath
    f = flaky(9)
    d = m(
        T={
            "Type": "Task",
            "Resource": fn("f"),
            "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 1}],
            "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.err", "Next": "C"}],
            "End": True,
        },
        C={"Type": "Pass", "End": True},
    )
    assert ok(d, {"a": 1}, {"f": f}) == {"a": 1, "err": {"Error": "Boom", "Cause": "attempt 2"}}
    assert len(f.calls) == 2


def test_retry_backoff_timing_is_recorded():
    # spec "Retrying after error": IntervalSeconds × BackoffRate^n, capped by MaxDelaySeconds
    f = flaky(3)
    d = m(
        T={
            "Type": "Task",
            "Resource": fn("f"),
            "Retry": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "IntervalSeconds": 2,
                    "BackoffRate": 3,
                    "MaxDelaySeconds": 10,
                    "MaxAttempts": 3,
                }
            ],
            "End": True,
        }
    )
    ex = run(d, {}, {"f": f})
    scheduled = [e.ts for e in ex.events if e.type == "TaskScheduled"]
    gaps = [b - a for a, b in zip(scheduled, scheduled[1:], strict=False)]
    assert gaps == [2, 6, 10]


def test_max_attempts_zero_never_retries():
    f = flaky(1)
    d = m(T={"Type": "Task", "Resource": fn("f"), "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 0}], "End": True})
    assert failed(d, {}, {"f": f})[0] == "Boom"


def test_first_matching_retrier_applies():
    f = flaky(1, "Other")
    d = m(
        T={
            "Type": "Task",
            "Resource": fn("f"),
            "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 0}, {"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}],
            "End": True,
        }
    )
    assert ok(d, {}, {"f": f}) == {"ok": 2}


def test_task_failed_wildcard_and_catch_order():
    # spec "Errors": States.TaskFailed matches any task error except States.Timeout
    d = m(
        T={
            "Type": "Task",
            "Resource": fn("f"),
            "Catch": [
                {"ErrorEquals": ["States.Timeout"], "Next": "A"},
                {"ErrorEquals": ["States.TaskFailed"], "Next": "B"},
            ],
            "End": True,
        },
        A={"Type": "Pass", "Result": "a", "End": True},
        B={"Type": "Pass", "Result": "b", "End": True},
    )
    assert ok(d, {}, {"f": flaky(5, "Custom")}) == "b"


def test_states_all_does_not_catch_runtime_errors():
    d = m(
        T={
            "Type": "Task",
            "Resource": fn("f"),
            "OutputPath": "$.nope",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}],
            "End": True,
        },
        C={"Type": "Succeed"},
    )
    assert failed(d, {}, {"f": lambda p: {}})[0] == "States.Runtime"


def test_task_timeout():
    d = m(T={"Type": "Task", "Resource": fn("f", callback=True), "TimeoutSeconds": 5, "End": True})
    ex = run(d, {}, {"f": lambda p: None})
    assert (ex.status, ex.error) == ("FAILED", "States.Timeout")


def test_heartbeat_timeout_is_caught_by_states_timeout():
    d = m(
        T={
            "Type": "Task",
            "Resource": fn("f", callback=True),
            "HeartbeatSeconds": 2,
            "TimeoutSeconds": 50,
            "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "C"}],
            "End": True,
        },
        C={"Type": "Pass", "End": True},
    )
    out = ok(d, {}, {"f": lambda p: None})
    assert out["Error"] == "States.HeartbeatTimeout"


def test_timeout_seconds_path():
    d = m(T={"Type": "Task", "Resource": fn("f", callback=True), "TimeoutSecondsPath": "$.t", "End": True})
    ex = run(d, {"t": 7}, {"f": lambda p: None})
    assert ex.error == "States.Timeout"
    scheduled = next(e for e in ex.events if e.type == "TaskScheduled")
    assert scheduled.data["timeoutInSeconds"] == 7


def test_callback_token_in_context_and_completion():
    d = m(
        T={
            "Type": "Task",
            "Resource": fn("approve", callback=True),
            "Parameters": {"token.$": "$$.Task.Token"},
            "ResultPath": "$.approval",
            "End": True,
        }
    )
    tokens = []
    ex = run(d, {"order": 1}, {"approve": lambda p: tokens.append(p["token"])})
    assert ex.status == "RUNNING" and len(tokens) == 1
    frame = ex.pending_tasks() or [f for f in ex.frames.values() if f.phase == "callback"]
    assert frame and frame[0].task and frame[0].task["token"] == tokens[0]
    ex.task_result(frame[0].id, frame[0].task["id"], 1_700_000_001.0, output={"yes": True})
    ex.advance(1_700_000_001.0)
    assert ex.status == "SUCCEEDED" and ex.output == {"order": 1, "approval": {"yes": True}}


# -- Choice ("Choice State") --------------------------------------------------------------


def choice_machine():
    return m(
        C={
            "Type": "Choice",
            "Choices": [
                {"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"},
                {
                    "And": [
                        {"Variable": "$.value", "NumericGreaterThanEquals": 20},
                        {"Variable": "$.value", "NumericLessThan": 30},
                    ],
                    "Next": "ValueInTwenties",
                },
            ],
            "Default": "DefaultState",
        },
        Public={"Type": "Pass", "Result": "public", "End": True},
        ValueInTwenties={"Type": "Pass", "Result": "twenties", "End": True},
        DefaultState={"Type": "Fail", "Error": "DefaultStateError", "Cause": "No Matches!"},
    )


@pytest.mark.parametrize(
    ("input", "expected"),
    [({"type": "Public", "value": 1}, "public"), ({"type": "Private", "value": 22}, "twenties")],
)
def test_choice_spec_example(input, expected):
    # spec "Choice State" example
    assert ok(choice_machine(), input) == expected


def test_choice_default():
    assert failed(choice_machine(), {"type": "Private", "value": 50}) == ("DefaultStateError", "No Matches!")


def test_no_choice_matched():
    # spec "Choice State": no match and no Default → States.NoChoiceMatched
    d = m(C={"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": True, "Next": "S"}]}, S={"Type": "Succeed"})
    assert failed(d, {})[0] == "States.NoChoiceMatched"


# -- Wait ("Wait State") ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "input", "delay"),
    [
        ({"Seconds": 10}, {}, 10),
        ({"SecondsPath": "$.s"}, {"s": 4}, 4),
        ({"Timestamp": "2023-11-14T22:13:40Z"}, {}, 0),  # 1_700_000_020 → 20 s after the start
        ({"TimestampPath": "$.t"}, {"t": "2023-11-14T22:14:20Z"}, 0),
    ],
)
def test_wait_deadlines_are_absolute(spec, input, delay):
    ex = run(m(W={"Type": "Wait", **spec, "End": True}), input)
    entered = next(e for e in ex.events if e.type == "WaitStateEntered")
    exited = next(e for e in ex.events if e.type == "WaitStateExited")
    expected = entered.ts + delay if delay else entered.data["_until"]
    assert exited.ts == expected == entered.data["_until"]


def test_wait_seconds_path_must_be_a_number():
    assert failed(m(W={"Type": "Wait", "SecondsPath": "$.s", "End": True}), {"s": "x"})[0] == "States.Runtime"


# -- Succeed / Fail ("Succeed State", "Fail State") ---------------------------------------


def test_succeed_applies_input_and_output_path():
    assert ok(m(S={"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"}), {"a": {"b": 2}}) == 2


def test_fail_error_and_cause_paths():
    d = m(F={"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('because {}', $.c)"})
    assert failed(d, {"e": "MyError", "c": "reasons"}) == ("MyError", "because reasons")


# -- Parallel ("Parallel State") ----------------------------------------------------------


def test_parallel_outputs_array_in_branch_order():
    branch = lambda r: {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": r, "End": True}}}  # noqa: E731
    d = m(P={"Type": "Parallel", "Branches": [branch(1), branch(2), branch(3)], "ResultPath": "$.r", "End": True})
    assert ok(d, {"a": 0}) == {"a": 0, "r": [1, 2, 3]}


def test_parallel_branch_failure_fails_the_state_and_is_catchable():
    d = m(
        P={
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100, "End": True}}},
                {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "BranchErr", "Cause": "c"}}},
            ],
            "Catch": [{"ErrorEquals": ["BranchErr"], "Next": "C"}],
            "End": True,
        },
        C={"Type": "Pass", "End": True},
    )
    ex = run(d, {})
    assert ex.status == "SUCCEEDED" and ex.output == {"Error": "BranchErr", "Cause": "c"}
    # the sibling branch was aborted: its Wait never exited
    assert not [e for e in ex.events if e.type == "WaitStateExited"]


# -- Map ("Map State") --------------------------------------------------------------------


def test_map_items_path_item_selector_and_context():
    # spec "Map State": ItemSelector with $$.Map.Item.Index / Value; results in item order
    d = m(
        M={
            "Type": "Map",
            "ItemsPath": "$.detail.shipped",
            "ItemSelector": {"parcel.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "id.$": "$.detail.id"},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "ResultPath": "$.detail.result",
            "End": True,
        }
    )
    out = ok(d, {"detail": {"id": 7, "shipped": ["a", "b"]}})
    assert out["detail"]["result"] == [{"parcel": "a", "index": 0, "id": 7}, {"parcel": "b", "index": 1, "id": 7}]


def test_map_max_concurrency_bounds_running_iterations():
    d = m(
        M={
            "Type": "Map",
            "MaxConcurrency": 3,
            "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": fn("f"), "End": True}}},
            "End": True,
        }
    )
    ex = Execution(arn="a", name="n", machine_arn="m:sm", definition=d)
    ex.start(list(range(10)), 0.0)
    ex.advance(0.0)
    assert len(ex.pending_tasks()) == 3
    done = 0
    while ex.status == "RUNNING":
        frames = ex.pending_tasks()
        assert len(frames) <= 3
        for frame in frames:
            assert frame.task
            ex.task_result(frame.id, frame.task["id"], 0.0, output=frame.task["payload"] * 10)
            done += 1
        ex.advance(0.0)
    assert ex.output == [i * 10 for i in range(10)] and done == 10


def test_map_tolerated_failures():
    def f(item):
        if item % 4 == 0:
            raise Failure("Odd", str(item))
        return item

    proc = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": fn("f"), "End": True}}}
    tolerant = m(M={"Type": "Map", "ToleratedFailureCount": 3, "ItemProcessor": proc, "End": True})
    assert ok(tolerant, list(range(8)), {"f": f}) == [None, 1, 2, 3, None, 5, 6, 7]
    strict = m(M={"Type": "Map", "ToleratedFailurePercentage": 10, "ItemProcessor": proc, "End": True})
    assert failed(strict, list(range(8)), {"f": f})[0] == "States.ExceedToleratedFailureThreshold"
    default = m(M={"Type": "Map", "ItemProcessor": proc, "End": True})
    assert failed(default, list(range(8)), {"f": f})[0] == "Odd"


def test_map_item_batcher():
    d = m(
        M={
            "Type": "Map",
            "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"b": 1}},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "End": True,
        }
    )
    assert ok(d, [1, 2, 3]) == [{"Items": [1, 2], "BatchInput": {"b": 1}}, {"Items": [3], "BatchInput": {"b": 1}}]


def test_map_over_empty_array():
    d = m(
        M={
            "Type": "Map",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "End": True,
        }
    )
    assert ok(d, []) == []


def test_map_items_must_be_an_array():
    d = m(
        M={
            "Type": "Map",
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
            "End": True,
        }
    )
    assert failed(d, {"a": 1})[0] == "States.Runtime"


def test_nested_map_in_parallel():
    inner = {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.xs",
                "End": True,
                "ItemProcessor": {
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "Parameters": {"v.$": "$"}, "End": True}},
                },
            }
        },
    }
    d = m(P={"Type": "Parallel", "Branches": [inner, inner], "End": True})
    assert ok(d, {"xs": [1, 2]}) == [[{"v": 1}, {"v": 2}], [{"v": 1}, {"v": 2}]]


# -- top level ("Top-level fields", "Context Object") --------------------------------------


def test_execution_timeout():
    d = {"StartAt": "W", "TimeoutSeconds": 5, "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}}
    ex = run(d, {})
    assert ex.status == "TIMED_OUT"


# -- event sourcing -----------------------------------------------------------------------


def test_replay_rebuilds_the_same_state_at_every_prefix():
    f = flaky(1)
    d = m(
        A={"Type": "Pass", "Next": "T"},
        T={"Type": "Task", "Resource": fn("f"), "Retry": [{"ErrorEquals": ["States.ALL"]}], "Next": "M"},
        M={
            "Type": "Map",
            "ItemsPath": "$.xs",
            "MaxConcurrency": 2,
            "ResultPath": "$.out",
            "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}},
            "End": True,
        },
    )
    ex = run(d, {"xs": [1, 2, 3]}, {"f": lambda p: (f(p), p)[1]})
    assert ex.status == "SUCCEEDED"
    events = ex.events
    for cut in range(1, len(events)):
        # a node that crashed after ``cut`` events resumes from them and reaches the same end
        resumed = replayed(ex, events[:cut])
        now = events[cut - 1].ts
        resumed.advance(now)
        for _ in range(100):
            if resumed.status != "RUNNING":
                break
            for frame in resumed.pending_tasks():
                assert frame.task
                resumed.task_result(frame.id, frame.task["id"], now, output=frame.task["payload"])
            wake = resumed.next_wake()
            now = max(now, wake or now)
            resumed.advance(now)
        assert resumed.status == "SUCCEEDED", cut
        assert resumed.output == ex.output


def test_replay_never_reschedules_a_recorded_task_success():
    d = m(T={"Type": "Task", "Resource": fn("f"), "Next": "W"}, W={"Type": "Wait", "Seconds": 100, "End": True})
    ex = run(d, {}, {"f": lambda p: {"done": 1}})
    cut = next(i for i, e in enumerate(ex.events) if e.type == "TaskSucceeded") + 1
    resumed = replayed(ex, ex.events[:cut])
    resumed.advance(ex.events[cut - 1].ts)
    assert not resumed.pending_tasks()
    assert [e.type for e in resumed.events][:2] == ["TaskStateExited", "WaitStateEntered"]
    assert all(e.type != "TaskScheduled" for e in resumed.events)


def test_events_serialize_as_json():
    ex = run(m(A={"Type": "Pass", "End": True}), {"a": [1, {"b": None}]})
    for event in ex.events:
        json.dumps(event.data)
