"""The Step Functions operations over state machines (documents) and executions (the engine).

Each method takes the request's JSON members and returns the response's, as the AWS API names them.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from typing import Any

from openfc.errors import AlreadyExists, InvalidArgument, NotFound
from openfc.store import Store
from openfc.store.workflow import ExecutionRow
from openfc.workflow.asl import parse_definition
from openfc.workflow.engine import Engine
from openfc.workflow.history import is_visible, render_event
from openfc.workflow.processing import Failure

__all__ = ["Workflows"]

KIND = "sfn.machine"
MAX_INPUT = 256 * 1024
_BAD_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")


def invalid(message: str, code: str = "ValidationException") -> InvalidArgument:
    return InvalidArgument(message, code=code)


def check_name(name: Any, what: str = "name") -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 80 or _BAD_NAME.search(name):
        raise invalid(
            f"Invalid Name: '{name}' ({what}: 1-80 characters, no whitespace, brackets, wildcards or "
            "special characters)",
            "InvalidName",
        )
    return name


def _token(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _untoken(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise invalid("Invalid Token: the nextToken is not one this API returned", "InvalidToken") from None


def _limit(body: dict[str, Any], default: int = 100) -> int:
    value = body.get("maxResults") or default
    if not isinstance(value, int) or not 0 < value <= 1000:
        raise invalid("maxResults must be between 1 and 1000")
    return value


def _json_text(text: Any, code: str, field: str) -> str:
    if text is None:
        return "{}"
    if not isinstance(text, str) or len(text.encode()) > MAX_INPUT:
        raise invalid(f"{field} must be a JSON string of at most 256 KB", code)
    try:
        json.loads(text)
    except ValueError as error:
        raise invalid(f"Invalid {field}: not valid JSON ({error})", code) from None
    return text


class Workflows:
    """store: state machine documents live here. engine: runs executions. region/account: in every ARN."""

    def __init__(self, *, store: Store, engine: Engine, region: str, account_id: str) -> None:
        self.store, self.engine = store, engine
        self.prefix = f"arn:aws:states:{region}:{account_id}:"

    # -- arns --------------------------------------------------------------------------

    def _machine_name(self, arn: Any) -> str:
        prefix = self.prefix + "stateMachine:"
        if not isinstance(arn, str) or not arn.startswith(prefix) or ":" in arn[len(prefix) :]:
            raise invalid(f"Invalid Arn: '{arn}' is not a state machine ARN ({prefix}<name>)", "InvalidArn")
        return arn[len(prefix) :]

    def _execution(self, arn: Any) -> tuple[str, str]:
        prefix = self.prefix + "execution:"
        parts = arn[len(prefix) :].split(":") if isinstance(arn, str) and arn.startswith(prefix) else []
        if len(parts) != 2 or not all(parts):
            raise invalid(f"Invalid Arn: '{arn}' is not an execution ARN ({prefix}<machine>:<name>)", "InvalidArn")
        return parts[0], parts[1]

    async def _machine(self, arn: Any) -> dict[str, Any]:
        name = self._machine_name(arn)
        doc = await self.store.get(KIND, name)
        if doc is None:
            raise NotFound("StateMachine", arn, f"State Machine Does Not Exist: '{arn}'")
        return doc.body

    async def _execution_row(self, arn: Any) -> ExecutionRow:
        self._execution(arn)
        row = await self.store.workflow_get(arn)
        if row is None:
            raise NotFound("Execution", arn, f"Execution Does Not Exist: '{arn}'")
        return row

    # -- state machines ----------------------------------------------------------------

    async def create_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        name = check_name(body.get("name"))
        definition = body.get("definition")
        parse_definition(definition)  # type: ignore[arg-type]
        kind = body.get("type", "STANDARD")
        if kind not in ("STANDARD", "EXPRESS"):
            raise invalid("type must be STANDARD or EXPRESS")
        now = time.time()
        machine = {
            "stateMachineArn": self.prefix + "stateMachine:" + name,
            "name": name,
            "definition": definition,
            "roleArn": body.get("roleArn") or "",
            "type": kind,
            "creationDate": now,
            "updateDate": now,
            "status": "ACTIVE",
            "revisionId": uuid.uuid4().hex,
            "loggingConfiguration": body.get("loggingConfiguration") or {"level": "OFF", "includeExecutionData": False},
            "tracingConfiguration": body.get("tracingConfiguration") or {"enabled": False},
        }
        doc = await self.store.create(KIND, name, machine)
        if doc is None:
            existing = await self._machine(machine["stateMachineArn"])
            if existing["definition"] != definition or existing["roleArn"] != machine["roleArn"]:
                raise AlreadyExists("StateMachine", name)
            machine = existing
        return {"stateMachineArn": machine["stateMachineArn"], "creationDate": machine["creationDate"]}

    async def describe_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = await self._machine(body.get("stateMachineArn"))
        return {k: v for k, v in machine.items() if k != "updateDate"}

    async def update_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = await self._machine(body.get("stateMachineArn"))
        if "definition" not in body and "roleArn" not in body and "loggingConfiguration" not in body:
            raise invalid("Either the definition, the roleArn or the loggingConfiguration must be specified")
        if "definition" in body:
            parse_definition(body["definition"])
            machine["definition"] = body["definition"]
        for field in ("roleArn", "loggingConfiguration", "tracingConfiguration"):
            if field in body:
                machine[field] = body[field]
        machine["updateDate"], machine["revisionId"] = time.time(), uuid.uuid4().hex
        await self.store.put(KIND, machine["name"], machine)
        return {"updateDate": machine["updateDate"], "revisionId": machine["revisionId"]}

    async def delete_state_machine(self, body: dict[str, Any]) -> dict[str, Any]:
        name = self._machine_name(body.get("stateMachineArn"))
        await self.store.delete(KIND, name)  # running executions finish; deleting is idempotent
        return {}

    async def list_state_machines(self, body: dict[str, Any]) -> dict[str, Any]:
        limit = _limit(body)
        start = _untoken(body["nextToken"]) if body.get("nextToken") else ""
        docs = await self.store.list(KIND, start=start, limit=limit + 1)
        items = [{k: d.body[k] for k in ("stateMachineArn", "name", "type", "creationDate")} for d in docs[:limit]]
        out: dict[str, Any] = {"stateMachines": items}
        if len(docs) > limit:
            out["nextToken"] = _token(docs[limit].key)
        return out

    # -- executions --------------------------------------------------------------------

    async def start_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        row = await self._start(body)
        return {"executionArn": row.arn, "startDate": row.start_ts}

    async def _start(self, body: dict[str, Any]) -> ExecutionRow:
        machine = await self._machine(body.get("stateMachineArn"))
        name = check_name(body.get("name") or str(uuid.uuid4()), "execution name")
        input_text = _json_text(body.get("input"), "InvalidExecutionInput", "input")
        arn = f"{self.prefix}execution:{machine['name']}:{name}"
        row, created = await self.engine.start_execution(
            machine_arn=machine["stateMachineArn"],
            arn=arn,
            name=name,
            definition=parse_definition(machine["definition"]),
            input_text=input_text,
            trace_id=str(body.get("traceHeader") or uuid.uuid4()),
        )
        # AWS: the same name and input while still running returns the original execution.
        if not created and (row.status != "RUNNING" or json.loads(row.input) != json.loads(input_text)):
            raise AlreadyExists("Execution", arn)
        return row

    async def start_sync_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        row = await self.engine.wait((await self._start(body)).arn, timeout=300.0)
        out = self._describe(row)
        out["status"] = row.status if row.status != "RUNNING" else "TIMED_OUT"
        out.setdefault("stopDate", time.time())
        out["billingDetails"] = {"billedMemoryUsedInMB": 0, "billedDurationInMilliseconds": 0}
        return out

    def _describe(self, row: ExecutionRow) -> dict[str, Any]:
        out: dict[str, Any] = {
            "executionArn": row.arn,
            "stateMachineArn": row.machine_arn,
            "name": row.name,
            "status": row.status,
            "startDate": row.start_ts,
            "input": row.input,
            "inputDetails": {"included": True},
            "redriveCount": 0,
        }
        if row.stop_ts is not None:
            out["stopDate"] = row.stop_ts
        if row.output is not None:
            out["output"], out["outputDetails"] = row.output, {"included": True}
        if row.error is not None:
            out["error"] = row.error
        if row.cause is not None:
            out["cause"] = row.cause
        return out

    async def describe_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._describe(await self._execution_row(body.get("executionArn")))

    async def describe_state_machine_for_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        row = await self._execution_row(body.get("executionArn"))
        name = row.machine_arn.rsplit(":", 1)[-1]
        doc = await self.store.get(KIND, name)
        machine = doc.body if doc else {}
        return {
            "stateMachineArn": row.machine_arn,
            "name": name,
            "definition": json.dumps(json.loads(row.definition)),
            "roleArn": machine.get("roleArn", ""),
            "updateDate": machine.get("updateDate", row.start_ts),
            "revisionId": machine.get("revisionId", ""),
        }

    async def list_executions(self, body: dict[str, Any]) -> dict[str, Any]:
        machine = await self._machine(body.get("stateMachineArn"))
        status = body.get("statusFilter")
        if status not in (None, "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"):
            raise invalid(f"statusFilter '{status}' is not an execution status")
        limit = _limit(body)
        cursor = _untoken(body["nextToken"]) if body.get("nextToken") else None
        after = (float(cursor[0]), str(cursor[1])) if cursor else None
        rows = await self.store.workflow_list(machine["stateMachineArn"], status, after, limit + 1)
        items = []
        for row in rows[:limit]:
            item = {
                k: v
                for k, v in self._describe(row).items()
                if k in ("executionArn", "stateMachineArn", "name", "status", "startDate", "stopDate")
            }
            items.append(item)
        out: dict[str, Any] = {"executions": items}
        if len(rows) > limit:
            out["nextToken"] = _token([rows[limit - 1].start_ts, rows[limit - 1].arn])
        return out

    async def stop_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        row = await self._execution_row(body.get("executionArn"))
        if row.status == "RUNNING":
            await self.engine.stop(row.arn, body.get("error") or "", body.get("cause") or "")
            row = await self._execution_row(row.arn)
        return {"stopDate": row.stop_ts or time.time()}

    async def get_execution_history(self, body: dict[str, Any]) -> dict[str, Any]:
        row = await self._execution_row(body.get("executionArn"))
        limit = _limit(body)
        reverse = bool(body.get("reverseOrder"))
        after = int(_untoken(body["nextToken"])) if body.get("nextToken") else 0
        events = await self.store.workflow_events(row.arn, after=after, limit=limit, reverse=reverse)
        include = body.get("includeExecutionData", True) is not False
        out: dict[str, Any] = {"events": [render_event(e, include_data=include) for e in events if is_visible(e)]}
        if len(events) == limit:
            out["nextToken"] = _token(events[-1].id)
        return out

    # -- callbacks ---------------------------------------------------------------------

    async def send_task_success(self, body: dict[str, Any]) -> dict[str, Any]:
        output = _json_text(body.get("output"), "InvalidOutput", "output")
        await self.engine.complete_task(self._task_token(body), output=json.loads(output))
        return {}

    async def send_task_failure(self, body: dict[str, Any]) -> dict[str, Any]:
        failure = Failure(body.get("error") or "", body.get("cause") or "")
        await self.engine.complete_task(self._task_token(body), failure=failure)
        return {}

    async def send_task_heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        await self.engine.complete_task(self._task_token(body), heartbeat=True)
        return {}

    @staticmethod
    def _task_token(body: dict[str, Any]) -> str:
        token = body.get("taskToken")
        if not isinstance(token, str) or not token:
            raise invalid("taskToken is required", "InvalidToken")
        return token
