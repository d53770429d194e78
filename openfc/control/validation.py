"""Input rules for the FC resources; each failure names the field a user must fix."""

from __future__ import annotations

import re
from typing import Any

from openfc.errors import InvalidArgument

NAME_RE = re.compile(r"^[_a-zA-Z][-_a-zA-Z0-9]*$")
HANDLER_RE = re.compile(r"^[\w\-./]*[\w\-]\.[A-Za-z_][A-Za-z0-9_]*$")
ENV_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
PYTHON_RUNTIMES = frozenset({"python3", "python3.9", "python3.10", "python3.12"})
RUNTIMES = PYTHON_RUNTIMES | {"custom"}
ENV_MAX_BYTES = 4096


def name(field: str, value: Any, *, max_len: int = 128) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{field} is required and must be a non-empty string")
    if len(value) > max_len or not NAME_RE.match(value):
        raise InvalidArgument(
            f"{field} '{value}' is invalid: use 1-{max_len} letters, digits, '_' or '-', starting with a letter or '_'"
        )
    return value


def integer(field: str, value: Any, low: int, high: int, *, step: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{field} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise InvalidArgument(f"{field} must be between {low} and {high}, got {value}")
    if value % step:
        raise InvalidArgument(f"{field} must be a multiple of {step}, got {value}")
    return value


def string(field: str, value: Any, *, max_len: int = 256, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a string, got {value!r}")
    if len(value) > max_len:
        raise InvalidArgument(f"{field} is longer than {max_len} characters")
    return value


def runtime(value: Any) -> str:
    if value not in RUNTIMES:
        raise InvalidArgument(f"runtime '{value}' is not supported: use one of {', '.join(sorted(RUNTIMES))}")
    return str(value)


def handler(field: str, value: Any, rt: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{field} is required: 'module.function', e.g. 'index.handler'")
    if len(value) > 128 or (rt in PYTHON_RUNTIMES and not HANDLER_RE.match(value)):
        raise InvalidArgument(f"{field} '{value}' is invalid: use 'module.function', e.g. 'index.handler'")
    return value


def environment(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidArgument("environmentVariables must be an object of string to string")
    total = 0
    for key, val in value.items():
        if not isinstance(key, str) or not ENV_KEY_RE.match(key):
            raise InvalidArgument(f"environmentVariables key '{key}' is invalid: use [A-Za-z][A-Za-z0-9_]*")
        if key.upper().startswith("FC_"):
            raise InvalidArgument(f"environmentVariables key '{key}' is reserved: FC_* names are the platform's")
        if not isinstance(val, str):
            raise InvalidArgument(f"environmentVariables['{key}'] must be a string, got {val!r}")
        total += len(key.encode()) + len(val.encode())
    if total > ENV_MAX_BYTES:
        raise InvalidArgument(f"environmentVariables total {total} bytes exceeds {ENV_MAX_BYTES} bytes")
    return dict(value)


def string_list(field: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{field} must be a list of strings")
    return list(value)


def pick(body: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The known ``fields`` of a request body, matched case-insensitively (FC's Go server does)."""
    lower = {k.lower(): v for k, v in body.items()}
    return {f: lower[f.lower()] for f in fields if f.lower() in lower}


def limit(raw: str | None) -> int:
    """The ``limit`` query parameter of list calls (default 100)."""
    if raw is None or raw == "":
        return 100
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument(f"limit must be an integer between 1 and 1000, got '{raw}'") from None
    return integer("limit", value, 1, 1000)
