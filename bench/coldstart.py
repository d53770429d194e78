"""First-call latency: a new instance (cold start) vs a provisioned instance, Python runtime and custom runtime.

    python bench/coldstart.py [--trials 20]

Cold: each trial changes the function's configuration (which retires its instance) and times the next call.
Provisioned: each trial publishes a version, points alias ``prod`` at it, provisions 1 instance, waits until
list_instances reports it ready, then times the first call through the alias. Every figure comes from this run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import fc2
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import KEY_ID, SECRET, Node, percentile, signed

HANDLER = "def handler(event, context):\n    return 'hello world'\n"
SERVER = """
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "11")
        self.end_headers()
        self.wfile.write(b"hello world")

HTTPServer(("127.0.0.1", int(os.environ["FC_SERVER_PORT"])), Handler).serve_forever()
"""


HTTP = httpx.Client(timeout=60)  #: one keep-alive connection: time the call, not client setup


def timed_call(endpoint: str, path: str) -> float:
    headers = signed("POST", path)
    started = time.perf_counter()
    r = HTTP.post(endpoint + path, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert r.status_code == 200 and r.content == b"hello world", (r.status_code, r.content[:300])
    return elapsed


def cold(client: fc2.Client, endpoint: str, function: str, runtime: str, trials: int) -> list[float]:
    path = f"/2016-08-15/services/bench/functions/{function}/invocations"
    timed_call(endpoint, path)  # unpack the code once
    out = []
    for i in range(trials):
        client.update_function("bench", function, runtime=runtime, handler="index.handler",
                               environmentVariables={"TRIAL": str(i)})  # fmt: skip
        out.append(timed_call(endpoint, path))
    return out


def provisioned(client: fc2.Client, endpoint: str, function: str, trials: int, warm: list[float]) -> list[float]:
    """First calls to provisioned instances; ``warm`` gets the second call of each trial, for reference."""
    path = f"/2016-08-15/services/bench.prod/functions/{function}/invocations"
    out = []
    for i in range(trials):
        version = client.publish_version("bench", f"{function} {i}").data["versionId"]
        if i == 0:
            client.create_alias("bench", "prod", version)
        else:
            client.update_alias("bench", "prod", version)
        client.put_provision_config("bench", "prod", function, 1)
        deadline = time.monotonic() + 60
        while True:
            infos = client.list_instances("bench", "prod", function).data["instances"]
            if any(x["versionId"] == version and x["state"] == "provisioned" for x in infos):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"version {version} was not provisioned within 60 s")
            time.sleep(0.01)
        out.append(timed_call(endpoint, path))
        warm.append(timed_call(endpoint, path))
    client.put_provision_config("bench", "prod", function, 0)
    client.delete_alias("bench", "prod")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    node = Node()
    try:
        client = fc2.Client(endpoint=node.endpoint, accessKeyID=KEY_ID, accessKeySecret=SECRET)
        client.create_service("bench")
        python_code = Path(tempfile.mkdtemp(prefix="openfc-bench-py-"))
        (python_code / "index.py").write_text(HANDLER)
        custom_code = Path(tempfile.mkdtemp(prefix="openfc-bench-custom-"))
        (custom_code / "server.py").write_text(SERVER)
        (custom_code / "bootstrap").write_text("#!/bin/sh\nexec python3 server.py\n")
        (custom_code / "bootstrap").chmod(0o755)
        client.create_function("bench", "py", "python3", "index.handler", codeDir=str(python_code))
        client.create_function("bench", "custom", "custom", "index.handler", codeDir=str(custom_code), caPort=9000)
        py_warm: list[float] = []
        custom_warm: list[float] = []
        rows = {
            "python3: new instance (cold start)": cold(client, node.endpoint, "py", "python3", args.trials),
            "python3: provisioned instance": provisioned(client, node.endpoint, "py", args.trials, py_warm),
            "custom (python http.server): new instance": cold(client, node.endpoint, "custom", "custom", args.trials),
            "custom (python http.server): provisioned": provisioned(
                client, node.endpoint, "custom", args.trials, custom_warm
            ),
        }
        rows["python3: warm (2nd call, reference)"] = py_warm
        rows["custom: warm (2nd call, reference)"] = custom_warm
    finally:
        node.stop()

    print(f"first-call latency over {args.trials} trials (ms, client-side, signed FC invoke over HTTP)")
    print(f"{'':<44} {'p50':>8} {'p99':>8}")
    for name, values in rows.items():
        print(f"{name:<44} {percentile(values, 0.5):8.2f} {percentile(values, 0.99):8.2f}")
    names = list(rows)
    for cold_name, warm_name in ((names[0], names[1]), (names[2], names[3])):
        ratio = percentile(rows[cold_name], 0.5) / percentile(rows[warm_name], 0.5)
        print(f"{cold_name.split(':')[0]}: cold / provisioned p50 = {ratio:.1f}x")


if __name__ == "__main__":
    main()
