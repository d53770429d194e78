"""Choice rules — States Language spec, "Choice Rules"."""

from __future__ import annotations

import pytest

from openfc.workflow.choice import matches, rule_errors
from openfc.workflow.paths import PathNotFound

DATA = {
    "s": "hello world",
    "n": 5,
    "f": 2.5,
    "b": True,
    "t": "2024-01-02T03:04:05Z",
    "t2": "2024-06-01T00:00:00+00:00",
    "nul": None,
    "other": 5,
}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"Variable": "$.s", "StringEquals": "hello world"}, True),
        ({"Variable": "$.s", "StringLessThan": "zzz"}, True),
        ({"Variable": "$.s", "StringGreaterThanEquals": "hello world"}, True),
        ({"Variable": "$.s", "StringMatches": "hello *"}, True),
        ({"Variable": "$.s", "StringMatches": "*planet"}, False),
        ({"Variable": "$.s", "StringMatches": "hello\\*"}, False),  # escaped star is literal
        ({"Variable": "$.n", "NumericEquals": 5}, True),
        ({"Variable": "$.f", "NumericLessThan": 3}, True),
        ({"Variable": "$.f", "NumericGreaterThan": 3}, False),
        ({"Variable": "$.n", "NumericLessThanEquals": 5}, True),
        ({"Variable": "$.n", "NumericGreaterThanEquals": 6}, False),
        ({"Variable": "$.n", "NumericEqualsPath": "$.other"}, True),
        ({"Variable": "$.f", "NumericLessThanPath": "$.n"}, True),
        ({"Variable": "$.b", "BooleanEquals": True}, True),
        ({"Variable": "$.b", "BooleanEqualsPath": "$.b"}, True),
        ({"Variable": "$.t", "TimestampLessThan": "2024-01-02T03:04:06Z"}, True),
        ({"Variable": "$.t", "TimestampEquals": "2024-01-02T03:04:05+00:00"}, True),
        ({"Variable": "$.t", "TimestampLessThanPath": "$.t2"}, True),
        ({"Variable": "$.t", "TimestampGreaterThanEquals": "2024-01-02T03:04:05Z"}, True),
        ({"Variable": "$.s", "StringEqualsPath": "$.s"}, True),
        ({"Variable": "$.s", "NumericEquals": 5}, False),  # type mismatch is false, not an error
        ({"Variable": "$.nul", "IsNull": True}, True),
        ({"Variable": "$.s", "IsNull": False}, True),
        ({"Variable": "$.missing", "IsPresent": False}, True),
        ({"Variable": "$.n", "IsPresent": True}, True),
        ({"Variable": "$.n", "IsNumeric": True}, True),
        ({"Variable": "$.s", "IsString": True}, True),
        ({"Variable": "$.b", "IsBoolean": True}, True),
        ({"Variable": "$.t", "IsTimestamp": True}, True),
        ({"Variable": "$.s", "IsTimestamp": False}, True),
        ({"And": [{"Variable": "$.n", "NumericGreaterThan": 1}, {"Variable": "$.b", "BooleanEquals": True}]}, True),
        ({"Or": [{"Variable": "$.n", "NumericGreaterThan": 10}, {"Variable": "$.b", "BooleanEquals": False}]}, False),
        ({"Not": {"Variable": "$.s", "StringEquals": "x"}}, True),
        ({"Variable": "$$.Execution.Name", "StringEquals": "run"}, True),
    ],
)
def test_rules(rule, expected):
    assert matches(rule, DATA, {"Execution": {"Name": "run"}}) is expected


def test_a_missing_variable_is_a_runtime_error():
    # only the Is* tests tolerate a missing Variable; comparisons fail (States.Runtime)
    with pytest.raises(PathNotFound):
        matches({"Variable": "$.missing", "StringEquals": "x"}, DATA)


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ({"Variable": "$.a", "StringEquals": "x"}, "needs 'Next'"),
        ({"Variable": "$.a", "StringEqualz": "x", "Next": "A"}, "unknown comparison operator 'StringEqualz'"),
        ({"Variable": "$.a", "NumericEquals": "x", "Next": "A"}, "must be a number"),
        ({"Variable": "$.a", "TimestampEquals": "yesterday", "Next": "A"}, "RFC 3339"),
        ({"Variable": "a", "StringEquals": "x", "Next": "A"}, "Variable"),
        ({"And": [], "Next": "A"}, "non-empty"),
        ({"Not": {"Variable": "$.a", "IsNull": True, "Next": "B"}, "Next": "A"}, "only allowed on top-level"),
        ({"Variable": "$.a", "StringEquals": "x", "IsNull": True, "Next": "A"}, "exactly one comparison"),
    ],
)
def test_rule_errors(rule, fragment):
    assert any(fragment in problem for problem in rule_errors(rule)), rule_errors(rule)
