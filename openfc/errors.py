"""Domain errors. They carry data, never wire text; ``api.errors`` maps them to each surface.

OpenFCError
├── InvalidArgument        bad input (names the field)            FC 400 InvalidArgument
├── NotFound               a named resource is missing            FC 404 <Kind>NotFound
├── Conflict               it already exists / still referenced   FC 409 <Kind>AlreadyExists
├── PreconditionFailed     etag mismatch, already completed       FC 412
├── EntityTooLarge         code or payload over a limit           FC 413
├── Throttled              no capacity within the wait            FC 429 ResourceThrottled
├── AuthError              signature or key rejected              FC 401/403
├── InstanceError          instance failed to start               FC 500/503 (system error)
└── StoreError             the store failed                       FC 500
"""

from __future__ import annotations


class OpenFCError(Exception):
    """Root of every error openfc raises on purpose."""

    code: str = "InternalServerError"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidArgument(OpenFCError):
    code = "InvalidArgument"


class NotFound(OpenFCError):
    """``kind`` is the resource kind, e.g. ``Service`` → code ``ServiceNotFound``."""

    def __init__(self, kind: str, name: str, message: str | None = None) -> None:
        super().__init__(message or f"{kind} '{name}' does not exist", code=f"{kind}NotFound")
        self.kind = kind
        self.name = name


class Conflict(OpenFCError):
    code = "Conflict"


class AlreadyExists(Conflict):
    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} '{name}' already exists", code=f"{kind}AlreadyExists")
        self.kind = kind
        self.name = name


class PreconditionFailed(OpenFCError):
    code = "PreconditionFailed"


class EntityTooLarge(OpenFCError):
    code = "EntityTooLarge"


class Throttled(OpenFCError):
    code = "ResourceThrottled"


class AuthError(OpenFCError):
    """``status`` is 401 (no credentials) or 403 (bad credentials)."""

    def __init__(self, message: str, *, code: str, status: int = 403) -> None:
        super().__init__(message, code=code)
        self.status = status


class InstanceError(OpenFCError):
    """The platform could not run the call (instance failed to start): a system error, retryable."""

    code = "InstanceStartFailed"


class StoreError(OpenFCError):
    code = "InternalServerError"
