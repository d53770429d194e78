"""What the pool needs to know to run a function version, and what a call returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """An immutable description of one function version, as the pool runs it.

    ``revision`` changes whenever code or configuration changes (the function's etag);
    instances started for another revision of the same key are retired.
    """

    service: str
    function: str
    version_id: str  #: "LATEST" or a published version id
    revision: str
    runtime: str  #: python3, python3.9, python3.10, python3.12 or custom
    handler: str  #: module.func
    code_checksum: str  #: blob digest (sha256 hex) of the code zip
    memory_size: int = 256  #: MB
    timeout: int = 60  #: seconds per call
    instance_concurrency: int = 1
    initializer: str | None = None
    initialization_timeout: int = 30
    environment: Mapping[str, str] = field(default_factory=dict)
    ca_port: int = 9000  #: custom runtime: port the user's server listens on
    custom_command: tuple[str, ...] = ()  #: custom runtime: customRuntimeConfig.command
    custom_args: tuple[str, ...] = ()  #: custom runtime: customRuntimeConfig.args
    layers: tuple[str, ...] = ()  #: layer code digests, in configuration order

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.function, self.version_id)


@dataclass(frozen=True, slots=True)
class CallContext:
    """Per-call facts handed to the function (``context`` in Python)."""

    request_id: str
    qualifier: str = "LATEST"
    trace_id: str = ""


class FailureKind(StrEnum):
    """Why a call failed; the async retry policy tells function errors from system errors."""

    #: the handler raised (function error)
    EXCEPTION = "exception"
    #: the call ran past the function's timeout; the instance was replaced (function error)
    TIMEOUT = "timeout"
    #: the instance exceeded memorySize and was killed (function error)
    OOM = "oom"
    #: the instance died during the call (function error)
    CRASH = "crash"
    #: the initializer failed or timed out (function error)
    INIT = "init"


@dataclass(slots=True)
class CallResult:
    """Outcome of one call. ``failure`` is None on success; then ``body`` is the response body.

    On failure ``body`` is the FC error JSON ``{errorMessage, errorType, stackTrace?}``.
    """

    body: bytes
    failure: FailureKind | None = None
    log: bytes = b""  #: everything the call wrote (stdout, stderr, logger), tagged lines
    duration_ms: float = 0.0
    cold_start: bool = False
    init_duration_ms: float = 0.0
    instance_id: str = ""
    max_memory_mb: float = 0.0

    @property
    def error_type(self) -> str | None:
        return None if self.failure is None else "UnhandledInvocationError"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP call to an HTTP function (HTTP trigger or custom domain), as the gateway received it.

    ``path`` is the URL-decoded path the function sees (below ``/proxy/{service}.{qualifier}/{function}``);
    ``query`` is the raw query string without ``?``; ``headers`` keep their order, case and repetitions.
    """

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    client_ip: str = ""

    @property
    def request_uri(self) -> str:
        """The path (percent-encoded again) and query, as on the wire."""
        from urllib.parse import quote

        return quote(self.path, safe="/!$&'()*+,;=:@~") + ("?" + self.query if self.query else "")


@dataclass(slots=True)
class HttpResult:
    """Outcome of one HTTP call: the function's status, headers and body.

    On failure (``failure`` set) ``status`` is 502 and ``body`` the FC error JSON, as in ``CallResult``.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    failure: FailureKind | None = None
    log: bytes = b""
    duration_ms: float = 0.0
    cold_start: bool = False
    init_duration_ms: float = 0.0
    instance_id: str = ""
    max_memory_mb: float = 0.0

    @property
    def error_type(self) -> str | None:
        return None if self.failure is None else "UnhandledInvocationError"

    @classmethod
    def failed(cls, result: CallResult) -> HttpResult:
        """An HTTP result for a call that failed (``result.failure`` is set)."""
        return cls(
            502, [("content-type", "application/json")], result.body, result.failure, result.log,
            result.duration_ms, result.cold_start, result.init_duration_ms, result.instance_id, result.max_memory_mb,
        )  # fmt: skip
