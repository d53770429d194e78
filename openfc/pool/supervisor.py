"""The instance pool: per function-version groups of instances, scaled with demand, down to zero.

A group is keyed by ``spec.key`` (service, function, version id). A call takes a free slot on a warm
instance (the most recently used first, so the others idle out), else starts a new instance while the
group has fewer than ``max_instances`` live ones, else waits for a slot up to ``wait`` seconds and is
throttled. A call whose spec has another ``revision`` retires the group's instances (idle ones stop now,
busy ones when their calls finish). A reaper stops instances idle for longer than ``idle_timeout``.

Provisioned instances (``provision``): a group may keep ``target`` instances started and initialized ahead of
traffic. They are never reclaimed by idleness, calls prefer them (ready ones first), one that dies is replaced
at once (after a failed start: with backoff, 0.5 s doubling up to 60 s), and lowering the target stops idle
ones first, then demotes busy ones to on-demand (reclaimed when idle). They count towards ``max_instances``.
Custom runtimes (``runtime == "custom"``) run as ``CustomInstance``; each gets its own loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from openfc.errors import InstanceError, OpenFCError, Throttled
from openfc.pool import cgroup
from openfc.pool import layers as lyr
from openfc.pool import sandbox as sbx
from openfc.pool.codecache import CodeCache
from openfc.pool.custom import CustomInstance
from openfc.pool.instance import InitFailed, Instance, InstanceInfo, Launch
from openfc.pool.spec import CallContext, CallResult, FunctionSpec, HttpRequest, HttpResult

CLOSE_TIMEOUT = 5.0
PROVISION_BACKOFF_MAX = 60.0
RUNTIMES = sbx.PYTHON_RUNTIMES | {"custom"}


# -- cluster (openfc.cluster): instance slots counted across the nodes sharing a store --
#: Seconds between tries for a cluster slot while other nodes hold all of a function's instances.
SLOT_POLL = 0.2


class InstanceSlots(Protocol):
    """Cluster-wide instance counts (``openfc.cluster.Slots``), wired in by the API assembly."""

    async def acquire(self, key: str, instance_id: str, limit: int) -> bool: ...

    def release(self, instance_id: str) -> None: ...


class _SlotsFull(Exception):
    """Other nodes hold every instance slot the function may have: no instance was started."""


# -- end cluster --


class _Group:
    __slots__ = ("instances", "provision", "revision", "waiters")

    def __init__(self, revision: str) -> None:
        self.revision = revision
        self.instances: list[Instance] = []
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.provision: _Provision | None = None

    def provisioned(self) -> list[Instance]:
        return [i for i in self.instances if i.provisioned and not i.dead and not i.retired]

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


class _Provision:
    """What ``Pool.provision`` asked of a group: keep ``target`` instances of ``spec`` ready."""

    __slots__ = ("error", "failures", "qualifier", "retry_at", "spec", "target")

    def __init__(self, spec: FunctionSpec, target: int, qualifier: str) -> None:
        self.spec = spec
        self.target = target
        self.qualifier = qualifier
        self.failures = 0
        self.retry_at = 0.0
        self.error = ""  #: why the last provisioned start failed ("" after a success)


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
        self._root = self.data_dir  #: where code, layers and the runtime are unpacked for instances
        self._cgroup_mode: str | None = None
        self._code: CodeCache | None = None
        self._layers: CodeCache | None = None
        self._uids: sbx.UidMap | None = None
        self._mount_opt = False
        self._merge_locks: dict[str, asyncio.Lock] = {}
        self._ports: set[int] = set()
        self.slots: InstanceSlots | None = None  #: cluster: set when nodes share the store
        self._slotted: set[str] = set()  #: cluster: instance ids holding a slot

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
            os.chmod(self.data_dir, 0o711)
            self._uids = sbx.UidMap(sbx.make_dir(self.data_dir / "sandbox", 0o700))
            self._root = sbx.instance_root(self.data_dir)
        self._runtime_dir = sbx.install_runtime(self._root)
        same_magic = sbx.interpreter_version(self._interpreter) == _py_version()
        self._code = CodeCache(self._root / "code", self._fetch, compile_pyc=same_magic)
        self._layers = CodeCache(self._root / "layers", self._fetch, compile_pyc=same_magic)
        self._cgroup_mode = cgroup.detect() if os.geteuid() == 0 else None
        self._mount_opt = lyr.can_mount_opt()

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
                    idle = inst.ready and not inst.inflight and not inst.provisioned
                    if idle and now - inst.last_used >= self.idle_timeout:
                        inst.kill("idle")
                if not group.instances and not group.waiters and group.provision is None:
                    del self._groups[key]
                elif group.provision is not None:
                    self._replenish(group)

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
        inst = await self._acquire(spec, ctx, max_instances, wait)
        if isinstance(inst, CallResult):
            return inst
        return await inst.call(payload, ctx)

    async def invoke_http(
        self,
        spec: FunctionSpec,
        request: HttpRequest,
        ctx: CallContext,
        *,
        max_instances: int,
        wait: float | None = None,
    ) -> HttpResult:
        """Run one HTTP call of ``spec`` (Python: the handler as a WSGI app; custom: the request forwarded
        as-is). Raises like ``invoke``; function failures come back as ``HttpResult.failure`` (status 502)."""
        inst = await self._acquire(spec, ctx, max_instances, wait)
        if isinstance(inst, CallResult):
            return HttpResult.failed(inst)
        return await inst.call_http(request, ctx)

    async def _acquire(
        self, spec: FunctionSpec, ctx: CallContext, max_instances: int, wait: float | None
    ) -> Instance | CallResult:
        """A started instance with a slot reserved for this call, or the initializer's failure."""
        if self._closed:
            raise InstanceError("the instance pool is closed")
        if not self._started:
            self._setup()
        if spec.runtime not in RUNTIMES:
            raise InstanceError(f"runtime {spec.runtime!r} is not supported by this node", code="RuntimeNotSupported")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.throttle_wait if wait is None else wait)
        while True:
            inst, cold = self._try_acquire(spec, ctx, max_instances)
            if inst is None:
                inst, cold = await self._wait_acquire(spec, ctx, max_instances, deadline - loop.time())
            if not cold and inst.ready:
                return inst
            assert inst.start_task is not None
            try:
                await asyncio.shield(inst.start_task)
            except InitFailed as e:
                inst.unreserve()
                return dataclasses.replace(e.result)
            except _SlotsFull:  # cluster: other nodes run all the instances it may have; wait for one
                inst.unreserve()
                if self._closed or loop.time() >= deadline:
                    raise self._throttled(spec, max_instances) from None
                await asyncio.sleep(min(SLOT_POLL, deadline - loop.time()))
                continue
            except BaseException:
                inst.unreserve()
                raise
            return inst

    def _group(self, spec: FunctionSpec) -> _Group:
        group = self._groups.get(spec.key)
        if group is None:
            group = self._groups[spec.key] = _Group(spec.revision)
        elif group.revision != spec.revision:
            group.revision = spec.revision
            group.provision = None  # the provisioner applies its config again for the new revision
            for inst in group.instances:
                self._retire(inst)
            group.wake_all()
        return group

    def _try_acquire(self, spec: FunctionSpec, ctx: CallContext, max_instances: int) -> tuple[Instance | None, bool]:
        group = self._group(spec)
        best: Instance | None = None
        best_rank: tuple[bool, bool, float] = (False, False, 0.0)
        live = 0
        for inst in group.instances:
            if inst.dead or inst.retired:
                continue
            live += 1
            if inst.inflight < inst.concurrency:
                rank = (inst.ready, inst.provisioned, inst.last_used)  # ready first, then provisioned, then MRU
                if best is None or rank > best_rank:
                    best, best_rank = inst, rank
        if best is not None:
            best.reserve()
            return best, False
        if live >= max_instances:
            return None, False
        inst = self._new_instance(spec, ctx)
        group.instances.append(inst)
        inst.reserve()
        inst.start_task = asyncio.ensure_future(self._start(inst, spec, ("/".join(spec.key), max_instances)))
        inst.start_task.add_done_callback(_retrieve)
        return inst, True

    def _new_instance(self, spec: FunctionSpec, ctx: CallContext) -> Instance:
        inst: Instance
        if spec.runtime == "custom":
            inst = CustomInstance(spec, ctx, self._on_change, self._free_port())
        else:
            inst = Instance(spec, ctx, self._on_change)
        self._all.add(inst)
        return inst

    def _free_port(self) -> int:
        """A loopback port for a custom runtime: below the kernel's ephemeral range (so no outgoing connection
        holds it), bindable now, and not handed to another live instance of this pool."""
        try:
            low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
        except (OSError, ValueError, IndexError):
            low = 32768
        for _ in range(200):
            port = random.randint(max(1024, low - 12000), low - 1)
            if port in self._ports:
                continue
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            self._ports.add(port)
            return port
        raise InstanceError("no free loopback port for a custom runtime instance")

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
            try:  # cluster: look again every SLOT_POLL, another node may have given an instance slot back
                await asyncio.wait_for(waiter, remaining if self.slots is None else min(remaining, SLOT_POLL))
            except TimeoutError:
                if self.slots is None:
                    break
            if self._closed:
                break
            inst, cold = self._try_acquire(spec, ctx, max_instances)
            if inst is not None:
                return inst, cold
        if self._closed:
            raise InstanceError("the instance pool is closed")
        raise self._throttled(spec, max_instances)

    @staticmethod
    def _throttled(spec: FunctionSpec, max_instances: int) -> Throttled:
        return Throttled(
            f"Reserved resources exceeded: maximumInstanceCount {max_instances} reached for function "
            f"{spec.service}/{spec.function} (version {spec.version_id})"
        )

    async def _start(self, inst: Instance, spec: FunctionSpec, slot: tuple[str, int] | None = None) -> None:
        """Start ``inst``; ``slot``: (key, limit) of the cluster slot it needs first (cluster only)."""
        assert self._code is not None and self._layers is not None
        if self.slots is not None and slot is not None:  # cluster
            if not await self.slots.acquire(slot[0], inst.id, slot[1]):
                inst.kill("no cluster instance slot")
                raise _SlotsFull(slot[0])
            self._slotted.add(inst.id)
            if inst.dead:  # killed (pool closed, retired) while the slot was taken
                self._slotted.discard(inst.id)
                self.slots.release(inst.id)
                raise InstanceError("the instance was stopped before it started")
        try:
            group = self._uids.get(spec.code_checksum) if self._uids is not None else None
            code_dir = await self._code.get(spec.code_checksum, group=group)
            layer_dirs = [await self._layers.get(d, shared=True) for d in spec.layers]
            merged = await self._merged(spec.layers, layer_dirs) if layer_dirs else None
        except BaseException as e:
            inst.kill("start failed")
            if isinstance(e, OpenFCError | asyncio.CancelledError):
                raise
            raise InstanceError(f"cannot prepare the code of {spec.service}/{spec.function}: {e}") from e
        opt = Path("/opt") if merged is not None and self._mount_opt else merged
        extra_paths: tuple[str, ...] = ()
        if opt is not None:
            major, minor = sbx.interpreter_version(self._interpreter) or _py_version()
            extra_paths = (f"{opt}/python", f"{opt}/python/lib/python{major}.{minor}/site-packages")
        launch = Launch(
            interpreter=self._interpreter,
            runtime_dir=self._runtime_dir,
            code_dir=code_dir,
            extra_paths=extra_paths,
            env=self._environment(inst, spec, code_dir, opt, extra_paths),
            uid=group,
            cgroup_mode=self._cgroup_mode,
            rlimit_as_mb=0 if self._cgroup_mode or spec.runtime == "custom" else max(spec.memory_size, 64) + 64,
            opt_dir=merged if self._mount_opt else None,
        )
        await inst.start(launch, inst.first_ctx)

    async def _merged(self, digests: tuple[str, ...], layer_dirs: list[Path]) -> Path:
        """The layers of a function merged in order (later layers win), built once per ordered list."""
        if len(layer_dirs) == 1:
            return layer_dirs[0]
        name = lyr.merged_name(digests)
        dest = self._root / "layers" / "merged" / name
        if dest.is_dir():
            return dest
        async with self._merge_locks.setdefault(name, asyncio.Lock()):
            return await asyncio.to_thread(lyr.merge, layer_dirs, dest)

    def _environment(
        self, inst: Instance, spec: FunctionSpec, code: Path, opt: Path | None, python_paths: tuple[str, ...]
    ) -> dict[str, str]:
        """A clean environment: never the platform's own (it holds secrets)."""
        layer_bin, layer_lib = ([f"{opt}/bin"], [f"{opt}/lib"]) if opt is not None else ([], [])
        env = {
            "PATH": ":".join([str(code), f"{code}/bin", *layer_bin, "/usr/local/bin:/usr/bin:/bin"]),
            "LD_LIBRARY_PATH": ":".join([str(code), f"{code}/lib", *layer_lib, "/usr/local/lib"]),
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
        }
        if python_paths and spec.runtime == "custom":
            env["PYTHONPATH"] = ":".join(python_paths)  # the Python runtime puts them on sys.path itself
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
        if isinstance(inst, CustomInstance):
            env["FC_SERVER_PORT"] = env["FC_CUSTOM_LISTEN_PORT"] = str(inst.port)
        return env

    # --- provisioned instances -----------------------------------------------------------------------

    def provision(self, spec: FunctionSpec, target: int, *, qualifier: str = "LATEST") -> None:
        """Keep ``target`` instances of ``spec`` started and initialized (0 stops keeping any).

        Missing ones are started now, without traffic; extra ones are stopped (idle first) or, when busy,
        handed back to on-demand scaling. ``qualifier`` is what the provisioned instances see as theirs.
        """
        if self._closed:
            return
        if not self._started:
            self._setup()
        if spec.runtime not in RUNTIMES:
            raise InstanceError(f"runtime {spec.runtime!r} is not supported by this node", code="RuntimeNotSupported")
        group = self._group(spec)
        if target <= 0:
            group.provision = None
        elif group.provision is None or group.provision.spec.revision != spec.revision:
            group.provision = _Provision(spec, target, qualifier)
        else:
            group.provision.target, group.provision.qualifier = target, qualifier
        self._replenish(group)

    def _replenish(self, group: _Group) -> None:
        if self._closed:
            return
        plan = group.provision
        live = group.provisioned()
        target = plan.target if plan is not None else 0
        if len(live) > target:
            live.sort(key=lambda i: (i.inflight == 0, not i.ready, -i.last_used))  # keep busy ones, stop idle
            for inst in live[target:]:
                inst.provisioned = False
                if not inst.inflight:
                    inst.kill("provisioned target lowered")
            return
        if plan is None or len(live) == target or time.monotonic() < plan.retry_at:
            return
        if self._groups.get(plan.spec.key) is not group:
            return  # the function was retired meanwhile
        for _ in range(target - len(live)):
            ctx = CallContext(request_id=f"provision-{uuid.uuid4()}", qualifier=plan.qualifier)
            inst = self._new_instance(plan.spec, ctx)
            inst.provisioned = True
            group.instances.append(inst)
            inst.start_task = asyncio.ensure_future(self._start_provisioned(inst, plan, group))
            inst.start_task.add_done_callback(_retrieve)

    async def _start_provisioned(self, inst: Instance, plan: _Provision, group: _Group) -> None:
        try:  # cluster: provisioned targets are counted across nodes under their own key
            await self._start(inst, plan.spec, ("provisioned/" + "/".join(plan.spec.key), plan.target))
        except _SlotsFull:
            plan.retry_at = time.monotonic() + 1.0  # other nodes hold the target: look again later
            raise
        except BaseException as e:
            plan.failures += 1
            plan.retry_at = time.monotonic() + min(PROVISION_BACKOFF_MAX, 0.5 * 2 ** (plan.failures - 1))
            plan.error = e.result.body.decode(errors="replace") if isinstance(e, InitFailed) else str(e)
            raise
        plan.failures, plan.error = 0, ""
        if not inst.inflight:
            inst.mark_warm()  # a call that joined while it started waited for it: that one was a cold start
        group.wake()

    def provision_status(self, spec: FunctionSpec) -> tuple[int, str]:
        """(provisioned instances that are ready, the last provisioning error or "") for ``spec.key``."""
        group = self._groups.get(spec.key)
        if group is None:
            return 0, ""
        ready = sum(1 for i in group.provisioned() if i.ready)
        return ready, group.provision.error if group.provision is not None else ""

    def load(self, spec: FunctionSpec) -> tuple[int, int]:
        """(live instances, busy instances) of ``spec.key``: the utilisation target tracking scales on."""
        group = self._groups.get(spec.key)
        if group is None:
            return 0, 0
        live = [i for i in group.instances if not i.dead and not i.retired]
        return len(live), sum(1 for i in live if i.inflight)

    # --- bookkeeping ---------------------------------------------------------------------------------

    def _on_change(self, inst: Instance) -> None:
        group = self._groups.get(inst.spec.key)
        if inst.dead and inst.id in self._slotted and self.slots is not None:  # cluster: give its slot back
            self._slotted.discard(inst.id)
            self.slots.release(inst.id)
        if inst.dead:
            if inst.closed.done():
                self._all.discard(inst)
                if isinstance(inst, CustomInstance):
                    self._ports.discard(inst.port)
            if group is not None and inst in group.instances:
                group.instances.remove(inst)
                if inst.provisioned and group.provision is not None and not self._closed:
                    asyncio.get_running_loop().call_soon(self._replenish, group)  # replace it
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
        """Live instances of a function, all versions (cluster: not those still asking for a slot: no process yet)."""
        return [
            inst.info()
            for key, group in self._groups.items()
            if key[0] == service and key[1] == function
            for inst in group.instances
            if not inst.dead and (self.slots is None or inst.id in self._slotted)
        ]


def _py_version() -> tuple[int, int]:
    import sys

    return sys.version_info[:2]


def _retrieve(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
