"""What each console page shows, read from the platform's own components (registry, pool, store, queue)."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from openfc.api.fc_async import render_dead_letter
from openfc.api.observe import iso
from openfc.api.state import Platform
from openfc.console.execution import execution_view
from openfc.console.graph import layout
from openfc.control import render
from openfc.errors import InvalidArgument
from openfc.invoke import Invocation, new_request_id
from openfc.queue import FunctionRef
from openfc.store import JSON
from openfc.store.observations import CallStatus
from openfc.workflow import parse_definition

#: Rows of one registry listing the console reads (it pages through the rest).
PAGE = 100
#: Newest records the charts look at.
CHART_RECORDS = 5000
LOG_TAIL = 8192


async def _all(list_page: Any, *args: Any) -> list[JSON]:
    """Every item of a paged registry listing (``list_page(*args, query) -> Page``)."""
    items: list[JSON] = []
    token = ""
    while True:
        page = await list_page(*args, {"limit": str(PAGE), "nextToken": token} if token else {"limit": str(PAGE)})
        items.extend(page.items)
        if not page.next_token:
            return items
        token = page.next_token


async def services(p: Platform) -> JSON:
    out = []
    for service in await _all(p.registry.list_services):
        name = service["serviceName"]
        functions = await p.store.list("function", prefix=name + "/", limit=10_000)
        out.append({**service, "functionCount": len(functions)})
    return {"services": out}


async def _versions(p: Platform, service: str) -> list[JSON]:
    items, token = await p.registry.versions.list(service, {"limit": str(PAGE)})
    while token:
        more, token = await p.registry.versions.list(service, {"limit": str(PAGE), "nextToken": token})
        items.extend(more)
    return items


async def service(p: Platform, name: str) -> JSON:
    doc = await p.registry.service(name)
    functions = await _all(p.registry.list_functions, name, "LATEST")
    for function in functions:
        function["instances"] = len(p.pool.instances(name, function["functionName"]))
    return {
        "service": render(doc),
        "functions": functions,
        "versions": await _versions(p, name),
        "aliases": await _all(p.registry.versions.list_aliases, name),
    }


def _instances(p: Platform, service: str, function: str) -> list[JSON]:
    return [
        {"instanceId": i.id, "versionId": i.version_id, "qualifier": i.qualifier, "state": i.state,
         "startedTime": iso(int(i.started_at * 1000)), "inflight": i.inflight, "provisioned": i.provisioned}
        for i in p.pool.instances(service, function)
    ]  # fmt: skip


async def function(p: Platform, service: str, name: str) -> JSON:
    doc = await p.registry.function(service, name)
    config = render(doc)
    config.pop("code", None)
    return {
        "function": config,
        "versions": await _versions(p, service),
        "aliases": await _all(p.registry.versions.list_aliases, service),
        "instances": _instances(p, service, name),
    }


async def invoke(p: Platform, service: str, name: str, body: JSON) -> JSON:
    qualifier = str(body.get("qualifier") or "LATEST")
    payload = body.get("payload", "")
    if not isinstance(payload, str):
        raise InvalidArgument("payload must be a string (the event body)")
    invocation = Invocation(service, qualifier, name, payload.encode(), request_id=new_request_id())
    if body.get("async"):
        accepted = await p.async_invoker.submit(invocation)
        return {"async": True, "requestId": accepted.request_id, "statefulInvocationId": accepted.stateful_id}
    outcome = await p.invoker.run(invocation)
    await p.recorder.flush()  # the records table and the log follow see the call at once
    result = outcome.result
    headers = {
        "x-fc-request-id": invocation.request_id,
        "x-fc-invocation-duration": str(int(result.duration_ms)),
        "x-fc-invocation-service-version": outcome.spec.version_id,
        "x-fc-max-memory-usage": f"{result.max_memory_mb:.2f}",
        "x-fc-instance-id": result.instance_id,
        "x-fc-code-checksum": outcome.target.code_checksum,
    }
    if result.error_type:
        headers["x-fc-error-type"] = result.error_type
    return {
        "async": False,
        "requestId": invocation.request_id,
        "status": "Failed" if result.failure is not None else "Succeeded",
        "headers": headers,
        "body": result.body.decode("utf-8", "replace"),
        "log": result.log[-LOG_TAIL:].decode("utf-8", "replace"),
    }


async def charts(p: Platform, service: str, name: str, minutes: int) -> JSON:
    """Per-minute buckets of the last ``minutes``: invocations, errors, p50/max duration, instances used."""
    await p.registry.function(service, name)
    await p.recorder.flush()
    now_min = int(time.time() // 60)
    first = now_min - minutes + 1
    rows = await p.store.records_query(service, name, start_ms=first * 60_000, limit=CHART_RECORDS)
    buckets: dict[int, list[Any]] = {m: [] for m in range(first, now_min + 1)}
    for _, record in rows:
        buckets.setdefault(record.start_ms // 60_000, []).append(record)
    points = []
    for minute in sorted(buckets):
        records = buckets[minute]
        durations = [r.duration_ms for r in records]
        points.append({
            "time": iso(minute * 60_000),
            "invocations": len(records),
            "errors": sum(1 for r in records if r.status != CallStatus.SUCCEEDED),
            "p50": round(statistics.median(durations), 1) if durations else 0,
            "max": round(max(durations), 1) if durations else 0,
            "instances": len({r.instance_id for r in records if r.instance_id}),
        })  # fmt: skip
    return {"points": points, "live": _instances(p, service, name), "truncated": len(rows) >= CHART_RECORDS}


async def _qualifiers(p: Platform, service: str) -> list[str]:
    aliases = [a["aliasName"] for a in await _all(p.registry.versions.list_aliases, service)]
    return ["LATEST", *aliases, *(v["versionId"] for v in await _versions(p, service))]


async def async_overview(p: Platform) -> JSON:
    """Queue depth, async configs and dead letters of every function, by qualifier."""
    rows: list[JSON] = []
    for svc in await _all(p.registry.list_services):
        service_name = svc["serviceName"]
        qualifiers = await _qualifiers(p, service_name)
        for fn in await _all(p.registry.list_functions, service_name, "LATEST"):
            function_name = fn["functionName"]
            configs = {c["qualifier"]: c for c in await _all(p.async_configs.list, service_name, function_name)}
            for qualifier in qualifiers:
                ref = FunctionRef(service_name, qualifier, function_name)
                depth = await p.store.queue_depth(ref.target)
                letters = await p.queue.dead_letters(ref.target, limit=PAGE)
                config = configs.get(qualifier)
                if not depth and not letters and config is None and qualifier != "LATEST":
                    continue
                rows.append({
                    "serviceName": service_name, "functionName": function_name, "qualifier": qualifier,
                    "depth": depth, "config": config,
                    "deadLetters": [render_dead_letter(x) for x in letters],
                })  # fmt: skip
    return {"total": await p.store.queue_depth(), "functions": rows}


async def redrive(p: Platform, letter_id: str) -> JSON:
    return render_dead_letter(await p.queue.redrive(letter_id))


# -- workflows ------------------------------------------------------------------------


def _graph(definition: str) -> JSON:
    return layout(parse_definition(definition))


async def state_machines(p: Platform) -> JSON:
    machines: list[JSON] = []
    token: str | None = None
    while True:
        page = await p.workflows.list_state_machines({"maxResults": PAGE, **({"nextToken": token} if token else {})})
        machines.extend(page["stateMachines"])
        token = page.get("nextToken")
        if not token:
            return {"stateMachines": machines}


async def state_machine(p: Platform, arn: str) -> JSON:
    machine = await p.workflows.describe_state_machine({"stateMachineArn": arn})
    executions = await p.workflows.list_executions({"stateMachineArn": arn, "maxResults": PAGE})
    return {"stateMachine": machine, "graph": _graph(machine["definition"]), "executions": executions["executions"]}


async def execution(p: Platform, arn: str) -> JSON:
    description = await p.workflows.describe_execution({"executionArn": arn})
    machine = await p.workflows.describe_state_machine_for_execution({"executionArn": arn})
    events: list[JSON] = []
    token: str | None = None
    while True:
        body: JSON = {"executionArn": arn, "maxResults": 1000, **({"nextToken": token} if token else {})}
        page = await p.workflows.get_execution_history(body)
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    view = execution_view(description, events)
    view["graph"] = _graph(machine["definition"])
    view["definition"] = json.loads(machine["definition"])
    return view
