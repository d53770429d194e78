"""Instance pools: run function versions in sandboxed bootstrap processes, scaled with demand."""

from openfc.pool.instance import InstanceInfo
from openfc.pool.spec import CallContext, CallResult, FailureKind, FunctionSpec, HttpRequest, HttpResult
from openfc.pool.supervisor import Pool

__all__ = [
    "CallContext", "CallResult", "FailureKind", "FunctionSpec", "HttpRequest", "HttpResult", "InstanceInfo", "Pool",
]  # fmt: skip
