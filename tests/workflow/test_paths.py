"""JSONPath as ASL uses it — States Language spec, "Paths" and "Reference Paths"."""

from __future__ import annotations

import pytest

from openfc.workflow.paths import PathError, PathNotFound, compile_path, query, set_at

DATA = {
    "foo": 123,
    "bar": ["a", "b", "c"],
    "car": {"cdr": True},
    "store": {"book": [{"title": "x", "price": 8}, {"title": "y", "price": 12}]},
    "a.b": {"c d": 1},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", DATA),  # spec "Paths": "$" is the whole input
        ("$.foo", 123),  # spec "Reference Paths" example
        ("$.bar", ["a", "b", "c"]),
        ("$.car.cdr", True),
        ("$.bar[0]", "a"),
        ("$.bar[-1]", "c"),
        ("$['a.b']['c d']", 1),
        ("$.store.book[1].title", "y"),
        ("$.store.book[*].title", ["x", "y"]),  # wildcard → list of matches
        ("$.bar[0:2]", ["a", "b"]),
        ("$..price", [8, 12]),
        ("$.bar[0,2]", ["a", "c"]),
    ],
)
def test_query(path, expected):
    assert query(path, DATA) == expected


def test_context_object_path():
    # spec "Context Object": paths starting with "$$" select from the context object
    assert query("$$.Execution.Name", {}, {"Execution": {"Name": "n"}}) == "n"


def test_missing_definite_path_raises():
    with pytest.raises(PathNotFound):
        query("$.nope", DATA)
    with pytest.raises(PathNotFound):
        query("$.bar[7]", DATA)


def test_indefinite_path_selects_empty_list():
    assert query("$.nope[*]", DATA) == []


@pytest.mark.parametrize("bad", ["foo", "$.", "$[", "$.a[?(@.x)]", "$ .a"])
def test_invalid_paths(bad):
    with pytest.raises(PathError):
        compile_path(bad)


def test_reference_paths_reject_wildcards():
    # spec "Reference Paths": only identify a single node — no wildcards, filters
    with pytest.raises(PathError):
        compile_path("$.a[*]", reference=True)
    assert compile_path("$.a[0].b", reference=True).reference


def test_set_at_creates_intermediate_objects():
    # spec "ResultPath": the path may name fields that do not exist yet
    assert set_at({"a": 1}, "$.b.c", 2) == {"a": 1, "b": {"c": 2}}
    assert set_at({"a": 1}, "$", 2) == 2
    assert set_at({"a": [0, 1]}, "$.a[1]", 9) == {"a": [0, 9]}


def test_set_at_does_not_mutate_input():
    data = {"a": {"b": 1}}
    set_at(data, "$.a.c", 2)
    assert data == {"a": {"b": 1}}


def test_set_at_through_a_non_object_fails():
    with pytest.raises(PathNotFound):
        set_at({"a": 1}, "$.a.b", 2)
