"""Scale-out: three nodes on one PostgreSQL serve any call, share the async queue, fire each timer tick
once, take over a dead node's workflow executions, and hold maximumInstanceCount cluster-wide."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import fc2
import requests

from tests.cluster.conftest import pg_query
from tests.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Server, wait_until
from tests.queue.conftest import signed_request
from tests.workflow.conftest import finished, resource, sfn_client

ASYNC = {"x-fc-invocation-type": "Async"}

#: Records each run as ``payload start end`` (one O_APPEND write, so lines never interleave).
RECORDER = """
import os, time

def handler(event, context):
    start = time.time()
    time.sleep({sleep})
    line = "%s %.6f %.6f\\n" % (event.decode(), start, time.time())
    fd = os.open({log!r}, os.O_WRONLY | os.O_APPEND)
    os.write(fd, line.encode())
    os.close(fd)
    return {result!r}
"""


def deploy(client: fc2.Client, shared_dir: Path, tmp: Path, *, sleep: float = 0.0, result: str = "v1",
           service: str | None = None, function: str = "fn") -> tuple[str, str, Path]:  # fmt: skip
    service = service or f"cl_{uuid.uuid4().hex[:8]}"
    log = shared(shared_dir / f"{service}-{function}.log")
    code = tmp / f"code-{uuid.uuid4().hex[:8]}"
    code.mkdir()
    (code / "index.py").write_text(RECORDER.format(sleep=sleep, log=str(log), result=result))
    if not any(s["serviceName"] == service for s in client.list_services().data["services"]):
        client.create_service(service)
    client.create_function(service, function, "python3", "index.handler", codeDir=str(code), timeout=30)
    return service, function, log


def shared(path: Path) -> Path:
    """An empty file every instance uid may append to."""
    path.touch()
    path.chmod(0o666)
    return path


def runs(log: Path) -> list[tuple[str, float, float]]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        payload, start, end = line.split()
        out.append((payload, float(start), float(end)))
    return out


def nodes_of(node: Server) -> list[dict]:
    response = signed_request(node.client(), "GET", "/2016-08-15/nodes")
    return response.json()["nodes"]


# -- membership, metadata, drain -------------------------------------------------------------


def test_any_node_serves_any_call_and_membership_is_visible(nodes, shared_dir, tmp_path) -> None:
    a, b, c = nodes(3)
    service, function, log = deploy(a.client(), shared_dir, tmp_path, result="v1")
    # metadata written on one node is seen by the others at once
    for node in (b, c):
        assert node.client().get_function(service, function).data["functionName"] == function
    assert b.client().invoke_function(service, function, payload=b"x").data == b"v1"
    # a change on one node reaches the others' route caches before its response returns
    code = tmp_path / "v2"
    code.mkdir()
    (code / "index.py").write_text(RECORDER.format(sleep=0, log=str(log), result="v2"))
    a.client().update_function(service, function, codeDir=str(code))
    assert b.client().invoke_function(service, function, payload=b"y").data == b"v2"
    assert c.client().invoke_function(service, function, payload=b"z").data == b"v2"

    listed = nodes_of(c)
    assert len(listed) == 3 and {n["state"] for n in listed} == {"live"}
    assert sum(n["self"] for n in listed) == 1
    assert {n["address"] for n in listed} == {x.endpoint for x in (a, b, c)}

    cli = subprocess.run(
        [sys.executable, "-m", "openfc", "nodes", "--endpoint", a.endpoint, "--access-key-id", ACCESS_KEY_ID,
         "--access-key-secret", ACCESS_KEY_SECRET],
        capture_output=True, text=True, timeout=30, env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert all(n["nodeId"] in cli.stdout for n in listed) and "live" in cli.stdout

    def gauge() -> bool:
        text = requests.get(a.endpoint + "/metrics", timeout=5).text
        return 'openfc_nodes{state="live"} 3.0' in text

    wait_until(gauge, timeout=10)

    # graceful drain: SIGTERM leaves the membership at once (no lease to wait for)
    assert c.stop(signal.SIGTERM) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after its shutdown
    assert {n["address"] for n in nodes_of(a)} == {a.endpoint, b.endpoint}


# -- the async queue across nodes -------------------------------------------------------------


def test_3000_async_events_survive_a_kill_9_with_no_concurrent_double_run(nodes, shared_dir, tmp_path) -> None:
    a, b, c = nodes(3)
    service, function, log = deploy(a.client(), shared_dir, tmp_path, sleep=0.002)
    a.client().put_on_demand_config(service, "LATEST", function, 6)
    total = 3000
    clients = [a.client(), c.client()]  # enqueue through the survivors; b drains too until it is killed

    def enqueue(i: int) -> int:
        r = clients[i % 2].invoke_function(service, function, payload=f"e{i}".encode(), headers=ASYNC)
        return r.status_code if hasattr(r, "status_code") else 202

    with ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(enqueue, i) for i in range(total)]
        wait_until(lambda: len(runs(log)) >= total // 4, timeout=120, interval=0.05)
        b.kill()  # kill -9 mid-drain
        killed_at = len(runs(log))
        for f in futures:
            f.result()
    assert killed_at < total, "the queue drained before the kill: nothing was tested"

    wait_until(lambda: len({p for p, _, _ in runs(log)}) >= total, timeout=180, interval=0.2)
    seen = runs(log)
    assert {p for p, _, _ in seen} == {f"e{i}" for i in range(total)}  # every event ran
    by_event: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for payload, start, end in seen:
        by_event[payload].append((start, end))
    for payload, spans in by_event.items():
        spans.sort()
        for (_, end1), (start2, _) in zip(spans, spans[1:], strict=False):
            assert start2 >= end1, f"event {payload} ran twice at the same time: {spans}"
    again = sum(len(s) - 1 for s in by_event.values())
    assert again <= 200, f"{again} events ran again: more than those in flight on the killed node"


# -- timers -----------------------------------------------------------------------------------


def test_timer_fires_once_per_tick_across_a_leader_kill(nodes, shared_dir, tmp_path, pg_url) -> None:
    servers = nodes(3)
    a = servers[0]
    service, function, log = deploy(a.client(), shared_dir, tmp_path)
    (tmp_path / "t").mkdir()
    ticks_log = shared(shared_dir / "ticks.log")
    code = tmp_path / "t" / "index.py"
    code.write_text(
        "import os\n"
        "def handler(event, context):\n"
        f"    fd = os.open({str(ticks_log)!r}, os.O_WRONLY | os.O_APPEND)\n"
        "    os.write(fd, event.replace(b'\\n', b' ') + b'\\n')\n"
        "    os.close(fd)\n"
    )
    a.client().create_function(service, "ticker", "python3", "index.handler", codeDir=str(code.parent))
    a.client().create_trigger(service, "ticker", "sec", "timer", {"cronExpression": "@every 1s"}, None, None)
    started = time.time()

    def leader() -> Server:
        (node,) = pg_query(pg_url, "SELECT node FROM cluster_leaders WHERE name='timers'")[0]
        by_id = {s.data_dir.joinpath("node-id").read_text().strip(): s for s in servers}
        return by_id[str(node)]

    time.sleep(10)  # the wall clock is what is measured: 10 s of ticks, then the leader dies
    doomed = leader()
    doomed.kill()
    time.sleep(max(0.0, started + 20 - time.time()))
    ended = time.time()
    time.sleep(1.5)  # let the last ticks' events run
    ticks = [
        datetime.fromisoformat(json.loads(line)["triggerTime"].replace("Z", "+00:00")).timestamp()
        for line in ticks_log.read_text().splitlines()
    ]
    in_window = [t for t in ticks if t <= ended]
    assert len(ticks) == len(set(ticks)), f"a tick fired twice: {sorted(ticks)}"
    assert 15 <= len(in_window) <= 21, f"{len(in_window)} fires in 20 s: {sorted(in_window)}"
    assert leader() is not doomed


# -- workflows --------------------------------------------------------------------------------

STEP = """
import json, os, time, uuid

def handler(event, context):
    event = json.loads(event)
    name = os.environ["NAME"]
    open(os.path.join(os.environ["COUNTS"], name + "-" + uuid.uuid4().hex), "w").close()
    time.sleep(float(os.environ.get("SLEEP", "0")))
    return {"steps": event.get("steps", []) + [name]}
"""


def test_a_killed_nodes_workflow_completes_elsewhere_without_rerunning_completed_tasks(
    nodes, shared_dir, tmp_path
) -> None:
    a, b, _ = nodes(3)
    client = a.client()
    service = f"wf_{uuid.uuid4().hex[:8]}"
    client.create_service(service)
    code = tmp_path / "step"
    code.mkdir()
    (code / "index.py").write_text(STEP)
    for name, sleep in (("one", "0"), ("two", "3"), ("three", "0")):
        env = {"NAME": name, "COUNTS": str(shared_dir), "SLEEP": sleep}
        client.create_function(service, name, "python3", "index.handler", codeDir=str(code), environmentVariables=env)
    definition = {
        "StartAt": "One",
        "States": {
            "One": {"Type": "Task", "Resource": resource(service, "one"), "Next": "Two"},
            "Two": {"Type": "Task", "Resource": resource(service, "two"), "Next": "Three"},
            "Three": {"Type": "Task", "Resource": resource(service, "three"), "End": True},
        },
    }
    sfn_a, sfn_b = sfn_client(a), sfn_client(b)
    machine = sfn_a.create_state_machine(name=f"sm-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition),
                                         roleArn="arn:aws:iam::0:role/r")["stateMachineArn"]  # fmt: skip
    arn = sfn_a.start_execution(stateMachineArn=machine, input="{}")["executionArn"]

    def calls(name: str) -> int:
        return sum(1 for p in shared_dir.iterdir() if p.name.startswith(name + "-"))

    wait_until(lambda: calls("two") >= 1, timeout=30)  # One succeeded; Two runs on a
    a.kill()
    info = finished(sfn_b, arn, timeout=60)
    assert info["status"] == "SUCCEEDED", info
    assert json.loads(info["output"]) == {"steps": ["one", "two", "three"]}
    assert calls("one") == 1, "a completed Task ran again after the takeover"
    assert calls("three") == 1
    history = sfn_b.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    scheduled = [e for e in history if e["type"] == "TaskScheduled"]
    assert len(scheduled) >= 3


# -- maximumInstanceCount ---------------------------------------------------------------------


def test_maximum_instance_count_holds_across_nodes(nodes, shared_dir, tmp_path, pg_url) -> None:
    servers = nodes(3)
    client = servers[0].client()
    service, function, _ = deploy(client, shared_dir, tmp_path, sleep=0.2)
    client.put_on_demand_config(service, "LATEST", function, 4)
    stop = threading.Event()
    outcomes: dict[str, int] = defaultdict(int)
    lock = threading.Lock()

    def load(i: int) -> None:
        c = servers[i % 3].client()
        while not stop.is_set():
            try:
                c.invoke_function(service, function, payload=b"x")
                key = "ok"
            except fc2.fc_exceptions.FcError as error:
                key = str(error.status_code)
            with lock:
                outcomes[key] += 1

    path = f"/2016-08-15/services/{service}.LATEST/functions/{function}/instances"

    def alive() -> int:
        return sum(len(signed_request(s.client(), "GET", path).json()["instances"]) for s in servers)

    samples: list[int] = []
    slots: list[int] = []
    with ThreadPoolExecutor(15) as pool:
        for i in range(15):
            pool.submit(load, i)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            samples.append(alive())
            slots.append(int(pg_query(pg_url, "SELECT count(*) FROM cluster_slots WHERE key LIKE $1",
                                      f"{service}/%")[0][0]))  # fmt: skip
            time.sleep(0.05)
        stop.set()
    assert max(samples) <= 4, f"more than 4 instances alive: {samples}"
    assert max(slots) <= 4, slots
    assert max(samples) >= 2 and outcomes["ok"] > 20, (samples, dict(outcomes))
    assert set(outcomes) <= {"ok", "429"}, dict(outcomes)
