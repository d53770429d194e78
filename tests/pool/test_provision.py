"""Provisioned instances: started ahead of traffic, used first, never reclaimed by idleness, scaled in on demand."""

from __future__ import annotations

import asyncio

from openfc.pool import CallContext

from .util import eventually, eventually_async

CODE = """
import os
INITS = 0
def init(context):
    global INITS
    INITS += 1
def handler(event, context):
    if event == b"sleep":
        import time
        time.sleep(0.5)
    return f"{INITS} {os.environ['FC_INSTANCE_ID']} {os.environ['FC_QUALIFIER']}"
"""


def provisioned(pool):
    return [i for i in pool.instances("svc", "fn") if i.provisioned]


def ready(pool, n):
    infos = pool.instances("svc", "fn")
    return len(infos) == n and all(i.state == "provisioned" for i in infos)


def test_provisioned_instances_start_without_traffic_and_serve_warm(harness):
    pool = harness.pool(idle_timeout=0.2)
    spec = harness.spec(harness.code({"index.py": CODE}), version_id="3", initializer="index.init")

    async def scenario():
        pool.provision(spec, 3, qualifier="prod")
        await eventually_async(lambda: ready(pool, 3))
        ids = {i.id for i in pool.instances("svc", "fn")}
        assert {i.qualifier for i in pool.instances("svc", "fn")} == {"prod"}
        result = await pool.invoke(spec, b"", CallContext("r1", qualifier="prod"), max_instances=10)
        assert not result.cold_start and result.failure is None
        inits, instance, qualifier = result.body.decode().split()
        assert inits == "1" and instance in ids and qualifier == "prod"
        await asyncio.sleep(0.6)  # three idle timeouts (a reap happens every 0.05 s): nothing is reclaimed
        assert {i.id for i in pool.instances("svc", "fn")} == ids
        return ids

    harness.run(scenario())


def test_calls_prefer_provisioned_instances(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}), version_id="1")
    on_demand = harness.invoke(pool, spec, b"")

    async def scenario():
        pool.provision(spec, 1)
        await eventually_async(lambda: len(provisioned(pool)) == 1 and provisioned(pool)[0].state == "provisioned")
        result = await pool.invoke(spec, b"", CallContext("r"), max_instances=10)
        assert result.instance_id == provisioned(pool)[0].id != on_demand.instance_id

    harness.run(scenario())


def test_lowering_the_target_scales_in_idle_first(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}), version_id="1")

    async def scenario():
        pool.provision(spec, 3)
        await eventually_async(lambda: ready(pool, 3))
        busy = asyncio.ensure_future(pool.invoke(spec, b"sleep", CallContext("busy"), max_instances=10))
        await eventually_async(lambda: any(i.state == "busy" for i in pool.instances("svc", "fn")))
        busy_id = next(i.id for i in pool.instances("svc", "fn") if i.state == "busy")
        pool.provision(spec, 1)
        await eventually_async(lambda: len(pool.instances("svc", "fn")) == 1)
        (kept,) = pool.instances("svc", "fn")
        assert kept.id == busy_id and kept.provisioned  # the busy one stays, the idle ones went
        assert (await busy).failure is None
        pool.provision(spec, 0)
        await eventually_async(lambda: not pool.instances("svc", "fn"))

    harness.run(scenario())


def test_a_dead_provisioned_instance_is_replaced(harness):
    pool = harness.pool()
    crash = "import os\ndef handler(event, context):\n    os._exit(1)\n"
    spec = harness.spec(harness.code({"index.py": crash}), version_id="1")

    async def scenario():
        pool.provision(spec, 2)
        await eventually_async(lambda: ready(pool, 2))
        before = {i.id for i in pool.instances("svc", "fn")}
        await pool.invoke(spec, b"", CallContext("r"), max_instances=10)
        await eventually_async(lambda: ready(pool, 2) and {i.id for i in pool.instances("svc", "fn")} != before)

    harness.run(scenario())


def test_failed_provisioned_start_reports_and_backs_off(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": "def init(c):\n    raise ValueError('nope')\n"}),
                        version_id="1", initializer="index.init")  # fmt: skip

    async def scenario():
        pool.provision(spec, 1)
        await eventually_async(lambda: "nope" in pool.provision_status(spec)[1])
        assert pool.provision_status(spec)[0] == 0

    harness.run(scenario())
    eventually(lambda: not pool.instances("svc", "fn"))
