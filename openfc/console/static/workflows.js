// State machines: the list, a machine's graph and executions, and a live execution page.

import { colour, drawGraph, legend } from "./graph.js";
import { api, badge, enc, errorBox, every, fmtTime, h, pretty, section, table } from "./lib.js";

const machineLink = (arn, name) => h("a", { href: `#/state-machines/${enc(arn)}` }, name);
const executionLink = (arn, name) => h("a", { href: `#/executions/${enc(arn)}` }, name);

export async function stateMachinesPage(main) {
  const { stateMachines } = await api("/state-machines");
  main.replaceChildren(
    h("h1", {}, "State machines"),
    section("All state machines", table([
      ["Name", (x) => machineLink(x.stateMachineArn, x.name)],
      ["Type", (x) => x.type],
      ["Created", (x) => fmtTime(x.creationDate)],
    ], stateMachines, { id: "state-machines", empty: "No state machines yet: create one with the Step Functions API." })),
  );
}

export async function stateMachinePage(main, arn) {
  const data = await api(`/state-machine?arn=${enc(arn)}`);
  const machine = data.stateMachine;
  const input = h("textarea", { name: "input", rows: 3, spellcheck: "false" }, "{}");
  const message = h("div");
  const form = h("form", { class: "invoke", id: "start-execution" }, [
    input, h("div", { class: "row" }, [h("button", { type: "submit", class: "primary" }, "Start execution")]), message,
  ]);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const started = await api("/executions", { method: "POST", body: { stateMachineArn: arn, input: input.value } });
      location.hash = `#/executions/${enc(started.executionArn)}`;
    } catch (error) {
      message.replaceChildren(errorBox(error));
    }
  });
  main.replaceChildren(
    h("nav", { class: "crumbs" }, [h("a", { href: "#/state-machines" }, "State machines"), " / ", machine.name]),
    h("h1", {}, [machine.name, " ", h("span", { class: "muted small" }, machine.type)]),
    h("div", { class: "grid2 wide-left" }, [
      section("Definition", h("div", { class: "graph-box" }, drawGraph(data.graph))),
      h("div", {}, [
        section("Executions", table([
          ["Name", (x) => executionLink(x.executionArn, x.name)],
          ["Status", (x) => badge(x.status)],
          ["Started", (x) => fmtTime(x.startDate)],
          ["Stopped", (x) => fmtTime(x.stopDate)],
        ], data.executions, { id: "executions", empty: "No executions yet." })),
        section("Start an execution", form),
        section("ASL", h("details", {}, [h("summary", {}, "Show the definition"), h("pre", { class: "out" }, pretty(machine.definition))])),
      ]),
    ]),
  );
}

function stateDetails(name, run, definition) {
  const spec = findState(definition, name) || {};
  if (!run) {
    return [h("h3", {}, name), h("p", {}, [badge("not started"), " ", spec.Type || ""]), h("p", { class: "muted" }, "This state has not run.")];
  }
  return [
    h("h3", {}, name),
    h("p", {}, [h("span", { class: "badge " + run.status, "data-status": run.status }, run.status), " ", spec.Type || "",
      run.runs > 1 ? ` · ran ${run.runs} times (latest shown)` : ""]),
    h("p", { class: "muted small" }, `entered ${fmtTime(run.entered)}${run.exited ? " · exited " + fmtTime(run.exited) : ""}`),
    run.error || run.cause ? h("div", { class: "error" }, [h("strong", {}, run.error || "Error"), run.cause ? ": " + run.cause : ""]) : null,
    h("h4", {}, "Input"), h("pre", { class: "out", id: "state-input" }, pretty(run.input)),
    h("h4", {}, "Output"), h("pre", { class: "out", id: "state-output" }, run.output === null ? "(none yet)" : pretty(run.output)),
  ];
}

function findState(machine, name) {
  for (const [key, state] of Object.entries(machine?.States || {})) {
    if (key === name) return state;
    const inner = [...(state.Branches || []), state.ItemProcessor || state.Iterator].filter(Boolean);
    for (const sub of inner) {
      const found = findState(sub, name);
      if (found) return found;
    }
  }
  return null;
}

function eventState(event) {
  for (const [key, value] of Object.entries(event)) if (key.endsWith("EventDetails") && value.name) return value.name;
  return "";
}

export async function executionPage(main, arn) {
  let data = await api(`/execution?arn=${enc(arn)}`);
  let selected = null;
  const summary = h("div", { id: "execution-summary" });
  const details = h("div", { class: "state-details", id: "state-details" },
    h("p", { class: "muted" }, "Click a state to see its input and output."));
  const events = h("div", { id: "events-box" });
  const graph = drawGraph(data.graph, { onSelect: (name) => { selected = name; render(); } });
  graph.addEventListener("click", () => { selected = null; render(); });

  const render = () => {
    const e = data.execution;
    colour(graph, data.states);
    for (const node of graph.querySelectorAll(".node")) node.classList.toggle("selected", node.dataset.state === selected);
    summary.replaceChildren(h("dl", { class: "config" }, [
      h("dt", {}, "Status"), h("dd", {}, h("span", { id: "execution-status" }, badge(e.status))),
      h("dt", {}, "Started"), h("dd", {}, fmtTime(e.startDate)),
      h("dt", {}, "Stopped"), h("dd", {}, fmtTime(e.stopDate) || "—"),
      e.error ? [h("dt", {}, "Error"), h("dd", { class: "error-text" }, `${e.error}${e.cause ? ": " + e.cause : ""}`)] : [],
    ].flat()));
    if (selected) details.replaceChildren(...stateDetails(selected, data.states[selected], data.definition).filter(Boolean));
    else details.replaceChildren(
      h("p", { class: "muted" }, "Click a state to see its input and output."),
      h("h4", {}, "Execution input"), h("pre", { class: "out" }, pretty(e.input)),
      h("h4", {}, "Execution output"), h("pre", { class: "out" }, e.output ? pretty(e.output) : "(none yet)"),
    );
    events.replaceChildren(h("details", {}, [h("summary", {}, `History (${data.events.length} events)`), table([
      ["#", (x) => x.id],
      ["Type", (x) => x.type],
      ["State", eventState],
      ["Time", (x) => fmtTime(x.timestamp)],
    ], data.events)]));
  };

  const machineArn = data.execution.stateMachineArn;
  main.replaceChildren(
    h("nav", { class: "crumbs" }, [h("a", { href: "#/state-machines" }, "State machines"), " / ",
      h("a", { href: `#/state-machines/${enc(machineArn)}` }, machineArn.split(":").pop()), " / ", data.execution.name]),
    h("h1", {}, ["Execution ", data.execution.name]),
    h("div", { class: "grid2 wide-left" }, [
      section("States", [legend(), h("div", { class: "graph-box", id: "execution-graph" }, graph)]),
      h("div", {}, [section("Execution", summary), section("Selected state", details)]),
    ]),
    section("Events", events),
  );
  render();
  every(1000, async () => {
    if (data.execution.status !== "RUNNING") return;
    data = await api(`/execution?arn=${enc(arn)}`);
    render();
  });
}
