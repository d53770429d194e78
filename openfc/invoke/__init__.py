"""Running functions: qualifier resolution, sync calls through the pool, async through the queue."""

from openfc.invoke.invoker import Invocation, Invoker, Outcome, Resolve, Target, new_request_id

__all__ = ["Invocation", "Invoker", "Outcome", "Resolve", "Target", "new_request_id"]
