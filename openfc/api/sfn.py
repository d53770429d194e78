"""The AWS Step Functions API (JSON 1.0): ``POST /`` with ``X-Amz-Target: AWSStepFunctions.<Op>``, SigV4."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openfc.api.state import Platform
from openfc.auth.sigv4 import SigV4Verifier
from openfc.errors import AlreadyExists, AuthError, Conflict, InvalidArgument, NotFound, OpenFCError
from openfc.invoke import new_request_id
from openfc.workflow import Workflows

CONTENT_TYPE = "application/x-amz-json-1.0"
TARGET_PREFIX = "AWSStepFunctions."
MAX_BODY = 2 * 1024 * 1024

Operation = Callable[[Workflows, dict[str, Any]], Awaitable[dict[str, Any]]]

OPERATIONS: dict[str, Operation] = {
    "CreateStateMachine": Workflows.create_state_machine,
    "DescribeStateMachine": Workflows.describe_state_machine,
    "UpdateStateMachine": Workflows.update_state_machine,
    "DeleteStateMachine": Workflows.delete_state_machine,
    "ListStateMachines": Workflows.list_state_machines,
    "StartExecution": Workflows.start_execution,
    "StartSyncExecution": Workflows.start_sync_execution,
    "DescribeExecution": Workflows.describe_execution,
    "ListExecutions": Workflows.list_executions,
    "StopExecution": Workflows.stop_execution,
    "GetExecutionHistory": Workflows.get_execution_history,
    "SendTaskSuccess": Workflows.send_task_success,
    "SendTaskFailure": Workflows.send_task_failure,
    "SendTaskHeartbeat": Workflows.send_task_heartbeat,
    "DescribeStateMachineForExecution": Workflows.describe_state_machine_for_execution,
}

#: NotFound kind → the AWS error type.
NOT_FOUND = {
    "StateMachine": "StateMachineDoesNotExist",
    "Execution": "ExecutionDoesNotExist",
    "Task": "TaskDoesNotExist",
    "Token": "InvalidToken",
}


def error_type(error: OpenFCError) -> str:
    """The ``__type`` of a domain error on the Step Functions surface."""
    if isinstance(error, NotFound):
        return NOT_FOUND.get(error.kind, "ResourceNotFound")
    if isinstance(error, AlreadyExists):
        return f"{error.kind}AlreadyExists"
    if isinstance(error, AuthError):
        return error.code
    if isinstance(error, InvalidArgument | Conflict):
        return error.code if error.code not in ("InvalidArgument", "Conflict") else "ValidationException"
    return "ServiceUnavailable" if error.code != "InternalServerError" else "InternalFailure"


def sfn_error(error: OpenFCError, request_id: str) -> Response:
    kind = error_type(error)
    status = 400 if kind not in ("InternalFailure", "ServiceUnavailable") else 500
    body = json.dumps({"__type": kind, "message": error.message})
    return Response(body, status, headers={"x-amzn-RequestId": request_id}, media_type=CONTENT_TYPE)


async def endpoint(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    request_id = new_request_id()
    try:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise InvalidArgument(f"the request body is larger than {MAX_BODY} bytes", code="ValidationException")
        verifier = SigV4Verifier(platform.verifier.keys)
        raw_path = request.scope.get("raw_path", b"/").decode("latin-1").split("?", 1)[0]
        verifier.verify(request.method, raw_path, request.url.query, request.headers, body)
        target = request.headers.get("x-amz-target", "")
        operation = OPERATIONS.get(target.removeprefix(TARGET_PREFIX)) if target.startswith(TARGET_PREFIX) else None
        if operation is None:
            raise InvalidArgument(f"Unknown operation '{target}'", code="UnknownOperationException")
        try:
            members = json.loads(body or b"{}")
        except ValueError:
            raise InvalidArgument("the request body is not valid JSON", code="SerializationException") from None
        if not isinstance(members, dict):
            raise InvalidArgument("the request body must be a JSON object", code="SerializationException")
        result = await operation(platform.workflows, members)
    except OpenFCError as error:
        return sfn_error(error, request_id)
    return Response(json.dumps(result), 200, headers={"x-amzn-RequestId": request_id}, media_type=CONTENT_TYPE)


routes = [Route("/", endpoint, methods=["POST"])]
