"""A synchronous, clock-free driver for the pure interpreter: tasks are Python callables."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from openfc.workflow.asl import parse_resource, validate
from openfc.workflow.interpreter import Event, Execution
from openfc.workflow.processing import Failure

ARN = "arn:aws:states:us-east-1:0:execution:sm:run1"
MACHINE = "arn:aws:states:us-east-1:0:stateMachine:sm"


def fn(name: str, callback: bool = False) -> str:
    return f"acs:fc:::services/svc.LATEST/functions/{name}" + (".waitForTaskToken" if callback else "")


def run(
    definition: dict[str, Any],
    input: Any = None,
    tasks: dict[str, Callable[[Any], Any]] | None = None,
    *,
    now: float = 1_700_000_000.0,
    max_steps: int = 10_000,
) -> Execution:
    """Run ``definition`` to completion; a task callable raising ``Failure`` fails the Task."""
    validate(definition)
    ex = Execution(arn=ARN, name="run1", machine_arn=MACHINE, definition=definition, region="us-east-1")
    ex.start({} if input is None else input, now)
    ex.advance(now)
    for _ in range(max_steps):
        if ex.status != "RUNNING":
            return ex
        progressed = False
        for frame in ex.pending_tasks():
            assert frame.task is not None
            ref = parse_resource(frame.task["resource"])
            payload = json.loads(json.dumps(frame.task["payload"]))
            try:
                result = (tasks or {})[ref.function](payload)
            except Failure as failure:
                ex.task_result(frame.id, frame.task["id"], now, failure=failure)
            else:
                ex.task_result(frame.id, frame.task["id"], now, output=result, submitted=ref.callback)
            progressed = True
        ex.advance(now)
        if not progressed and ex.status == "RUNNING":
            wake = ex.next_wake()
            if wake is None:
                return ex  # waiting for a callback
            now = max(now, wake)
            ex.advance(now)
    return ex


def replayed(ex: Execution, events: list[Event]) -> Execution:
    copy = Execution(arn=ex.arn, name=ex.name, machine_arn=ex.machine_arn, definition=ex.definition, region=ex.region)
    copy.replay(events)
    return copy
