"""Choice Rules ("Choice Rules" section of the States Language spec): validate and evaluate."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from openfc.workflow import paths

__all__ = ["COMPARATORS", "matches", "rule_errors"]

_TYPES: dict[str, type | tuple[type, ...]] = {
    "String": str,
    "Numeric": (int, float),
    "Boolean": bool,
    "Timestamp": str,
}
_OPS = ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")

#: comparator → (kind of operand, operator). Kinds: String/Numeric/Boolean/Timestamp, plus tests.
COMPARATORS: dict[str, tuple[str, str]] = {}
for _kind in _TYPES:
    for _op in _OPS:
        if _kind == "Boolean" and _op != "Equals":
            continue
        COMPARATORS[f"{_kind}{_op}"] = (_kind, _op)
        COMPARATORS[f"{_kind}{_op}Path"] = (_kind, _op + "Path")
COMPARATORS["StringMatches"] = ("String", "Matches")
for _test in ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"):
    COMPARATORS[_test] = ("Bool", _test)


def parse_timestamp(value: Any) -> datetime | None:
    """RFC 3339 timestamps as the spec requires (an uppercase ``T`` and a zone)."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def rule_errors(rule: Any, top: bool = True) -> list[str]:
    """Problems with one rule (empty if valid). ``top`` rules need ``Next``, nested ones must not have it."""
    if not isinstance(rule, dict):
        return ["a choice rule must be an object"]
    problems: list[str] = []
    fields = set(rule) - {"Comment"}
    if top:
        if not isinstance(rule.get("Next"), str):
            problems.append("a top-level choice rule needs 'Next'")
        fields.discard("Next")
    elif "Next" in rule:
        problems.append("'Next' is only allowed on top-level choice rules")
    for combinator in ("And", "Or"):
        if combinator in rule:
            items = rule[combinator]
            if not isinstance(items, list) or not items:
                return [*problems, f"'{combinator}' must be a non-empty array of rules"]
            if fields != {combinator}:
                problems.append(f"'{combinator}' cannot be combined with {sorted(fields - {combinator})}")
            for item in items:
                problems.extend(rule_errors(item, top=False))
            return problems
    if "Not" in rule:
        if fields != {"Not"}:
            problems.append(f"'Not' cannot be combined with {sorted(fields - {'Not'})}")
        return problems + rule_errors(rule["Not"], top=False)
    variable = rule.get("Variable")
    if not isinstance(variable, str):
        return [*problems, "a choice rule needs 'Variable' (or And/Or/Not)"]
    try:
        paths.compile_path(variable)
    except paths.PathError as error:
        problems.append(f"Variable: {error}")
    comparators = fields - {"Variable"}
    if len(comparators) != 1:
        return [*problems, f"a choice rule needs exactly one comparison operator, got {sorted(comparators) or 'none'}"]
    (name,) = comparators
    if name not in COMPARATORS:
        return [*problems, f"unknown comparison operator '{name}'"]
    kind, op = COMPARATORS[name]
    value = rule[name]
    if op.endswith("Path"):
        try:
            paths.compile_path(value, reference=False) if isinstance(value, str) else None
            if not isinstance(value, str):
                raise paths.PathError(f"'{name}' must be a path string")
        except paths.PathError as error:
            problems.append(f"{name}: {error}")
    elif kind == "Bool":
        if not isinstance(value, bool):
            problems.append(f"'{name}' must be true or false")
    elif kind == "Timestamp":
        if parse_timestamp(value) is None:
            problems.append(f"'{name}' must be an RFC 3339 timestamp, got {value!r}")
    elif kind == "Numeric":
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"'{name}' must be a number")
    elif not isinstance(value, _TYPES[kind]):
        problems.append(f"'{name}' must be a {kind.lower()}")
    return problems


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _is_type(kind: str, value: Any) -> bool:
    if kind == "Boolean":
        return isinstance(value, bool)
    if kind == "Numeric":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "Timestamp":
        return parse_timestamp(value) is not None
    return isinstance(value, str)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": lambda a, b: bool(a == b),
    "LessThan": lambda a, b: bool(a < b),
    "GreaterThan": lambda a, b: bool(a > b),
    "LessThanEquals": lambda a, b: bool(a <= b),
    "GreaterThanEquals": lambda a, b: bool(a >= b),
}


def matches(rule: dict[str, Any], data: Any, context: Any = None) -> bool:
    """Whether ``rule`` holds for ``data``. A type mismatch is simply false (spec: no error)."""
    if "And" in rule:
        return all(matches(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(matches(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data, context)
    variable = rule["Variable"]
    present = paths.exists(variable, data, context)
    value = paths.query(variable, data, context) if present else None
    name = next(k for k in rule if k in COMPARATORS)
    kind, op = COMPARATORS[name]
    expected = rule[name]
    if kind == "Bool":
        checks = {
            "IsPresent": present,
            "IsNull": present and value is None,
            "IsNumeric": present and _is_type("Numeric", value),
            "IsString": present and isinstance(value, str),
            "IsBoolean": present and isinstance(value, bool),
            "IsTimestamp": present and _is_type("Timestamp", value),
        }
        return checks[op] is expected
    if not present:
        raise paths.PathNotFound(variable)
    if op == "Matches":
        return isinstance(value, str) and _glob(expected).fullmatch(value) is not None
    if op.endswith("Path"):
        op = op[:-4]
        expected = paths.query(expected, data, context)
    if not _is_type(kind, value) or not _is_type(kind, expected):
        return False
    if kind == "Timestamp":
        value, expected = parse_timestamp(value), parse_timestamp(expected)
    return _COMPARE[op](value, expected)
