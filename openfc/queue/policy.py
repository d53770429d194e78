"""What an async event targets, and the retry policy it runs under.

Retry policy (FC's, see FC_API.md §6):

- *function error* — the call ran and failed (``CallResult.failure``: unhandled exception,
  timeout, OOM, crash, failed initializer): retried up to ``maxAsyncRetryAttempts`` times, after
  ``retry_base × 2^(n-1)`` s (1, 2, 4 … s by default); then the event is *Failed*.
- *system error* — the platform could not run it (``Throttled``, ``InstanceError``, a store or
  other unexpected error): retried with binary exponential backoff 0.5, 1, 2, 4 … s (× the retry
  base, capped at ``system_cap``), without limit on count, until the event is older than
  ``maxAsyncEventAgeInSeconds``; then it is *Expired*. Not billed against maxAsyncRetryAttempts.
- an event found older than ``maxAsyncEventAgeInSeconds`` when its turn comes is not run: *Expired*.
- a target that no longer exists (function deleted) makes the event *Invalid* at once.

Failed, Expired and Invalid events go to the onFailure destination (if configured) and always to
the dead letters, from where they can be listed and re-driven.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_AGE = 86400
#: How long a broker delivery (destination) is retried before it is dead-lettered.
DELIVERY_MAX_AGE = 86400


class FunctionRef(NamedTuple):
    service: str
    qualifier: str
    function: str

    @property
    def target(self) -> str:
        """The queue target (and async-invoke-config key) ``services/{s}.{q}/functions/{f}``."""
        return f"services/{self.service}.{self.qualifier}/functions/{self.function}"

    @property
    def record_function(self) -> str:
        """Stateful invocation ids are unique per ``{service}/{function}`` (any qualifier)."""
        return f"{self.service}/{self.function}"

    def arn(self, region: str, account_id: str) -> str:
        return f"acs:fc:{region}:{account_id}:{self.target}"


def parse_target(target: str) -> FunctionRef | None:
    """The function of a ``services/{s}.{q}/functions/{f}`` target; ``None`` for a destination URL."""
    if not target.startswith("services/"):
        return None
    head, sep, function = target.removeprefix("services/").partition("/functions/")
    service, _, qualifier = head.partition(".")
    if not sep or not service or not function:
        return None
    return FunctionRef(service, qualifier or "LATEST", function)


@dataclass(frozen=True, slots=True)
class AsyncPolicy:
    """A function's async invoke config as the dispatcher applies it."""

    max_retries: int = DEFAULT_MAX_RETRIES  #: maxAsyncRetryAttempts
    max_age: float = DEFAULT_MAX_AGE  #: maxAsyncEventAgeInSeconds
    on_success: str | None = None  #: destinationConfig.onSuccess.destination
    on_failure: str | None = None  #: destinationConfig.onFailure.destination
    stateful: bool = False  #: statefulInvocation


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between attempts. ``retry_base`` scales function-error retries (``OPENFC_ASYNC_RETRY_BASE``)."""

    retry_base: float = 1.0
    system_base: float = 0.5
    system_cap: float = 60.0

    def function_error(self, failures: int) -> float:
        """Delay before the retry that follows the ``failures``-th function error (1-based)."""
        return self.retry_base * 2.0 ** max(failures - 1, 0)

    def system_error(self, errors: int) -> float:
        """Delay before the retry that follows the ``errors``-th system error (1-based)."""
        return min(self.system_base * self.retry_base * 2.0 ** max(errors - 1, 0), self.system_cap)
