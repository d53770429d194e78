"""Timer triggers: ``@every 1s`` fires once per tick, across a restart (one catch-up), and stops when disabled."""

from __future__ import annotations

import json
import time
from datetime import datetime

from tests.conftest import Server, wait_until
from tests.triggers.conftest import APPENDER


def ticks(obs, name: str) -> list[float]:
    return [datetime.fromisoformat(json.loads(line)["triggerTime"].replace("Z", "+00:00")).timestamp()
            for line in obs.lines(name)]  # fmt: skip


def test_every_second_fires_once_per_tick_with_the_event_shape(tclient, tservice, deploy, obs) -> None:
    fn = deploy(APPENDER, log=obs.path("runs"))
    tclient.create_trigger(tservice, fn, "sec", "timer", {"cronExpression": "@every 1s", "payload": "hi"}, None, None)
    started = time.time()
    obs.wait_lines("runs", 5, timeout=15)
    elapsed = time.time() - started
    event = json.loads(obs.lines("runs")[0])
    assert set(event) == {"triggerTime", "triggerName", "payload"}
    assert (event["triggerName"], event["payload"]) == ("sec", "hi")
    times = ticks(obs, "runs")
    assert len(times) == len(set(times)), "a tick fired twice"
    assert all(b - a == 1 for a, b in zip(times, times[1:], strict=False)), times  # consecutive seconds
    assert elapsed < 8, f"5 ticks of @every 1s took {elapsed:.1f} s"

    tclient.update_trigger(tservice, fn, "sec", triggerConfig={"enable": False})
    disabled_at = time.time()
    deadline = time.monotonic() + 2.5  # observe a while: no tick after the disable may run
    while time.monotonic() < deadline:
        assert all(t <= disabled_at for t in ticks(obs, "runs")), "a tick fired after the trigger was disabled"
        time.sleep(0.1)
    tclient.delete_trigger(tservice, fn, "sec")


def test_each_tick_fires_once_across_a_restart(make_server, code_dir, obs) -> None:
    node: Server = make_server(None)
    client = node.client()
    client.create_service("timers")
    client.create_function("timers", "fn", "python3", "index.handler",
                           codeDir=code_dir(index=APPENDER.format(log=obs.path("runs"))))  # fmt: skip
    client.create_trigger("timers", "fn", "sec", "timer", {"cronExpression": "@every 1s"}, None, None)
    obs.wait_lines("runs", 3, timeout=15)
    node.stop()
    before = ticks(obs, "runs")
    time.sleep(2.2)  # downtime spanning at least two ticks (what is tested, not synchronisation)
    restarting = time.time()
    node.start()  # same data dir and port
    wait_until(lambda: len(ticks(obs, "runs")) >= len(before) + 3, timeout=20)
    times = ticks(obs, "runs")
    assert len(times) == len(set(times)), f"a tick fired twice across the restart: {times}"
    assert times == sorted(times)
    after = [t for t in times if t > max(before)]
    # Ticks missed while stopped are not replayed one by one: at most one catch-up (the latest
    # missed tick, fired at start), then one per second again.
    assert after[0] - max(before) >= 2, f"the missed ticks were replayed: {times}"
    assert after[0] <= restarting + 6, times  # the catch-up: the latest tick before the node was back
    assert all(b - a == 1 for a, b in zip(after, after[1:], strict=False)), times
