"""Workflow engine throughput and per-Task overhead, durable on SQLite.

    python bench/workflow.py [--executions 50] [--tasks 20]

1. State transitions/s: executions of a 100-state Pass chain, all started at once; every
   transition is in the store (history events) before the execution reports success.
2. Per-Task overhead: a chain of N Task states (StartSyncExecution) vs N direct FC invokes of
   the same warm function, sequentially.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import fc2
import httpx
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import KEY_ID, SECRET, Node, signed

HANDLER = "def handler(event, context):\n    return event\n"


def chain(n: int) -> dict:
    states = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n - 1)}
    states[f"S{n - 1}"] = {"Type": "Pass", "End": True}
    return {"StartAt": "S0", "States": states}


def tasks(n: int, resource: str) -> dict:
    states = {f"T{i}": {"Type": "Task", "Resource": resource, "Next": f"T{i + 1}"} for i in range(n - 1)}
    states[f"T{n - 1}"] = {"Type": "Task", "Resource": resource, "End": True}
    return {"StartAt": "T0", "States": states}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()

    node = Node()
    try:
        sfn = boto3.client(
            "stepfunctions", endpoint_url=node.endpoint, region_name="us-east-1", aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET, config=Config(inject_host_prefix=False, max_pool_connections=64),
        )  # fmt: skip
        # -- 1. transitions/s ----------------------------------------------------------------
        machine = sfn.create_state_machine(name="chain", definition=json.dumps(chain(100)), roleArn="r")
        arn = machine["stateMachineArn"]
        sfn.start_sync_execution(stateMachineArn=arn)  # warm-up
        single = []
        for _ in range(10):
            start = time.perf_counter()
            assert sfn.start_sync_execution(stateMachineArn=arn)["status"] == "SUCCEEDED"
            single.append(time.perf_counter() - start)
        with ThreadPoolExecutor(32) as pool:
            wall = time.perf_counter()
            started = list(pool.map(lambda i: sfn.start_execution(stateMachineArn=arn, name=f"run{i}")["executionArn"],
                                    range(args.executions)))  # fmt: skip
            pending = set(started)
            infos = {}
            while pending:
                for execution in list(pending):
                    info = sfn.describe_execution(executionArn=execution)
                    if info["status"] != "RUNNING":
                        infos[execution] = info
                        pending.discard(execution)
                time.sleep(0.02)
            wall = time.perf_counter() - wall
        assert all(i["status"] == "SUCCEEDED" for i in infos.values())
        first = min(i["startDate"] for i in infos.values())
        last = max(i["stopDate"] for i in infos.values())
        span = (last - first).total_seconds()
        transitions = args.executions * 100
        events = len(sfn.get_execution_history(executionArn=started[0], maxResults=1000)["events"])

        # -- 2. per-Task overhead ------------------------------------------------------------
        client = fc2.Client(endpoint=node.endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET)
        code = Path(tempfile.mkdtemp(prefix="openfc-bench-code-"))
        (code / "index.py").write_text(HANDLER)
        client.create_service("bench")
        client.create_function("bench", "echo", "python3", "index.handler", codeDir=str(code))
        path = "/2016-08-15/services/bench/functions/echo/invocations"
        resource = "acs:fc:::services/bench.LATEST/functions/echo"
        flow = sfn.create_state_machine(name="tasks", definition=json.dumps(tasks(args.tasks, resource)), roleArn="r")
        with httpx.Client(timeout=30) as http:
            for _ in range(20):
                http.post(node.endpoint + path, headers=signed("POST", path), content=b'{"a":1}')
            direct = []
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(args.tasks):
                    r = http.post(node.endpoint + path, headers=signed("POST", path), content=b'{"a":1}')
                    assert r.status_code == 200
                direct.append((time.perf_counter() - start) / args.tasks)
        sfn.start_sync_execution(stateMachineArn=flow["stateMachineArn"], input='{"a":1}')  # warm-up
        workflow = []
        for _ in range(5):
            start = time.perf_counter()
            result = sfn.start_sync_execution(stateMachineArn=flow["stateMachineArn"], input='{"a":1}')
            assert result["status"] == "SUCCEEDED", result
            workflow.append((time.perf_counter() - start) / args.tasks)
    finally:
        node.stop()

    print(f"100-state Pass chain, durable on SQLite ({events} history events per execution)")
    print(f"  one execution (StartSyncExecution, median of 10): {statistics.median(single) * 1000:7.1f} ms "
          f"= {100 / statistics.median(single):8.0f} transitions/s")  # fmt: skip
    print(f"  {args.executions} executions started at once:     {span:7.3f} s from first start to last stop "
          f"= {transitions / span:8.0f} transitions/s (target >= 1000)")  # fmt: skip
    print(f"  (client wall time incl. polling: {wall:.2f} s)")
    print()
    d, w = statistics.median(direct) * 1000, statistics.median(workflow) * 1000
    print(f"per-Task overhead: {args.tasks}-Task chain (StartSyncExecution) vs {args.tasks} direct FC invokes")
    print(f"  direct invoke (warm, signed FC API):     {d:7.2f} ms per call")
    print(f"  Task state in a workflow:                {w:7.2f} ms per Task")
    print(f"  overhead per Task:                       {w - d:+7.2f} ms (ratio {w / d:.2f})")


if __name__ == "__main__":
    main()
