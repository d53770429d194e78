// Small helpers shared by the console pages: DOM and SVG builders, the API client, formatting.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of [].concat(children ?? [])) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** h("a", {href: "#/"}, ["text", h("b", {}, "x")]) */
export const h = (tag, attrs, children) => build(document.createElement(tag), attrs, children);
export const s = (tag, attrs, children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The page's abort signal: navigating away cancels its polls and long polls. */
export const page = { signal: undefined, onLogin: null };

export async function api(path, { method = "GET", body, signal } = {}) {
  const init = { method, credentials: "same-origin", signal: signal === undefined ? page.signal : signal, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = "application/json";
  }
  const response = await fetch("/console/api" + path, init);
  const text = await response.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { ErrorCode: "BadResponse", ErrorMessage: text.slice(0, 200) };
  }
  if (!response.ok) {
    if (response.status === 401 && data.ErrorCode === "ConsoleLoginRequired" && page.onLogin) page.onLogin();
    throw new ApiError(response.status, data.ErrorCode, data.ErrorMessage || response.statusText);
  }
  return data;
}

export const enc = encodeURIComponent;

export function fmtTime(value) {
  if (value === null || value === undefined || value === "") return "";
  const date = typeof value === "number" ? new Date(value < 1e11 ? value * 1000 : value) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { hour12: false });
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "";
  return ms >= 1000 ? (ms / 1000).toFixed(2) + " s" : Math.round(ms * 10) / 10 + " ms";
}

export function pretty(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

export function badge(status) {
  const cls = String(status || "").toLowerCase().replace(/[^a-z]/g, "");
  return h("span", { class: "badge " + cls, "data-status": cls }, String(status || "—"));
}

/** A table from rows: columns are [title, row => cell]. */
export function table(columns, rows, { empty = "Nothing here yet.", id, rowAttrs } = {}) {
  if (!rows.length) return h("p", { class: "muted", id }, empty);
  return h("div", { class: "table-wrap" }, h("table", { id }, [
    h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", {}, title)))),
    h("tbody", {}, rows.map((row) => h("tr", rowAttrs ? rowAttrs(row) : {}, columns.map(([, cell]) => h("td", {}, cell(row)))))),
  ]));
}

export function section(title, children, attrs = {}) {
  return h("section", { class: "card", ...attrs }, [h("h2", {}, title), ...[].concat(children)]);
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, (error.code ? error.code + ": " : "") + error.message);
}

/** Run ``fn`` every ``ms`` while the page is open (never two at once). */
export function every(ms, fn) {
  const signal = page.signal;
  let timer = null;
  const tick = async () => {
    if (signal.aborted) return;
    try {
      await fn();
    } catch (error) {
      if (error.name !== "AbortError") console.warn(error);
    }
    if (!signal.aborted) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  signal.addEventListener("abort", () => clearTimeout(timer));
}

// -- versions and aliases (service and function pages) --

export function weights(alias) {
  const extra = alias.additionalVersionWeight || {};
  const main = 1 - Object.values(extra).reduce((a, b) => a + b, 0);
  const parts = [[alias.versionId, main], ...Object.entries(extra)];
  return h("span", { class: "weights" }, parts.map(([version, weight]) =>
    h("span", { class: "weight", title: `version ${version}: ${Math.round(weight * 1000) / 10}%` }, [
      h("span", { class: "weight-bar", style: `width:${Math.max(weight * 80, 2)}px` }),
      ` v${version} ${Math.round(weight * 1000) / 10}%`,
    ])));
}

export function aliasTable(aliases) {
  return table([
    ["Alias", (x) => x.aliasName],
    ["Routes to (weights)", weights],
    ["Description", (x) => x.description],
    ["Modified", (x) => fmtTime(x.lastModifiedTime)],
  ], aliases, { id: "aliases", empty: "No aliases." });
}

export function versionTable(versions) {
  return table([
    ["Version", (x) => x.versionId],
    ["Description", (x) => x.description],
    ["Published", (x) => fmtTime(x.createdTime)],
  ], versions, { id: "versions", empty: "No versions published." });
}
