"""Intrinsic functions — States Language spec, "Intrinsic Functions" (each function's subsection)."""

from __future__ import annotations

import hashlib
import re

import pytest

from openfc.workflow.intrinsics import IntrinsicError, evaluate, parse

DATA = {"name": "Ann", "items": [1, 2, 2, 3], "obj": {"a": 1}, "text": '{"k":[1]}', "n": 5}


def ev(text, data=DATA, ctx=None):
    return evaluate(text, data, ctx or {"Execution": {"Name": "run"}})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("States.Format('Hello, {}!', $.name)", "Hello, Ann!"),
        ("States.Format('{} {}', $.n, $.obj)", '5 {"a":1}'),
        ("States.Format('escaped \\{\\} and \\'q\\' {}', $$.Execution.Name)", "escaped {} and 'q' run"),
        ("States.StringToJson($.text)", {"k": [1]}),
        ("States.JsonToString($.obj)", '{"a":1}'),
        ("States.Array('a', 1, true, null, $.n)", ["a", 1, True, None, 5]),
        ("States.ArrayPartition($.items, 3)", [[1, 2, 2], [3]]),
        ("States.ArrayContains($.items, 3)", True),
        ("States.ArrayContains($.items, 9)", False),
        ("States.ArrayRange(1, 9, 2)", [1, 3, 5, 7, 9]),
        ("States.ArrayRange(5, 1, -2)", [5, 3, 1]),
        ("States.ArrayGetItem($.items, 3)", 3),
        ("States.ArrayLength($.items)", 4),
        ("States.ArrayUnique($.items)", [1, 2, 3]),
        ("States.Base64Encode('Data to encode')", "RGF0YSB0byBlbmNvZGU="),
        ("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", "Data to encode"),
        ("States.Hash('input data', 'SHA-1')", hashlib.sha1(b"input data").hexdigest()),
        ("States.JsonMerge($.obj, States.StringToJson('{\"b\":2}'), false)", {"a": 1, "b": 2}),
        ("States.MathAdd($.n, -7)", -2),
        ("States.StringSplit('1,2;3', ',;')", ["1", "2", "3"]),
        ("States.ArrayLength(States.Array(1, 2))", 2),  # nested calls
    ],
)
def test_functions(text, expected):
    assert ev(text) == expected


def test_uuid_and_random():
    assert re.fullmatch(r"[0-9a-f-]{36}", ev("States.UUID()"))
    value = ev("States.MathRandom(1, 10)")
    assert 1 <= value <= 10
    assert ev("States.MathRandom(1, 1000, 7)") == ev("States.MathRandom(1, 1000, 7)")  # seeded


@pytest.mark.parametrize(
    "text",
    ["States.Nope(1)", "States.Format('x'", "States.Format('x') extra", "States.Array(1,)", "Format('x')"],
)
def test_syntax_errors(text):
    with pytest.raises(IntrinsicError):
        parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "States.ArrayGetItem($.items, 10)",
        "States.StringToJson('{bad')",
        "States.Format('{} {}', 1)",
        "States.ArrayLength($.name)",
        "States.Hash('x', 'CRC')",
        "States.Format('{}', $.missing)",
        "States.Base64Decode('***')",
    ],
)
def test_evaluation_failures_are_intrinsic_errors(text):
    # spec "Intrinsic Functions": a failure raises States.IntrinsicFailure
    with pytest.raises(IntrinsicError):
        ev(text)
