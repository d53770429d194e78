"""Each state's status, input and output, folded from an execution's history (Step Functions event shape).

Statuses: ``running`` (entered, not left), ``succeeded`` (exited), ``failed`` (a Fail state, or
an error nothing caught), ``caught`` (failed, then a Catch moved on). States never entered have no
entry ("not started"). A state that runs several times (loops, Map items) shows its latest run.
"""

from __future__ import annotations

import json
from typing import Any

FAILURES = ("TaskFailed", "TaskTimedOut", "ParallelStateFailed", "MapStateFailed", "LambdaFunctionFailed")


def _details(event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def state_runs(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """State name → ``{status, input, output, error, cause, entered, exited, runs}`` (events in id order)."""
    owner: dict[int, str] = {}  # event id → the state whose run it belongs to
    failed_at: dict[int, str] = {}  # failure event id → its state (to tell caught from retried)
    states: dict[str, dict[str, Any]] = {}
    for event in events:
        kind, event_id, prev = event.get("type", ""), int(event.get("id", 0)), int(event.get("previousEventId", 0))
        details = _details(event)
        name = details.get("name") if kind.endswith(("StateEntered", "StateExited")) else owner.get(prev)
        if prev in failed_at and failed_at[prev] != name:
            states[failed_at[prev]]["status"] = "caught"  # the next step of that frame is another state
        if not isinstance(name, str):
            continue
        owner[event_id] = name
        run = states.get(name)
        if kind.endswith("StateEntered"):
            runs = run["runs"] + 1 if run else 1
            run = states[name] = {"status": "running", "input": _json(details.get("input")), "output": None,
                                  "error": None, "cause": None, "entered": event.get("timestamp"), "exited": None,
                                  "runs": runs}  # fmt: skip
            if kind == "FailStateEntered":
                run["status"] = "failed"
        elif run is None:
            continue
        elif kind.endswith("StateExited"):
            caught = run["status"] == "failed"  # the failure was caught (an Exited after the error)
            run.update(status="caught" if caught else "succeeded", output=_json(details.get("output")))
            run["exited"] = event.get("timestamp")
        elif kind in FAILURES:
            run.update(status="failed", error=details.get("error"), cause=details.get("cause"))
            failed_at[event_id] = name
        elif prev in failed_at and not kind.startswith("Execution"):
            run["status"] = "running"  # the same state again: a retry
    return states


def execution_view(description: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the execution page shows: the description, per-state runs and the raw events."""
    states = state_runs(events)
    if description.get("status") in ("FAILED", "ABORTED", "TIMED_OUT"):
        for run in states.values():
            if run["status"] == "running":
                run["status"] = "failed"  # stopped while it ran
    return {"execution": description, "states": states, "events": events}
