// Draw a state machine layout (computed by the server) as SVG; colour nodes by their status.

import { h, s } from "./lib.js";

export const STATUSES = ["notstarted", "running", "succeeded", "failed", "caught"];

function edgePath(edge, lane, bend) {
  const [x1, y1, x2, y2] = edge.points;
  if (edge.back) return `M${x1},${y1} H${lane} V${y2} H${x2}`;
  const dy = Math.max((y2 - y1) / 2, 12);
  return `M${x1},${y1} C${x1 + bend},${y1 + dy} ${x2 + bend},${y2 - dy} ${x2},${y2}`;
}

/** The graph as an <svg>; ``onSelect(name)`` is called when a state is clicked. */
export function drawGraph(graph, { onSelect } = {}) {
  const boxes = [], edges = [], nodes = [];
  for (const node of graph.nodes) {
    const { x, y, w, h } = node;
    if (node.role === "group") {
      boxes.push(s("g", { class: "group" }, [
        s("rect", { x, y, width: w, height: h, rx: 6 }),
        s("text", { x: x + 10, y: y + 18, class: "group-label" }, node.name),
      ]));
      continue;
    }
    if (node.role === "terminal") {
      nodes.push(s("g", { class: "terminal" }, [
        s("rect", { x, y, width: w, height: h, rx: h / 2 }),
        s("text", { x: x + w / 2, y: y + h / 2 + 4, "text-anchor": "middle" }, node.name),
      ]));
      continue;
    }
    const attrs = { class: "node" + (node.compound ? " compound" : ""), "data-state": node.name,
      "data-type": node.type, "data-status": "notstarted", tabindex: 0, role: "button" };
    const label = node.compound
      ? [s("text", { x: x + 10, y: y + 19, class: "name" }, node.name),
        s("text", { x: x + w - 10, y: y + 19, class: "type", "text-anchor": "end" }, node.type)]
      : [s("text", { x: x + w / 2, y: y + 19, class: "name", "text-anchor": "middle" }, node.name),
        s("text", { x: x + w / 2, y: y + 35, class: "type", "text-anchor": "middle" }, node.type)];
    const g = s("g", attrs, [s("title", {}, `${node.name} (${node.type})`), s("rect", { x, y, width: w, height: h, rx: 8 }), ...label]);
    if (onSelect) {
      const pick = (event) => {
        event.stopPropagation();
        onSelect(node.name);
      };
      g.addEventListener("click", pick);
      g.addEventListener("keydown", (event) => (event.key === "Enter" || event.key === " ") && pick(event));
    }
    (node.compound ? boxes : nodes).push(g);
  }
  let backs = 0;
  const seen = {};
  for (const edge of graph.edges) {
    const lane = graph.width - 14 - 8 * (backs % 4);
    if (edge.back) backs += 1;
    const pair = edge.source + "\n" + edge.target;
    const bend = 26 * (seen[pair] = (seen[pair] ?? -1) + 1);  // a second edge between two states bows out
    const path = s("path", { d: edgePath(edge, lane, bend), class: "edge " + edge.kind, "marker-end": "url(#arrow)" },
      edge.label ? s("title", {}, edge.label) : null);
    edges.push(path);
    if (edge.kind === "catch" || edge.kind === "default") {
      const [x1, y1, x2, y2] = edge.points;
      const [lx, ly] = edge.back ? [lane - 4, (y1 + y2) / 2] : [(x1 + x2) / 2 + 4 + bend * 0.75, (y1 + y2) / 2];
      edges.push(s("text", { x: lx, y: ly, class: "edge-label", "text-anchor": edge.back ? "end" : "start" },
        edge.kind === "catch" ? "catch" : "default"));
    }
  }
  const defs = s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" })));
  return s("svg", { class: "graph", viewBox: `0 0 ${graph.width} ${graph.height}`, width: graph.width,
    height: graph.height, role: "img", "aria-label": "state machine graph" }, [defs, ...boxes, ...edges, ...nodes]);
}

/** Colour every state node by ``states[name].status`` (absent: not started). */
export function colour(svg, states) {
  for (const node of svg.querySelectorAll(".node")) {
    const run = states[node.dataset.state];
    node.dataset.status = run ? run.status : "notstarted";
    node.classList.toggle("repeated", Boolean(run && run.runs > 1));
  }
}

export function legend() {
  const labels = { notstarted: "not started", running: "running", succeeded: "succeeded", failed: "failed", caught: "caught" };
  return h("div", { class: "legend-row" }, STATUSES.map((status) =>
    h("span", { class: "legend-item" }, [h("i", { class: "swatch", "data-status": status }), labels[status]])));
}
