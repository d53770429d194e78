"""``openfc deploy``: desired (the template) vs actual (the server) → a plan → apply it, idempotently.

Code is compared by checksum of a deterministic zip, config field by field; a second deploy of the
same template changes nothing. Resources on the server that the template does not name are left alone:
deploy never deletes.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TransferSpeedColumn
from rich.table import Table

from openfc.cli._output import console
from openfc.cli.client import ApiError, Client, sfn_error, with_client
from openfc.cli.package import Package
from openfc.cli.template import (
    AliasSpec,
    FlowSpec,
    FunctionSpec,
    ServiceSpec,
    Template,
    TemplateError,
    TriggerSpec,
    load,
)

#: Omitted in the template = this value (so removing a line resets it); other omitted fields are kept.
FUNCTION_RESETS: dict[str, Any] = {"description": "", "environmentVariables": {}, "initializer": ""}
DEFAULT_ROLE = "acs:ram::openfc:role/openfc-default"
CHANGING = ("create", "update", "publish")

Progressed = Callable[[int], None]


@dataclass
class Change:
    """One line of the plan; ``run`` applies it (given an upload-progress callback)."""

    action: str  #: create | update | publish | unchanged | left alone
    kind: str
    name: str
    detail: str = ""
    run: Callable[[Progressed | None], None] | None = None
    upload: int = 0  #: bytes of code this change uploads (0 = no progress bar)


def _same(desired: Any, actual: Any) -> bool:
    """Does ``actual`` already have ``desired``? Mappings compare the keys the template gives."""
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            return not desired and not actual
        return all(_same(v, actual.get(k)) for k, v in desired.items())
    if desired in ("", None, [], {}):
        return actual in ("", None, [], {})
    if isinstance(desired, bool) or isinstance(actual, bool):
        return desired is actual
    if isinstance(desired, int | float) and isinstance(actual, int | float):
        return float(desired) == float(actual)
    if isinstance(desired, list) and isinstance(actual, list):
        return len(desired) == len(actual) and all(_same(d, a) for d, a in zip(desired, actual, strict=True))
    return bool(desired == actual)


def _diff(desired: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    return [key for key, value in desired.items() if not _same(value, actual.get(key))]


def _zip_field(package: Package) -> dict[str, str]:
    return {"zipFile": base64.b64encode(package.data).decode()}


def _layer_names(value: Any) -> list[str]:
    return [item.get("arn", "") if isinstance(item, dict) else str(item) for item in value or []]


@dataclass
class Deployer:
    client: Client
    template: Template
    changes: list[Change] = field(default_factory=list)
    packages: dict[Path, Package] = field(default_factory=dict)
    #: layer name → ARN of the version functions use (filled at plan time, or when publishing)
    layer_arns: dict[str, str] = field(default_factory=dict)
    #: services whose functions this deploy creates or updates
    touched: set[str] = field(default_factory=set)
    new_versions: dict[str, str] = field(default_factory=dict)

    def package(self, root: Path) -> Package:
        if root not in self.packages:
            self.packages[root] = Package(root)
        return self.packages[root]

    def add(self, action: str, kind: str, name: str, detail: str = "", run: Any = None, upload: int = 0) -> None:
        self.changes.append(Change(action, kind, name, detail, run, upload))

    # -- plan ------------------------------------------------------------------------------

    def plan(self) -> list[Change]:
        for name in self.template.layers:
            self.plan_layer(name)
        for service in self.template.services.values():
            self.plan_service(service)
        for service in self.template.services.values():
            self.plan_aliases(service)
        for service in self.template.services.values():
            for function in service.functions.values():
                self.plan_function_configs(function)
                for trigger in function.triggers:
                    self.plan_trigger(function, trigger)
        if self.template.flows:
            self.plan_flows()
        return self.changes

    def plan_layer(self, name: str) -> None:
        spec = self.template.layers[name]
        package = self.package(spec.code_dir)
        newest: dict[str, Any] | None = None
        try:
            start: object = None
            while True:
                page = self.client.get(f"/layers/{name}/versions", startVersion=start, limit=100)
                for layer in page.get("layers") or []:
                    if newest is None or int(layer["version"]) > int(newest["version"]):
                        newest = layer
                start = page.get("nextVersion")
                if not start:
                    break
        except ApiError as error:
            if error.status != 404 or error.error_code == "PathNotFound":
                raise
        if newest is not None:
            wanted = {"codeChecksum": package.checksum, "description": spec.description}
            stale = _diff(wanted, newest)
            if sorted(newest.get("compatibleRuntime") or []) != sorted(spec.compatible_runtime):
                stale.append("compatibleRuntime")
            if not stale:
                self.layer_arns[name] = newest["arn"]
                self.add("unchanged", "layer", name, f"version {newest['version']}")
                return
            detail = "new version: " + ", ".join("code" if s == "codeChecksum" else s for s in stale)
        else:
            detail = "first version"

        def publish(progress: Progressed | None) -> None:
            body = {"description": spec.description, "code": _zip_field(package),
                    "compatibleRuntime": spec.compatible_runtime}  # fmt: skip
            layer = self.client.json("POST", f"/layers/{name}/versions", body=body, progress=progress)
            self.layer_arns[name] = layer["arn"]

        self.add("publish", "layer", name, detail, publish, upload=package.size)

    def plan_service(self, spec: ServiceSpec) -> None:
        actual = self.client.exists(f"/services/{spec.name}")
        desired = {"description": "", **spec.config}
        if actual is None:
            body = {"serviceName": spec.name, **desired}
            self.add("create", "service", spec.name, "", lambda _: self.client.json("POST", "/services", body=body))
        else:
            changed = _diff(desired, actual)
            if changed:
                update = {k: desired[k] for k in changed}
                run = self._put(f"/services/{spec.name}", update)
                self.add("update", "service", spec.name, ", ".join(changed), run)
            else:
                self.add("unchanged", "service", spec.name)
        existing: set[str] = set()
        if actual is not None:
            existing = {f["functionName"] for f in self.client.pages(f"/services/{spec.name}/functions", "functions")}
        for function in spec.functions.values():
            self.plan_function(function, exists=function.name in existing)
        for name in sorted(existing - set(spec.functions)):
            self.add("left alone", "function", f"{spec.name}/{name}", "not in the template (deploy never deletes)")

    def _put(self, path: str, body: dict[str, Any]) -> Callable[[Progressed | None], None]:
        return lambda _: self.client.json("PUT", path, body=body)

    def desired_function(self, spec: FunctionSpec) -> dict[str, Any]:
        layers = [ref if ref.startswith("acs:") else self.layer_arns.get(ref, f"<new {ref}>") for ref in spec.layers]
        return {**FUNCTION_RESETS, **spec.config, "layers": layers}

    def plan_function(self, spec: FunctionSpec, *, exists: bool) -> None:
        package = self.package(spec.code_dir)
        path = f"/services/{spec.service}/functions/{spec.name}"
        actual = self.client.get(path) if exists else None
        if actual is None:

            def create(progress: Progressed | None) -> None:
                body = {"functionName": spec.name, **self.desired_function(spec), "code": _zip_field(package)}
                self.client.json("POST", f"/services/{spec.service}/functions", body=body,
                                 progress=progress)  # fmt: skip

            self.touched.add(spec.service)
            self.add("create", "function", spec.ref, f"code {package.size:,} bytes", create, upload=package.size)
            return
        actual = {**actual, "layers": _layer_names(actual.get("layers"))}
        changed = _diff(self.desired_function(spec), actual)
        code_changed = actual.get("codeChecksum") != package.checksum
        if not changed and not code_changed:
            self.add("unchanged", "function", spec.ref)
            return

        def update(progress: Progressed | None) -> None:
            desired = self.desired_function(spec)
            body = {k: desired[k] for k in changed}
            if code_changed:
                body["code"] = _zip_field(package)
            self.client.json("PUT", path, body=body, progress=progress if code_changed else None)

        detail = ", ".join((["code"] if code_changed else []) + changed)
        self.touched.add(spec.service)
        self.add("update", "function", spec.ref, detail, update, upload=package.size if code_changed else 0)

    def plan_aliases(self, spec: ServiceSpec) -> None:
        if not spec.aliases:
            return
        service_exists = not any(c.kind == "service" and c.name == spec.name and c.action == "create"
                                 for c in self.changes)  # fmt: skip
        newest = self.newest_version(spec.name) if service_exists else None
        if any(a.version == "latest" for a in spec.aliases.values()):
            if spec.name in self.touched or newest is None or self.latest_differs(spec.name, newest):
                why = "first version" if newest is None else "functions changed"
                self.add("publish", "version", spec.name, why, lambda _: self.publish(spec.name))
        for alias in spec.aliases.values():
            self.plan_alias(spec.name, alias, newest, exists=service_exists)

    def plan_alias(self, service: str, alias: AliasSpec, newest: int | None, *, exists: bool) -> None:
        path = f"/services/{service}/aliases/{alias.name}"
        actual = self.client.exists(path) if exists else None
        pending = any(c.kind == "version" and c.name == service for c in self.changes)
        target = alias.version if alias.version != "latest" else ("<new version>" if pending else str(newest))
        desired = {"versionId": target, "description": alias.description, "additionalVersionWeight": alias.weights}

        def body() -> dict[str, Any]:
            version = target
            if version == "<new version>":
                version = self.new_versions.get(service) or str(self.newest_version(service))
            return {**desired, "versionId": version, "aliasName": alias.name}

        ref = f"{service}/{alias.name}"
        if actual is None:
            self.add("create", "alias", ref, f"→ version {target}",
                     lambda _: self.client.json("POST", f"/services/{service}/aliases", body=body()))  # fmt: skip
            return
        changed = _diff(desired, actual)
        if not alias.weights and actual.get("additionalVersionWeight"):
            changed.append("additionalVersionWeight")
        if not changed:
            self.add("unchanged", "alias", ref, f"version {target}")
            return
        detail = f"version {actual.get('versionId')} → {target}" if "versionId" in changed else ", ".join(changed)
        self.add("update", "alias", ref, detail, lambda _: self.client.json("PUT", path, body=body()))

    def newest_version(self, service: str) -> int | None:
        versions = self.client.get(f"/services/{service}/versions", limit=1, direction="BACKWARD")["versions"]
        return int(versions[0]["versionId"]) if versions else None

    def latest_differs(self, service: str, version: int) -> bool:
        """Do the functions at LATEST differ from those in ``version`` (code or config)?"""

        def snapshot(qualifier: str) -> dict[str, dict[str, Any]]:
            path = f"/services/{service}{qualifier}/functions"
            return {
                f["functionName"]: {k: v for k, v in f.items() if k not in ("createdTime", "lastModifiedTime")}
                for f in self.client.pages(path, "functions")
            }

        return snapshot("") != snapshot(f".{version}")

    def publish(self, service: str) -> None:
        newest = self.newest_version(service)
        if newest is not None and not self.latest_differs(service, newest):
            return
        version = self.client.json("POST", f"/services/{service}/versions", body={"description": "openfc deploy"})
        self.new_versions[service] = str(version["versionId"])

    def plan_function_configs(self, spec: FunctionSpec) -> None:
        base = f"/services/{spec.service}"
        configs: list[tuple[str, str, dict[str, Any] | None, str]] = [
            ("async config", "async-invoke-config", spec.async_config, "LATEST"),
            ("on-demand", "on-demand-config", spec.on_demand, "LATEST"),
            ("provision", "provision-config", spec.provision, ""),
        ]
        for kind, suffix, config, default_qualifier in configs:
            if config is None:
                continue
            desired = dict(config)
            qualifier = str(desired.pop("qualifier", None) or default_qualifier)
            path = f"{base}.{qualifier}/functions/{spec.name}/{suffix}"
            actual = None if self._is_new(spec, qualifier) else self.client.exists(path)
            ref = f"{spec.ref}@{qualifier}"
            if actual is None:
                self.add("create", kind, ref, _brief(desired), self._put(path, desired))
            elif changed := _diff(desired, actual):
                self.add("update", kind, ref, ", ".join(changed), self._put(path, desired))
            else:
                self.add("unchanged", kind, ref)

    def _is_new(self, spec: FunctionSpec, qualifier: str) -> bool:
        """Is the function (or the alias ``qualifier``) created by this deploy, so nothing hangs off it yet?"""
        for change in self.changes:
            if change.action == "create" and (
                (change.kind == "function" and change.name == spec.ref)
                or (change.kind == "alias" and change.name == f"{spec.service}/{qualifier}")
            ):
                return True
        return False

    def plan_trigger(self, spec: FunctionSpec, trigger: TriggerSpec) -> None:
        base = f"/services/{spec.service}/functions/{spec.name}/triggers"
        actual = None if self._is_new(spec, "") else self.client.exists(f"{base}/{trigger.name}")
        ref = f"{spec.ref}/{trigger.name}"
        desired: dict[str, Any] = {
            "triggerConfig": trigger.config, "qualifier": trigger.qualifier or "LATEST",
            "description": trigger.description or "", "invocationRole": trigger.invocation_role or "",
        }  # fmt: skip
        if actual is None:
            body = {"triggerName": trigger.name, "triggerType": trigger.type, "sourceArn": trigger.source_arn or "",
                    **desired}  # fmt: skip
            run = lambda _: self.client.json("POST", base, body=body)  # noqa: E731
            self.add("create", "trigger", ref, trigger.type, run)
            return
        if actual.get("triggerType") != trigger.type:
            raise TemplateError(
                f"trigger {ref} exists with type '{actual.get('triggerType')}', the template says '{trigger.type}': "
                "deploy never deletes, so remove the trigger by hand (or rename it in the template)"
            )
        changed = _diff(desired, actual)
        if changed:
            self.add("update", "trigger", ref, ", ".join(changed), self._put(f"{base}/{trigger.name}", desired))
        else:
            self.add("unchanged", "trigger", ref)

    def plan_flows(self) -> None:
        sfn = self.client.stepfunctions()
        try:
            existing: dict[str, str] = {}
            for page in sfn.get_paginator("list_state_machines").paginate():
                existing.update({m["name"]: m["stateMachineArn"] for m in page["stateMachines"]})
            for flow in self.template.flows.values():
                self.plan_flow(sfn, flow, existing.get(flow.name))
        except Exception as error:
            if type(error).__name__ in ("ClientError", "EndpointConnectionError", "ParamValidationError"):
                raise sfn_error(error) from None
            raise

    def plan_flow(self, sfn: Any, flow: FlowSpec, arn: str | None) -> None:
        definition = json.dumps(flow.definition)
        if arn is None:
            role = flow.role_arn or DEFAULT_ROLE
            run = lambda _: self._sfn(sfn.create_state_machine, name=flow.name, definition=definition,  # noqa: E731
                                      roleArn=role, type=flow.type)  # fmt: skip
            self.add("create", "state machine", flow.name, flow.type, run)
            return
        actual = sfn.describe_state_machine(stateMachineArn=arn)
        changed = []
        try:
            same = json.loads(actual.get("definition") or "null") == flow.definition
        except ValueError:
            same = False
        if not same:
            changed.append("definition")
        if flow.role_arn and actual.get("roleArn") != flow.role_arn:
            changed.append("roleArn")
        if not changed:
            self.add("unchanged", "state machine", flow.name)
            return
        update = {"definition": definition, **({"roleArn": flow.role_arn} if flow.role_arn else {})}
        run = lambda _: self._sfn(sfn.update_state_machine, stateMachineArn=arn, **update)  # noqa: E731
        self.add("update", "state machine", flow.name, ", ".join(changed), run)

    @staticmethod
    def _sfn(call: Callable[..., Any], **kwargs: Any) -> None:
        try:
            call(**kwargs)
        except Exception as error:
            if type(error).__name__ == "ClientError":
                raise sfn_error(error) from None
            raise

    # -- apply -----------------------------------------------------------------------------

    def apply(self) -> int:
        """Run every changing step in plan order; code uploads get a progress bar (stderr)."""
        todo = [c for c in self.changes if c.action in CHANGING and c.run is not None]
        uploads = [c for c in todo if c.upload]
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=console(stderr=True), disable=not uploads) as progress:
            for change in todo:
                assert change.run is not None
                if not change.upload:
                    change.run(None)
                    continue
                total = change.upload * 4 // 3 + 1024  # base64 inside JSON
                task = progress.add_task(f"{change.kind} {change.name}", total=total)

                def advance(sent: int, task: TaskID = task) -> None:
                    progress.advance(task, sent)

                change.run(advance)
                progress.update(task, completed=total)
        return len(todo)


def _brief(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in config.items())


STYLE = {"create": "green", "update": "yellow", "publish": "cyan", "unchanged": "dim", "left alone": "magenta"}


def render_plan(changes: list[Change], *, verbose: bool) -> Table:
    table = Table(title="Plan", show_lines=False, expand=False)
    for column in ("action", "kind", "name", "details"):
        table.add_column(column, overflow="fold")
    for change in changes:
        if change.action == "unchanged" and not verbose:
            continue
        style = STYLE.get(change.action, "")
        table.add_row(f"[{style}]{change.action}[/]", change.kind, change.name, change.detail)
    return table


def summary(changes: list[Change]) -> str:
    counts = {action: sum(c.action == action for c in changes) for action in STYLE}
    parts = [f"{counts[a]} to {a}" for a in CHANGING if counts[a]]
    line = ", ".join(parts) if parts else "No changes"
    line += f"; {counts['unchanged']} unchanged"
    if counts["left alone"]:
        line += f"; {counts['left alone']} left alone (not in the template; deploy never deletes)"
    return line + "."


@click.command()
@click.option("-f", "--file", "path", default="openfc.yaml", show_default=True,
              type=click.Path(dir_okay=False, path_type=Path), help="The template to deploy.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Show the plan, change nothing.")
@click.option("-v", "--verbose", is_flag=True, help="List unchanged resources in the plan too.")
@with_client
def deploy(client: Client, path: Path, dry_run: bool, verbose: bool) -> None:
    """Deploy a template: services, functions, layers, triggers, configs, aliases, state machines.

    Only what differs from the server is changed (code by checksum, config field by field);
    resources missing from the template are left alone.
    """
    out = console()
    template = load(path)
    deployer = Deployer(client, template)
    with console(stderr=True).status("Comparing the template with the server…"):
        changes = deployer.plan()
    if any(c.action != "unchanged" for c in changes) or verbose:
        out.print(render_plan(changes, verbose=verbose))
    out.print(summary(changes))
    if dry_run:
        out.print("Dry run: nothing was changed.")
        return
    if not any(c.action in CHANGING for c in changes):
        return
    count = deployer.apply()
    out.print(f"[green]Deployed[/]: {count} change{'s' if count != 1 else ''} applied.")
