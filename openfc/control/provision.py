"""Provision configs (reserved instances) and the reconciler that keeps the pool in line with them.

A config is a document ``provision/<service>/<qualifier>/<function>``; the qualifier must be an alias or a
version (never LATEST, as in FC). Its target instances run the version the qualifier resolves to; for an alias
that is the alias's main ``versionId`` (versions it sends additional weight to get on-demand instances).
Configs that resolve to the same version add up.

The ``Provisioner`` applies every config at start, at once after each change, and then every ``period``
seconds (default 1 s), when it also evaluates:

- ``scheduledActions`` ``{name, startTime, endTime, target, scheduleExpression}``: among the actions whose
  window contains now, the one that fired most recently (``cron``/``at``, UTC) sets the target; before any has
  fired the config's own ``target`` holds.
- ``targetTrackingPolicies`` ``{name, startTime, endTime, metricType, metricTarget, minCapacity,
  maxCapacity}``: while one is in its window, target = ceil(busy / metricTarget) clamped to
  [minCapacity, maxCapacity], where busy = instances of the version with a call in flight, taken as the larger
  of the current sample and the mean of the last ``window`` samples (fast scale-out, gradual scale-in);
  i.e. it holds utilisation = busy / instances near ``metricTarget``. Only
  ``ProvisionedConcurrencyUtilization`` is measured.

A config whose function (or alias/version) is gone is deleted. Provisioned instances are per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from datetime import UTC, datetime
from typing import Any

from openfc.control import schedule, validation
from openfc.control.registry import LATEST, Registry, spec_of
from openfc.errors import InvalidArgument, NotFound
from openfc.pool import Pool
from openfc.pool.spec import FunctionSpec
from openfc.store import JSON, Doc, Store

MAX_TARGET = 1000
PERIOD = 1.0
WINDOW = 10
METRICS = ("ProvisionedConcurrencyUtilization",)


def config_key(service: str, qualifier: str, function: str) -> str:
    return f"{service}/{qualifier}/{function}"


class ProvisionConfigs:
    """CRUD of provision configs; ``account_id`` goes into each config's ``resource``."""

    def __init__(self, store: Store, registry: Registry, *, account_id: str) -> None:
        self.store = store
        self.registry = registry
        self.account_id = account_id

    async def put(self, service: str, qualifier: str, function: str, body: JSON) -> Doc:
        if qualifier == LATEST:
            raise InvalidArgument("provision config needs an alias or a version as qualifier, not LATEST")
        await self.registry.function(service, function)
        await self.registry.check_qualifier(service, qualifier)
        fields = validation.pick(body, ("target", "scheduledActions", "targetTrackingPolicies", "alwaysAllocateCPU"))
        config: JSON = {
            "resource": f"{self.account_id}#{service}#{qualifier}#{function}",
            "target": validation.integer("target", fields.get("target"), 0, MAX_TARGET),
            "scheduledActions": _actions(fields.get("scheduledActions")),
            "targetTrackingPolicies": _policies(fields.get("targetTrackingPolicies")),
            "alwaysAllocateCPU": _boolean("alwaysAllocateCPU", fields.get("alwaysAllocateCPU", True)),
            "_service": service,
            "_qualifier": qualifier,
            "_function": function,
        }
        return await self.store.put("provision", config_key(service, qualifier, function), config)

    async def get(self, service: str, qualifier: str, function: str) -> JSON:
        """The config, or a target-0 one when none was put (FC answers the same for unconfigured functions)."""
        doc = await self.store.get("provision", config_key(service, qualifier, function))
        if doc is not None:
            return doc.body
        await self.registry.function(service, function)
        await self.registry.check_qualifier(service, qualifier)
        return {
            "resource": f"{self.account_id}#{service}#{qualifier}#{function}", "target": 0,
            "scheduledActions": [], "targetTrackingPolicies": [], "alwaysAllocateCPU": True,
            "_service": service, "_qualifier": qualifier, "_function": function,
        }  # fmt: skip

    async def page(self, query: dict[str, str]) -> tuple[list[JSON], str | None]:
        service, qualifier = query.get("serviceName", ""), query.get("qualifier", "")
        if qualifier and not service:
            raise InvalidArgument("qualifier needs serviceName")
        prefix = f"{service}/{qualifier + '/' if qualifier else ''}" if service else ""
        limit = validation.limit(query.get("limit"))
        docs = await self.store.list("provision", prefix=prefix, start=query.get("nextToken") or "", limit=limit + 1)
        token = docs[limit].key if len(docs) > limit else None
        return [d.body for d in docs[:limit]], token

    async def all(self) -> list[Doc]:
        return await self.store.list("provision", limit=1_000_000)


def public(config: JSON, current: int, error: str = "") -> JSON:
    out = {k: v for k, v in config.items() if not k.startswith("_")}
    out["current"] = current
    if error:
        out["currentError"] = error
    return out


class Provisioner:
    """Keeps ``pool``'s provisioned instances equal to what the configs ask for, on this node."""

    def __init__(self, configs: ProvisionConfigs, pool: Pool, *, period: float = PERIOD) -> None:
        self.configs = configs
        self.registry = configs.registry
        self.pool = pool
        self.period = period
        self._applied: dict[str, FunctionSpec] = {}  #: config key -> the version spec it provisions
        self._specs: dict[tuple[str, str, str], FunctionSpec] = {}  #: versions with instances we asked for
        self._samples: dict[tuple[str, str, str], deque[int]] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.reconcile()
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store may fail for a moment: try again next period
                continue

    def status(self, config: JSON) -> tuple[int, str]:
        """(ready provisioned instances, last start error) of the version a config provisions."""
        spec = self._applied.get(config_key(config["_service"], config["_qualifier"], config["_function"]))
        return self.pool.provision_status(spec) if spec is not None else (0, "")

    async def reconcile(self, now: datetime | None = None) -> None:
        """Evaluate every config once and apply the summed targets per version to the pool."""
        async with self._lock:
            now = now or datetime.now(UTC)
            wanted: dict[tuple[str, str, str], tuple[FunctionSpec, int, str]] = {}
            applied: dict[str, FunctionSpec] = {}
            for doc in await self.configs.all():
                body = doc.body
                service, qualifier, function = body["_service"], body["_qualifier"], body["_function"]
                try:
                    spec = await self._spec(service, qualifier, function)
                except NotFound:
                    await self.configs.store.delete("provision", doc.key)
                    continue
                applied[doc.key] = spec
                target = self._target(body, spec, now)
                _, previous, first_qualifier = wanted.get(spec.key, (spec, 0, qualifier))
                wanted[spec.key] = (spec, previous + target, first_qualifier)
            for key, spec in self._specs.items():
                if key not in wanted:
                    self.pool.provision(spec, 0)
            for spec, target, qualifier in wanted.values():
                self.pool.provision(spec, target, qualifier=qualifier)
            self._specs = {key: spec for key, (spec, _, _) in wanted.items()}
            self._applied = applied
            for key in list(self._samples):
                if key not in wanted:
                    del self._samples[key]

    async def _spec(self, service: str, qualifier: str, function: str) -> FunctionSpec:
        await self.registry.function(service, function)  # a deleted function drops its config
        if qualifier.isdigit():
            version_id = qualifier
        else:
            version_id = (await self.registry.versions.alias(service, qualifier)).body["versionId"]
        doc = await self.registry.versions.function_at(service, version_id, function)
        return spec_of(service, version_id, doc)

    def _target(self, config: JSON, spec: FunctionSpec, now: datetime) -> int:
        target: int = config["target"]
        latest: datetime | None = None
        for action in config["scheduledActions"]:
            start, end = _window(action, now)
            if start is None:
                continue
            fired = schedule.last_fire(schedule.parse("scheduleExpression", action["scheduleExpression"]), now, start)
            if fired is not None and (latest is None or fired > latest):
                latest, target = fired, action["target"]
        for policy in config["targetTrackingPolicies"]:
            if _window(policy, now)[0] is None:
                continue
            samples = self._samples.setdefault(spec.key, deque(maxlen=WINDOW))
            _, busy = self.pool.load(spec)
            samples.append(busy)
            level = max(busy, sum(samples) / len(samples))
            wanted = math.ceil(level / policy["metricTarget"] - 1e-9)
            return int(max(policy["minCapacity"], min(policy["maxCapacity"], wanted)))
        return target


def _window(item: JSON, now: datetime) -> tuple[datetime | None, datetime | None]:
    """(start, end) when ``now`` is inside the item's window (start defaults to long ago), else (None, None)."""
    start = schedule.parse_time("startTime", item["startTime"]) if item.get("startTime") else None
    end = schedule.parse_time("endTime", item["endTime"]) if item.get("endTime") else None
    if (start is not None and now < start) or (end is not None and now > end):
        return None, None
    return start or datetime(1970, 1, 1, tzinfo=UTC), end


def _boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{field} must be true or false")
    return value


def _list(field: str, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value) or len(value) > 100:
        raise InvalidArgument(f"{field} must be a list of at most 100 objects")
    return value


def _times(field: str, item: dict[str, Any], out: JSON) -> None:
    for key in ("startTime", "endTime"):
        if item.get(key):
            schedule.parse_time(f"{field}.{key}", item[key])
            out[key] = item[key]
    if item.get("startTime") and item.get("endTime"):
        if schedule.parse_time("", item["startTime"]) >= schedule.parse_time("", item["endTime"]):
            raise InvalidArgument(f"{field}: startTime must be before endTime")


def _actions(value: Any) -> list[JSON]:
    out = []
    for i, raw in enumerate(_list("scheduledActions", value)):
        field = f"scheduledActions[{i}]"
        item = validation.pick(raw, ("name", "startTime", "endTime", "target", "scheduleExpression"))
        action: JSON = {
            "name": validation.name(f"{field}.name", item.get("name")),
            "target": validation.integer(f"{field}.target", item.get("target"), 0, MAX_TARGET),
            "scheduleExpression": item.get("scheduleExpression"),
        }
        schedule.parse(f"{field}.scheduleExpression", action["scheduleExpression"])
        _times(field, item, action)
        out.append(action)
    return out


def _policies(value: Any) -> list[JSON]:
    out = []
    for i, raw in enumerate(_list("targetTrackingPolicies", value)):
        field = f"targetTrackingPolicies[{i}]"
        keys = ("name", "startTime", "endTime", "metricType", "metricTarget", "minCapacity", "maxCapacity")
        item = validation.pick(raw, keys)
        metric = item.get("metricType") or METRICS[0]
        if metric not in METRICS:
            raise InvalidArgument(f"{field}.metricType '{metric}' is not supported: use {', '.join(METRICS)}")
        target = item.get("metricTarget")
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1:
            raise InvalidArgument(f"{field}.metricTarget must be a number in (0, 1], got {target!r}")
        low = validation.integer(f"{field}.minCapacity", item.get("minCapacity"), 0, MAX_TARGET)
        high = validation.integer(f"{field}.maxCapacity", item.get("maxCapacity"), 0, MAX_TARGET)
        if high < low:
            raise InvalidArgument(f"{field}: maxCapacity {high} is below minCapacity {low}")
        policy: JSON = {
            "name": validation.name(f"{field}.name", item.get("name")),
            "metricType": metric,
            "metricTarget": float(target),
            "minCapacity": low,
            "maxCapacity": high,
        }
        _times(field, item, policy)
        out.append(policy)
    return out
