"""The console's pure parts: session tokens, the state machine layout, per-state statuses from history."""

from __future__ import annotations

from openfc.console import session
from openfc.console.execution import state_runs
from openfc.console.graph import layout

KEYS = {"AK1": "secret-1", "AK.2": "secret-2"}


def test_session_tokens_are_signed_expiring_and_bound_to_the_key() -> None:
    token = session.issue(KEYS, "AK1", now=1000, ttl=60)
    assert session.verify(KEYS, token, now=1059) == "AK1"
    assert session.verify(KEYS, token, now=1061) is None  # expired
    key_id, expiry, mac = token.split(".")
    assert session.verify(KEYS, f"{key_id}.{int(expiry) + 1000}.{mac}", now=1000) is None  # stretched
    assert session.verify({"AK1": "rotated"}, token, now=1000) is None  # the key's secret changed
    assert session.verify(KEYS, session.issue(KEYS, "AK.2", now=1000), now=1000) == "AK.2"
    for bad in (None, "", "AK1", "AK1.x.y", "nobody.99999999999.00"):
        assert session.verify(KEYS, bad, now=1000) is None
    assert session.check_login(KEYS, "AK1", "secret-1")
    assert not session.check_login(KEYS, "AK1", "secret-2") and not session.check_login(KEYS, "AK9", "secret-1")


def test_layout_puts_start_on_top_and_nests_parallel_and_map() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "P"}], "Default": "F"},
            "F": {"Type": "Fail"},
            "P": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "End": True}}},
                    {"StartAt": "B2", "States": {"B2": {"Type": "Pass", "End": True}}},
                ],
                "Next": "M",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "A"}],
            },
            "M": {"Type": "Map", "Iterator": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
                  "End": True},
        },
    }  # fmt: skip
    graph = layout(definition)
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes["__start__"]["y"] < nodes["A"]["y"] < nodes["C"]["y"] < nodes["P"]["y"] < nodes["M"]["y"]
    assert nodes["__end__"]["y"] > nodes["M"]["y"]
    inner = nodes["P/Branch 1/B1"], nodes["P/Branch 2/B2"]
    for child in inner:  # branches sit inside their Parallel box, side by side
        assert nodes["P"]["x"] < child["x"] and child["x"] + child["w"] < nodes["P"]["x"] + nodes["P"]["w"]
        assert nodes["P"]["y"] < child["y"] and child["y"] + child["h"] < nodes["P"]["y"] + nodes["P"]["h"]
    assert inner[0]["x"] + inner[0]["w"] < inner[1]["x"]
    assert nodes["M/Item processor/I"]["name"] == "I" and nodes["P"]["compound"]
    kinds = {(e["source"], e["target"]): (e["kind"], e["back"]) for e in graph["edges"]}
    assert kinds[("C", "P")] == ("choice", False) and kinds[("C", "F")] == ("default", False)
    assert kinds[("P", "A")] == ("catch", True)  # goes back up
    assert kinds[("F", "__end__")] == ("end", False)
    assert all(n["x"] + n["w"] <= graph["width"] and n["y"] + n["h"] <= graph["height"] for n in graph["nodes"])


def _event(id_: int, prev: int, kind: str, **details: object) -> dict[str, object]:
    member = {"Entered": "stateEnteredEventDetails", "Exited": "stateExitedEventDetails"}
    key = next((v for k, v in member.items() if kind.endswith("State" + k)), "taskFailedEventDetails")
    return {"id": id_, "previousEventId": prev, "type": kind, "timestamp": float(id_), key: details}


def test_state_runs_tell_succeeded_caught_failed_retried_and_running() -> None:
    events = [
        {"id": 1, "previousEventId": 0, "type": "ExecutionStarted"},
        _event(2, 1, "PassStateEntered", name="A", input='{"a":1}'),
        _event(3, 2, "PassStateExited", name="A", output='{"a":2}'),
        _event(4, 3, "TaskStateEntered", name="T", input="{}"),
        {"id": 5, "previousEventId": 4, "type": "TaskScheduled"},
        _event(6, 5, "TaskFailed", error="Boom", cause="once"),
        {"id": 7, "previousEventId": 6, "type": "TaskScheduled"},  # a retry
        _event(8, 7, "TaskFailed", error="Boom", cause="twice"),
        _event(9, 8, "PassStateEntered", name="Handler", input="{}"),  # a Catch moved on
        _event(10, 9, "PassStateExited", name="Handler", output="{}"),
        _event(11, 10, "TaskStateEntered", name="Last", input="{}"),
        {"id": 12, "previousEventId": 11, "type": "TaskScheduled"},
    ]
    runs = state_runs(events)
    assert runs["A"]["status"] == "succeeded" and runs["A"]["input"] == {"a": 1} and runs["A"]["output"] == {"a": 2}
    assert runs["T"]["status"] == "caught" and runs["T"]["cause"] == "twice"
    assert runs["Handler"]["status"] == "succeeded"
    assert runs["Last"]["status"] == "running"
    retried = state_runs(events[:7])
    assert retried["T"]["status"] == "running"
    failed = state_runs([*events[:8], {"id": 9, "previousEventId": 8, "type": "ExecutionFailed"}])
    assert failed["T"]["status"] == "failed"
    fail_state = state_runs([events[0], _event(2, 1, "FailStateEntered", name="Stop", input="{}")])
    assert fail_state["Stop"]["status"] == "failed"
