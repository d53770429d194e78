"""``openfc.yaml``: load and validate a deployment template; every error names its path in the YAML.

```yaml
services:
  shop:
    description: demo shop
    functions:
      orders:
        runtime: python3
        handler: index.handler
        codeDir: ./functions/orders          # relative to the template
        memorySize: 256
        layers: [common]                     # a name under `layers:` or a layer-version ARN
        asyncConfig: {maxAsyncRetryAttempts: 2}
        onDemand: {maximumInstanceCount: 10}
        provision: {qualifier: prod, target: 1}
        triggers:
          - {name: tick, type: timer, config: {cronExpression: "@every 1m", enable: true}}
    aliases:
      prod: {version: latest}
layers:
  common: {codeDir: ./layers/common, compatibleRuntime: [python3]}
stateMachines:
  order-flow: {definitionFile: ./flows/order.yaml}
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import yaml

SERVICE_FIELDS = {"description", "role", "logConfig", "vpcConfig", "nasConfig", "internetAccess", "tracingConfig"}
FUNCTION_FIELDS = {
    "runtime", "handler", "description", "memorySize", "timeout", "initializer", "initializationTimeout",
    "instanceConcurrency", "environmentVariables", "caPort", "customRuntimeConfig", "instanceType", "cpu",
    "diskSize", "instanceLifecycleConfig", "customDNS", "customHealthCheckConfig",
}  # fmt: skip
INT_FIELDS = {"memorySize", "timeout", "initializationTimeout", "instanceConcurrency", "caPort", "diskSize"}
STR_FIELDS = {"runtime", "handler", "description", "initializer", "instanceType", "role"}
FUNCTION_EXTRAS = {"codeDir", "layers", "asyncConfig", "onDemand", "provision", "triggers"}
ASYNC_FIELDS = {
    "qualifier",
    "maxAsyncRetryAttempts",
    "maxAsyncEventAgeInSeconds",
    "destinationConfig",
    "statefulInvocation",
}
TRIGGER_FIELDS = {"name", "type", "config", "qualifier", "sourceArn", "invocationRole", "description"}
TRIGGER_TYPES = {"timer", "http", "oss", "log", "mns_topic", "cdn_events", "tablestore", "rds", "eventbridge"}


class TemplateError(click.ClickException):
    """A template problem; the message starts with the file and the YAML path, e.g. ``services.shop.x``."""


@dataclass
class TriggerSpec:
    name: str
    type: str
    config: dict[str, Any]
    qualifier: str | None = None
    source_arn: str | None = None
    invocation_role: str | None = None
    description: str | None = None


@dataclass
class FunctionSpec:
    service: str
    name: str
    code_dir: Path
    config: dict[str, Any]
    layers: list[str] = field(default_factory=list)
    async_config: dict[str, Any] | None = None
    on_demand: dict[str, Any] | None = None
    provision: dict[str, Any] | None = None
    triggers: list[TriggerSpec] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.service}/{self.name}"


@dataclass
class AliasSpec:
    name: str
    #: ``"latest"`` (publish when LATEST changed, point at the newest version) or a version id.
    version: str
    description: str = ""
    weights: dict[str, float] = field(default_factory=dict)


@dataclass
class ServiceSpec:
    name: str
    config: dict[str, Any]
    functions: dict[str, FunctionSpec]
    aliases: dict[str, AliasSpec]


@dataclass
class LayerSpec:
    name: str
    code_dir: Path
    compatible_runtime: list[str]
    description: str = ""


@dataclass
class FlowSpec:
    name: str
    definition: Any
    role_arn: str = ""
    type: str = "STANDARD"


@dataclass
class Template:
    path: Path
    services: dict[str, ServiceSpec]
    layers: dict[str, LayerSpec]
    flows: dict[str, FlowSpec]


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.base = path.parent

    def fail(self, where: str, message: str) -> TemplateError:
        return TemplateError(f"{self.path}: {where}: {message}")

    def mapping(self, value: Any, where: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, got {type(value).__name__}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(where, f"keys must be strings, got {key!r}")
            if allowed is not None and key not in allowed:
                raise self.fail(f"{where}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def string(self, value: Any, where: str, *, required: bool = False) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str) or (required and not value):
            raise self.fail(where, "is required" if value is None else f"must be a string, got {value!r}")
        return value

    def integer(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"must be an integer, got {value!r}")
        return value

    def strings(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(where, f"must be a list of strings, got {value!r}")
        return list(value)

    def directory(self, value: Any, where: str) -> Path:
        path = (self.base / self.string(value, where, required=True)).resolve()
        if not path.is_dir():
            raise self.fail(where, f"directory '{value}' does not exist (relative to {self.base})")
        return path

    def load(self) -> Template:
        try:
            raw = yaml.safe_load(self.path.read_text())
        except OSError as error:
            raise TemplateError(f"cannot read {self.path}: {error.strerror}") from None
        except yaml.YAMLError as error:
            raise TemplateError(f"{self.path} is not valid YAML: {error}") from None
        top = self.mapping(raw, "(top level)", {"services", "layers", "stateMachines"})
        layers = {
            name: self.layer(name, spec, f"layers.{name}")
            for name, spec in self.mapping(top.get("layers"), "layers").items()
        }
        services = {
            name: self.service(name, spec, f"services.{name}", layers)
            for name, spec in self.mapping(top.get("services"), "services").items()
        }
        flows = {
            name: self.flow(name, spec, f"stateMachines.{name}")
            for name, spec in self.mapping(top.get("stateMachines"), "stateMachines").items()
        }
        return Template(self.path, services, layers, flows)

    def layer(self, name: str, spec: Any, where: str) -> LayerSpec:
        spec = self.mapping(spec, where, {"codeDir", "compatibleRuntime", "description"})
        runtimes = self.strings(spec.get("compatibleRuntime", []), f"{where}.compatibleRuntime")
        return LayerSpec(
            name,
            self.directory(spec.get("codeDir"), f"{where}.codeDir"),
            runtimes,
            self.string(spec.get("description"), f"{where}.description"),
        )

    def service(self, name: str, spec: Any, where: str, layers: dict[str, LayerSpec]) -> ServiceSpec:
        spec = self.mapping(spec, where, SERVICE_FIELDS | {"functions", "aliases"})
        config = {k: v for k, v in spec.items() if k in SERVICE_FIELDS}
        for key in ("description", "role"):
            if key in config:
                self.string(config[key], f"{where}.{key}")
        functions = {
            fname: self.function(name, fname, fspec, f"{where}.functions.{fname}", layers)
            for fname, fspec in self.mapping(spec.get("functions"), f"{where}.functions").items()
        }
        aliases = {}
        for alias, aspec in self.mapping(spec.get("aliases"), f"{where}.aliases").items():
            at = f"{where}.aliases.{alias}"
            aspec = self.mapping(aspec, at, {"version", "description", "additionalVersionWeight"})
            version = str(aspec.get("version", "latest"))
            if version != "latest" and not version.isdigit():
                raise self.fail(f"{at}.version", f"must be 'latest' or a version id, got {version!r}")
            weights = self.mapping(aspec.get("additionalVersionWeight"), f"{at}.additionalVersionWeight")
            aliases[alias] = AliasSpec(
                alias,
                version,
                self.string(aspec.get("description"), f"{at}.description"),
                {str(k): float(v) for k, v in weights.items()},
            )
        return ServiceSpec(name, config, functions, aliases)

    def function(self, service: str, name: str, spec: Any, where: str, layers: dict[str, LayerSpec]) -> FunctionSpec:
        spec = self.mapping(spec, where, FUNCTION_FIELDS | FUNCTION_EXTRAS)
        config: dict[str, Any] = {k: v for k, v in spec.items() if k in FUNCTION_FIELDS}
        for key in ("runtime", "handler"):
            self.string(config.get(key), f"{where}.{key}", required=True)
        for key, value in config.items():
            if key in INT_FIELDS:
                self.integer(value, f"{where}.{key}")
            elif key in STR_FIELDS:
                self.string(value, f"{where}.{key}")
        env = self.mapping(config.get("environmentVariables"), f"{where}.environmentVariables")
        if "environmentVariables" in config:
            config["environmentVariables"] = {k: "" if v is None else str(v) for k, v in env.items()}
        refs = self.strings(spec.get("layers", []), f"{where}.layers")
        for i, ref in enumerate(refs):
            if not ref.startswith("acs:") and ref not in layers:
                raise self.fail(f"{where}.layers[{i}]", f"'{ref}' is neither a layer ARN nor a name under 'layers:'")
        function = FunctionSpec(service, name, self.directory(spec.get("codeDir"), f"{where}.codeDir"), config, refs)
        if "asyncConfig" in spec:
            function.async_config = dict(self.mapping(spec["asyncConfig"], f"{where}.asyncConfig", ASYNC_FIELDS))
        if "onDemand" in spec:
            on_demand = self.mapping(spec["onDemand"], f"{where}.onDemand", {"qualifier", "maximumInstanceCount"})
            self.integer(on_demand.get("maximumInstanceCount"), f"{where}.onDemand.maximumInstanceCount")
            function.on_demand = dict(on_demand)
        if "provision" in spec:
            provision = self.mapping(spec["provision"], f"{where}.provision", {"qualifier", "target"})
            self.string(provision.get("qualifier"), f"{where}.provision.qualifier", required=True)
            self.integer(provision.get("target"), f"{where}.provision.target")
            function.provision = dict(provision)
        triggers = spec.get("triggers", [])
        if not isinstance(triggers, list):
            raise self.fail(f"{where}.triggers", "must be a list of {name, type, config}")
        seen: set[str] = set()
        for i, tspec in enumerate(triggers):
            at = f"{where}.triggers[{i}]"
            tspec = self.mapping(tspec, at, TRIGGER_FIELDS)
            tname = self.string(tspec.get("name"), f"{at}.name", required=True)
            if tname in seen:
                raise self.fail(f"{at}.name", f"trigger '{tname}' is defined twice")
            seen.add(tname)
            kind = self.string(tspec.get("type"), f"{at}.type", required=True)
            if kind not in TRIGGER_TYPES:
                raise self.fail(
                    f"{at}.type", f"unknown trigger type '{kind}' (one of {', '.join(sorted(TRIGGER_TYPES))})"
                )
            function.triggers.append(
                TriggerSpec(
                    tname,
                    kind,
                    dict(self.mapping(tspec.get("config"), f"{at}.config")),
                    tspec.get("qualifier") and self.string(tspec["qualifier"], f"{at}.qualifier"),
                    tspec.get("sourceArn") and self.string(tspec["sourceArn"], f"{at}.sourceArn"),
                    tspec.get("invocationRole") and self.string(tspec["invocationRole"], f"{at}.invocationRole"),
                    tspec.get("description") and self.string(tspec["description"], f"{at}.description"),
                )
            )
        return function

    def flow(self, name: str, spec: Any, where: str) -> FlowSpec:
        spec = self.mapping(spec, where, {"definition", "definitionFile", "roleArn", "type"})
        if ("definition" in spec) == ("definitionFile" in spec):
            raise self.fail(where, "give exactly one of 'definition' or 'definitionFile'")
        if "definitionFile" in spec:
            file = self.base / self.string(spec["definitionFile"], f"{where}.definitionFile", required=True)
            try:
                definition = yaml.safe_load(file.read_text())
            except OSError as error:
                raise self.fail(f"{where}.definitionFile", f"cannot read '{file}': {error.strerror}") from None
            except yaml.YAMLError as error:
                raise self.fail(f"{where}.definitionFile", f"'{file}' is not valid JSON or YAML: {error}") from None
        else:
            definition = spec["definition"]
            if isinstance(definition, str):
                try:
                    definition = json.loads(definition)
                except ValueError as error:
                    raise self.fail(f"{where}.definition", f"is not valid JSON: {error}") from None
        self.mapping(definition, f"{where}.definition")
        if "States" not in definition or "StartAt" not in definition:
            raise self.fail(f"{where}.definition", "an Amazon States Language document needs 'StartAt' and 'States'")
        return FlowSpec(
            name,
            definition,
            self.string(spec.get("roleArn"), f"{where}.roleArn"),
            self.string(spec.get("type"), f"{where}.type") or "STANDARD",
        )


def load(path: Path) -> Template:
    """Read and validate ``path``; raises ``TemplateError`` naming the YAML path of the first problem."""
    return _Loader(path).load()
