"""History events in the Step Functions wire shape (``GetExecutionHistory``)."""

from __future__ import annotations

import json
from typing import Any

from openfc.store.workflow import EventRow

__all__ = ["render_event"]

#: event type → its details member and the detail fields it carries.
_DETAILS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ExecutionStarted": ("executionStartedEventDetails", ("input", "roleArn")),
    "ExecutionSucceeded": ("executionSucceededEventDetails", ("output",)),
    "ExecutionFailed": ("executionFailedEventDetails", ("error", "cause")),
    "ExecutionAborted": ("executionAbortedEventDetails", ("error", "cause")),
    "ExecutionTimedOut": ("executionTimedOutEventDetails", ("error", "cause")),
    "TaskScheduled": (
        "taskScheduledEventDetails",
        ("resourceType", "resource", "region", "parameters", "timeoutInSeconds", "heartbeatInSeconds"),
    ),
    "TaskStarted": ("taskStartedEventDetails", ("resourceType", "resource")),
    "TaskSubmitted": ("taskSubmittedEventDetails", ("resourceType", "resource", "output")),
    "TaskSucceeded": ("taskSucceededEventDetails", ("resourceType", "resource", "output")),
    "TaskFailed": ("taskFailedEventDetails", ("resourceType", "resource", "error", "cause")),
    "TaskTimedOut": ("taskTimedOutEventDetails", ("resourceType", "resource", "error", "cause")),
    "MapStateStarted": ("mapStateStartedEventDetails", ("length",)),
    "MapIterationStarted": ("mapIterationStartedEventDetails", ("name", "index")),
    "MapIterationSucceeded": ("mapIterationSucceededEventDetails", ("name", "index")),
    "MapIterationFailed": ("mapIterationFailedEventDetails", ("name", "index")),
    "MapIterationAborted": ("mapIterationAbortedEventDetails", ("name", "index")),
}
_JSON_FIELDS = {"input", "output", "parameters"}


def is_visible(row: EventRow) -> bool:
    """Internal bookkeeping events (type starting with ``_``) are not part of the AWS history."""
    return not row.type.startswith("_")


def render_event(row: EventRow, *, include_data: bool = True) -> dict[str, Any]:
    fields: tuple[str, ...]
    event: dict[str, Any] = {"timestamp": row.ts, "type": row.type, "id": row.id, "previousEventId": row.prev}
    if row.type.endswith("StateEntered"):
        member, fields = "stateEnteredEventDetails", ("name", "input")
    elif row.type.endswith("StateExited"):
        member, fields = "stateExitedEventDetails", ("name", "output")
    elif row.type in _DETAILS:
        member, fields = _DETAILS[row.type]
    else:
        return event
    data = json.loads(row.data)
    details: dict[str, Any] = {}
    for name in fields:
        if name not in data or data[name] is None and name not in _JSON_FIELDS:
            continue
        value = data[name]
        if name in _JSON_FIELDS:
            if not include_data:
                continue
            value = json.dumps(value, separators=(",", ":"))
        details[name] = value
    if include_data and "input" in details:
        details["inputDetails"] = {"truncated": False}
    if include_data and "output" in details:
        details["outputDetails"] = {"truncated": False}
    event[member] = details
    return event
