"""The assembled platform the API routes call into (one per node)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from openfc.auth import AccessKey, Verifier
from openfc.config import Settings
from openfc.control import Registry
from openfc.control.async_config import AsyncConfigs
from openfc.invoke import Invoker
from openfc.invoke.asynchronous import AsyncInvoker
from openfc.observe import Metrics, Prices, Recorder
from openfc.pool import Pool
from openfc.queue import AsyncQueue
from openfc.store import Store
from openfc.workflow import Workflows  # workflow

if TYPE_CHECKING:  # triggers
    from openfc.control.domains import Domains
    from openfc.objects import ObjectStore
    from openfc.triggers import TriggerHub


@dataclass(slots=True)
class Platform:
    settings: Settings
    key: AccessKey
    store: Store
    registry: Registry
    pool: Pool
    invoker: Invoker
    verifier: Verifier
    # -- async invocation (openfc.queue) --
    async_configs: AsyncConfigs
    queue: AsyncQueue
    async_invoker: AsyncInvoker
    # -- observability (openfc.observe) --
    recorder: Recorder
    metrics: Metrics
    prices: Prices
    # -- workflows (openfc.workflow) --
    workflows: Workflows
    # -- triggers, gateway, object storage (openfc.triggers, openfc.objects) --
    triggers: TriggerHub
    objects: ObjectStore
    domains: Domains
