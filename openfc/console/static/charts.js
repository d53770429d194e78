// Per-minute charts as inline SVG: bars for counts, lines for durations.

import { fmtMs, h, s } from "./lib.js";

const W = 320, H = 130, L = 40, R = 8, T = 10, B = 22;

function nice(max) {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 2.5, 5, 10].map((m) => m * step).find((v) => v >= max);
}

function frame(top, format, points) {
  const g = [];
  for (const frac of [0, 0.5, 1]) {
    const y = T + (H - T - B) * (1 - frac);
    g.push(s("line", { x1: L, x2: W - R, y1: y, y2: y, class: "grid" }));
    g.push(s("text", { x: L - 4, y: y + 4, class: "axis", "text-anchor": "end" }, format(top * frac)));
  }
  const label = (i) => points[i]?.time.slice(11, 16) ?? "";
  g.push(s("text", { x: L, y: H - 6, class: "axis" }, label(0)));
  g.push(s("text", { x: W - R, y: H - 6, class: "axis", "text-anchor": "end" }, label(points.length - 1) + " UTC"));
  return g;
}

/**
 * One chart. series: [{key, label, cls, kind: "bar"|"line"}]; points: [{time, [key]: number}].
 */
export function chart(title, points, series, { format = (v) => String(Math.round(v * 10) / 10) } = {}) {
  const max = nice(Math.max(0, ...points.flatMap((p) => series.map((x) => p[x.key] || 0))));
  const n = Math.max(points.length, 1);
  const slot = (W - L - R) / n;
  const yOf = (v) => T + (H - T - B) * (1 - v / max);
  const shapes = [];
  series.forEach((x, si) => {
    if (x.kind === "line") {  // segments over minutes with calls; a dot on each
      let d = "";
      points.forEach((p, i) => {
        if (!p.invocations) return;
        const px = (L + slot * (i + 0.5)).toFixed(1), py = yOf(p[x.key] || 0).toFixed(1);
        d += `${points[i - 1]?.invocations ? "L" : "M"}${px},${py}`;
        shapes.push(s("circle", { cx: px, cy: py, r: 2.2, class: "dot " + x.cls },
          s("title", {}, `${p.time.slice(11, 16)}  ${x.label}: ${format(p[x.key] || 0)}`)));
      });
      shapes.push(s("path", { d: d || "M0,0", class: "line " + x.cls }));
      return;
    }
    const bw = Math.max(slot / series.filter((y) => y.kind !== "line").length - 1, 1);
    points.forEach((p, i) => {
      const v = p[x.key] || 0;
      if (!v) return;
      shapes.push(s("rect", { x: L + slot * i + bw * si, y: yOf(v), width: bw, height: H - B - yOf(v), class: "bar " + x.cls },
        s("title", {}, `${p.time.slice(11, 16)}  ${x.label}: ${format(v)}`)));
    });
  });
  const last = points[points.length - 1] || {};
  const totals = series.map((x) => {
    const value = x.total === "sum" ? points.reduce((a, p) => a + (p[x.key] || 0), 0) : last[x.key] || 0;
    return h("span", { class: "legend " + x.cls }, `${x.label} ${format(value)}`);
  });
  return h("figure", { class: "chart", "data-chart": title.toLowerCase() }, [
    h("figcaption", {}, [h("strong", {}, title), " ", ...totals]),
    s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title }, [...frame(max, format, points), ...shapes]),
  ]);
}

export function functionCharts(points) {
  return [
    chart("Invocations", points, [{ key: "invocations", label: "total", cls: "c-blue", kind: "bar", total: "sum" }]),
    chart("Errors", points, [{ key: "errors", label: "total", cls: "c-red", kind: "bar", total: "sum" }]),
    chart("Duration", points, [
      { key: "p50", label: "p50", cls: "c-blue", kind: "line" },
      { key: "max", label: "max", cls: "c-orange", kind: "line" },
    ], { format: fmtMs }),
    chart("Instances", points, [{ key: "instances", label: "used", cls: "c-green", kind: "bar" }]),
  ];
}
