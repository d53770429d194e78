// The console shell: login, navigation (hash routes), services, service and async pages.

import { aliasTable, api, badge, enc, errorBox, fmtTime, h, page, pretty, section, table, versionTable } from "./lib.js";
import { functionPage } from "./function.js";
import { executionPage, stateMachinePage, stateMachinesPage } from "./workflows.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let controller = null;

const routes = [
  [/^#\/services$/, servicesPage, "services"],
  [/^#\/services\/([^/]+)$/, (m) => servicePage(decodeURIComponent(m[1])), "services"],
  [/^#\/services\/([^/]+)\/functions\/([^/]+)$/,
    (m) => functionPage(main, decodeURIComponent(m[1]), decodeURIComponent(m[2])), "services"],
  [/^#\/async$/, asyncPage, "async"],
  [/^#\/state-machines$/, () => stateMachinesPage(main), "workflows"],
  [/^#\/state-machines\/(.+)$/, (m) => stateMachinePage(main, decodeURIComponent(m[1])), "workflows"],
  [/^#\/executions\/(.+)$/, (m) => executionPage(main, decodeURIComponent(m[1])), "workflows"],
];

async function route() {
  controller?.abort();
  controller = new AbortController();
  page.signal = controller.signal;
  const hash = location.hash || "#/services";
  const match = routes.map(([re, render, tab]) => [hash.match(re), render, tab]).find(([m]) => m);
  if (!match) {
    location.hash = "#/services";
    return;
  }
  const [m, render, tab] = match;
  for (const link of nav.querySelectorAll("a")) link.classList.toggle("active", link.dataset.tab === tab);
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    await render(m);
  } catch (error) {
    if (error.name === "AbortError" || error.code === "ConsoleLoginRequired") return;
    main.replaceChildren(errorBox(error));
  }
}

function showLogin(message) {
  controller?.abort();
  document.body.classList.add("logged-out");
  who.textContent = "";
  const error = h("p", { class: "error", id: "login-error", role: "alert", hidden: !message }, message || "");
  const form = h("form", { class: "login card", id: "login-form" }, [
    h("h1", {}, "openfc console"),
    h("p", { class: "muted" }, "Log in with an access key of this platform."),
    h("label", {}, ["AccessKey ID", h("input", { name: "accessKeyId", autocomplete: "username", required: true })]),
    h("label", {}, ["AccessKey Secret",
      h("input", { name: "accessKeySecret", type: "password", autocomplete: "current-password", required: true })]),
    error,
    h("button", { type: "submit", class: "primary" }, "Log in"),
  ]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    try {
      await api("/login", { method: "POST", body: data, signal: null });
      start();
    } catch (err) {
      error.hidden = false;
      error.textContent = err.status === 401 ? "Wrong AccessKey ID or secret." : err.message;
    }
  });
  main.replaceChildren(form);
  form.querySelector("input").focus();
}

async function start() {
  try {
    const me = await api("/session", { signal: null });
    who.textContent = me.accessKeyId + " · " + me.region;
  } catch (error) {
    if (error.status === 401) return showLogin();
    main.replaceChildren(errorBox(error));
    return;
  }
  document.body.classList.remove("logged-out");
  route();
}

page.onLogin = () => showLogin("Your session ended: log in again.");
window.addEventListener("hashchange", () => !document.body.classList.contains("logged-out") && route());
document.getElementById("logout").addEventListener("click", async () => {
  await api("/logout", { method: "POST", body: {}, signal: null }).catch(() => {});
  showLogin();
});

// -- services -----------------------------------------------------------------------------

async function servicesPage() {
  const { services } = await api("/services");
  main.replaceChildren(
    h("h1", {}, "Services"),
    section("All services", table([
      ["Name", (x) => h("a", { href: `#/services/${enc(x.serviceName)}` }, x.serviceName)],
      ["Description", (x) => x.description],
      ["Functions", (x) => x.functionCount],
      ["Modified", (x) => fmtTime(x.lastModifiedTime)],
    ], services, { id: "services", empty: "No services yet: create one with `openfc deploy` or the FC API." })),
  );
}

async function servicePage(name) {
  const data = await api(`/services/${enc(name)}`);
  main.replaceChildren(
    h("nav", { class: "crumbs" }, [h("a", { href: "#/services" }, "Services"), " / ", name]),
    h("h1", {}, name),
    data.service.description ? h("p", { class: "muted" }, data.service.description) : "",
    section("Functions", table([
      ["Name", (x) => h("a", { href: `#/services/${enc(name)}/functions/${enc(x.functionName)}` }, x.functionName)],
      ["Runtime", (x) => x.runtime],
      ["Handler", (x) => h("code", {}, x.handler)],
      ["Memory", (x) => x.memorySize + " MB"],
      ["Timeout", (x) => x.timeout + " s"],
      ["Instances", (x) => x.instances],
      ["Modified", (x) => fmtTime(x.lastModifiedTime)],
    ], data.functions, { id: "functions", empty: "No functions in this service." })),
    h("div", { class: "grid2" }, [
      section("Versions", versionTable(data.versions)),
      section("Aliases", aliasTable(data.aliases)),
    ]),
  );
}

// -- async --------------------------------------------------------------------------------

function configSummary(config) {
  if (!config) return h("span", { class: "muted" }, "defaults");
  const parts = [];
  if (config.maxAsyncRetryAttempts !== undefined) parts.push(`retries ${config.maxAsyncRetryAttempts}`);
  if (config.maxAsyncEventAgeInSeconds !== undefined) parts.push(`max age ${config.maxAsyncEventAgeInSeconds} s`);
  if (config.statefulInvocation) parts.push("stateful");
  const dest = config.destinationConfig || {};
  if (dest.onSuccess?.destination) parts.push("onSuccess → " + dest.onSuccess.destination);
  if (dest.onFailure?.destination) parts.push("onFailure → " + dest.onFailure.destination);
  return parts.join(" · ") || "defaults";
}

async function asyncPage() {
  const render = async () => {
    const data = await api("/async");
    const letters = data.functions.flatMap((f) => f.deadLetters.map((x) => ({ ...x, qualifier: f.qualifier })));
    const fname = (x) => `${x.serviceName}.${x.qualifier}/${x.functionName}`;
    main.replaceChildren(
      h("h1", {}, "Async invocations"),
      h("p", {}, ["Events waiting in the queue: ", h("strong", { id: "queue-total" }, String(data.total))]),
      section("Functions", table([
        ["Function", (x) => h("a", { href: `#/services/${enc(x.serviceName)}/functions/${enc(x.functionName)}` }, fname(x))],
        ["Queued", (x) => x.depth],
        ["Async config", (x) => configSummary(x.config)],
        ["Dead letters", (x) => x.deadLetters.length],
      ], data.functions, { empty: "No functions yet." })),
      section("Dead letters", table([
        ["Function", fname],
        ["Request id", (x) => h("code", {}, x.requestId)],
        ["Status", (x) => badge(x.status)],
        ["Error", (x) => h("span", { class: "clip", title: x.errorMessage }, x.errorMessage)],
        ["Attempts", (x) => x.attempts],
        ["Failed", (x) => fmtTime(x.failedTime)],
        ["Payload", (x) => h("code", { class: "clip", title: x.payload }, pretty(x.payload).slice(0, 80))],
        ["", (x) => h("button", { class: "redrive", "data-letter": x.id, onclick: () => redrive(x.id) }, "Re-drive")],
      ], letters, { id: "dead-letters", empty: "No dead letters.", rowAttrs: (x) => ({ "data-letter": x.id }) }),
      { id: "dead-letters-card" }),
    );
  };
  const redrive = async (id) => {
    try {
      await api(`/dead-letters/${enc(id)}/redrive`, { method: "POST", body: {} });
      await render();
      main.prepend(h("p", { class: "notice", id: "redrive-notice" }, `Dead letter ${id} is back in the queue.`));
    } catch (error) {
      main.prepend(errorBox(error));
    }
  };
  await render();
}

start();
