"""The ASL interpreter, event-sourced and free of I/O.

An ``Execution`` is a tree of *frames* (the top-level machine, each Parallel branch, each Map
iteration) rebuilt by ``apply``-ing its history events in order. ``advance(now)`` computes the
events that follow without I/O (Pass, Choice, input/output processing, scheduling a Task, starting
branches, a due timer) and applies them; it stops where only the outside world can move the
execution on: a Task's result (``task_result``), a callback (``SendTask*``), or a clock reaching
``next_wake()``. ``apply`` never looks at the clock or draws random numbers — whatever is not
deterministic (results, deadlines, tokens, retry delays) is carried in the events themselves.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from openfc.workflow import asl, choice, paths, processing
from openfc.workflow.processing import Failure

__all__ = ["Event", "Execution", "Frame", "decode_token"]


@dataclass(slots=True)
class Event:
    id: int
    type: str  #: the AWS history event type; internal bookkeeping types start with "_"
    frame: str  #: the frame the event belongs to ("" = top level)
    ts: float  #: epoch seconds
    prev: int  #: previousEventId
    data: dict[str, Any]


@dataclass(slots=True)
class Frame:
    id: str
    machine: dict[str, Any]  #: {"StartAt", "States"}
    parent: str | None = None
    kind: str = "root"  #: root | branch | item
    index: int = 0
    phase: str = "enter"  #: enter entered task callback retry branches result end failed
    state: str = ""
    input: Any = None  #: the current state's raw input
    value: Any = None  #: a result (phase result) or an output (phase end)
    error: str = ""
    cause: str = ""
    last: int = 0  #: id of this frame's latest event
    entered_ts: float = 0.0
    retries: dict[str, int] = field(default_factory=dict)
    wake_at: float | None = None
    task: dict[str, Any] | None = None
    group: int = 0  #: id of the Parallel/MapStateStarted event that created the children
    run: dict[str, Any] | None = None  #: Parallel/Map bookkeeping

    @property
    def spec(self) -> dict[str, Any]:
        return self.machine["States"][self.state]  # type: ignore[no-any-return]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_token(arn: str, frame: str, event_id: int) -> str:
    raw = json.dumps([arn, frame, event_id, secrets.token_hex(8)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_token(token: str) -> tuple[str, str, int]:
    """(execution arn, frame, TaskScheduled event id) of a task token; raises ValueError."""
    try:
        arn, frame, event_id, _ = json.loads(base64.urlsafe_b64decode(token.encode()))
    except Exception as error:
        raise ValueError("invalid task token") from error
    return str(arn), str(frame), int(event_id)


_TERMINAL_TYPES = {"Succeed", "Fail"}
FAIL_EVENT = {"Task": "TaskFailed", "Parallel": "ParallelStateFailed", "Map": "MapStateFailed"}


class Execution:
    """One execution's state, rebuilt from its history."""

    def __init__(self, *, arn: str, name: str, machine_arn: str, definition: dict[str, Any], region: str = "") -> None:
        self.arn, self.name, self.machine_arn, self.definition, self.region = arn, name, machine_arn, definition, region
        self.frames: dict[str, Frame] = {}
        self.events: list[Event] = []  #: events not yet persisted (the engine drains them)
        self.last_id = 0
        self.status = "RUNNING"
        self.input: Any = None
        self.output: Any = None
        self.error = self.cause = ""
        self.start_ts = self.stop_ts = 0.0
        self.trace_id = ""  #: carried to every Task invocation (``x-fc-trace-id``)
        self._ready: dict[str, None] = {}  #: frames that may have work (an ordered set)

    # -- recording and replay ----------------------------------------------------------

    def record(self, type: str, frame: str, data: dict[str, Any], now: float) -> Event:
        """Create the next event, apply it and queue it for persistence."""
        owner = self.frames.get(frame)
        self.last_id += 1
        event = Event(self.last_id, type, frame, now, owner.last if owner else 0, data)
        self.apply(event)
        self.events.append(event)
        return event

    def replay(self, events: list[Event]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, e: Event) -> None:
        self.last_id = max(self.last_id, e.id)
        d, t = e.data, e.type
        if t == "ExecutionStarted":
            self.input, self.start_ts, self.trace_id = d["input"], e.ts, d.get("_trace", "")
            self.frames[""] = Frame("", self.definition, state=self.definition["StartAt"], input=d["input"], last=e.id)
            self._ready[""] = None
            return
        frame = self.frames.get(e.frame)
        if frame is None:
            return
        frame.last = e.id
        self._ready[frame.id] = None
        if t.endswith("StateEntered"):
            frame.phase, frame.state, frame.input, frame.entered_ts = "entered", d["name"], d["input"], e.ts
            frame.retries, frame.wake_at, frame.task, frame.run = {}, d.get("_until"), None, None
        elif t.endswith("StateExited"):
            self._goto(frame, d.get("_next"), d["output"])
        elif t == "TaskScheduled":
            frame.phase = "task"
            frame.task = {
                "id": e.id,
                "resource": d["resource"],
                "payload": d["parameters"],
                "token": d.get("_token"),
                "timeout": d.get("timeoutInSeconds"),
                "heartbeat": d.get("heartbeatInSeconds"),
            }
            frame.wake_at = e.ts + d["timeoutInSeconds"] if d.get("timeoutInSeconds") else None
            self._heartbeat(frame, e.ts)
        elif t == "TaskSubmitted":
            frame.phase = "callback"
        elif t == "_TaskHeartbeat":
            self._heartbeat(frame, e.ts)
        elif t == "TaskSucceeded":
            frame.phase, frame.value, frame.task, frame.wake_at = "result", d["output"], None, None
        elif t in ("TaskFailed", "TaskTimedOut", "ParallelStateFailed", "MapStateFailed"):
            self._drop_children(frame)
            frame.task = None
            self._decided(frame, d)
        elif t in ("ParallelStateStarted", "MapStateStarted"):
            frame.phase, frame.group = "branches", e.id
            if t == "ParallelStateStarted":
                branches = frame.spec["Branches"]
                frame.run = {"results": [None] * len(branches), "left": len(branches), "failed": None}
                for i, branch in enumerate(branches):
                    child = Frame(
                        f"{e.id}.{i}",
                        branch,
                        frame.id,
                        "branch",
                        i,
                        state=branch["StartAt"],
                        input=d["_input"],
                        last=e.id,
                    )
                    self.frames[child.id] = child
                    self._ready[child.id] = None
            else:
                frame.run = {
                    "items": d["_items"],
                    "input": d["_input"],
                    "results": [None] * d["length"],
                    "next": 0,
                    "running": 0,
                    "done": 0,
                    "failed": 0,
                    "first": None,
                    "max": d["_max"],
                    "count": d["_count"],
                    "pct": d["_pct"],
                }
        elif t == "MapIterationStarted":
            assert frame.run is not None
            i = d["index"]
            processor = asl.processor_of(frame.spec)
            child = Frame(
                f"{frame.group}.{i}",
                processor,
                frame.id,
                "item",
                i,
                state=processor["StartAt"],
                input=d["_input"],
                last=e.id,
            )
            self.frames[child.id] = child
            self._ready[child.id] = None
            frame.run["next"], frame.run["running"] = i + 1, frame.run["running"] + 1
        elif t in ("ParallelStateSucceeded", "MapStateSucceeded"):
            assert frame.run is not None
            frame.phase, frame.value = "result", frame.run["results"]
            self._drop_children(frame)
        elif t in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"):
            self.status = {
                "ExecutionSucceeded": "SUCCEEDED",
                "ExecutionFailed": "FAILED",
                "ExecutionAborted": "ABORTED",
                "ExecutionTimedOut": "TIMED_OUT",
            }[t]
            self.output, self.error, self.cause = d.get("output"), d.get("error", ""), d.get("cause", "")
            self.stop_ts = e.ts
            self.frames.clear()
        elif t in ("MapIterationSucceeded", "MapIterationFailed", "_BranchSucceeded", "_BranchFailed"):
            self._child_done(frame, t.endswith("Succeeded"), d)

    def _goto(self, frame: Frame, next_state: str | None, output: Any) -> None:
        if next_state:
            frame.phase, frame.state, frame.input = "enter", next_state, output
        else:
            frame.phase, frame.value = "end", output

    def _heartbeat(self, frame: Frame, ts: float) -> None:
        if frame.task and frame.task.get("heartbeat"):
            frame.task["beat_at"] = ts + frame.task["heartbeat"]

    def _decided(self, frame: Frame, d: dict[str, Any]) -> None:
        decision = d["_decision"]
        if "retry" in decision:
            key = str(decision["retry"])
            frame.retries[key] = frame.retries.get(key, 0) + 1
            frame.phase, frame.wake_at = "retry", decision["at"]
        elif "catch" in decision:
            frame.wake_at = None
            self._goto(frame, decision["catch"], decision["output"])
        else:
            frame.phase, frame.wake_at = "failed", None
            frame.error = decision.get("error", d.get("error", d.get("_error", "")))
            frame.cause = decision.get("cause", d.get("cause", d.get("_cause", "")))

    def _drop_children(self, frame: Frame) -> None:
        """Forget every frame below ``frame`` (its branches or iterations were aborted or finished)."""
        doomed, grew = {frame.id}, True
        while grew:
            grew = False
            for key, other in self.frames.items():
                if key not in doomed and other.parent in doomed:
                    doomed.add(key)
                    grew = True
        doomed.discard(frame.id)
        for key in doomed:
            del self.frames[key]

    def _child_done(self, child: Frame, ok: bool, d: dict[str, Any]) -> None:
        child.phase = "done"
        parent = self.frames.get(child.parent or "")
        self._drop_children(child)
        del self.frames[child.id]
        if parent is None or parent.run is None:
            return
        run = parent.run
        self._ready[parent.id] = None
        if child.kind == "branch":
            run["left"] -= 1
            if ok:
                run["results"][child.index] = d["_output"]
            elif run["failed"] is None:
                run["failed"] = (d["error"], d["cause"])
        else:
            run["running"] -= 1
            run["done"] += 1
            if ok:
                run["results"][child.index] = d["_output"]
            else:
                run["failed"] += 1
                run["first"] = run["first"] or (d["_error"], d["_cause"])

    # -- context object ----------------------------------------------------------------

    def context(self, frame: Frame, **extra: Any) -> dict[str, Any]:
        """The ``$$`` context object ("Context Object" section of the spec)."""
        return {
            "Execution": {
                "Id": self.arn,
                "Input": self.input,
                "Name": self.name,
                "StartTime": iso(self.start_ts),
                "RoleArn": "",
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": self.machine_arn, "Name": self.machine_arn.rsplit(":", 1)[-1]},
            "State": {
                "Name": frame.state,
                "EnteredTime": iso(frame.entered_ts),
                "RetryCount": sum(frame.retries.values()),
            },
            **extra,
        }

    # -- advancing ---------------------------------------------------------------------

    def start(self, input: Any, now: float, trace_id: str = "") -> None:
        self.record("ExecutionStarted", "", {"input": input, "roleArn": "", "_trace": trace_id}, now)

    def advance(self, now: float) -> None:
        """Apply every event that follows without I/O (they queue in ``self.events``)."""
        timeout = self.definition.get("TimeoutSeconds")
        if self.status == "RUNNING" and timeout and now >= self.start_ts + timeout and self.frames:
            self.record(
                "ExecutionTimedOut",
                "",
                {"error": "States.Timeout", "cause": f"the execution ran longer than {timeout} s"},
                now,
            )
        for frame in self.frames.values():
            beat = frame.task.get("beat_at") if frame.task else None
            if (frame.wake_at is not None and now >= frame.wake_at) or (beat is not None and now >= beat):
                self._ready[frame.id] = None
        while self._ready:
            ready = self.frames.get(self._ready.popitem()[0])
            if ready is not None:
                self._step(ready, now)

    def next_wake(self) -> float | None:
        """The earliest time a clock alone moves this execution on (None: only outside events)."""
        times = [f.wake_at for f in self.frames.values() if f.wake_at is not None]
        times += [f.task["beat_at"] for f in self.frames.values() if f.task and "beat_at" in f.task]
        if self.definition.get("TimeoutSeconds") and self.frames:
            times.append(self.start_ts + self.definition["TimeoutSeconds"])
        return min(times) if times else None

    def pending_tasks(self) -> list[Frame]:
        """Frames whose Task invocation is scheduled but not yet resolved or submitted."""
        return [f for f in self.frames.values() if f.phase == "task"]

    def _step(self, f: Frame, now: float) -> None:
        phase = f.phase
        if phase == "enter":
            spec = f.spec
            data: dict[str, Any] = {"name": f.state, "input": f.input}
            if spec["Type"] == "Wait":
                try:
                    data["_until"] = self._wait_until(f, spec, now)
                except Failure:
                    pass  # raised again (and recorded) in the entered phase
            self.record(spec["Type"] + "StateEntered", f.id, data, now)
        elif phase == "entered":
            try:
                self._entered(f, now)
            except Failure as failure:
                self._fail_state(f, failure, now)
        elif phase == "result":
            try:
                ctx = self.context(f)
                out = processing.output(f.spec, f.input, f.value, ctx)
                self.record(f.spec["Type"] + "StateExited", f.id, self._exit(f, out), now)
            except Failure as failure:
                self._fail_state(f, failure, now)
        elif phase in ("task", "callback"):
            assert f.task is not None
            if f.wake_at is not None and now >= f.wake_at:
                self._fail_state(f, Failure("States.Timeout", "the task timed out"), now, "TaskTimedOut")
            elif "beat_at" in f.task and now >= f.task["beat_at"]:
                self._fail_state(f, Failure("States.HeartbeatTimeout", "no heartbeat in time"), now, "TaskTimedOut")
        elif phase == "retry":
            if f.wake_at is not None and now >= f.wake_at:
                f.wake_at = None
                try:
                    self._entered(f, now)
                except Failure as failure:
                    self._fail_state(f, failure, now)
        elif phase == "branches":
            self._branches(f, now)
        elif phase == "end":
            self._terminate(f, None, now)
        elif phase == "failed":
            self._terminate(f, Failure(f.error, f.cause), now)

    def _exit(self, f: Frame, output: Any) -> dict[str, Any]:
        spec = f.spec
        return {"name": f.state, "output": output, "_next": None if spec.get("End") else spec.get("Next")}

    def _entered(self, f: Frame, now: float) -> None:
        spec, kind = f.spec, f.spec["Type"]
        ctx = self.context(f)
        if kind == "Pass":
            data = processing.effective_input(spec, f.input, ctx)
            result = spec["Result"] if "Result" in spec else data
            out = processing.select(spec, "OutputPath", processing.place(f.input, spec.get("ResultPath", "$"), result))
            self.record("PassStateExited", f.id, self._exit(f, out), now)
        elif kind == "Succeed":
            data = processing.select(spec, "InputPath", f.input, ctx)
            self.record(
                "SucceedStateExited",
                f.id,
                {"name": f.state, "output": processing.select(spec, "OutputPath", data, ctx)},
                now,
            )
        elif kind == "Fail":
            error, cause = spec.get("Error", ""), spec.get("Cause", "")
            if "ErrorPath" in spec:
                error = str(processing.template({"v.$": spec["ErrorPath"]}, f.input, ctx)["v"])
            if "CausePath" in spec:
                cause = str(processing.template({"v.$": spec["CausePath"]}, f.input, ctx)["v"])
            self._terminate(f, Failure(str(error), str(cause)), now)
        elif kind == "Choice":
            data = processing.select(spec, "InputPath", f.input, ctx)
            try:
                target = next((r["Next"] for r in spec["Choices"] if choice.matches(r, data, ctx)), None)
            except paths.PathNotFound as error:
                raise Failure("States.Runtime", f"Invalid path in a choice rule: {error}") from None
            target = target or spec.get("Default")
            if target is None:
                raise Failure("States.NoChoiceMatched", f"No Choices matched and no Default in state '{f.state}'")
            out = processing.select(spec, "OutputPath", data, ctx)
            self.record("ChoiceStateExited", f.id, {"name": f.state, "output": out, "_next": target}, now)
        elif kind == "Wait":
            if f.wake_at is None:
                f.wake_at = self._wait_until(f, spec, now)
            if now >= f.wake_at:
                out = processing.select(spec, "OutputPath", processing.select(spec, "InputPath", f.input, ctx), ctx)
                self.record("WaitStateExited", f.id, self._exit(f, out), now)
        elif kind == "Task":
            self._schedule(f, now)
        elif kind == "Parallel":
            data = processing.effective_input(spec, f.input, ctx)
            self.record("ParallelStateStarted", f.id, {"_input": data}, now)
        elif kind == "Map":
            self._start_map(f, spec, ctx, now)

    def _wait_until(self, f: Frame, spec: dict[str, Any], now: float) -> float:
        data = processing.select(spec, "InputPath", f.input, self.context(f))
        if "Seconds" in spec:
            return now + float(spec["Seconds"])
        if "Timestamp" in spec:
            stamp = choice.parse_timestamp(spec["Timestamp"])
            assert stamp is not None
            return stamp.timestamp()
        field = "SecondsPath" if "SecondsPath" in spec else "TimestampPath"
        try:
            value = paths.query(spec[field], data, self.context(f))
        except paths.PathNotFound:
            raise Failure("States.Runtime", f"Invalid path '{spec[field]}' in field '{field}'") from None
        if field == "SecondsPath":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise Failure("States.Runtime", f"{field} '{spec[field]}' must select a non-negative number")
            return now + float(value)
        stamp = choice.parse_timestamp(value)
        if stamp is None:
            raise Failure("States.Runtime", f"{field} '{spec[field]}' must select an RFC 3339 timestamp")
        return stamp.timestamp()

    def _seconds(self, f: Frame, spec: dict[str, Any], name: str, data: Any) -> int | None:
        if name in spec:
            return int(spec[name])
        if name + "Path" in spec:
            try:
                value = paths.query(spec[name + "Path"], data, self.context(f))
            except paths.PathNotFound:
                raise Failure("States.Runtime", f"Invalid path in field '{name}Path'") from None
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise Failure("States.Runtime", f"{name}Path must select a positive integer")
            return value
        return None

    def _schedule(self, f: Frame, now: float) -> None:
        spec = f.spec
        ref = asl.parse_resource(spec["Resource"])
        token = make_token(self.arn, f.id, self.last_id + 1) if ref.callback else None
        extra = {"Task": {"Token": token}} if token else {}
        data = processing.effective_input(spec, f.input, self.context(f, **extra))
        raw = processing.select(spec, "InputPath", f.input)
        timeout, heartbeat = (
            self._seconds(f, spec, "TimeoutSeconds", raw),
            self._seconds(f, spec, "HeartbeatSeconds", raw),
        )
        if timeout is None and not ref.callback:
            timeout = 99999999
        self.record(
            "TaskScheduled",
            f.id,
            {
                "resourceType": "fc",
                "resource": spec["Resource"],
                "region": self.region,
                "parameters": data,
                "timeoutInSeconds": timeout,
                "heartbeatInSeconds": heartbeat,
                "_token": token,
            },
            now,
        )
        self.record("TaskStarted", f.id, {"resourceType": "fc", "resource": spec["Resource"]}, now)

    def _start_map(self, f: Frame, spec: dict[str, Any], ctx: dict[str, Any], now: float) -> None:
        data = processing.select(spec, "InputPath", f.input, ctx)
        items = processing.select(spec, "ItemsPath", data, ctx) if "ItemsPath" in spec else data
        if not isinstance(items, list):
            raise Failure("States.Runtime", f"ItemsPath '{spec.get('ItemsPath', '$')}' must select an array")
        batcher = spec.get("ItemBatcher")
        count = spec.get("ToleratedFailureCount")
        pct = spec.get("ToleratedFailurePercentage")
        for name in ("MaxConcurrency", "ToleratedFailureCount", "ToleratedFailurePercentage"):
            if name + "Path" in spec:
                try:
                    value = paths.query(spec[name + "Path"], data, ctx)
                except paths.PathNotFound:
                    raise Failure("States.Runtime", f"Invalid path in field '{name}Path'") from None
                spec = {**spec, name: value}
        count, pct = spec.get("ToleratedFailureCount"), spec.get("ToleratedFailurePercentage")
        self.record(
            "MapStateStarted",
            f.id,
            {
                "length": len(items)
                if not batcher
                else -(-len(items) // batcher.get("MaxItemsPerBatch", len(items) or 1)),
                "_items": items,
                "_input": data,
                "_max": spec.get("MaxConcurrency", 0) or 0,
                "_count": count,
                "_pct": pct,
            },
            now,
        )

    def _item_input(self, f: Frame, index: int) -> Any:
        assert f.run is not None
        spec, run = f.spec, f.run
        selector = spec.get("ItemSelector", spec.get("Parameters"))
        batcher = spec.get("ItemBatcher")

        def select(i: int, item: Any) -> Any:
            if selector is None:
                return item
            ctx = self.context(f, Map={"Item": {"Index": i, "Value": item}})
            return processing.template(selector, run["input"], ctx)

        if not batcher:
            return select(index, run["items"][index])
        size = batcher.get("MaxItemsPerBatch", len(run["items"]))
        start = index * size
        batch: dict[str, Any] = {
            "Items": [select(start + j, it) for j, it in enumerate(run["items"][start : start + size])]
        }
        if "BatchInput" in batcher:
            batch["BatchInput"] = batcher["BatchInput"]
        return batch

    def _branches(self, f: Frame, now: float) -> None:
        run = f.run
        assert run is not None
        if f.spec["Type"] == "Parallel":
            if run["failed"] is not None:
                self._fail_state(f, Failure(*run["failed"]), now)
            elif run["left"] == 0:
                self.record("ParallelStateSucceeded", f.id, {}, now)
            return
        total = len(run["results"])
        if run["failed"]:
            count, pct = run["count"], run["pct"]
            if count is None and pct is None:
                self._fail_state(f, Failure(*run["first"]), now)
                return
            over_count = count is not None and run["failed"] > count
            over_pct = pct is not None and run["failed"] * 100.0 / max(total, 1) > pct
            if over_count or over_pct:
                self._fail_state(
                    f,
                    Failure("States.ExceedToleratedFailureThreshold", f"{run['failed']} of {total} iterations failed"),
                    now,
                )
                return
        if run["done"] == total:
            self.record("MapStateSucceeded", f.id, {}, now)
            return
        limit = run["max"] or total
        while run["running"] < limit and run["next"] < total:
            index = run["next"]
            try:
                item = self._item_input(f, index)
            except Failure as failure:
                self._fail_state(f, failure, now)
                return
            self.record("MapIterationStarted", f.id, {"name": f.state, "index": index, "_input": item}, now)

    def _fail_state(self, f: Frame, failure: Failure, now: float, event: str | None = None) -> None:
        """A state failed: Task/Parallel/Map consult Retry and Catch; other states fail their frame."""
        kind = f.spec["Type"]
        if kind not in FAIL_EVENT:
            self._terminate(f, failure, now)
            return
        decision = processing.decide(f.spec, failure, f.input, f.retries, now)
        data: dict[str, Any] = {"_decision": decision}
        if kind == "Task":
            data.update(resourceType="fc", resource=f.spec["Resource"], error=failure.error, cause=failure.cause)
        else:
            data.update(_error=failure.error, _cause=failure.cause)
        self.record(event or FAIL_EVENT[kind], f.id, data, now)

    def _terminate(self, f: Frame, failure: Failure | None, now: float) -> None:
        if f.kind == "root":
            if failure is None:
                self.record("ExecutionSucceeded", "", {"output": f.value}, now)
            else:
                self.record("ExecutionFailed", "", {"error": failure.error, "cause": failure.cause}, now)
        elif f.kind == "item":
            name = self.frames[f.parent or ""].state
            if failure is None:
                self.record("MapIterationSucceeded", f.id, {"name": name, "index": f.index, "_output": f.value}, now)
            else:
                self.record(
                    "MapIterationFailed",
                    f.id,
                    {"name": name, "index": f.index, "_error": failure.error, "_cause": failure.cause},
                    now,
                )
        elif failure is None:
            self.record("_BranchSucceeded", f.id, {"_output": f.value}, now)
        else:
            self.record("_BranchFailed", f.id, {"error": failure.error, "cause": failure.cause}, now)

    # -- outside events ----------------------------------------------------------------

    def task_result(
        self,
        frame_id: str,
        scheduled: int,
        now: float,
        *,
        output: Any = None,
        failure: Failure | None = None,
        submitted: bool = False,
    ) -> bool:
        """Record a Task's outcome; ``False`` if that task is no longer awaited (stale or aborted)."""
        f = self.frames.get(frame_id)
        if f is None or f.task is None or f.task["id"] != scheduled or f.phase not in ("task", "callback"):
            return False
        resource = f.task["resource"]
        if failure is not None:
            self._fail_state(f, failure, now)
        elif submitted:
            self.record("TaskSubmitted", f.id, {"resourceType": "fc", "resource": resource, "output": output}, now)
        else:
            self.record("TaskSucceeded", f.id, {"resourceType": "fc", "resource": resource, "output": output}, now)
        return True

    def heartbeat(self, frame_id: str, scheduled: int, now: float) -> bool:
        f = self.frames.get(frame_id)
        if f is None or f.task is None or f.task["id"] != scheduled:
            return False
        self.record("_TaskHeartbeat", f.id, {}, now)
        return True

    def abort(self, error: str, cause: str, now: float) -> None:
        self.record("ExecutionAborted", "", {"error": error, "cause": cause}, now)
