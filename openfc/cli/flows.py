"""``openfc flows`` (state machines) and ``openfc executions``, through the Step Functions API (boto3)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import yaml

from openfc.cli._output import console
from openfc.cli.client import Client, sfn_error, with_client
from openfc.cli.commands import table

DEFAULT_ROLE = "acs:ram::openfc:role/openfc-default"


@contextmanager
def sfn_errors() -> Iterator[None]:
    """botocore errors → clean CLI errors."""
    try:
        yield
    except click.ClickException:
        raise
    except Exception as error:
        if type(error).__module__.startswith("botocore"):
            raise sfn_error(error) from None
        raise


def _all(call: Callable[..., Any], key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = call(**kwargs, **({"nextToken": token} if token else {}))
        items.extend(page.get(key) or [])
        token = page.get("nextToken")
        if not token:
            return items


def machine_arn(sfn: Any, name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    for machine in _all(sfn.list_state_machines, "stateMachines"):
        if machine["name"] == name_or_arn:
            return str(machine["stateMachineArn"])
    raise click.ClickException(f"StateMachineDoesNotExist: no state machine named '{name_or_arn}'")


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value or "")


def read_definition(path: Path) -> str:
    """A definition file (ASL as JSON or YAML) → the JSON text the API takes."""
    try:
        definition = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise click.BadParameter(f"{path} is not valid JSON or YAML: {error}", param_hint="DEFINITION") from None
    if not isinstance(definition, dict):
        raise click.BadParameter(f"{path} must hold an object with StartAt and States", param_hint="DEFINITION")
    return json.dumps(definition)


@click.group()
def flows() -> None:
    """State machines (Amazon States Language): list, create, describe, delete."""


@flows.command("list")
@with_client
def flows_list(client: Client) -> None:
    with sfn_errors():
        machines = _all(client.stepfunctions().list_state_machines, "stateMachines")
    rows = [[m["name"], m.get("type", ""), _when(m.get("creationDate")), m["stateMachineArn"]] for m in machines]
    console().print(table("State machines", ["name", "type", "created", "arn"], rows))


@flows.command("create")
@click.argument("name")
@click.argument("definition", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--role-arn", default=DEFAULT_ROLE, show_default=True)
@click.option("--type", "kind", type=click.Choice(["STANDARD", "EXPRESS"]), default="STANDARD", show_default=True)
@click.option("--update", is_flag=True, help="Update the definition when NAME exists.")
@with_client
def flows_create(client: Client, name: str, definition: Path, role_arn: str, kind: str, update: bool) -> None:
    """Create state machine NAME from a DEFINITION file (JSON or YAML); prints its ARN."""
    text = read_definition(definition)
    with sfn_errors():
        sfn = client.stepfunctions()
        if update:
            existing = {m["name"]: m["stateMachineArn"] for m in _all(sfn.list_state_machines, "stateMachines")}
            if name in existing:
                sfn.update_state_machine(stateMachineArn=existing[name], definition=text)
                click.echo(existing[name])
                return
        created = sfn.create_state_machine(name=name, definition=text, roleArn=role_arn, type=kind)
    click.echo(created["stateMachineArn"])


@flows.command("describe")
@click.argument("flow", metavar="NAME|ARN")
@with_client
def flows_describe(client: Client, flow: str) -> None:
    with sfn_errors():
        sfn = client.stepfunctions()
        machine = sfn.describe_state_machine(stateMachineArn=machine_arn(sfn, flow))
    out = console()
    for key in ("name", "stateMachineArn", "type", "status", "roleArn"):
        out.print(f"{key}: {machine.get(key, '')}")
    out.print(f"creationDate: {_when(machine.get('creationDate'))}")
    try:
        definition = json.dumps(json.loads(machine.get("definition") or "{}"), indent=2)
    except ValueError:
        definition = machine.get("definition", "")
    out.print("definition:")
    out.print(definition, markup=False)


@flows.command("delete")
@click.argument("flow", metavar="NAME|ARN")
@with_client
def flows_delete(client: Client, flow: str) -> None:
    with sfn_errors():
        sfn = client.stepfunctions()
        arn = machine_arn(sfn, flow)
        sfn.delete_state_machine(stateMachineArn=arn)
    click.echo(f"Deleted {arn}")


@click.group()
def executions() -> None:
    """Workflow executions: start, list, describe, history, stop."""


@executions.command("start")
@click.argument("flow", metavar="NAME|ARN")
@click.option("-i", "--input", "data", default="{}", show_default=True, help="JSON input.")
@click.option("--input-file", type=click.File("r"), default=None, help="Read the JSON input from a file.")
@click.option("--name", default=None, help="Execution name (default: generated).")
@with_client
def executions_start(client: Client, flow: str, data: str, input_file: Any, name: str | None) -> None:
    """Start an execution; prints its ARN."""
    text = input_file.read() if input_file else data
    try:
        json.loads(text)
    except ValueError as error:
        raise click.BadParameter(f"the input is not JSON: {error}", param_hint="--input") from None
    with sfn_errors():
        sfn = client.stepfunctions()
        started = sfn.start_execution(
            stateMachineArn=machine_arn(sfn, flow), input=text, **({"name": name} if name else {})
        )
    click.echo(started["executionArn"])


@executions.command("list")
@click.argument("flow", metavar="NAME|ARN")
@click.option("--status", type=click.Choice(["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]), default=None)
@with_client
def executions_list(client: Client, flow: str, status: str | None) -> None:
    with sfn_errors():
        sfn = client.stepfunctions()
        items = _all(sfn.list_executions, "executions", stateMachineArn=machine_arn(sfn, flow),
                     **({"statusFilter": status} if status else {}))  # fmt: skip
    rows = [[e["name"], e["status"], _when(e.get("startDate")), _when(e.get("stopDate")), e["executionArn"]]
            for e in items]  # fmt: skip
    console().print(table(f"Executions of {flow}", ["name", "status", "started", "stopped", "arn"], rows))


@executions.command("describe")
@click.argument("arn")
@with_client
def executions_describe(client: Client, arn: str) -> None:
    with sfn_errors():
        execution = client.stepfunctions().describe_execution(executionArn=arn)
    out = console()
    for key in ("name", "executionArn", "stateMachineArn", "status", "input", "output", "error", "cause"):
        if execution.get(key) is not None:
            out.print(f"{key}: {execution[key]}", markup=False)
    for key in ("startDate", "stopDate"):
        if execution.get(key) is not None:
            out.print(f"{key}: {_when(execution[key])}")


@executions.command("history")
@click.argument("arn")
@with_client
def executions_history(client: Client, arn: str) -> None:
    with sfn_errors():
        events = _all(client.stepfunctions().get_execution_history, "events", executionArn=arn)
    rows = []
    for event in events:
        details: dict[str, Any] = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        summary = details.get("name") or details.get("error") or details.get("resource") or ""
        rows.append([event["id"], _when(event.get("timestamp")), event["type"], summary])
    console().print(table(f"History of {arn}", ["id", "time", "type", "details"], rows))


@executions.command("stop")
@click.argument("arn")
@click.option("--error", default=None)
@click.option("--cause", default=None)
@with_client
def executions_stop(client: Client, arn: str, error: str | None, cause: str | None) -> None:
    with sfn_errors():
        client.stepfunctions().stop_execution(
            executionArn=arn, **({"error": error} if error else {}), **({"cause": cause} if cause else {})
        )
    click.echo(f"Stopped {arn}")
