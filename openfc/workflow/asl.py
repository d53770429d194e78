"""Amazon States Language definitions: parse (JSON or YAML) and validate.

Every problem raises ``InvalidDefinition`` whose message names the state and the field, e.g.
``State 'Pay' field 'Next': 'Shipp' is not a state of this machine``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from openfc.errors import InvalidArgument
from openfc.workflow import choice, intrinsics, paths

__all__ = ["InvalidDefinition", "FunctionRef", "parse_definition", "parse_resource", "validate"]

Definition = dict[str, Any]

MAX_DEFINITION_BYTES = 1024 * 1024
_COMMON = {"Type", "Comment"}
_IO = {"InputPath", "OutputPath"}
_FLOW = {"Next", "End"}
_RESULT = {"ResultPath", "Parameters", "ResultSelector", "Retry", "Catch"}
FIELDS: dict[str, set[str]] = {
    "Pass": _COMMON | _IO | _FLOW | {"ResultPath", "Parameters", "Result"},
    "Task": _COMMON
    | _IO
    | _FLOW
    | _RESULT
    | {"Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials"},
    "Choice": _COMMON | _IO | {"Choices", "Default"},
    "Wait": _COMMON | _IO | _FLOW | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Succeed": _COMMON | _IO,
    "Fail": _COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _COMMON | _IO | _FLOW | _RESULT | {"Branches"},
    "Map": _COMMON
    | _IO
    | _FLOW
    | _RESULT
    | {
        "ItemsPath",
        "ItemSelector",
        "Iterator",
        "ItemProcessor",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "ItemBatcher",
        "ToleratedFailureCount",
        "ToleratedFailurePercentage",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentagePath",
        "Label",
    },
}
TOP_FIELDS = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
#: Errors the ``ErrorEquals`` of a retrier or catcher may name besides custom ones.
PREDEFINED = {
    "States.ALL",
    "States.HeartbeatTimeout",
    "States.Timeout",
    "States.TaskFailed",
    "States.Permissions",
    "States.ResultPathMatchFailure",
    "States.ParameterPathFailure",
    "States.BranchFailed",
    "States.NoChoiceMatched",
    "States.IntrinsicFailure",
    "States.ExceedToleratedFailureThreshold",
    "States.ItemReaderFailed",
    "States.ResultWriterFailed",
    "States.DataLimitExceeded",
    "States.Runtime",
    "States.QueryEvaluationError",
}


class InvalidDefinition(InvalidArgument):
    code = "InvalidDefinition"


class FunctionRef:
    """A Task ``Resource`` naming an openfc function, optionally with the ``.waitForTaskToken`` pattern."""

    __slots__ = ("arn", "callback", "function", "qualifier", "service")

    def __init__(self, arn: str, service: str, qualifier: str, function: str, callback: bool) -> None:
        self.arn, self.service, self.qualifier, self.function, self.callback = (
            arn,
            service,
            qualifier,
            function,
            callback,
        )


_RESOURCE = re.compile(
    r"acs:fc:[^:]*:[^:]*:services/(?P<service>[A-Za-z0-9_-]+)(?:\.(?P<qualifier>[A-Za-z0-9_-]+))?"
    r"/functions/(?P<function>[A-Za-z0-9_-]+)(?P<callback>\.waitForTaskToken)?"
)


def parse_resource(resource: str) -> FunctionRef:
    m = _RESOURCE.fullmatch(resource) if isinstance(resource, str) else None
    if not m:
        raise ValueError(
            f"'{resource}' is not a supported resource: use "
            "acs:fc:{region}:{account}:services/{service}.{qualifier}/functions/{function}[.waitForTaskToken]"
        )
    return FunctionRef(resource, m["service"], m["qualifier"] or "LATEST", m["function"], bool(m["callback"]))


def parse_definition(text: str) -> Definition:
    """Parse JSON (or the same structure in YAML) and validate it."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidDefinition("the definition is empty")
    if len(text.encode()) > MAX_DEFINITION_BYTES:
        raise InvalidDefinition(f"the definition is larger than {MAX_DEFINITION_BYTES} bytes")
    try:
        definition = json.loads(text)
    except ValueError:
        try:
            definition = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise InvalidDefinition(f"the definition is neither valid JSON nor YAML: {error}") from None
    validate(definition)
    return definition  # type: ignore[no-any-return]


def validate(definition: Any) -> None:
    if not isinstance(definition, dict):
        raise InvalidDefinition("the definition must be a JSON object with 'StartAt' and 'States'")
    problems = _machine(definition, "")
    if problems:
        raise InvalidDefinition("; ".join(problems[:10]))


def _machine(machine: dict[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    unknown = set(machine) - TOP_FIELDS
    if unknown:
        problems.append(f"{where or 'Definition'}: unknown field(s) {sorted(unknown)}")
    states = machine.get("States")
    start = machine.get("StartAt")
    if not isinstance(states, dict) or not states:
        return [*problems, f"{where or 'Definition'} field 'States': must be a non-empty object"]
    if not isinstance(start, str):
        return [*problems, f"{where or 'Definition'} field 'StartAt': missing or not a string"]
    if start not in states:
        problems.append(f"{where or 'Definition'} field 'StartAt': '{start}' is not a state of this machine")
    if "TimeoutSeconds" in machine and not _positive_int(machine["TimeoutSeconds"]):
        problems.append(f"{where or 'Definition'} field 'TimeoutSeconds': must be a positive integer")
    edges: dict[str, list[str]] = {}
    for name, state in states.items():
        label = f"State '{name}'" if not where else f"{where} state '{name}'"
        if len(name) > 80:
            problems.append(f"{label}: a state name is at most 80 characters")
        if not isinstance(state, dict):
            problems.append(f"{label}: must be an object")
            continue
        found, nexts = _state(label, state, set(states))
        problems.extend(found)
        edges[name] = nexts
    if problems:
        return problems
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(edges.get(current, []))
    for name in states:
        if name not in seen:
            label = f"State '{name}'" if not where else f"{where} state '{name}'"
            problems.append(f"{label}: unreachable from StartAt '{start}'")
    terminal = [n for n, s in states.items() if s.get("End") is True or s.get("Type") in ("Succeed", "Fail")]
    if not terminal:
        problems.append(f"{where or 'Definition'}: no terminal state (End: true, Succeed or Fail)")
    return problems


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _nonneg_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _state(label: str, state: dict[str, Any], names: set[str]) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    kind = state.get("Type")
    if kind not in FIELDS:
        return [f"{label} field 'Type': must be one of {', '.join(FIELDS)}, got {kind!r}"], []
    unknown = set(state) - FIELDS[kind]
    for field in sorted(unknown):
        problems.append(f"{label} field '{field}': not allowed in a {kind} state")
    nexts: list[str] = []

    def target(field: str, value: Any) -> None:
        if not isinstance(value, str) or value not in names:
            problems.append(f"{label} field '{field}': {value!r} is not a state of this machine")
        else:
            nexts.append(value)

    if kind in ("Pass", "Task", "Wait", "Parallel", "Map"):
        has_next, end = "Next" in state, state.get("End")
        if has_next and end is not None:
            problems.append(f"{label} field 'End': a state cannot have both 'Next' and 'End'")
        elif not has_next and end is not True:
            problems.append(f"{label} field 'Next': a {kind} state needs 'Next' or 'End: true'")
        elif has_next:
            target("Next", state["Next"])
    for field in ("InputPath", "OutputPath"):
        if field in state and state[field] is not None:
            problems.extend(_path(label, field, state[field]))
    if state.get("ResultPath") is not None and "ResultPath" in state:
        problems.extend(_path(label, "ResultPath", state["ResultPath"], reference=True))
    for field in ("Parameters", "ResultSelector", "ItemSelector"):
        if field in state:
            problems.extend(_template(label, field, state[field]))
    for i, retrier in enumerate(state.get("Retry", []) if isinstance(state.get("Retry", []), list) else [None]):
        problems.extend(_retrier(f"{label} field 'Retry[{i}]'", retrier))
    catchers = state.get("Catch", [])
    for i, catcher in enumerate(catchers if isinstance(catchers, list) else [None]):
        where = f"{label} field 'Catch[{i}]'"
        if not isinstance(catcher, dict):
            problems.append(f"{where}: must be an object")
            continue
        problems.extend(_errors_equals(where, catcher.get("ErrorEquals")))
        unknown_c = set(catcher) - {"ErrorEquals", "Next", "ResultPath", "Comment"}
        if unknown_c:
            problems.append(f"{where}: unknown field(s) {sorted(unknown_c)}")
        target(f"Catch[{i}].Next", catcher.get("Next"))
        if catcher.get("ResultPath") is not None:
            problems.extend(_path(label, f"Catch[{i}].ResultPath", catcher["ResultPath"], reference=True))
    checker = _CHECKS.get(kind)
    if checker:
        problems.extend(checker(label, state, target))
    return problems, nexts


def _path(label: str, field: str, value: Any, reference: bool = False) -> list[str]:
    try:
        paths.compile_path(value, reference=reference)
    except paths.PathError as error:
        return [f"{label} field '{field}': {error}"]
    if reference and value.startswith("$$"):
        return [f"{label} field '{field}': cannot write into the context object"]
    return []


def _dynamic(label: str, field: str, value: Any) -> list[str]:
    if intrinsics.is_intrinsic(value):
        try:
            intrinsics.parse(value)
        except intrinsics.IntrinsicError as error:
            return [f"{label} field '{field}': {error}"]
        return []
    if not paths.is_path(value):
        return [f"{label} field '{field}': a '.$' field needs a path or an intrinsic function, got {value!r}"]
    return _path(label, field, value)


def _template(label: str, field: str, value: Any) -> list[str]:
    problems: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$"):
                problems.extend(_dynamic(label, f"{field}.{key}", item))
            else:
                problems.extend(_template(label, f"{field}.{key}", item))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            problems.extend(_template(label, f"{field}[{i}]", item))
    return problems


def _errors_equals(where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return [f"{where} 'ErrorEquals': must be a non-empty array of error names"]
    if "States.ALL" in value and len(value) > 1:
        return [f"{where} 'ErrorEquals': States.ALL must appear alone"]
    unknown = [v for v in value if v.startswith("States.") and v not in PREDEFINED]
    if unknown:
        return [f"{where} 'ErrorEquals': unknown predefined error(s) {unknown}"]
    return []


def _retrier(where: str, retrier: Any) -> list[str]:
    if not isinstance(retrier, dict):
        return [f"{where}: must be an object"]
    problems = _errors_equals(where, retrier.get("ErrorEquals"))
    unknown = set(retrier) - {
        "ErrorEquals",
        "IntervalSeconds",
        "MaxAttempts",
        "BackoffRate",
        "MaxDelaySeconds",
        "JitterStrategy",
        "Comment",
    }
    if unknown:
        problems.append(f"{where}: unknown field(s) {sorted(unknown)}")
    if "IntervalSeconds" in retrier and not _positive_int(retrier["IntervalSeconds"]):
        problems.append(f"{where} 'IntervalSeconds': must be a positive integer")
    if "MaxAttempts" in retrier and not _nonneg_int(retrier["MaxAttempts"]):
        problems.append(f"{where} 'MaxAttempts': must be a non-negative integer")
    rate = retrier.get("BackoffRate", 2.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 1.0:
        problems.append(f"{where} 'BackoffRate': must be a number >= 1.0")
    if "MaxDelaySeconds" in retrier and not _positive_int(retrier["MaxDelaySeconds"]):
        problems.append(f"{where} 'MaxDelaySeconds': must be a positive integer")
    if retrier.get("JitterStrategy", "NONE") not in ("FULL", "NONE"):
        problems.append(f"{where} 'JitterStrategy': must be FULL or NONE")
    return problems


def _seconds(label: str, state: dict[str, Any], field: str) -> list[str]:
    if field in state and not _positive_int(state[field]):
        return [f"{label} field '{field}': must be a positive integer"]
    if field + "Path" in state:
        return _path(label, field + "Path", state[field + "Path"], reference=True)
    return []


def _task(label: str, state: dict[str, Any], target: Any) -> list[str]:
    problems = []
    try:
        parse_resource(state.get("Resource"))  # type: ignore[arg-type]
    except ValueError as error:
        problems.append(f"{label} field 'Resource': {error}")
    for field in ("TimeoutSeconds", "HeartbeatSeconds"):
        if field in state and field + "Path" in state:
            problems.append(f"{label} field '{field}Path': cannot be combined with '{field}'")
        problems.extend(_seconds(label, state, field))
    timeout, heartbeat = state.get("TimeoutSeconds", 99999999), state.get("HeartbeatSeconds")
    if _positive_int(heartbeat) and _positive_int(timeout) and heartbeat >= timeout:
        problems.append(f"{label} field 'HeartbeatSeconds': must be smaller than TimeoutSeconds")
    return problems


def _choice(label: str, state: dict[str, Any], target: Any) -> list[str]:
    problems: list[str] = []
    rules = state.get("Choices")
    if not isinstance(rules, list) or not rules:
        return [f"{label} field 'Choices': must be a non-empty array of choice rules"]
    for i, rule in enumerate(rules):
        for problem in choice.rule_errors(rule):
            problems.append(f"{label} field 'Choices[{i}]': {problem}")
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            target(f"Choices[{i}].Next", rule["Next"])
    if "Default" in state:
        target("Default", state["Default"])
    return problems


def _wait(label: str, state: dict[str, Any], target: Any) -> list[str]:
    given = [f for f in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if f in state]
    if len(given) != 1:
        return [
            f"{label} field 'Seconds': a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, "
            f"TimestampPath (got {given or 'none'})"
        ]
    field = given[0]
    if field == "Seconds" and not _nonneg_int(state[field]):
        return [f"{label} field 'Seconds': must be a non-negative integer"]
    if field == "Timestamp" and choice.parse_timestamp(state[field]) is None:
        return [f"{label} field 'Timestamp': must be an RFC 3339 timestamp"]
    if field.endswith("Path"):
        return _path(label, field, state[field], reference=True)
    return []


def _fail(label: str, state: dict[str, Any], target: Any) -> list[str]:
    problems = []
    for field in ("Error", "Cause"):
        if field in state and field + "Path" in state:
            problems.append(f"{label} field '{field}Path': cannot be combined with '{field}'")
        if field in state and not isinstance(state[field], str):
            problems.append(f"{label} field '{field}': must be a string")
        if field + "Path" in state:
            problems.extend(_dynamic(label, field + "Path", state[field + "Path"]))
    return problems


def _parallel(label: str, state: dict[str, Any], target: Any) -> list[str]:
    branches = state.get("Branches")
    if not isinstance(branches, list) or not branches:
        return [f"{label} field 'Branches': must be a non-empty array of state machines"]
    problems = []
    for i, branch in enumerate(branches):
        if not isinstance(branch, dict):
            problems.append(f"{label} field 'Branches[{i}]': must be an object")
        else:
            problems.extend(_machine(branch, f"{label} Branches[{i}]"))
    return problems


def _map(label: str, state: dict[str, Any], target: Any) -> list[str]:
    problems = []
    if "ItemProcessor" in state and "Iterator" in state:
        problems.append(f"{label} field 'Iterator': use either ItemProcessor or Iterator")
    if "ItemSelector" in state and "Parameters" in state:
        problems.append(f"{label} field 'Parameters': use either ItemSelector or Parameters")
    processor = state.get("ItemProcessor", state.get("Iterator"))
    field = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
    if not isinstance(processor, dict):
        return [*problems, f"{label} field '{field}': a Map state needs ItemProcessor (or Iterator)"]
    processor = dict(processor)
    config = processor.pop("ProcessorConfig", {})
    if not isinstance(config, dict) or config.get("Mode", "INLINE") != "INLINE":
        problems.append(f"{label} field '{field}.ProcessorConfig': only Mode INLINE is supported")
    problems.extend(_machine(processor, f"{label} {field}"))
    if "ItemsPath" in state:
        problems.extend(_path(label, "ItemsPath", state["ItemsPath"], reference=True))
    if "MaxConcurrency" in state and not _nonneg_int(state["MaxConcurrency"]):
        problems.append(f"{label} field 'MaxConcurrency': must be a non-negative integer")
    if "ToleratedFailureCount" in state and not _nonneg_int(state["ToleratedFailureCount"]):
        problems.append(f"{label} field 'ToleratedFailureCount': must be a non-negative integer")
    pct = state.get("ToleratedFailurePercentage", 0)
    if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct <= 100:
        problems.append(f"{label} field 'ToleratedFailurePercentage': must be a number between 0 and 100")
    for field in ("MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath"):
        if field in state:
            problems.extend(_path(label, field, state[field], reference=True))
    batcher = state.get("ItemBatcher")
    if batcher is not None:
        allowed = {
            "MaxItemsPerBatch",
            "MaxInputBytesPerBatch",
            "BatchInput",
            "MaxItemsPerBatchPath",
            "MaxInputBytesPerBatchPath",
        }
        if not isinstance(batcher, dict) or set(batcher) - allowed:
            problems.append(f"{label} field 'ItemBatcher': allowed fields are {sorted(allowed)}")
        elif "MaxItemsPerBatch" in batcher and not _positive_int(batcher["MaxItemsPerBatch"]):
            problems.append(f"{label} field 'ItemBatcher.MaxItemsPerBatch': must be a positive integer")
    return problems


_CHECKS = {"Task": _task, "Choice": _choice, "Wait": _wait, "Fail": _fail, "Parallel": _parallel, "Map": _map}


def processor_of(state: dict[str, Any]) -> dict[str, Any]:
    """The state machine a Map state runs per item."""
    return state.get("ItemProcessor") or state["Iterator"]  # type: ignore[no-any-return]
