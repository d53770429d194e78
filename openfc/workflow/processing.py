"""Input and output processing, error matching and retry/catch decisions (pure functions).

States Language spec sections "Input and Output Processing", "Payload Template", "Errors",
"Retrying after error" and "Fallback states".
"""

from __future__ import annotations

import json
import random
from typing import Any

from openfc.workflow import intrinsics, paths

__all__ = ["Failure", "decide", "effective_input", "matches_error", "output", "template"]

#: Errors ``States.ALL`` does not match (spec: terminal, neither retried nor caught by the wildcard).
UNCATCHABLE = {"States.Runtime", "States.DataLimitExceeded"}


class Failure(Exception):
    """A state failed with ``error`` (an error name) and a human-readable ``cause``."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


def template(value: Any, data: Any, context: Any) -> Any:
    """Evaluate a payload template: ``key.$`` fields take a path's value or an intrinsic's result."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key.endswith(".$"):
                out[key[:-2]] = _dynamic(key, item, data, context)
            else:
                out[key] = template(item, data, context)
        return out
    if isinstance(value, list):
        return [template(item, data, context) for item in value]
    return value


def _dynamic(key: str, text: str, data: Any, context: Any) -> Any:
    if intrinsics.is_intrinsic(text):
        try:
            return intrinsics.evaluate(text, data, context)
        except intrinsics.IntrinsicError as error:
            raise Failure("States.IntrinsicFailure", f"field '{key}': {error}") from None
    try:
        return paths.query(text, data, context)
    except paths.PathNotFound:
        raise Failure(
            "States.ParameterPathFailure",
            f"The JSONPath '{text}' specified for the field '{key}' could not be found in the input '{_dump(data)}'",
        ) from None


def _dump(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 256 else text[:253] + "..."


def select(state: dict[str, Any], field: str, data: Any, context: Any = None) -> Any:
    """Apply InputPath / OutputPath / ItemsPath: ``null`` → ``{}``; a path that selects nothing fails."""
    if field not in state:
        return data
    path = state[field]
    if path is None:
        return {}
    try:
        return paths.query(path, data, context)
    except paths.PathNotFound:
        raise Failure(
            "States.Runtime", f"Invalid path '{path}' in field '{field}': not found in '{_dump(data)}'"
        ) from None


def effective_input(state: dict[str, Any], raw: Any, context: Any, *, parameters: bool = True) -> Any:
    """InputPath, then Parameters (a Map's Parameters select per item, so it passes ``parameters=False``)."""
    data = select(state, "InputPath", raw, context)
    if parameters and "Parameters" in state:
        data = template(state["Parameters"], data, context)
    return data


def place(raw: Any, path: str | None, result: Any) -> Any:
    """ResultPath: ``$`` (default) replaces, ``null`` discards the result, else merges at the path."""
    if path is None:
        return raw
    try:
        return paths.set_at(raw, path, result)
    except paths.PathNotFound:
        raise Failure(
            "States.ResultPathMatchFailure",
            f"Unable to apply ResultPath '{path}' to input '{_dump(raw)}'",
        ) from None


def output(state: dict[str, Any], raw: Any, result: Any, context: Any) -> Any:
    """ResultSelector → ResultPath → OutputPath over the state's raw input and its result."""
    if "ResultSelector" in state:
        result = template(state["ResultSelector"], result, context)
    combined = place(raw, state.get("ResultPath", "$"), result)
    return select(state, "OutputPath", combined, context)


def matches_error(names: list[str], error: str) -> bool:
    """Spec "Errors": States.ALL matches any error but the terminal ones; TaskFailed any but timeouts."""
    for name in names:
        if name == error:
            return True
        if name == "States.ALL" and error not in UNCATCHABLE:
            return True
        if name == "States.TaskFailed" and error not in UNCATCHABLE | {"States.Timeout", "States.HeartbeatTimeout"}:
            return True
        if name == "States.Timeout" and error == "States.HeartbeatTimeout":
            return True
    return False


def retry_delay(retrier: dict[str, Any], attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before retry number ``attempt + 1``: IntervalSeconds × BackoffRate^attempt, capped, jittered."""
    delay = float(retrier.get("IntervalSeconds", 1)) * float(retrier.get("BackoffRate", 2.0)) ** attempt
    if "MaxDelaySeconds" in retrier:
        delay = min(delay, float(retrier["MaxDelaySeconds"]))
    if retrier.get("JitterStrategy") == "FULL":
        delay = (rng or random).uniform(0, delay)
    return delay


def decide(state: dict[str, Any], failure: Failure, raw: Any, retries: dict[str, int], now: float) -> dict[str, Any]:
    """What to do after ``failure``: ``{"retry": i, "at": t}``, ``{"catch": next, "output": x}`` or ``{"fail": 1}``.

    Spec "Retrying after error": the first retrier whose ErrorEquals matches applies; once its
    MaxAttempts are spent, the catchers are tried ("Fallback states"): the first match transitions
    to its Next with ``{"Error", "Cause"}`` placed at its ResultPath (default ``$``).
    """
    for i, retrier in enumerate(state.get("Retry", [])):
        if matches_error(retrier["ErrorEquals"], failure.error):
            attempts = retries.get(str(i), 0)
            if attempts < retrier.get("MaxAttempts", 3):
                return {"retry": i, "at": now + retry_delay(retrier, attempts)}
            break
    for catcher in state.get("Catch", []):
        if matches_error(catcher["ErrorEquals"], failure.error):
            info = {"Error": failure.error, "Cause": failure.cause}
            try:
                value = place(raw, catcher.get("ResultPath", "$"), info)
            except Failure as error:
                return {"fail": 1, "error": error.error, "cause": error.cause}
            return {"catch": catcher["Next"], "output": value}
    return {"fail": 1}
