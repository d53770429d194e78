"""Instance lifecycle: warm reuse, crash, timeout, OOM, scale-out, throttling, revisions, idle reclaim, close."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from openfc.errors import InstanceError, Throttled
from openfc.pool import CallContext, FailureKind

from .util import eventually, eventually_async, pid_alive

CODE = """
import os, time
def handler(event, context):
    cmd, _, arg = event.decode().partition(" ")
    if cmd == "sleep":
        time.sleep(float(arg))
    elif cmd == "exit":
        os._exit(int(arg))
    elif cmd == "segv":
        import ctypes
        ctypes.string_at(0)
    elif cmd == "alloc":
        blob = b"x" * (int(arg) * 1024 * 1024)
        return str(len(blob))
    return str(os.getpid())
"""


def test_warm_instance_is_reused(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}))
    first = harness.invoke(pool, spec)
    second = harness.invoke(pool, spec)
    assert first.cold_start and not second.cold_start
    assert first.instance_id == second.instance_id and first.body == second.body
    (info,) = pool.instances("svc", "fn")
    assert (info.id, info.state, info.inflight, info.version_id) == (first.instance_id, "idle", 0, "LATEST")
    assert info.started_at <= time.time()


@pytest.mark.parametrize("command", ["exit 3", "segv"])
def test_crash_fails_the_call_and_the_next_call_works(harness, command):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}))
    before = harness.invoke(pool, spec)
    crashed = harness.invoke(pool, spec, command.encode())
    assert crashed.failure is FailureKind.CRASH
    message = json.loads(crashed.body)["errorMessage"]
    assert message.startswith("Process exited unexpectedly before completing request (duration: ")
    assert "maxMemoryUsage: " in message
    after = harness.invoke(pool, spec)
    assert after.failure is None and after.cold_start
    assert after.instance_id != before.instance_id
    assert not pid_alive(int(before.body))


def test_timeout_kills_the_instance_and_replaces_it(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}), timeout=1)
    before = harness.invoke(pool, spec)
    started = time.monotonic()
    result = harness.invoke(pool, spec, b"sleep 30")
    assert time.monotonic() - started < 5
    assert result.failure is FailureKind.TIMEOUT
    body = json.loads(result.body)
    assert body["errorType"] == "FunctionTimeout"
    assert body["errorMessage"].startswith("Function timed out after 1 seconds (maxMemoryUsage: ")
    eventually(lambda: not pid_alive(int(before.body)))
    after = harness.invoke(pool, spec)
    assert after.failure is None and after.instance_id != before.instance_id


def test_timeout_crashes_other_calls_on_the_same_instance(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}), timeout=1, instance_concurrency=2)

    async def both():
        calls = [pool.invoke(spec, b"sleep 30", CallContext(f"r{i}"), max_instances=1) for i in range(2)]
        return await asyncio.gather(*calls)

    results = harness.run(both())
    assert len({r.instance_id for r in results}) == 1
    assert sorted(r.failure.value for r in results) == ["crash", "timeout"]


def test_memory_limit_kills_with_oom(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}), memory_size=128)
    assert harness.invoke(pool, spec, b"alloc 20").body == str(20 * 1024 * 1024).encode()
    result = harness.invoke(pool, spec, b"alloc 300")
    assert result.failure is FailureKind.OOM
    assert json.loads(result.body)["errorMessage"] == "Function exceeded its memory limit of 128 MB"
    after = harness.invoke(pool, spec)
    assert after.failure is None and after.instance_id != result.instance_id


def test_concurrent_calls_scale_out(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}))

    async def burst():
        started = time.monotonic()
        calls = [pool.invoke(spec, b"sleep 0.5", CallContext(f"r{i}"), max_instances=8) for i in range(8)]
        results = await asyncio.gather(*calls)
        return results, time.monotonic() - started

    results, elapsed = harness.run(burst())
    assert all(r.failure is None for r in results)
    assert len({r.instance_id for r in results}) == 8
    assert elapsed < 2.0
    assert len(pool.instances("svc", "fn")) == 8


def test_concurrent_cold_starts_of_one_digest_unpack_once(harness):
    pool = harness.pool()
    digest = harness.code({"index.py": CODE})

    async def burst():
        calls = [pool.invoke(harness.spec(digest, function=f"f{i}"), b"", CallContext("r"), max_instances=1)
                 for i in range(4)]  # fmt: skip
        return await asyncio.gather(*calls)

    assert all(r.failure is None for r in harness.run(burst()))
    assert harness.fetches == [digest]


def test_throttled_at_max_instances(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}))

    async def scenario():
        busy = asyncio.ensure_future(pool.invoke(spec, b"sleep 1", CallContext("busy"), max_instances=1))
        await eventually_async(lambda: [i.state for i in pool.instances("svc", "fn")] == ["busy"])
        with pytest.raises(Throttled, match="maximumInstanceCount 1 reached"):
            await pool.invoke(spec, b"", CallContext("late"), max_instances=1, wait=0.1)
        waited = await pool.invoke(spec, b"", CallContext("patient"), max_instances=1, wait=10)
        return await busy, waited

    busy, waited = harness.run(scenario())
    assert busy.failure is None and waited.failure is None
    assert busy.instance_id == waited.instance_id


def test_instance_concurrency_shares_one_instance(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}), instance_concurrency=4)

    async def burst():
        started = time.monotonic()
        calls = [pool.invoke(spec, b"sleep 0.4", CallContext(f"r{i}"), max_instances=1) for i in range(4)]
        return await asyncio.gather(*calls), time.monotonic() - started

    results, elapsed = harness.run(burst())
    assert len({r.instance_id for r in results}) == 1
    assert all(r.failure is None for r in results)
    assert elapsed < 1.4


def test_revision_change_serves_new_code_and_retires_old_instances(harness):
    pool = harness.pool()
    old = harness.spec(harness.code({"index.py": CODE.replace("str(os.getpid())", "'v1'")}), revision="r1")
    new = harness.spec(harness.code({"index.py": CODE.replace("str(os.getpid())", "'v2'")}), revision="r2")
    first = harness.invoke(pool, old)
    assert first.body == b"v1"

    async def update_during_call():
        slow = asyncio.ensure_future(pool.invoke(old, b"sleep 0.5", CallContext("slow"), max_instances=2))
        await eventually_async(lambda: [i.state for i in pool.instances("svc", "fn")] == ["busy"])
        fresh = await pool.invoke(new, b"", CallContext("new"), max_instances=2)
        return await slow, fresh

    slow, fresh = harness.run(update_during_call())
    assert slow.failure is None and slow.instance_id == first.instance_id
    assert fresh.body == b"v2" and fresh.instance_id != first.instance_id
    harness.run(eventually_async(lambda: [i.id for i in pool.instances("svc", "fn")] == [fresh.instance_id]))


def test_idle_instances_are_reclaimed_to_zero(harness):
    pool = harness.pool(idle_timeout=0.2)
    spec = harness.spec(harness.code({"index.py": CODE}))
    result = harness.invoke(pool, spec)
    pid = int(result.body)
    assert pool.instances("svc", "fn")
    harness.run(eventually_async(lambda: not pool.instances("svc", "fn") and not pid_alive(pid)))
    again = harness.invoke(pool, spec)
    assert again.cold_start and again.instance_id != result.instance_id


def test_retire_stops_a_deleted_functions_instances(harness):
    pool = harness.pool()
    spec = harness.spec(harness.code({"index.py": CODE}))
    pid = int(harness.invoke(pool, spec).body)
    pool.retire("svc", "fn")
    assert pool.instances("svc", "fn") == []
    eventually(lambda: not pid_alive(pid))


def test_close_leaves_no_processes(harness):
    pool = harness.pool()
    digest = harness.code(
        {
            "index.py": """
                import os, subprocess
                def handler(event, context):
                    child = subprocess.Popen(["sleep", "60"])
                    detached = subprocess.Popen(["sleep", "60"], start_new_session=True)
                    return f"{os.getpid()} {child.pid} {detached.pid}"
            """
        }
    )
    results = [harness.invoke(pool, harness.spec(digest, function=name)) for name in ("one", "two")]
    pids = [int(p) for r in results for p in r.body.split()]
    assert all(pid_alive(p) for p in pids)
    harness.run(pool.close())
    eventually(lambda: not any(pid_alive(p) for p in pids))
    with pytest.raises(InstanceError):
        harness.invoke(pool, harness.spec(digest))
    for root in ("/sys/fs/cgroup/memory/openfc", "/sys/fs/cgroup/pids/openfc", "/sys/fs/cgroup/openfc"):
        assert not [r.instance_id for r in results if os.path.exists(os.path.join(root, r.instance_id))]


def test_cold_start_and_warm_calls_are_fast(harness):
    pool = harness.pool()
    digest = harness.code({"index.py": "def handler(event, context):\n    return event\n"})
    harness.invoke(pool, harness.spec(digest, function="warmup"))  # unpacks the code once

    async def measure():
        cold = []
        for i in range(5):
            started = time.perf_counter()
            result = await pool.invoke(harness.spec(digest, function=f"f{i}"), b"x", CallContext("r"), max_instances=1)
            cold.append(time.perf_counter() - started)
            assert result.cold_start
        warm = []
        spec = harness.spec(digest, function="f0")
        for _ in range(200):
            started = time.perf_counter()
            await pool.invoke(spec, b"x", CallContext("r"), max_instances=1)
            warm.append(time.perf_counter() - started)
        return sorted(cold)[2], sorted(warm)[100]

    cold_p50, warm_p50 = harness.run(measure())
    assert cold_p50 < 0.150, cold_p50
    assert warm_p50 < 0.002, warm_p50
