"""A layered layout of an Amazon States Language definition, for the console to draw as SVG.

StartAt is on top; every state sits one layer below the first state that reaches it (Next, Default,
Choices, Catch). Parallel branches and Map item processors are laid out recursively inside their
state's box. Coordinates are absolute pixels; the browser only draws.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

NODE_H = 44
GAP_X, GAP_Y = 28, 42
PAD, HEADER = 14, 30
CHAR_W = 7.4
BACK_MARGIN = 56  #: room on the right for edges that go back up
START, END = "__start__", "__end__"


@dataclass(slots=True)
class Node:
    id: str
    name: str
    type: str
    w: float
    h: float = NODE_H
    x: float = 0.0
    y: float = 0.0
    #: "state", "group" (a Parallel branch or a Map's processor), or "terminal" (start/end marker)
    role: str = "state"
    inner: list[Layout] = field(default_factory=list)


@dataclass(slots=True)
class Edge:
    source: str
    target: str
    kind: str  #: next, choice, default, catch, end
    label: str = ""


@dataclass(slots=True)
class Layout:
    nodes: list[Node]
    edges: list[Edge]
    w: float
    h: float
    back: bool = False  #: some edge goes back up (needs the right margin)


def successors(state: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, kind, label) of every transition out of ``state``."""
    out: list[tuple[str, str, str]] = []
    for i, rule in enumerate(state.get("Choices") or []):
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            out.append((rule["Next"], "choice", f"rule {i + 1}"))
    if isinstance(state.get("Default"), str):
        out.append((state["Default"], "default", "default"))
    if isinstance(state.get("Next"), str):
        out.append((state["Next"], "next", ""))
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            errors = catcher.get("ErrorEquals") or []
            out.append((catcher["Next"], "catch", "catch " + ", ".join(str(e) for e in errors)))
    return out


def _text_width(text: str, minimum: float = 112) -> float:
    return max(minimum, len(text) * CHAR_W + 28)


def _inner_machines(state: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if state.get("Type") == "Parallel":
        return [(f"Branch {i + 1}", b) for i, b in enumerate(state.get("Branches") or []) if isinstance(b, dict)]
    if state.get("Type") == "Map":
        processor = state.get("ItemProcessor") or state.get("Iterator")
        return [("Item processor", processor)] if isinstance(processor, dict) else []
    return []


def _node(path: str, name: str, state: dict[str, Any]) -> Node:
    kind = str(state.get("Type", "?"))
    node = Node(f"{path}{name}", name, kind, _text_width(f"{name}  {kind}"))
    groups: list[Layout] = []
    for label, machine in _inner_machines(state):
        inner = _layout(machine, f"{node.id}/{label}/", terminals=False)
        group = Node(f"{node.id}/{label}", label, "group", max(inner.w + 2 * PAD, _text_width(label)), role="group")
        group.h = inner.h + HEADER + PAD
        group.inner = [inner]
        groups.append(Layout([group], [], group.w, group.h))
    if groups:
        node.inner = groups
        node.w = max(node.w, sum(g.w for g in groups) + GAP_X * (len(groups) - 1) + 2 * PAD)
        node.h = HEADER + max(g.h for g in groups) + PAD
    return node


def _layers(machine: dict[str, Any], terminals: bool) -> tuple[list[list[str]], list[Edge]]:
    states: dict[str, Any] = machine.get("States") or {}
    start = machine.get("StartAt")
    depth: dict[str, int] = {}
    edges: list[Edge] = []
    queue: deque[str] = deque()
    if isinstance(start, str) and start in states:
        depth[start] = 1 if terminals else 0
        queue.append(start)
    order = [name for name in states]
    while True:
        while queue:
            name = queue.popleft()
            for target, _, _ in successors(states[name]):
                if target in states and target not in depth:
                    depth[target] = depth[name] + 1
                    queue.append(target)
        missing = [n for n in order if n not in depth]  # unreachable: still drawn, below the rest
        if not missing:
            break
        depth[missing[0]] = max(depth.values(), default=0) + 1
        queue.append(missing[0])
    for name in order:
        for target, kind, label in successors(states[name]):
            if target in states:
                edges.append(Edge(name, target, kind, label))
        if terminals and (states[name].get("End") is True or states[name].get("Type") in ("Succeed", "Fail")):
            edges.append(Edge(name, END, "end"))
    if terminals:
        depth[START] = 0
        depth[END] = max(depth.values(), default=0) + 1
        if isinstance(start, str) and start in states:
            edges.insert(0, Edge(START, start, "next"))
    layers: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in ([START] if terminals else []) + order + ([END] if terminals else []):
        layers[depth[name]].append(name)
    return layers, edges


def _layout(machine: dict[str, Any], path: str, *, terminals: bool) -> Layout:
    states: dict[str, Any] = machine.get("States") or {}
    layers, edges = _layers(machine, terminals)
    nodes: dict[str, Node] = {}
    for name in (n for layer in layers for n in layer):
        if name in (START, END):
            nodes[name] = Node(path + name, "Start" if name == START else "End", "terminal", 64, 28, role="terminal")
        else:
            state = states[name]
            nodes[name] = _node(path, name, state if isinstance(state, dict) else {})
    # one barycenter pass: order each layer by where its predecessors sit in the layers above
    position: dict[str, float] = {}
    for layer in layers:
        preds = {n: [position[e.source] for e in edges if e.target == n and e.source in position] for n in layer}
        layer.sort(key=lambda n: sum(preds[n]) / len(preds[n]) if preds[n] else float("inf"))
        for i, name in enumerate(layer):
            position[name] = i
    widths = [sum(nodes[n].w for n in layer) + GAP_X * (len(layer) - 1) for layer in layers]
    width = max(widths, default=0.0)
    y = 0.0
    for layer, layer_width in zip(layers, widths, strict=True):
        x = (width - layer_width) / 2
        height = max((nodes[n].h for n in layer), default=0)
        for name in layer:
            node = nodes[name]
            node.x, node.y = x, y + (height - node.h) / 2
            x += node.w + GAP_X
        y += height + GAP_Y
    layer_of = {n: i for i, layer in enumerate(layers) for n in layer}
    back = any(layer_of[e.target] <= layer_of[e.source] for e in edges)
    for edge in edges:
        edge.source, edge.target = nodes[edge.source].id, nodes[edge.target].id
    return Layout(list(nodes.values()), edges, width, max(y - GAP_Y, 0.0), back)


def _place(layout: Layout, dx: float, dy: float, out_nodes: list[Node], out_edges: list[Edge]) -> None:
    for node in layout.nodes:
        node.x, node.y = node.x + dx, node.y + dy
        out_nodes.append(node)
        if node.role == "group":
            for inner in node.inner:
                _place(inner, node.x + (node.w - inner.w) / 2, node.y + HEADER, out_nodes, out_edges)
            continue
        x = node.x + (node.w - sum(g.w for g in node.inner) - GAP_X * (len(node.inner) - 1)) / 2
        for group in node.inner:
            _place(group, x, node.y + HEADER, out_nodes, out_edges)
            x += group.w + GAP_X
    out_edges.extend(layout.edges)


def _anchor(source: Node, target: Node) -> tuple[list[float], bool]:
    if target.y > source.y + source.h / 2:  # downwards: bottom centre → top centre
        return [source.x + source.w / 2, source.y + source.h, target.x + target.w / 2, target.y], False
    return [source.x + source.w, source.y + source.h / 2, target.x + target.w, target.y + target.h / 2], True


def layout(definition: dict[str, Any]) -> dict[str, Any]:
    """The JSON the console draws: ``{width, height, nodes: [...], edges: [...]}`` (pixels, origin top left)."""
    top = _layout(definition, "", terminals=True)
    nodes: list[Node] = []
    edges: list[Edge] = []
    margin = 12.0
    _place(top, margin, margin, nodes, edges)
    by_id = {n.id: n for n in nodes}
    rendered_edges = []
    for edge in edges:
        points, back = _anchor(by_id[edge.source], by_id[edge.target])
        rendered_edges.append(
            {"source": edge.source, "target": edge.target, "kind": edge.kind, "label": edge.label,
             "points": [round(p, 1) for p in points], "back": back}
        )  # fmt: skip
    return {
        "width": round(top.w + 2 * margin + BACK_MARGIN, 1),
        "height": round(top.h + 2 * margin, 1),
        "nodes": [
            {"id": n.id, "name": n.name, "type": n.type, "role": n.role,
             "compound": bool(n.inner) and n.role == "state",
             "x": round(n.x, 1), "y": round(n.y, 1), "w": round(n.w, 1), "h": round(n.h, 1)}
            for n in nodes
        ],
        "edges": rendered_edges,
    }  # fmt: skip
