"""The durable async invocation queue: enqueue, dispatcher, retry policy, destinations, dead letters."""

from openfc.queue.async_queue import AsyncQueue
from openfc.queue.destinations import Destination, parse_destination
from openfc.queue.dispatcher import CallOutcome, Dispatcher
from openfc.queue.policy import AsyncPolicy, Backoff, FunctionRef, parse_target

__all__ = [
    "AsyncPolicy",
    "AsyncQueue",
    "Backoff",
    "CallOutcome",
    "Destination",
    "Dispatcher",
    "FunctionRef",
    "parse_destination",
    "parse_target",
]
