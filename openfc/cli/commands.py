"""Operate a node: ``configure``, ``invoke``, ``logs``, ``usage``, ``versions``, ``layers``, ``dead-letters``."""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from openfc.cli._output import console
from openfc.cli._time import epoch_ms, iso
from openfc.cli.client import Client, split_function, with_client
from openfc.cli.config import DEFAULT_ENDPOINT, DEFAULT_PROFILE, config_path, read_profiles, write_profile
from openfc.cli.package import Package


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    out = Table(title=title)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row))
    return out


def qualified(service: str, qualifier: str | None) -> str:
    return f"{service}.{qualifier}" if qualifier else service


# -- configure ----------------------------------------------------------------------------


@click.command()
@click.option("--profile", default=None, help="Profile to write [OPENFC_PROFILE or 'default'].")
@click.option("--endpoint", default=None, help="API endpoint, e.g. http://127.0.0.1:9000.")
@click.option("--access-key-id", default=None)
@click.option("--access-key-secret", default=None)
def configure(
    profile: str | None, endpoint: str | None, access_key_id: str | None, access_key_secret: str | None
) -> None:
    """Write a profile to ~/.openfc/config.yaml (or $OPENFC_CONFIG), readable by you only.

    Values not given as options are asked for; the current ones are the defaults.
    """
    path = config_path(os.environ)
    name = profile or os.environ.get("OPENFC_PROFILE") or DEFAULT_PROFILE
    current = read_profiles(path).get(name, {})
    values = {
        "endpoint": endpoint or click.prompt("Endpoint", default=current.get("endpoint", DEFAULT_ENDPOINT)),
        "accessKeyId": access_key_id or click.prompt("AccessKeyID", default=current.get("accessKeyId")),
        "accessKeySecret": access_key_secret
        or click.prompt("AccessKeySecret", default=current.get("accessKeySecret"), hide_input=True),
    }
    if current.get("region"):
        values["region"] = current["region"]
    write_profile(path, name, values)
    click.echo(f"Profile '{name}' written to {path}")


# -- invoke -------------------------------------------------------------------------------


@click.command()
@click.argument("target", metavar="SERVICE/FUNCTION")
@click.option("-q", "--qualifier", default=None, help="Version or alias (default LATEST).")
@click.option("-p", "--payload", default=None, help="The event, as a string.")
@click.option("--payload-file", type=click.File("rb"), default=None, help="Read the event from a file ('-' = stdin).")
@click.option("--async", "is_async", is_flag=True, help="Queue the call; print its request id.")
@click.option("--log", is_flag=True, help="Also print the call's log tail (stderr).")
@click.option("--stateful-id", default=None, help="Stateful async invocation id (with --async).")
@with_client
def invoke(
    client: Client,
    target: str,
    qualifier: str | None,
    payload: str | None,
    payload_file: Any,
    is_async: bool,
    log: bool,
    stateful_id: str | None,
) -> None:
    """Invoke a function and print its result (the request id goes to stderr)."""
    service, function = split_function(target)
    if payload is not None and payload_file is not None:
        raise click.UsageError("give --payload or --payload-file, not both")
    event = payload.encode() if payload is not None else (payload_file.read() if payload_file else b"")
    headers = {"x-fc-invocation-type": "Async" if is_async else "Sync"}
    if log and not is_async:
        headers["x-fc-log-type"] = "Tail"
    if stateful_id:
        headers["x-fc-stateful-async-invocation-id"] = stateful_id
    path = f"/services/{qualified(service, qualifier)}/functions/{function}/invocations"
    response = client.request("POST", path, content=event, headers=headers)
    request_id = response.headers.get("x-fc-request-id", "")
    if is_async:
        click.echo(f"accepted: request id {request_id}", err=True)
        click.echo(response.headers.get("x-fc-stateful-async-invocation-id") or request_id)
        return
    version = response.headers.get("x-fc-invocation-service-version", "")
    click.echo(f"request id {request_id}" + (f" (version {version})" if version else ""), err=True)
    body = response.content
    if body and not body.endswith(b"\n") and sys.stdout.isatty():
        body += b"\n"
    click.echo(body, nl=False)
    if log and response.headers.get("x-fc-log-result"):
        tail = base64.b64decode(response.headers["x-fc-log-result"]).decode("utf-8", "replace")
        click.echo("--- log tail ---", err=True)
        click.echo(tail.rstrip("\n"), err=True)
    if response.headers.get("x-fc-error-type"):
        raise click.ClickException(f"the function failed: {response.headers['x-fc-error-type']}")


# -- logs ---------------------------------------------------------------------------------


@click.command()
@click.argument("target", metavar="SERVICE/FUNCTION")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines as they arrive.")
@click.option("--request-id", default=None, help="Only this call's lines.")
@click.option("--since", default="10m", show_default=True, help="From: a duration ago (10m, 2h), ISO time or epoch ms.")
@click.option("--until", default=None, help="To: ISO time, epoch ms or a duration ago.")
@click.option("--text", default=None, help="Only lines containing this text.")
@click.option("--limit", default=1000, show_default=True, type=int)
@with_client
def logs(
    client: Client,
    target: str,
    follow: bool,
    request_id: str | None,
    since: str,
    until: str | None,
    text: str | None,
    limit: int,
) -> None:
    """Print a function's log lines (stdout/stderr of its instances)."""
    service, function = split_function(target)
    path = f"/services/{service}/functions/{function}/logs"
    params: dict[str, object] = {
        "startTime": None if request_id and since == "10m" else epoch_ms(since, option="--since"),
        "endTime": epoch_ms(until, option="--until") if until else None,
        "requestId": request_id,
        "text": text,
        "limit": limit,
    }
    cursor = None
    while True:
        page = client.get(path, **params, after=cursor, wait=20 if follow and cursor is not None else None)
        for line in page.get("logs") or []:
            click.echo(f"{line.get('time', '')} {line.get('requestId', '')} {str(line.get('message', '')).rstrip()}")
        cursor = page.get("cursor", cursor)
        if not follow:
            return
        if not page.get("logs") and cursor is None:
            time.sleep(1)


# -- usage --------------------------------------------------------------------------------

USAGE_COLUMNS = ["invocations", "errors", "gbSeconds", "provisionedGbSeconds", "bytesIn", "bytesOut"]


COUNT_COLUMNS = {"invocations", "errors", "bytesIn", "bytesOut"}


def _number(value: Any, column: str) -> str:
    if isinstance(value, int | float) and (column in COUNT_COLUMNS or isinstance(value, int)):
        return f"{int(value):,}"
    return f"{value:,.3f}" if isinstance(value, float) else str(value or 0)


@click.command()
@click.option("--from", "start", default=None, help="First day, YYYY-MM-DD (default: the month so far).")
@click.option("--to", "end", default=None, help="Last day, YYYY-MM-DD.")
@click.option("--service", default=None)
@click.option("--function", default=None)
@with_client
def usage(client: Client, start: str | None, end: str | None, service: str | None, function: str | None) -> None:
    """Invocations, GB-seconds and bytes per function and day, with a monthly cost estimate."""
    data = client.get("/usage", startDate=start, endDate=end, serviceName=service, functionName=function)
    rows = [[u.get("date"), u.get("serviceName"), u.get("functionName"), *(_number(u.get(c), c) for c in USAGE_COLUMNS)]
            for u in data.get("usage") or []]  # fmt: skip
    totals = data.get("totals") or {}
    if rows:
        rows.append(["total", "", "", *(_number(totals.get(c), c) for c in USAGE_COLUMNS)])
    out = console()
    out.print(table("Usage", ["date", "service", "function", *USAGE_COLUMNS], rows))
    estimate = data.get("estimate") or {}
    if estimate:
        out.print(f"Estimated monthly cost: {estimate.get('monthly', 0):,.2f} {estimate.get('currency', '')}")


# -- versions -----------------------------------------------------------------------------


@click.group()
def versions() -> None:
    """List, publish and delete service versions."""


@versions.command("list")
@click.argument("service")
@with_client
def versions_list(client: Client, service: str) -> None:
    items = list(client.pages(f"/services/{service}/versions", "versions"))
    rows = [[v["versionId"], v.get("description", ""), v.get("createdTime", "")] for v in items]
    console().print(table(f"Versions of {service}", ["version", "description", "created"], rows))


@versions.command("publish")
@click.argument("service")
@click.option("-d", "--description", default="")
@with_client
def versions_publish(client: Client, service: str, description: str) -> None:
    """Snapshot the service's functions (LATEST) as a new version; prints its id."""
    version = client.json("POST", f"/services/{service}/versions", body={"description": description})
    click.echo(version["versionId"])


@versions.command("delete")
@click.argument("service")
@click.argument("version")
@with_client
def versions_delete(client: Client, service: str, version: str) -> None:
    client.request("DELETE", f"/services/{service}/versions/{version}")
    click.echo(f"Deleted version {version} of {service}")


# -- layers -------------------------------------------------------------------------------


@click.group()
def layers() -> None:
    """List, publish and delete layer versions."""


@layers.command("list")
@click.argument("name", required=False)
@with_client
def layers_list(client: Client, name: str | None) -> None:
    """Every layer (newest version each), or every version of NAME."""
    if name is None:
        items = list(client.pages("/layers", "layers"))
        title = "Layers"
    else:
        items, start = [], None
        while True:
            page = client.get(f"/layers/{name}/versions", startVersion=start, limit=100)
            items.extend(page.get("layers") or [])
            start = page.get("nextVersion")
            if not start:
                break
        title = f"Versions of layer {name}"
    rows = [[x.get("layerName"), x.get("version"), ",".join(x.get("compatibleRuntime") or []), x.get("codeSize"),
             x.get("description", ""), x.get("arn")] for x in items]  # fmt: skip
    console().print(table(title, ["layer", "version", "runtimes", "size", "description", "arn"], rows))


@layers.command("publish")
@click.argument("name")
@click.option("--code-dir", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--compatible-runtime", "runtimes", multiple=True, help="Repeat for each runtime (python3, ...).")
@click.option("-d", "--description", default="")
@with_client
def layers_publish(client: Client, name: str, code_dir: Path, runtimes: tuple[str, ...], description: str) -> None:
    """Zip CODE_DIR and publish it as the next version of layer NAME; prints its ARN."""
    package = Package(code_dir)
    body = {"description": description, "compatibleRuntime": list(runtimes),
            "code": {"zipFile": base64.b64encode(package.data).decode()}}  # fmt: skip
    layer = client.json("POST", f"/layers/{name}/versions", body=body)
    click.echo(layer.get("arn") or layer.get("version"))


@layers.command("delete")
@click.argument("name")
@click.argument("version")
@with_client
def layers_delete(client: Client, name: str, version: str) -> None:
    client.request("DELETE", f"/layers/{name}/versions/{version}")
    click.echo(f"Deleted version {version} of layer {name}")


# -- dead letters -------------------------------------------------------------------------


@click.group("dead-letters")
def dead_letters() -> None:
    """Async events that failed every retry: list, redrive (queue again), delete."""


def _letters_path(target: str, qualifier: str | None) -> str:
    service, function = split_function(target)
    return f"/services/{qualified(service, qualifier)}/functions/{function}/dead-letters"


@dead_letters.command("list")
@click.argument("target", metavar="SERVICE/FUNCTION")
@click.option("-q", "--qualifier", default=None)
@click.option("--payload", is_flag=True, help="Show each event's payload too.")
@with_client
def dead_letters_list(client: Client, target: str, qualifier: str | None, payload: bool) -> None:
    path = _letters_path(target, qualifier)
    items = list(client.pages(path, "deadLetters", includePayload="true" if payload else None))
    columns = ["id", "request id", "status", "attempts", "failed", "error"] + (["payload"] if payload else [])
    rows = [[x.get("id"), x.get("requestId"), x.get("status"), x.get("attempts"), iso(x.get("failedTime")),
             x.get("errorMessage")] + ([x.get("payload")] if payload else []) for x in items]  # fmt: skip
    console().print(table(f"Dead letters of {target}", columns, rows))


@dead_letters.command("redrive")
@click.argument("target", metavar="SERVICE/FUNCTION")
@click.argument("ids", nargs=-1)
@click.option("-q", "--qualifier", default=None)
@click.option("--all", "redrive_all", is_flag=True, help="Redrive every dead letter of the function.")
@with_client
def dead_letters_redrive(
    client: Client, target: str, ids: tuple[str, ...], qualifier: str | None, redrive_all: bool
) -> None:
    """Put dead letters back in the async queue (by id, or --all)."""
    path = _letters_path(target, qualifier)
    if redrive_all:
        ids = tuple(x["id"] for x in client.pages(path, "deadLetters"))
    elif not ids:
        raise click.UsageError("name the dead letters to redrive, or pass --all")
    for letter in ids:
        client.request("POST", f"{path}/{letter}/redrive")
        click.echo(f"redriven: {letter}")


@dead_letters.command("delete")
@click.argument("target", metavar="SERVICE/FUNCTION")
@click.argument("ids", nargs=-1, required=True)
@click.option("-q", "--qualifier", default=None)
@with_client
def dead_letters_delete(client: Client, target: str, ids: tuple[str, ...], qualifier: str | None) -> None:
    path = _letters_path(target, qualifier)
    for letter in ids:
        client.request("DELETE", f"{path}/{letter}")
        click.echo(f"deleted: {letter}")


# -- nodes (cluster) ----------------------------------------------------------------------


@click.command()
@with_client
def nodes(client: Client) -> None:
    """The nodes sharing this node's store: id, address, started, last heartbeat, state."""
    rows = client.get("/nodes").get("nodes", [])
    console().print(
        table(
            "nodes",
            ["node", "address", "started", "last heartbeat", "state"],
            [
                [
                    r["nodeId"] + (" *" if r.get("self") else ""),
                    r["address"],
                    r["started"],
                    r["lastHeartbeat"],
                    r["state"],
                ]
                for r in rows
            ],
        )  # fmt: skip
    )


# -- end nodes --
