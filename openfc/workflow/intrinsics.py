"""Intrinsic functions ("Intrinsic functions" section of the States Language spec): parse and evaluate.

``States.Format('{} and {}', $.a, States.ArrayLength($.b))`` → a call tree; arguments are string
literals in single quotes (``\\'``, ``\\{``, ``\\}``, ``\\\\`` escapes), numbers, ``true``/``false``/
``null``, paths (``$``/``$$``) and nested calls. Failures raise ``IntrinsicError``
(``States.IntrinsicFailure``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from openfc.workflow import paths

__all__ = ["FUNCTIONS", "Call", "IntrinsicError", "evaluate", "is_intrinsic", "parse"]


class IntrinsicError(ValueError):
    """Bad syntax (at validation) or a failed evaluation (``States.IntrinsicFailure``)."""


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Any, ...]  #: Literal | paths.Path | Call


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


def is_intrinsic(text: object) -> bool:
    return isinstance(text, str) and text.startswith("States.")


_NAME = re.compile(r"States\.[A-Za-z0-9]+")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_PATH = re.compile(r"\$[^,)\s]*(?:\[[^\]]*\][^,)\s]*)*")


@lru_cache(maxsize=2048)
def parse(text: str) -> Call:
    """Parse one intrinsic call; raises ``IntrinsicError`` naming the problem."""
    call, end = _parse_call(text, 0)
    if text[end:].strip():
        raise IntrinsicError(f"'{text}': unexpected text after the call at offset {end}")
    return call


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] == " ":
        i += 1
    return i


def _parse_call(text: str, i: int) -> tuple[Call, int]:
    m = _NAME.match(text, i)
    if not m:
        raise IntrinsicError(f"'{text}': expected an intrinsic function name at offset {i}")
    name = m.group(0)
    if name not in FUNCTIONS:
        raise IntrinsicError(f"'{text}': unknown intrinsic function '{name}'")
    i = _skip(text, m.end())
    if i >= len(text) or text[i] != "(":
        raise IntrinsicError(f"'{text}': expected '(' after {name}")
    i = _skip(text, i + 1)
    args: list[Any] = []
    if i < len(text) and text[i] == ")":
        return Call(name, ()), i + 1
    while True:
        arg, i = _parse_arg(text, i)
        args.append(arg)
        i = _skip(text, i)
        if i >= len(text):
            raise IntrinsicError(f"'{text}': missing ')' to close {name}")
        if text[i] == ")":
            return Call(name, tuple(args)), i + 1
        if text[i] != ",":
            raise IntrinsicError(f"'{text}': expected ',' or ')' at offset {i}")
        i = _skip(text, i + 1)


def _parse_arg(text: str, i: int) -> tuple[Any, int]:
    if i >= len(text):
        raise IntrinsicError(f"'{text}': missing argument")
    c = text[i]
    if c == "'":
        out, j = [], i + 1
        while j < len(text):
            if text[j] == "\\" and j + 1 < len(text):
                out.append(text[j : j + 2] if text[j + 1] in "{}" else text[j + 1])
                j += 2
            elif text[j] == "'":
                return Literal("".join(out)), j + 1
            else:
                out.append(text[j])
                j += 1
        raise IntrinsicError(f"'{text}': unterminated string starting at offset {i}")
    if c == "$":
        m = _PATH.match(text, i)
        assert m is not None
        try:
            return paths.compile_path(m.group(0)), m.end()
        except paths.PathError as error:
            raise IntrinsicError(str(error)) from None
    if text.startswith("States.", i):
        return _parse_call(text, i)
    for word, value in (("true", True), ("false", False), ("null", None)):
        if text.startswith(word, i):
            return Literal(value), i + len(word)
    m = _NUMBER.match(text, i)
    if m:
        number = m.group(0)
        return Literal(float(number) if m.group(1) or m.group(2) else int(number)), m.end()
    raise IntrinsicError(f"'{text}': invalid argument at offset {i}")


def evaluate(text: str | Call, data: Any, context: Any) -> Any:
    call = parse(text) if isinstance(text, str) else text
    args = []
    for arg in call.args:
        if isinstance(arg, Literal):
            args.append(arg.value)
        elif isinstance(arg, Call):
            args.append(evaluate(arg, data, context))
        else:
            try:
                args.append(paths.query(arg, data, context))
            except paths.PathNotFound as error:
                raise IntrinsicError(f"{call.name}: {error}") from None
    try:
        return FUNCTIONS[call.name](*args)
    except IntrinsicError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as error:
        raise IntrinsicError(f"{call.name}: invalid arguments ({error})") from None


# -- the functions ------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _format(template: str, *values: Any) -> str:
    if not isinstance(template, str):
        raise IntrinsicError("States.Format: the first argument must be a string")
    out, it, i = [], iter(values), 0
    while i < len(template):
        c = template[i]
        if c == "\\" and i + 1 < len(template):
            out.append(template[i + 1])
            i += 2
        elif template.startswith("{}", i):
            try:
                out.append(_text(next(it)))
            except StopIteration:
                raise IntrinsicError("States.Format: fewer arguments than '{}' placeholders") from None
            i += 2
        else:
            out.append(c)
            i += 1
    if next(it, _END) is not _END:
        raise IntrinsicError("States.Format: more arguments than '{}' placeholders")
    return "".join(out)


_END = object()


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise IntrinsicError(f"{name}: expected an integer, got {json.dumps(value)}")
    return int(value)


def _array(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise IntrinsicError(f"{name}: expected an array, got {json.dumps(value)}")
    return value


def _partition(items: Any, size: Any) -> list[Any]:
    items, n = _array(items, "States.ArrayPartition"), _int(size, "States.ArrayPartition")
    if n <= 0:
        raise IntrinsicError("States.ArrayPartition: the chunk size must be positive")
    return [items[i : i + n] for i in range(0, len(items), n)]


def _range(start: Any, end: Any, step: Any) -> list[int]:
    a, b, s = (_int(v, "States.ArrayRange") for v in (start, end, step))
    if s == 0:
        raise IntrinsicError("States.ArrayRange: the step must not be 0")
    out = list(range(a, b + (1 if s > 0 else -1), s))
    if len(out) > 1000:
        raise IntrinsicError("States.ArrayRange: at most 1000 items")
    return out


def _unique(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in _array(items, "States.ArrayUnique"):
        if item not in out:
            out.append(item)
    return out


def _hash(value: Any, algorithm: Any) -> str:
    names = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
    if algorithm not in names:
        raise IntrinsicError(f"States.Hash: algorithm must be one of {', '.join(names)}")
    return hashlib.new(names[algorithm], _text(value).encode()).hexdigest()


def _merge(a: Any, b: Any, deep: Any) -> dict[str, Any]:
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise IntrinsicError("States.JsonMerge: both arguments must be objects")
    if deep is not False:
        raise IntrinsicError("States.JsonMerge: only shallow merge (false) is supported")
    return {**a, **b}


def _random(start: Any, end: Any, seed: Any = None) -> int:
    a, b = _int(start, "States.MathRandom"), _int(end, "States.MathRandom")
    rng = random.Random(seed) if seed is not None else random
    return rng.randint(a, b)


def _split(text: Any, delimiters: Any) -> list[str]:
    if not isinstance(text, str) or not isinstance(delimiters, str):
        raise IntrinsicError("States.StringSplit: both arguments must be strings")
    if not delimiters:
        return [text]
    return [part for part in re.split("|".join(re.escape(c) for c in delimiters), text) if part]


def _decode(value: Any) -> str:
    if not isinstance(value, str):
        raise IntrinsicError("States.Base64Decode: expected a string")
    try:
        return base64.b64decode(value, validate=True).decode()
    except ValueError as error:
        raise IntrinsicError(f"States.Base64Decode: {error}") from None


def _string_to_json(value: Any) -> Any:
    if not isinstance(value, str):
        raise IntrinsicError("States.StringToJson: expected a string")
    try:
        return json.loads(value)
    except ValueError as error:
        raise IntrinsicError(f"States.StringToJson: {error}") from None


def _get_item(items: Any, index: Any) -> Any:
    items, i = _array(items, "States.ArrayGetItem"), _int(index, "States.ArrayGetItem")
    if not 0 <= i < len(items):
        raise IntrinsicError(f"States.ArrayGetItem: index {i} is out of bounds")
    return items[i]


def _add(a: Any, b: Any) -> int:
    return _int(a, "States.MathAdd") + _int(b, "States.MathAdd")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "States.Format": _format,
    "States.StringToJson": _string_to_json,
    "States.JsonToString": lambda value: json.dumps(value, separators=(",", ":")),
    "States.Array": lambda *values: list(values),
    "States.ArrayPartition": _partition,
    "States.ArrayContains": lambda items, value: value in _array(items, "States.ArrayContains"),
    "States.ArrayRange": _range,
    "States.ArrayGetItem": _get_item,
    "States.ArrayLength": lambda items: len(_array(items, "States.ArrayLength")),
    "States.ArrayUnique": _unique,
    "States.Base64Encode": lambda value: base64.b64encode(str(value).encode()).decode(),
    "States.Base64Decode": _decode,
    "States.Hash": _hash,
    "States.JsonMerge": _merge,
    "States.MathRandom": _random,
    "States.MathAdd": _add,
    "States.StringSplit": _split,
    "States.UUID": lambda: str(uuid.uuid4()),
}
