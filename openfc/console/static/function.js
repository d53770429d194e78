// The function page: config, versions/aliases, invoke form, live logs, recent invocations, charts.

import { functionCharts } from "./charts.js";
import { aliasTable, api, badge, enc, errorBox, every, fmtMs, fmtTime, h, page, pretty, section, table, versionTable } from "./lib.js";

const CONFIG = [
  ["Runtime", "runtime"], ["Handler", "handler"], ["Initializer", "initializer"], ["Memory (MB)", "memorySize"],
  ["Timeout (s)", "timeout"], ["Instance concurrency", "instanceConcurrency"], ["Code size", "codeSize"],
  ["Code checksum", "codeChecksum"], ["Layers", "layers"], ["Description", "description"],
  ["Created", "createdTime"], ["Modified", "lastModifiedTime"],
];

function configList(fn) {
  const rows = CONFIG.filter(([, key]) => fn[key] !== undefined && fn[key] !== "" && !(Array.isArray(fn[key]) && !fn[key].length))
    .map(([label, key]) => [label, key.endsWith("Time") ? fmtTime(fn[key]) : Array.isArray(fn[key]) ? fn[key].join(", ") : String(fn[key])]);
  const env = Object.entries(fn.environmentVariables || {});
  if (env.length) rows.push(["Environment", env.map(([k, v]) => `${k}=${v}`).join("\n")]);
  return h("dl", { class: "config", id: "config" }, rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function invokeForm(base, qualifiers, onDone) {
  const result = h("div", { id: "invoke-result" });
  const form = h("form", { id: "invoke-form", class: "invoke" }, [
    h("div", { class: "row" }, [
      h("label", {}, ["Qualifier ", h("select", { name: "qualifier" }, qualifiers.map((q) => h("option", { value: q }, q)))]),
      h("label", { class: "check" }, [h("input", { type: "checkbox", name: "async" }), " Async"]),
      h("button", { type: "submit", class: "primary" }, "Invoke"),
    ]),
    h("textarea", { name: "payload", rows: 4, spellcheck: "false", placeholder: "Event body (any text; JSON is common)" }, '{"key": "value"}'),
    result,
  ]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    result.replaceChildren(h("p", { class: "muted" }, "Invoking…"));
    try {
      const data = await api(base + "/invoke", {
        method: "POST",
        body: { qualifier: form.qualifier.value, payload: form.payload.value, async: form.async.checked },
      });
      if (data.async) {
        result.replaceChildren(h("p", { class: "notice" }, ["Accepted into the async queue: ", h("code", {}, data.requestId)]));
      } else {
        result.replaceChildren(
          h("p", {}, [badge(data.status), " ", h("code", { id: "invoke-request-id" }, data.requestId)]),
          h("div", { class: "grid2 tight" }, [
            h("div", {}, [h("h3", {}, "Response body"), h("pre", { class: "out", id: "invoke-body" }, pretty(data.body) || "(empty)")]),
            h("div", {}, [h("h3", {}, "Headers"), h("pre", { class: "out small" },
              Object.entries(data.headers).map(([k, v]) => `${k}: ${v}`).join("\n"))]),
          ]),
          h("h3", {}, "Log"),
          h("pre", { class: "out log", id: "invoke-log" }, data.log || "(no output)"),
        );
      }
      onDone();
    } catch (error) {
      if (error.name !== "AbortError") result.replaceChildren(errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** Follow the function's log: the latest lines, then long-poll with after=<cursor>. */
function liveLogs(base, box, status) {
  const signal = page.signal;
  let cursor = null;
  const add = (lines) => {
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
    for (const line of lines) {
      box.append(h("div", { class: "line", "data-request-id": line.requestId }, [
        h("span", { class: "t" }, line.time.slice(11, 23)), " ",
        h("span", { class: "rid", title: line.requestId }, line.requestId.slice(0, 8)), " ",
        line.message,
      ]));
    }
    while (box.childElementCount > 1000) box.firstElementChild.remove();
    if (stick || lines.length) box.scrollTop = box.scrollHeight;
  };
  (async () => {
    while (!signal.aborted) {
      try {
        const query = cursor === null ? "?limit=100" : `?after=${cursor}&wait=20&limit=500`;
        const data = await api(base + "/logs" + query, { signal });
        cursor = data.cursor;
        add(data.logs);
        status.textContent = "● following";
        status.className = "live on";
      } catch (error) {
        if (signal.aborted || error.name === "AbortError") return;
        status.textContent = "○ reconnecting";
        status.className = "live";
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  })();
}

export async function functionPage(main, service, name) {
  const base = `/services/${enc(service)}/functions/${enc(name)}`;
  const data = await api(base);
  const qualifiers = ["LATEST", ...data.aliases.map((a) => a.aliasName), ...data.versions.map((v) => v.versionId)];
  const records = h("div", { id: "records-box" });
  const charts = h("div", { class: "charts", id: "charts" });
  const instances = h("div", { id: "instances-box" });
  const logs = h("div", { class: "logs", id: "logs", tabindex: "0" });
  const status = h("span", { class: "live" }, "○ connecting");

  const loadRecords = async () => {
    const { records: rows } = await api(base + "/records?limit=20");
    records.replaceChildren(table([
      ["Time", (x) => fmtTime(x.startTime)],
      ["Request id", (x) => h("code", { class: "rid", title: x.requestId }, x.requestId.slice(0, 13) + "…")],
      ["Qualifier", (x) => x.qualifier],
      ["Version", (x) => x.versionId],
      ["Status", (x) => badge(x.status)],
      ["Error", (x) => x.errorType],
      ["Duration", (x) => fmtMs(x.durationMs)],
      ["Cold", (x) => (x.coldStart ? "yes" : "")],
      ["Type", (x) => x.invocationType],
    ], rows, { id: "records", empty: "No invocations yet.", rowAttrs: (x) => ({ "data-request-id": x.requestId }) }));
  };
  const loadCharts = async () => {
    const result = await api(base + "/charts?minutes=30");
    charts.replaceChildren(...functionCharts(result.points));
    instances.replaceChildren(table([
      ["Instance", (x) => h("code", {}, x.instanceId)],
      ["Version", (x) => x.versionId],
      ["State", (x) => badge(x.state)],
      ["In flight", (x) => x.inflight],
      ["Started", (x) => fmtTime(x.startedTime)],
    ], result.live, { id: "instances", empty: "No live instances (scaled to zero)." }));
  };
  const refresh = () => Promise.all([loadRecords(), loadCharts()]);

  main.replaceChildren(
    h("nav", { class: "crumbs" }, [h("a", { href: "#/services" }, "Services"), " / ",
      h("a", { href: `#/services/${enc(service)}` }, service), " / ", name]),
    h("h1", {}, [name, " ", h("span", { class: "muted small" }, data.function.runtime)]),
    h("div", { class: "grid2 wide-right" }, [
      h("div", {}, [
        section("Configuration", configList(data.function)),
        section("Aliases", aliasTable(data.aliases)),
        section("Versions", versionTable(data.versions)),
      ]),
      h("div", {}, [
        section("Invoke", invokeForm(base, qualifiers, refresh)),
        section(["Live logs ", status], logs),
      ]),
    ]),
    section("Last 30 minutes", charts),
    h("div", { class: "grid2" }, [section("Recent invocations", records), section("Instances", instances)]),
  );
  liveLogs(base, logs, status);
  await refresh().catch((error) => main.append(errorBox(error)));
  every(5000, refresh);
}
