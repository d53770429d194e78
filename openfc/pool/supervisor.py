"""The instance pool: per function-version groups of instances, scaled with demand, down to zero.

A group is keyed by ``spec.key`` (service, function, version id). A call takes a free slot on a warm
instance (the most recently used first, so the others idle out), else starts a new instance while the
group has fewer than ``max_instances`` live ones, else waits for a slot up to ``wait`` seconds and is
throttled. A call whose spec has another ``revision`` retires the group's instances (idle ones stop now,
busy ones when their calls finish). A reaper stops instances idle for longer than ``idle_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from openfc.errors import InstanceError, OpenFCError, Throttled
from openfc.pool import cgroup
from openfc.pool import sandbox as sbx
from openfc.pool.codecache import CodeCache
from openfc.pool.instance import InitFailed, Instance, InstanceInfo, Launch
from openfc.pool.spec import CallContext, CallResult, FunctionSpec

CLOSE_TIMEOUT = 5.0


class _Group:
    __slots__ = ("instances", "revision", "waiters")

    def __init__(self, revision: str) -> None:
        self.revision = revision
        self.instances: list[Instance] = []
        self.waiters: deque[asyncio.Future[None]] = deque()

    def wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def wake_all(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


class Pool:
    """Runs function versions in instances on this node.

    data_dir: the node's data directory; the pool owns ``code/``, ``layers/``, ``runtime/``, ``sandbox/``.
    fetch_code: ``fetch_code(digest)`` returns a code (or layer) zip by its sha256 hex digest.
    idle_timeout: seconds an idle instance stays warm before it is stopped.
    throttle_wait: default seconds a call waits for a slot at ``max_instances`` before ``Throttled``.
    region, account_id: what functions see as ``context.region`` / ``context.account_id``.
    sandbox: run each code digest as its own unprivileged uid (only when running as root).
    """

    def __init__(
        self,
        *,
        data_dir: Path,
        fetch_code: Callable[[str], Awaitable[bytes]],
        idle_timeout: float,
        throttle_wait: float,
        region: str,
        account_id: str,
        sandbox: bool,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.idle_timeout = idle_timeout
        self.throttle_wait = throttle_wait
        self.region = region
        self.account_id = account_id
        self.sandboxed = sbx.active(sandbox)
        self._fetch = fetch_code
        self._groups: dict[tuple[str, str, str], _Group] = {}
        self._all: set[Instance] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        self._interpreter = sbx.interpreter()
        self._runtime_dir = self.data_dir / "runtime"
        self._cgroup_mode: str | None = None
        self._code: CodeCache | None = None
        self._layers: CodeCache | None = None
        self._uids: sbx.UidMap | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Prepare directories and the runtime files, detect cgroups, start the idle reaper."""
        if self._started:
            return
        self._setup()
        self._reaper = asyncio.ensure_future(self._reap())

    def _setup(self) -> None:
        self._started = True
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.sandboxed:
            sbx.check_traversable(self.data_dir)
            os.chmod(self.data_dir, 0o711)
            self._uids = sbx.UidMap(sbx.make_dir(self.data_dir / "sandbox", 0o700))
        self._runtime_dir = sbx.install_runtime(self.data_dir)
        same_magic = sbx.interpreter_version(self._interpreter) == _py_version()
        self._code = CodeCache(self.data_dir / "code", self._fetch, compile_pyc=same_magic)
        self._layers = CodeCache(self.data_dir / "layers", self._fetch, compile_pyc=same_magic)
        self._cgroup_mode = cgroup.detect() if os.geteuid() == 0 else None

    async def close(self) -> None:
        """Stop every instance this pool started (whole process groups and cgroups) and wait for them."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        instances = list(self._all)
        for inst in instances:
            inst.kill("pool closed")
        for group in self._groups.values():
            group.wake_all()
        if instances:
            await asyncio.wait([inst.closed for inst in instances], timeout=CLOSE_TIMEOUT)
        self._groups.clear()

    async def _reap(self) -> None:
        interval = max(0.02, min(self.idle_timeout / 4, 5.0))
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for key, group in list(self._groups.items()):
                for inst in list(group.instances):
                    if inst.ready and not inst.inflight and now - inst.last_used >= self.idle_timeout:
                        inst.kill("idle")
                if not group.instances and not group.waiters:
                    del self._groups[key]

    # --- calls ---------------------------------------------------------------------------------------

    async def invoke(
        self,
        spec: FunctionSpec,
        payload: bytes,
        ctx: CallContext,
        *,
        max_instances: int,
        wait: float | None = None,
    ) -> CallResult:
        """Run one event call of ``spec``; raises ``Throttled`` at capacity, ``InstanceError`` if no
        instance could be started. Function failures come back as ``CallResult.failure``."""
        if self._closed:
            raise InstanceError("the instance pool is closed")
        if not self._started:
            self._setup()
        if spec.runtime not in sbx.PYTHON_RUNTIMES:
            raise InstanceError(f"runtime {spec.runtime!r} is not supported by this node", code="RuntimeNotSupported")
        inst, cold = self._try_acquire(spec, ctx, max_instances)
        if inst is None:
            wait = self.throttle_wait if wait is None else wait
            inst, cold = await self._wait_acquire(spec, ctx, max_instances, wait)
        if cold or not inst.ready:
            assert inst.start_task is not None
            try:
                await asyncio.shield(inst.start_task)
            except InitFailed as e:
                inst.unreserve()
                return dataclasses.replace(e.result)
            except BaseException:
                inst.unreserve()
                raise
        return await inst.call(payload, ctx)

    def _group(self, spec: FunctionSpec) -> _Group:
        group = self._groups.get(spec.key)
        if group is None:
            group = self._groups[spec.key] = _Group(spec.revision)
        elif group.revision != spec.revision:
            group.revision = spec.revision
            for inst in group.instances:
                self._retire(inst)
            group.wake_all()
        return group

    def _try_acquire(self, spec: FunctionSpec, ctx: CallContext, max_instances: int) -> tuple[Instance | None, bool]:
        group = self._group(spec)
        best: Instance | None = None
        live = 0
        for inst in group.instances:
            if inst.dead or inst.retired:
                continue
            live += 1
            if inst.inflight < inst.concurrency and (best is None or inst.last_used > best.last_used):
                best = inst
        if best is not None:
            best.reserve()
            return best, False
        if live >= max_instances:
            return None, False
        inst = Instance(spec, ctx, self._on_change)
        group.instances.append(inst)
        self._all.add(inst)
        inst.reserve()
        inst.start_task = asyncio.ensure_future(self._start(inst, spec))
        inst.start_task.add_done_callback(_retrieve)
        return inst, True

    async def _wait_acquire(
        self, spec: FunctionSpec, ctx: CallContext, max_instances: int, wait: float
    ) -> tuple[Instance, bool]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closed:
                break
            waiter: asyncio.Future[None] = loop.create_future()
            self._group(spec).waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                break
            if self._closed:
                break
            inst, cold = self._try_acquire(spec, ctx, max_instances)
            if inst is not None:
                return inst, cold
        if self._closed:
            raise InstanceError("the instance pool is closed")
        raise Throttled(
            f"Reserved resources exceeded: maximumInstanceCount {max_instances} reached for function "
            f"{spec.service}/{spec.function} (version {spec.version_id})"
        )

    async def _start(self, inst: Instance, spec: FunctionSpec) -> None:
        assert self._code is not None and self._layers is not None
        try:
            group = self._uids.get(spec.code_checksum) if self._uids is not None else None
            code_dir = await self._code.get(spec.code_checksum, group=group)
            layer_dirs = [await self._layers.get(d, shared=True) for d in spec.layers]
        except BaseException as e:
            inst.kill("start failed")
            if isinstance(e, OpenFCError | asyncio.CancelledError):
                raise
            raise InstanceError(f"cannot prepare the code of {spec.service}/{spec.function}: {e}") from e
        launch = Launch(
            interpreter=self._interpreter,
            runtime_dir=self._runtime_dir,
            code_dir=code_dir,
            extra_paths=tuple(str(d / "python") for d in layer_dirs),
            env=self._environment(inst, spec, code_dir, layer_dirs),
            uid=group,
            cgroup_mode=self._cgroup_mode,
            rlimit_as_mb=0 if self._cgroup_mode else max(spec.memory_size, 64) + 64,
        )
        await inst.start(launch, inst.first_ctx)

    def _environment(self, inst: Instance, spec: FunctionSpec, code: Path, layers: list[Path]) -> dict[str, str]:
        """A clean environment: never the platform's own (it holds secrets)."""
        env = {
            "PATH": ":".join([str(code), f"{code}/bin", *(f"{d}/bin" for d in layers), "/usr/local/bin:/usr/bin:/bin"]),
            "LD_LIBRARY_PATH": ":".join([str(code), f"{code}/lib", *(f"{d}/lib" for d in layers), "/usr/local/lib"]),
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(spec.environment)
        env.update(
            {
                "FC_FUNC_CODE_PATH": str(code),
                "FC_FUNCTION_NAME": spec.function,
                "FC_FUNCTION_HANDLER": spec.handler,
                "FC_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
                "FC_FUNCTION_TIMEOUT": str(spec.timeout),
                "FC_FUNCTION_INITIALIZER": spec.initializer or "",
                "FC_REGION": self.region,
                "FC_ACCOUNT_ID": self.account_id,
                "FC_SERVICE_NAME": spec.service,
                "FC_QUALIFIER": inst.first_ctx.qualifier,
                "FC_FUNCTION_VERSION": spec.version_id,
                "FC_INSTANCE_ID": inst.id,
                "FC_RUNTIME_VERSION": spec.runtime,
            }
        )
        return env

    # --- bookkeeping ---------------------------------------------------------------------------------

    def _on_change(self, inst: Instance) -> None:
        group = self._groups.get(inst.spec.key)
        if inst.dead:
            if inst.closed.done():
                self._all.discard(inst)
            if group is not None and inst in group.instances:
                group.instances.remove(inst)
        elif inst.retired and not inst.inflight:
            inst.kill("retired")
            return
        if group is not None and group.waiters:
            group.wake()

    def _retire(self, inst: Instance) -> None:
        inst.retired = True
        if not inst.inflight and inst.ready:
            inst.kill("retired")

    def retire(self, service: str, function: str | None = None) -> None:
        """Stop the instances of a deleted function (or of every function of a deleted service)."""
        for key, group in list(self._groups.items()):
            if key[0] == service and (function is None or key[1] == function):
                del self._groups[key]
                for inst in list(group.instances):
                    self._retire(inst)
                group.wake_all()

    def functions(self) -> set[tuple[str, str]]:
        """(service, function) of every function with instance groups on this node."""
        return {(key[0], key[1]) for key in self._groups}

    def instances(self, service: str, function: str) -> list[InstanceInfo]:
        """Live instances of a function, all versions."""
        return [
            inst.info()
            for key, group in self._groups.items()
            if key[0] == service and key[1] == function
            for inst in group.instances
            if not inst.dead
        ]


def _py_version() -> tuple[int, int]:
    import sys

    return sys.version_info[:2]


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
