"""Assembly: build every component once from ``Settings`` and wire them into one ASGI app."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from openfc.api import cluster as cluster_api  # cluster
from openfc.api import fc, fc_async, fc_instances, gateway, observe, s3, sfn, triggers  # sfn: workflow  # triggers
from openfc.api.state import Platform
from openfc.auth import AccessKey, Verifier
from openfc.config import Settings
from openfc.control import Registry
from openfc.control.async_config import AsyncConfigs
from openfc.control.domains import Domains  # triggers
from openfc.errors import NotFound
from openfc.invoke import Invoker
from openfc.invoke.asynchronous import AsyncInvoker, queue_capacity, queue_runner
from openfc.objects import ObjectStore  # triggers
from openfc.observe import Metrics, Prices, Recorder, meter_provisioned
from openfc.observe.tracing import exporter_from
from openfc.pool import Pool
from openfc.queue import AsyncQueue, Backoff
from openfc.store import open_store
from openfc.triggers import TriggerHub  # triggers
from openfc.workflow import Engine, Workflows, node_id  # workflow
from openfc.workflow.tasks import function_tasks  # workflow


def build_platform(settings: Settings, key: AccessKey) -> Platform:
    store = open_store(settings.store, settings.data_dir)
    registry = Registry(store)

    async def fetch_code(digest: str) -> bytes:
        data = await store.get_blob(digest)
        if data is None:
            raise NotFound("Code", digest, f"code package {digest} is missing from the store")
        return data

    pool = Pool(
        data_dir=settings.data_dir,
        fetch_code=fetch_code,
        idle_timeout=settings.idle_timeout,
        throttle_wait=settings.throttle_wait,
        region=settings.region,
        account_id=settings.account_id,
        sandbox=settings.sandbox,
    )
    recorder, metrics = Recorder(store, exporter_from(os.environ)), Metrics()
    metrics.gauge(
        "openfc_instances", "Live instances by state.", ("service", "function", "state"),
        lambda: [((i.service, i.function, i.state), n) for i, n in pool_census(pool).items()],
    )  # fmt: skip
    invoker = Invoker(resolve=registry.resolve, pool=pool, recorder=recorder, metrics=metrics)
    # -- async invocation: the queue's dispatcher runs events through invoker.run --
    async_configs = AsyncConfigs(store, registry)
    queue = AsyncQueue(
        store=store,
        run=queue_runner(invoker),
        capacity=queue_capacity(registry.resolve),
        policy=async_configs.policy,
        region=settings.region,
        account_id=settings.account_id,
        backoff=Backoff(retry_base=settings.async_retry_base),
    )
    async_invoker = AsyncInvoker(resolve=registry.resolve, queue=queue, policy=async_configs.policy)
    # -- workflows (openfc.workflow): Task states run through invoker.run --
    engine = Engine(store=store, tasks=function_tasks(invoker.run), node=node_id(settings.data_dir),
                    region=settings.region, on_transitions=metrics.transitions.inc)  # fmt: skip
    workflows = Workflows(store=store, engine=engine, region=settings.region, account_id=settings.account_id)
    # -- end workflows --
    # -- triggers (openfc.triggers): timer/OSS/brokers enqueue through the async queue --
    hub = TriggerHub(
        store=store, registry=registry, async_invoker=async_invoker, notify=queue.dispatcher.notify,
        region=settings.region, account_id=settings.account_id, public_url=f"http://{settings.host}:{settings.port}",
    )  # fmt: skip
    objects = ObjectStore(store, on_event=hub.oss.dispatch)
    registry.read_object = objects.read  # function code from codeOSSBucket/codeOSSObject
    domains = Domains(store, registry, account_id=settings.account_id)
    # -- end triggers --
    return Platform(
        settings, key, store, registry, pool, invoker, Verifier({key.id: key.secret}),
        async_configs=async_configs, queue=queue, async_invoker=async_invoker,
        recorder=recorder, metrics=metrics, prices=Prices.from_environ(os.environ),
        workflows=workflows,  # workflow
        triggers=hub, objects=objects, domains=domains,  # triggers
    )  # fmt: skip


class _InstanceKey(NamedTuple):
    service: str
    function: str
    state: str


def provisioned(pool: Pool) -> list[tuple[str, str, int]]:
    """(service, function, memory MB) of every provisioned instance, for metering."""
    return [(s, f, i.memory_mb) for (s, f) in pool.functions() for i in pool.instances(s, f) if i.provisioned]


def pool_census(pool: Pool) -> Counter[_InstanceKey]:
    """Live instances per function and state, for the ``openfc_instances`` gauge."""
    return Counter(_InstanceKey(s, f, info.state) for (s, f) in pool.functions() for info in pool.instances(s, f))


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


def build_app(settings: Settings, key: AccessKey) -> Starlette:
    platform = build_platform(settings, key)
    capacity = fc_instances.build(platform)  # layers + provision configs and their reconciler
    node = cluster_api.build(platform, capacity)  # cluster: membership, leaderships, slots, change notices

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await platform.store.open()
        await node.start()  # cluster: joins and elects before timers and the pool start
        await platform.recorder.start()
        await platform.pool.start()
        await capacity.provisioner.start()  # provision: after the pool (starts reserved instances)
        await platform.queue.start()  # after the pool: in-flight events of a crash run again
        await platform.workflows.engine.start()  # workflow: resumes running executions
        await platform.triggers.start()  # triggers: after the queue (timers and consumers enqueue)
        s3_server = await s3.S3Server.start(platform)  # triggers: the S3 surface on --s3-port (or None)
        metering = asyncio.ensure_future(
            meter_provisioned(platform.store, lambda: provisioned(platform.pool), settings.meter_interval)
        )
        try:
            yield
        finally:
            await node.drain()  # cluster: draining; timer leadership handed over now
            metering.cancel()
            await s3.S3Server.stop(s3_server)  # triggers
            await platform.triggers.stop()  # triggers: before the queue
            await platform.workflows.engine.close()  # workflow
            await platform.queue.stop()  # before the pool: unstarted claims are given back
            await capacity.provisioner.stop()  # provision: before the pool
            await platform.pool.close()
            await platform.recorder.close()
            await node.leave()  # cluster: after in-flight work: membership, slots and leaderships go
            await platform.store.close()

    app = Starlette(
        routes=[
            fc.invoke_route,
            Route("/healthz", healthz, methods=["GET"]),
            *observe.routes,
            *fc_async.routes,
            *triggers.routes,
            *gateway.routes,  # triggers
            *fc_instances.routes,  # layers, provision, instances
            *cluster_api.routes,  # cluster: GET /nodes
            *fc.routes,
            *sfn.routes,
        ],  # sfn: workflow  # fmt: skip
        lifespan=lifespan,
    )
    app.state.platform = platform
    app.state.capacity = capacity  # fc_instances
    app.state.cluster = node  # cluster
    if node.shared:  # cluster: other nodes drop their caches when metadata changes here
        app.add_middleware(cluster_api.ChangeNotices, cluster=node)
    app.state.gateway = gateway.Gateway(platform)  # triggers: HTTP triggers + custom domains (by Host)
    app.add_middleware(gateway.DomainRouter, gateway=app.state.gateway)  # triggers
    from openfc.console.routes import routes as console_routes  # console: /console (lazy: it imports openfc.api)

    app.router.routes.extend(console_routes)  # console
    return app
