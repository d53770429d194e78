"""Task resources → function invocations through ``invoke.run`` (handed in when the app is assembled).

Error mapping (what a Task's Retry/Catch see as ``Error``):

- the function raised: ``Error`` = its ``errorType`` (``UnhandledInvocationError`` if absent),
  ``Cause`` = the FC error JSON body as a string;
- the platform could not run it: ``FC.<code>`` of the domain error — ``FC.ResourceThrottled``
  (no capacity within the wait), ``FC.InstanceStartFailed``, ``FC.FunctionNotFound``,
  ``FC.ServiceNotFound``... All of these match ``States.TaskFailed`` and ``States.ALL``, so a
  retrier on ``States.TaskFailed`` retries them.

A successful call's body is parsed as JSON; a body that is not JSON becomes a JSON string.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

from openfc.errors import OpenFCError
from openfc.invoke import Invocation, Outcome
from openfc.workflow.asl import FunctionRef
from openfc.workflow.engine import TaskRunner
from openfc.workflow.processing import Failure

__all__ = ["function_tasks"]

Run = Callable[..., Awaitable[Outcome]]


def function_tasks(run: Run, *, wait: float = 300.0) -> TaskRunner:
    """A ``TaskRunner`` calling openfc functions; ``wait`` is how long a call may queue for capacity."""

    async def call(ref: FunctionRef, payload: bytes, trace_id: str) -> Any:
        invocation = Invocation(ref.service, ref.qualifier, ref.function, payload, kind="Workflow")
        if trace_id:
            invocation = dataclasses.replace(invocation, trace_id=trace_id)
        try:
            outcome = await run(invocation, wait=wait)
        except OpenFCError as error:
            raise Failure(f"FC.{error.code}", error.message) from None
        result = outcome.result
        body = result.body.decode(errors="replace")
        if result.failure is not None:
            try:
                error_type = json.loads(body).get("errorType") or "UnhandledInvocationError"
            except (ValueError, AttributeError):
                error_type = "UnhandledInvocationError"
            raise Failure(str(error_type), body)
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return body

    return call
