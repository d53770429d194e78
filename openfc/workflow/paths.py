"""JSONPath as the States Language uses it ("Paths" / "Reference Paths" sections of the spec).

Supported: ``$`` (data) and ``$$`` (context object), ``.field`` / ``['field']``, ``[n]`` (negative
counts from the end), ``[*]`` / ``.*`` wildcards, ``[a:b]`` slices, ``..field`` (deep scan) and
``[n,m]`` unions. A *reference path* (ResultPath, ``Variable``, the ``*Path`` comparisons) may only
name one node: fields and non-negative indexes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["PathError", "PathNotFound", "Path", "compile_path", "is_path", "query", "set_at"]


class PathError(ValueError):
    """The path text is not a valid (reference) path."""


class PathNotFound(LookupError):
    """A valid path selected nothing in the data."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the JSONPath '{path}' could not be found in the input")
        self.path = path


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  #: field | index | wildcard | slice | deep | union
    value: Any = None


@dataclass(frozen=True, slots=True)
class Path:
    text: str
    context: bool  #: starts with ``$$``
    steps: tuple[Step, ...]

    @property
    def definite(self) -> bool:
        """Selects at most one node (then ``query`` returns it, not a list of matches)."""
        return all(s.kind in ("field", "index") for s in self.steps)

    @property
    def reference(self) -> bool:
        return all(s.kind == "field" or (s.kind == "index" and s.value >= 0) for s in self.steps)


_FIELD = re.compile(r"[^.\[\]\s'\"]+")
_BRACKET = re.compile(
    r"\[\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|(-?\d+)|\*|(-?\d*)\s*:\s*(-?\d*)|([\d,\s]+))\s*\]"
)


def is_path(text: object) -> bool:
    return isinstance(text, str) and text.startswith("$")


@lru_cache(maxsize=4096)
def compile_path(text: str, *, reference: bool = False) -> Path:
    """Parse ``text``; raises ``PathError`` naming what is wrong."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathError(f"'{text}' is not a path: paths start with '$'")
    context = text.startswith("$$")
    i = 2 if context else 1
    steps: list[Step] = []
    while i < len(text):
        c = text[i]
        if text.startswith("..", i):
            m = _FIELD.match(text, i + 2)
            if not m:
                raise PathError(f"'{text}': expected a field name after '..' at offset {i}")
            steps.append(Step("deep", m.group(0)))
            i = m.end()
        elif c == ".":
            m = _FIELD.match(text, i + 1)
            if not m:
                raise PathError(f"'{text}': expected a field name after '.' at offset {i}")
            name = m.group(0)
            steps.append(Step("wildcard") if name == "*" else Step("field", name))
            i = m.end()
        elif c == "[":
            m = _BRACKET.match(text, i)
            if not m:
                raise PathError(f"'{text}': invalid bracket expression at offset {i}")
            quoted1, quoted2, index, start, stop, union = m.groups()
            raw = m.group(0)
            if quoted1 is not None or quoted2 is not None:
                steps.append(Step("field", re.sub(r"\\(.)", r"\1", quoted1 if quoted1 is not None else quoted2)))
            elif index is not None:
                steps.append(Step("index", int(index)))
            elif union is not None:
                steps.append(Step("union", tuple(int(x) for x in union.split(",") if x.strip())))
            elif ":" in raw:
                steps.append(Step("slice", (int(start) if start else None, int(stop) if stop else None)))
            else:
                steps.append(Step("wildcard"))
            i = m.end()
        else:
            raise PathError(f"'{text}': unexpected character '{c}' at offset {i}")
    path = Path(text, context, tuple(steps))
    if reference and not path.reference:
        raise PathError(f"'{text}' is not a reference path: only fields and indexes, no wildcards or filters")
    return path


def _children(node: Any, step: Step) -> list[Any]:
    kind, value = step.kind, step.value
    if kind == "field":
        return [node[value]] if isinstance(node, dict) and value in node else []
    if kind == "index":
        if isinstance(node, list) and -len(node) <= value < len(node):
            return [node[value]]
        return []
    if kind == "wildcard":
        if isinstance(node, dict):
            return list(node.values())
        return list(node) if isinstance(node, list) else []
    if kind == "slice":
        return list(node[value[0] : value[1]]) if isinstance(node, list) else []
    if kind == "union":
        return [node[i] for i in value if isinstance(node, list) and -len(node) <= i < len(node)]
    # deep scan
    found: list[Any] = []
    stack = [node]
    while stack:
        current = stack.pop(0)
        if isinstance(current, dict):
            if value in current:
                found.append(current[value])
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return found


def query(path: str | Path, data: Any, context: Any = None) -> Any:
    """The value ``path`` selects; a list of matches for indefinite paths. Raises ``PathNotFound``."""
    compiled = path if isinstance(path, Path) else compile_path(path)
    nodes = [context if compiled.context else data]
    for step in compiled.steps:
        nodes = [child for node in nodes for child in _children(node, step)]
        if not nodes and compiled.definite:
            raise PathNotFound(compiled.text)
    if compiled.definite:
        return nodes[0]
    return nodes


def exists(path: str | Path, data: Any, context: Any = None) -> bool:
    try:
        query(path, data, context)
    except PathNotFound:
        return False
    return True


def set_at(data: Any, path: str, value: Any) -> Any:
    """``data`` with ``value`` placed at reference path ``path`` (ResultPath semantics), copied on write.

    Missing fields are created as objects; raises ``PathNotFound`` when a step meets a non-object.
    """
    compiled = compile_path(path, reference=True)
    if not compiled.steps:
        return value

    def put(node: Any, steps: tuple[Step, ...]) -> Any:
        step, rest = steps[0], steps[1:]
        if step.kind == "field":
            if node is None:
                node = {}
            if not isinstance(node, dict):
                raise PathNotFound(path)
            copy = dict(node)
            copy[step.value] = put(copy.get(step.value), rest) if rest else value
            return copy
        if not isinstance(node, list) or step.value >= len(node):
            raise PathNotFound(path)
        items = list(node)
        items[step.value] = put(items[step.value], rest) if rest else value
        return items

    return put(data, compiled.steps)
